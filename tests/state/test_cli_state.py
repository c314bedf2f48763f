"""``tallyproof state``: the commands a state office runs, end to end on two counties."""

from __future__ import annotations

from pathlib import Path

import orjson

from tallyproof.cli import main
from tallyproof.ledger import new_keypair
from tallyproof.ledger.keys import load_verifier
from tallyproof.state.statelog import verify_ballot_proof


def test_state_commands(state: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    key, pub = new_keypair(tmp_path / "state-key")
    assert main(["state", "commit", str(state), "--key", str(key), "--in-process"]) == 0
    assert "published now: north, south" in capsys.readouterr().out
    assert main(["state", "tabulate", str(state), "--in-process", "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert [c["contest"] for c in doc["contests"]] == ["mayor", "council"]
    assert main(["state", "prove", str(state), "south", "south-00003"]) == 0
    proof = orjson.loads(capsys.readouterr().out)
    assert verify_ballot_proof(proof, load_verifier(pub)) == []
    assert main(["state", "verify", str(state), "--key", str(pub)]) == 0
    _, other = new_keypair(tmp_path / "impostor")
    capsys.readouterr()
    assert main(["state", "verify", str(state), "--key", str(other)]) == 1
    # --with-data: the leaf's salt and bytes, which hash to the proof's leaf hash
    assert main(["state", "prove", str(state), "north", "north-00005", "--with-data"]) == 0
    proof = orjson.loads(capsys.readouterr().out)
    cpf = proof["county_proof"]
    assert bytes.fromhex(cpf["leaf_data"])[2:18].hex() == cpf["salt"]
    assert verify_ballot_proof(proof, load_verifier(pub)) == []
    data = bytearray.fromhex(cpf["leaf_data"])
    data[-1] ^= 1
    bad = dict(proof, county_proof=dict(cpf, leaf_data=data.hex()))
    assert verify_ballot_proof(bad, load_verifier(pub)) == [
        "the ballot's leaf data does not hash to the proof's leaf hash"]
    # a county whose records changed after publication is refused, by name
    import shutil

    from tallyproof.state.tasks import county_store_dir

    from .conftest import fill

    shutil.rmtree(county_store_dir(state, "north"))
    fill(state, "north", 41, 99)
    assert main(["state", "commit", str(state), "--key", str(key), "--in-process"]) == 1
    assert "county north: its log is not consistent" in capsys.readouterr().err


def test_bad_export_fails_only_its_county(state: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    before = sorted(p.name for p in (state / "counties").rglob("*"))
    assert main(["state", "ingest", str(state), "north", str(bad), "--format", "nist_cdf"]) == 2
    assert "county north" in capsys.readouterr().err
    assert sorted(p.name for p in (state / "counties").rglob("*")) == before


def test_state_reconcile_and_certified_results(state: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["state", "tabulate", str(state), "--in-process", "--json"]) == 0
    votes = orjson.loads(capsys.readouterr().out)["contests"][0]["votes"]
    cert = tmp_path / "cert.csv"
    cert.write_text("contest,candidate,votes\n" + "".join(
        f"mayor,{k},{v + (1 if k == 'c1' else 0)}\n" for k, v in votes.items()))
    assert main(["state", "tabulate", str(state), "--in-process", "--results", str(cert)]) == 1
    assert "mayor/c1: certified" in capsys.readouterr().out
    assert main(["state", "reconcile", str(state), "--in-process"]) == 0
    assert "no county gave a ballot manifest" in capsys.readouterr().out


def test_a_batch_tally_county_from_the_command_line(state: Path, tmp_path: Path,
                                                    capsys) -> None:  # noqa: ANN001
    from .batch_fixtures import EAST, write_east

    manifest, tallies = write_east(tmp_path / "east")
    assert main(["state", "add-county", str(state), "east", "--name", "East",
                 "--batch-tallies"]) == 0
    new_keypair(state / "keys" / "east")
    assert main(["state", "ingest", str(state), "east", str(tallies), "--manifest",
                 str(manifest)]) == 0
    assert f"batch tallies of {sum(n for _, _, n, _ in EAST)} ballots" in capsys.readouterr().err
    key, pub = new_keypair(tmp_path / "state-key")
    assert main(["state", "commit", str(state), "--key", str(key), "--in-process"]) == 0
    assert "published now: east, north, south" in capsys.readouterr().out
    assert main(["state", "prove", str(state), "east", "T1/2"]) == 0
    proof = orjson.loads(capsys.readouterr().out)
    assert verify_ballot_proof(proof, load_verifier(pub)) == []


def test_state_tabulate_prints_a_statewide_stv_contest(state: Path, capsys) -> None:  # noqa: ANN001
    from tallyproof.state.workflow import add_contest, contest_from_options

    add_contest(state, contest_from_options("rcv", "Ranked", [f"c{i}=Candidate {i}"
                                                            for i in range(4)], kind="stv",
                                            seats=2))
    assert main(["state", "tabulate", str(state), "--in-process"]) == 0
    text = capsys.readouterr().out
    assert "first-round votes" in text and text.count("(winner)") >= 1 + 2 + 2

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
    assert main(["state", "ingest", str(state), "north", "--source", str(bad), "--format",
                 "nist_cdf", "--in-process"]) == 2
    assert "ingest:north" not in (cap := capsys.readouterr()).out
    assert "county north: nothing was ingested" in cap.out and "north" in cap.err
    assert sorted(p.name for p in (state / "counties").rglob("*")) == before


def _exports_state(tmp_path: Path) -> Path:
    """A state of three counties, each with a Dominion export in its exports folder (300,
    320 and 340 cards) and nothing ingested yet."""
    from tallyproof.demo.county import build_county
    from tallyproof.demo.dominion_writer import write_dominion
    from tallyproof.state.tasks import county_exports_dir

    root = tmp_path / "st"
    assert main(["state", "init", str(root), "--name", "Exports"]) == 0
    for i, c in enumerate(("a", "b", "c")):
        assert main(["state", "add-county", str(root), c, "--name", c.upper()]) == 0
        drawn = build_county(300 + 20 * i, 10 + i)
        write_dominion(drawn, drawn.paper, county_exports_dir(root, c) / "dominion")
    return root


def test_state_ingest_runs_every_county_on_the_executor(tmp_path: Path, capsys,
                                                        monkeypatch) -> None:  # noqa: ANN001
    """No county named: every county from its exports folder, through the executor seam
    (one progress line per county off a terminal); one county's broken export fails that
    county alone, named with its error, and leaves it without a store."""
    import shutil

    from tallyproof.state.tasks import county_exports_dir, county_store_dir
    from tallyproof.store import Store

    monkeypatch.delenv("TALLYPROOF_NO_PROGRESS", raising=False)
    root = _exports_state(tmp_path)
    shutil.rmtree(county_exports_dir(root, "b") / "dominion")
    (county_exports_dir(root, "b") / "broken.json").write_text("{not json")
    assert main(["state", "ingest", str(root), "--in-process"]) == 2
    cap = capsys.readouterr()
    assert "county a: 300 cards added (300 in all, dominion)" in cap.out
    assert "county c: 340 cards added (340 in all, dominion)" in cap.out
    assert "county b: nothing was ingested" in cap.out
    lines = [ln for ln in cap.err.splitlines() if ln.startswith("ingest ")]
    assert sorted(lines)[0] == "ingest a: done" and sorted(lines)[2] == "ingest c: done"
    assert sorted(lines)[1].startswith("ingest b: failed: ")
    assert not county_store_dir(root, "b").exists()
    assert Store.open(county_store_dir(root, "a")).cvr_count() == 300
    # the named county alone, once its export is fixed; the same exports again (a re-run, or
    # Dask re-running a finished task) add nothing and change nothing
    (county_exports_dir(root, "b") / "broken.json").unlink()
    from tallyproof.demo.county import build_county
    from tallyproof.demo.dominion_writer import write_dominion

    drawn = build_county(320, 11)
    write_dominion(drawn, drawn.paper, county_exports_dir(root, "b") / "dominion")
    assert main(["state", "ingest", str(root), "b", "--in-process", "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc == {"schema_version": 1, "failed": {}, "counties": {
        "b": {"format": "dominion", "cards_added": 320, "cards_total": 320, "already": False}}}
    store_a = county_store_dir(root, "a")
    before = {p: p.read_bytes() for p in sorted(store_a.rglob("*")) if p.is_file()}
    assert main(["state", "ingest", str(root), "a", "--in-process", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["counties"]["a"] == {
        "format": "dominion", "cards_added": 0, "cards_total": 300, "already": True}
    assert {p: p.read_bytes() for p in sorted(store_a.rglob("*")) if p.is_file()} == before
    # an export only partly in the store is still refused (a mistake, not a re-run)
    drawn = build_county(120, 12)
    write_dominion(drawn, drawn.paper, county_exports_dir(root, "a") / "more")
    assert main(["state", "ingest", str(root), "a", "--in-process", "--json"]) == 2
    assert "already" in orjson.loads(capsys.readouterr().out)["failed"]["a"]
    # usage errors: an unknown county, files for more than one county, both executors
    assert main(["state", "ingest", str(root), "nowhere", "--in-process"]) == 2
    assert "no county 'nowhere'" in capsys.readouterr().err
    assert main(["state", "ingest", str(root), "--source", str(root), "--in-process"]) == 2
    assert "name that one county" in capsys.readouterr().err
    assert main(["state", "ingest", str(root), "--scheduler", "tcp://x:1", "--in-process"]) == 2


def test_state_ingest_on_the_local_cluster_prints_its_dashboard(tmp_path: Path,
                                                                capsys) -> None:  # noqa: ANN001
    """The default executor: a LocalCluster on this machine, whose dashboard link is printed
    above the progress; the stores are byte for byte those ingested in-process from the same
    files (a store records its sources' paths, so both runs read the same folder)."""
    import shutil

    from tallyproof.state.tasks import county_store_dir

    root = _exports_state(tmp_path)
    assert main(["state", "ingest", str(root), "--in-process"]) == 0
    for c in ("a", "b", "c"):
        shutil.move(county_store_dir(root, c), tmp_path / f"inproc-{c}")
    capsys.readouterr()
    assert main(["state", "ingest", str(root)]) == 0
    err = capsys.readouterr().err
    link = next(ln for ln in err.splitlines() if ln.startswith("Dask dashboard: "))
    assert link.removeprefix("Dask dashboard: ").startswith("http://")
    for c in ("a", "b", "c"):
        assert f"ingest {c}: done" in err
        ours, theirs = county_store_dir(root, c), tmp_path / f"inproc-{c}"
        files = sorted(p.relative_to(ours) for p in ours.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
        for f in files:
            assert (ours / f).read_bytes() == (theirs / f).read_bytes(), f


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
    assert main(["state", "ingest", str(state), "east", "--source", str(tallies),
                 "--manifest", str(manifest), "--in-process"]) == 0
    assert f"batch tallies of {sum(n for _, _, n, _ in EAST)} ballots" in capsys.readouterr().out
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

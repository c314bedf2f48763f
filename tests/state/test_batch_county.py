"""A county with batch tallies only: ingest, its batch log in the state log, its statewide
totals and accounting, and errors that name the file, line and county."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tallyproof.errors import InputError, UsageError
from tallyproof.ledger import new_keypair
from tallyproof.state.batch_county import (
    BATCH_TALLY_LEAF,
    load_batch_county,
    tallies_dir,
    verify_batch_log,
)
from tallyproof.state.executor import InProcess
from tallyproof.state.statelog import load_state_log, publish, verify_state_log
from tallyproof.state.tasks import county_key_path, ingest_task
from tallyproof.state.workflow import add_county, commit_all, tabulate_state

from .batch_fixtures import EAST, write_east


@pytest.fixture
def bstate(state: Path, tmp_path: Path) -> Path:
    """The two CVR counties of ``state`` and "east", which reports batch tallies only."""
    add_county(state, "east", "East", kind="batch_tallies")
    new_keypair(county_key_path(state, "east"))
    manifest, tallies = write_east(tmp_path / "east")
    (o,) = InProcess().map(ingest_task, ["east"], str(state), [str(tallies)], "auto",
                           str(manifest))
    assert o.ok, o.error
    assert o.value.cards_total == sum(n for _, _, n, _ in EAST)
    return state


def test_batch_county_counts_in_the_statewide_totals(bstate: Path) -> None:
    before = {r.contest: r for r in tabulate_state(bstate, InProcess())}
    mayor = before["mayor"]
    want = {f"c{i}": sum(v[i] for *_, v in EAST) for i in range(4)}
    assert mayor.by_county["east"] == want
    assert mayor.votes == {k: sum(mayor.by_county[c][k] for c in ("north", "south", "east"))
                           for k in want}
    council = before["council"]
    assert council.by_county["east"] == {f"c{i}": sum(v[i] // 2 for *_, v in EAST)
                                         for i in range(4)}


def test_batch_log_goes_into_the_state_log(bstate: Path, tmp_path: Path) -> None:
    key, pub = new_keypair(tmp_path / "state-key")
    commits = {o.county: o.value for o in commit_all(bstate, InProcess())}
    east = commits["east"]
    assert east.committed and east.tree_size == 1 + len(EAST)  # definition + one per batch
    first = publish(bstate, key, commits)
    assert "east" in first.counties_added
    assert verify_state_log(bstate) == []
    segments, _ = load_state_log(bstate)
    assert {x.county: x.checkpoint for x in segments[0]}["east"] == east.checkpoint
    folder = tallies_dir(bstate, "east")
    assert verify_batch_log(folder) == []
    bc = load_batch_county(folder)
    assert [x[0] for x in bc.leaves()[1:]] == [BATCH_TALLY_LEAF] * len(EAST)
    # a second commit with nothing new signs nothing; a tally changed after the commit is
    # caught by the log check and refused by the next commit
    again = {o.county: o.value for o in commit_all(bstate, InProcess())}
    assert not again["east"].committed
    doc = orjson.loads((folder / "tallies.json").read_bytes())
    doc["batches"][0]["tallies"]["mayor"][0] += 5
    (folder / "tallies.json").write_bytes(orjson.dumps(doc))
    assert any("does not match" in f for f in verify_batch_log(folder))
    (o,) = [x for x in commit_all(bstate, InProcess()) if x.county == "east"]
    assert not o.ok and "differ from its committed log" in (o.error or "")


def test_batch_county_accounting(bstate: Path, tmp_path: Path) -> None:
    from tallyproof.state.accounting import county_inputs, reconcile_state

    inputs = county_inputs(bstate, "east")
    inputs.mkdir(parents=True)
    total = sum(n for _, _, n, _ in EAST)
    (inputs / "pollbooks.csv").write_text(f"precinct,checkins\nP1,{total}\n")
    acc = reconcile_state(bstate, InProcess())
    east = acc.counties["east"]
    assert east.cvrs == 0 and east.manifest_ballots == total and east.checkins == total
    assert dict((n, s) for n, s, _ in east.checks)["reconciliation.batch_tallies"] == "pass"
    # a batch with more votes than ballots, and a manifest batch without tallies: named
    manifest, tallies = write_east(tmp_path / "bad", [*EAST[:3], ("T2", "2", 3, (16, 9, 2, 1))])
    lines = tallies.read_text().splitlines()
    tallies.write_text("\n".join(x for x in lines if not x.startswith("T1,2,")) + "\n")
    InProcess().map(ingest_task, ["east"], str(bstate), [str(tallies)], "auto", str(manifest))
    acc = reconcile_state(bstate, InProcess())
    checks = {n: (s, m) for n, s, m in acc.counties["east"].checks}
    status, summary = checks["reconciliation.batch_tallies"]
    assert status == "fail" and "T1/2" in summary and "T2/2" in summary
    assert checks["reconciliation.pollbooks"][0] == "fail"
    assert acc.check.status == "fail" and acc.check.details["failing_counties"] == ["east"]


def test_batch_tally_errors_name_file_line_and_county(bstate: Path, tmp_path: Path) -> None:
    from tallyproof.formats.batch_tallies import read_batch_tallies

    manifest, tallies = write_east(tmp_path / "e2")
    lines = tallies.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*lines[:3], "T1,1,Mayor,1,Candidate 9,x"]) + "\n")
    with pytest.raises(InputError, match="votes must be a whole number") as e:
        read_batch_tallies(bad)
    assert e.value.record == "line 4" and e.value.field == "votes"
    bad.write_text("\n".join([*lines[:3], "T9,1,Mayor,1,Candidate 0,3"]) + "\n")
    (o,) = InProcess().map(ingest_task, ["east"], str(bstate), [str(bad)], "auto", str(manifest))
    assert not o.ok and "not in the ballot manifest" in (o.error or "")
    bad.write_text("\n".join([*lines[:3], "T1,1,Mayor,1,Somebody Else,3"]) + "\n")
    (o,) = InProcess().map(ingest_task, ["east"], str(bstate), [str(bad)], "auto", str(manifest))
    assert not o.ok and "county east" in (o.error or "") and "Somebody Else" in (o.error or "")
    with pytest.raises(UsageError, match="batch tallies"):
        ingest_task("east", str(bstate), [str(tallies), str(tallies)], "auto", str(manifest))
    (o,) = InProcess().map(ingest_task, ["east"], str(bstate), [str(tallies)], "auto", None)
    assert not o.ok and "--manifest" in (o.error or "")


def test_batch_proof_and_state_bundle(bstate: Path, tmp_path: Path) -> None:
    """A batch tally proves into the state checkpoint (checked by the verifier written from
    the docs); the state bundle verifies, and an altered batch tally inside it (SHA256SUMS
    re-made) fails that county and the statewide recount."""
    import shutil

    from tallyproof.evidence.bundle import write_sums
    from tallyproof.ledger.keys import load_verifier
    from tallyproof.state.evidence import build_state_bundle
    from tallyproof.state.statelog import prove_ballot, verify_ballot_proof
    from tallyproof.verify import verify_bundle

    key, pub = new_keypair(tmp_path / "state-key")
    publish(bstate, key, {o.county: o.value for o in commit_all(bstate, InProcess())})
    proof = prove_ballot(bstate, "east", "T2/1")
    assert proof["county_proof"]["leaf_type"] == "batch_tally"
    assert verify_ballot_proof(proof, load_verifier(pub)) == []
    with pytest.raises(UsageError, match="no batch"):
        prove_ballot(bstate, "east", "T9/9")
    tabulate_state(bstate, InProcess())
    bundle = build_state_bundle(bstate, tmp_path / "bundle")
    rep = verify_bundle(bundle)
    assert rep.ok, [(c.name, c.summary) for c in rep.checks if c.status != "pass"]
    assert (bundle / "counties" / "east" / "tallies" / "tallies.json").exists()
    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    p = bad / "counties" / "east" / "tallies" / "tallies.json"
    doc = orjson.loads(p.read_bytes())
    doc["batches"][1]["tallies"]["mayor"][1] += 9
    p.write_bytes(orjson.dumps(doc))
    write_sums(bad)
    rep = verify_bundle(bad)
    checks = {c.name: c for c in rep.checks}
    assert not rep.ok and checks["state.counties"].details["failing"] == ["east"]
    assert checks["state.results"].status == "fail"


def _mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 Merkle tree hash, written from the RFC."""
    import hashlib

    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def test_an_independent_reading_of_the_spec_rebuilds_the_batch_log(bstate: Path,
                                                                   tmp_path: Path) -> None:
    """docs/commitment.md §1.5b, read by someone with hashlib and the published
    tallies.json: every leaf rebuilt, the tree's root is the signed checkpoint's, and a
    batch tally's proof holds exactly the batch as the county's tallies CSV states it."""
    import base64
    import hashlib

    from tallyproof.state.statelog import prove_ballot

    key, _ = new_keypair(tmp_path / "state-key")
    publish(bstate, key, {o.county: o.value for o in commit_all(bstate, InProcess())})
    doc = orjson.loads((tallies_dir(bstate, "east") / "tallies.json").read_bytes())

    def s(x: str) -> bytes:
        return len(x.encode()).to_bytes(4, "big") + x.encode()

    contests = doc["election"]["contests"]
    leaves = [b"\x04\x01" + orjson.dumps({"contests": contests}, option=orjson.OPT_SORT_KEYS)]
    for b in doc["batches"]:
        parts = [k.to_bytes(2, "big") + len(b["tallies"][c["id"]]).to_bytes(2, "big")
                 + b"".join(v.to_bytes(8, "big") for v in b["tallies"][c["id"]])
                 for k, c in enumerate(contests) if c["id"] in b["tallies"]]
        leaves.append(b"\x06\x01" + s(b["tabulator"]) + s(b["batch"])
                      + b["ballots"].to_bytes(8, "big") + len(parts).to_bytes(2, "big")
                      + b"".join(parts))
    hashes = [hashlib.sha256(b"\x00" + x).digest() for x in leaves]
    cp = (tallies_dir(bstate, "east") / "log" / "checkpoints" / "000001.txt").read_text()
    _, size, root = cp.splitlines()[:3]
    assert int(size) == len(leaves) and base64.b64decode(root) == _mth(hashes)
    # the proof's leaf is T2/1 as the tallies CSV gives it: Mayor votes, 60 ballots
    proof = prove_ballot(bstate, "east", "T2/1")["county_proof"]
    data = bytes.fromhex(proof["leaf_data"])
    assert hashlib.sha256(b"\x00" + data).hexdigest() == proof["leaf_hash"]
    mayor = next(k for k, c in enumerate(contests) if c["name"] == "Mayor")
    t, b, n, votes = EAST[2]
    assert data.startswith(b"\x06\x01" + s(t) + s(b) + n.to_bytes(8, "big"))
    assert (mayor.to_bytes(2, "big") + b"\x00\x04"
            + b"".join(v.to_bytes(8, "big") for v in votes)) in data


def test_a_batch_county_republished_proves_its_log_only_grew(bstate: Path,
                                                            tmp_path: Path) -> None:
    """A county with batch tallies only cannot re-ingest once committed, but whoever removes
    its checkpoints can: one that re-makes its log with one more batch (the published tree a
    prefix) is re-published with a consistency proof of its batch log; one that re-makes it
    over other tallies after publication is refused, naming it."""
    import shutil

    from tallyproof.errors import VerificationError
    from tallyproof.ledger.keys import load_verifier

    def remake(name: str, east: list) -> None:  # type: ignore[type-arg]
        shutil.rmtree(tallies_dir(bstate, "east") / "log" / "checkpoints")
        manifest, tallies = write_east(tmp_path / name, east)
        (o,) = InProcess().map(ingest_task, ["east"], str(bstate), [str(tallies)], "auto",
                               str(manifest))
        assert o.ok, o.error

    key, pub = new_keypair(tmp_path / "state-key")
    publish(bstate, key, {o.county: o.value for o in commit_all(bstate, InProcess())})
    more = [*EAST, ("T3", "1", 20, (10, 6, 3, 1))]
    remake("more", more)
    second = publish(bstate, key, {o.county: o.value for o in commit_all(bstate, InProcess())})
    assert second.counties_added == ("east",)
    doc = orjson.loads((bstate / "log" / "consistency" / "000002.json").read_bytes())
    assert [(e["county"], e["old_size"], e["new_size"]) for e in doc["counties"]] == [
        ("east", 1 + len(EAST), 2 + len(EAST))]
    assert verify_state_log(bstate, load_verifier(pub)) == []
    # other tallies for one batch, as many leaves as published
    remake("other", [*EAST[:-1], ("T2", "2", 30, (1, 9, 2, 16)), more[-1]])
    with pytest.raises(VerificationError, match="county east: its log is not consistent"):
        publish(bstate, key, {o.county: o.value for o in commit_all(bstate, InProcess())})
    assert verify_state_log(bstate, load_verifier(pub)) == []

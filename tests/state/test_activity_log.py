"""The control room's activity log committed in the state log (docs/commitment.md §9.7):
signed at each publication, append-only, and every change to a published entry caught."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import orjson
import pytest

from tallyproof.errors import StoreError, UsageError, VerificationError
from tallyproof.ledger import new_keypair
from tallyproof.ledger.checkpoint import parse
from tallyproof.ledger.keys import load_verifier
from tallyproof.state import activity_log
from tallyproof.state.executor import InProcess
from tallyproof.state.statelog import (
    load_state_log,
    prove_ballot,
    publish,
    verify_ballot_proof,
    verify_state_log,
)
from tallyproof.state.workflow import commit_all


def entry(i: int, action: str = "login", user: str | None = "sa", county: str | None = None,
          detail: str = "") -> dict[str, object]:
    return {"id": i, "at": f"2026-11-03T20:{i % 60:02d}:00.000000Z", "user": user,
            "action": action, "county": county, "detail": detail}


def activity_files(state: Path) -> list[Path]:
    return sorted((state / "log" / "activity").glob("*.jsonl"))


def rfc9162_root(lines: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written out from the RFC (not the project's Tree)."""
    if not lines:
        return hashlib.sha256(b"").digest()
    if len(lines) == 1:
        return hashlib.sha256(b"\x00" + lines[0]).digest()
    k = 1 << ((len(lines) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + rfc9162_root(lines[:k]) + rfc9162_root(lines[k:])).digest()


@pytest.fixture
def committed(state: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, object]]:
    key, _ = new_keypair(tmp_path / "state-key")
    commits = {o.county: o.value for o in commit_all(state, InProcess())}
    return state, key, commits


def test_the_signed_line_is_the_documented_count_and_root(committed) -> None:  # noqa: ANN001
    state, key, commits = committed
    log = [entry(1), entry(2, "job_done", None, "north", "job 1: commit: ok"), entry(3)]
    pub = publish(state, key, commits, log)
    assert pub.published and pub.activity_entries == 3 and pub.activity_added == 3
    (f,) = activity_files(state)
    assert f.name == "000001.jsonl"
    lines = f.read_bytes().split(b"\n")[:-1]
    # canonical: sorted keys, no whitespace, one entry per line in order of id
    assert lines[0] == (b'{"action":"login","at":"2026-11-03T20:01:00.000000Z","county":null,'
                        b'"detail":"","id":1,"user":"sa"}')
    assert [orjson.loads(x)["id"] for x in lines] == [1, 2, 3]
    cp = parse((state / "log" / "checkpoints" / "000001.txt").read_text())
    want = f"tallyproof-activity/v1 3 {base64.b64encode(rfc9162_root(lines)).decode()}"
    assert cp.checkpoint.extensions == (want,)
    assert want + "\n" in cp.body  # signed with the body
    assert verify_state_log(state) == []
    # a ballot's proof through a checkpoint with the extension line still verifies
    proof = prove_ballot(state, "south", "south-00007")
    assert want in proof["state_checkpoint"]
    assert verify_ballot_proof(proof, load_verifier(key.with_name(key.name + ".pub"))) == []


def test_appends_only_the_new_entries_and_publishes_for_them_alone(committed) -> None:  # noqa: ANN001
    state, key, commits = committed
    publish(state, key, commits, [entry(1), entry(2)])
    # nothing new anywhere: no publication
    assert publish(state, key, commits, [entry(1), entry(2)]).published is False
    # new entries alone make a publication (PostgreSQL may commit id 3 after id 4: it comes
    # in a later file, never lost)
    second = publish(state, key, commits, [entry(1), entry(2), entry(4)])
    assert second.published and second.counties_added == () and second.activity_added == 1
    third = publish(state, key, commits, [entry(1), entry(2), entry(3), entry(4), entry(5)])
    assert (third.activity_entries, third.activity_added) == (5, 2)
    files = activity_files(state)
    assert [f.name for f in files] == ["000001.jsonl", "000002.jsonl", "000003.jsonl"]
    assert [orjson.loads(x)["id"] for x in files[2].read_bytes().split(b"\n")[:-1]] == [3, 5]
    _, cps = load_state_log(state)
    assert [activity_log.commitment(c.checkpoint.extensions).count for c in cps] == [2, 3, 5]
    assert verify_state_log(state) == []


def test_a_changed_or_missing_published_entry_is_refused_at_publication(committed) -> None:  # noqa: ANN001
    state, key, commits = committed
    publish(state, key, commits, [entry(1), entry(2)])
    with pytest.raises(VerificationError, match="ids 2"):
        publish(state, key, commits, [entry(1), entry(2, detail="rewritten"), entry(3)])
    with pytest.raises(VerificationError, match="ids 1"):
        publish(state, key, commits, [entry(2), entry(3)])
    # once committed, a publication without the activity log is refused
    with pytest.raises(UsageError, match="--database-url"):
        publish(state, key, commits, None)
    assert len(activity_files(state)) == 1


def test_the_verifier_catches_every_change_to_a_published_entry(committed) -> None:  # noqa: ANN001
    state, key, commits = committed
    publish(state, key, commits, [entry(1), entry(2)])
    publish(state, key, commits, [entry(1), entry(2), entry(3)])
    first = activity_files(state)[0]
    good = first.read_bytes()

    first.write_bytes(good.replace(b'"user":"sa"', b'"user":"ca"', 1))  # an entry changed
    assert any("checkpoint 1: the activity log it signs" in f for f in verify_state_log(state))
    assert any("checkpoint 2" in f for f in verify_state_log(state))
    first.write_bytes(good.split(b"\n")[0] + b"\n")  # an entry removed
    assert len(verify_state_log(state)) == 2
    first.write_bytes(good.replace(b'{"action"', b'{ "action"', 1))  # not canonical
    assert any("not a canonical entry" in f for f in verify_state_log(state))
    first.write_bytes(good)
    assert verify_state_log(state) == []
    first.unlink()  # the file of a committing publication missing
    assert any("000001.jsonl is missing" in f for f in verify_state_log(state))


def test_no_control_room_leaves_the_state_log_byte_for_byte(committed, tmp_path: Path) -> None:  # noqa: ANN001
    state, key, commits = committed
    pub = publish(state, key, commits)
    assert pub.activity_entries is None and not (state / "log" / "activity").exists()
    text = (state / "log" / "checkpoints" / "000001.txt").read_text()
    assert text.count("\n") == 5  # origin, size, root, blank, one signature: no extension
    # a control room that starts later commits its log from its first publication on
    pub = publish(state, key, commits, [entry(1)])
    assert pub.published and [f.name for f in activity_files(state)] == ["000002.jsonl"]
    assert verify_state_log(state) == []
    # a checkpoint that stops committing it is caught
    _, cps = load_state_log(state)
    exts = [c.checkpoint.extensions for c in cps]
    assert activity_log.verify_activity(state / "log", [*exts, ()]) \
        == ["state checkpoint 3 no longer commits the activity log (checkpoint 2 did)"]
    assert activity_log.verify_activity(state / "log", [exts[0], ()]) \
        == ["activity file 000002.jsonl: state checkpoint 2 does not commit it"]


def test_entries_outside_the_format_are_refused() -> None:
    with pytest.raises(StoreError, match="keys"):
        activity_log.entry_line({**entry(1), "client": "10.0.0.1"})
    with pytest.raises(StoreError, match="UTC"):
        activity_log.entry_line({**entry(1), "at": "2026-11-03 20:00:00"})
    with pytest.raises(StoreError, match="positive"):
        activity_log.entry_line({**entry(1), "id": True})

"""Results snapshots are committed in the log like every CVR: a changed, missing or uncommitted
snapshot of the results history fails verification."""

from __future__ import annotations

from pathlib import Path

from tallyproof.ledger import canonical as cn
from tallyproof.ledger.log import commit_store
from tallyproof.ledger.verify_store import verify_store
from tallyproof.results_history import add_snapshot, history_dir

from ..formats.georgia_fixtures import CLARITY
from .conftest import make_store


def _clarity(tmp_path: Path, name: str, stamp: str) -> Path:
    p = tmp_path / name
    p.write_text(CLARITY.replace("11/20/2020 3:37:06 PM EST", stamp))
    return p


def test_snapshots_are_committed_and_verified(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "s")
    add_snapshot(store, _clarity(tmp_path, "a.xml", "11/3/2020 11:00:00 PM EST"))
    first = commit_store(store, key_pair[0])
    assert first.snapshots == 1
    assert verify_store(store).ok

    # a snapshot added after the commit is named as not committed, then committed
    add_snapshot(store, _clarity(tmp_path, "b.xml", "11/4/2020 11:00:00 PM EST"))
    report = verify_store(store)
    assert not report.ok
    assert any("not committed" in f.message for f in report.failures)
    second = commit_store(store, key_pair[0])
    assert (second.snapshots, second.cards_added) == (1, 0)
    assert verify_store(store).ok
    assert commit_store(store, key_pair[0]).committed is False  # nothing new

    # a stored snapshot edited after the commit
    stored = sorted(history_dir(store).glob("0001-*"))[0]
    stored.write_text(stored.read_text().replace('votes="30"', 'votes="31"', 1))
    report = verify_store(store)
    assert not report.ok
    assert [f.check for f in report.failures] == ["results-history"]
    assert "changed after it was added" in report.failures[0].message


def test_snapshot_leaf_bytes_are_documented() -> None:
    leaf = cn.snapshot_leaf(2, "2020-11-04T04:00:00Z", "clarity", "a.xml", "ab" * 32)
    assert leaf[:2] == bytes([0x05, cn.FORMAT_VERSION])
    assert leaf[2:6] == (2).to_bytes(4, "big")
    assert leaf[6:10] == (20).to_bytes(4, "big") and leaf[10:30] == b"2020-11-04T04:00:00Z"
    assert leaf[-32:] == bytes.fromhex("ab" * 32)
    assert len(leaf) == 2 + 4 + (4 + 20) + (4 + 7) + (4 + 5) + 32

"""The read-only store (tallyproof.store_readonly): no lock, no write, the last completed
state; writes through it refused; a writer committing while a reader reads never shows the
reader a torn state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

import pytest

from tallyproof.errors import StoreBusy, StoreReadOnly, StoreUpdating
from tallyproof.fsutil import JOURNAL, transaction
from tallyproof.ledger import new_keypair
from tallyproof.ledger.log import commit_store, load_checkpoints, load_leaves
from tallyproof.model import Candidate, Contest, ContestKind, Election, SourceFile
from tallyproof.store import Store, locked
from tallyproof.store_readonly import ReadOnlyStore, open_readonly, read_consistently

from .test_store import _batches


def _election() -> Election:
    return Election(contests=(Contest(id="mayor", name="Mayor",
                                      candidates=(Candidate("a", "A"), Candidate("b", "B"))),))


def _append(store: Store, n: int, part: int) -> None:
    """``n`` cards from a source of its own (``part`` tells the ids and the source apart)."""
    e = _election()
    rows = [(f"p{part}-{i}", [[i % 2]]) for i in range(n)]
    name = f"part-{part}.csv"
    store.append(e, iter(_batches(e, rows, name)),
                 [SourceFile(path=name, name=name, sha256=f"{part:064x}", format="test", cards=0)])


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def committed(tmp_path: Path) -> tuple[Store, Path]:
    """A store with 5 cards committed and a signing key."""
    key, _ = new_keypair(tmp_path / "keys" / "clerk")
    store = Store.create(tmp_path / "st")
    _append(store, 5, 1)
    commit_store(store, key)
    return store, key


def test_writing_through_a_read_only_store_raises(committed: tuple[Store, Path]) -> None:
    from tallyproof.reconcile import reconcile_store
    from tallyproof.tabulate.store_results import tabulate_store, write_results

    store, key = committed
    before = _files(store.root)
    with Store.open_readonly(store.root) as ro:
        assert isinstance(ro, ReadOnlyStore) and ro.readonly and not store.readonly
        results = tabulate_store(ro, write=False)  # reading works
        attempts = [
            lambda: ro.set_election_info(name="X"),
            lambda: _append(ro, 1, 2),
            lambda: ro.set_contest_rule("mayor", kind=ContestKind.APPROVAL, seats=1),
            lambda: commit_store(ro, key),
            lambda: write_results(ro, results),
            lambda: reconcile_store(ro),
        ]
        for attempt in attempts:
            with pytest.raises(StoreReadOnly, match="read-only"):
                attempt()
    assert _files(store.root) == before  # nothing written, not even a lock file


def test_open_readonly_takes_no_lock_and_writes_nothing(committed: tuple[Store, Path]) -> None:
    store, _ = committed
    (store.root / ".lock").unlink()
    before = _files(store.root)
    with locked(store.root):  # a job holds the writer lock
        with pytest.raises(StoreBusy):
            Store.open(store.root)
        with Store.open_readonly(store.root) as ro:
            assert ro.cvr_count() == 5
            assert load_checkpoints(ro.log_dir)[-1].checkpoint.size == load_leaves(ro.log_dir).size
            assert ro.unchanged()
    assert {k: v for k, v in _files(store.root).items() if k != ".lock"} == before


def test_a_commit_in_progress_reads_as_updating_and_is_not_rolled_forward(
        committed: tuple[Store, Path]) -> None:
    """A journal on disk (a commit between its first and last rename, or a crashed one) is
    not a state to read: StoreUpdating, and the read-only open finishes nothing."""
    store, _ = committed
    with transaction(store.root) as tx:
        tx.write_bytes(store.root / "election.json", b"{}\n")
        staged = dict(tx.staged)
        tx.commit = lambda: None  # type: ignore[method-assign]  # keep it staged
    (store.root / JOURNAL).write_bytes(orjson.dumps(  # as Transaction.commit writes it
        [[os.path.relpath(tmp, store.root), os.path.relpath(t, store.root)]
         for t, tmp in staged.items()]))
    before = _files(store.root)
    with pytest.raises(StoreUpdating, match="being updated"):
        open_readonly(store.root, attempts=2)
    assert _files(store.root) == before
    assert all(tmp.exists() for tmp in staged.values())  # stray temp files not cleaned either


def test_a_write_between_open_and_check_is_detected_and_read_again(
        committed: tuple[Store, Path]) -> None:
    """The reader's files replaced after it pinned them: unchanged() is False, and
    read_consistently reads again and returns the new state, whole."""
    store, key = committed
    ro = Store.open_readonly(store.root)
    _append(store, 3, 2)
    assert not ro.unchanged()  # cvrs.parquet and election.json replaced
    ro.close()
    calls = []

    def read(s: ReadOnlyStore) -> tuple[int, int]:
        calls.append(1)
        if len(calls) == 1:  # a commit lands while the first read runs
            commit_store(store, key)
        return s.cvr_count(), load_checkpoints(s.log_dir)[-1].checkpoint.size

    cards, size = read_consistently(store.root, read)
    assert len(calls) == 2
    assert cards == 8 and size == load_leaves(store.log_dir).size > 5


def test_a_writer_that_never_stops_makes_a_read_updating(committed: tuple[Store, Path]) -> None:
    store, _ = committed
    parts = iter(range(100, 200))

    def read(s: ReadOnlyStore) -> int:
        _append(store, 1, next(parts))  # every read is overtaken by a write
        return s.cvr_count()

    with pytest.raises(StoreUpdating, match="kept replacing"):
        read_consistently(store.root, read, attempts=3)


# ------------------------------------------------------------------ a real concurrent writer
WRITER = """
import sys
from pathlib import Path
from tallyproof.ledger.log import commit_store
from tallyproof.store import Store
from tests.test_store_readonly import _append

store = Store.open(Path(sys.argv[1]))
print("ready", flush=True)
for part in range(2, 2 + int(sys.argv[3])):
    _append(store, 1 + part % 7, part)
    commit_store(store, Path(sys.argv[2]))
"""


def _snapshot(s: ReadOnlyStore) -> tuple[int, int, int, int]:
    """What must agree within one completed state: the CVR table's rows and the sources'
    cards (one ingest transaction), the latest checkpoint's size and the log's leaves (one
    commit transaction)."""
    cps = load_checkpoints(s.log_dir)
    return (s.cvr_count(), sum(src.cards for src in s.election.sources),
            cps[-1].checkpoint.size if cps else 0, load_leaves(s.log_dir).size)


def test_a_reader_beside_a_committing_process_never_sees_a_torn_state(
        committed: tuple[Store, Path]) -> None:
    """Another process (a plain subprocess: nothing of it outlives the test) appends and
    commits 40 times while this one reads read-only as fast as it can."""
    store, key = committed
    rounds = 40
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    seen: list[tuple[int, int, int, int]] = []
    updating = 0
    with subprocess.Popen([sys.executable, "-c", WRITER, str(store.root), str(key),
                           str(rounds)], stdout=subprocess.PIPE, env=env,
                          cwd=Path(__file__).parents[1]) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
            while proc.poll() is None or not seen:
                try:
                    seen.append(read_consistently(store.root, _snapshot))
                except StoreUpdating:
                    updating += 1
        finally:
            if proc.poll() is None and not seen:
                proc.kill()
    assert proc.returncode == 0
    torn = [s for s in seen if s[0] != s[1] or s[2] != s[3]]
    assert not torn, torn[:5]
    assert len({s[0] for s in seen}) > 3, seen  # the reader did see the writer's progress
    with Store.open_readonly(store.root) as ro:
        final = _snapshot(ro)
    assert final[0] == 5 + sum(1 + p % 7 for p in range(2, 2 + rounds))
    assert updating < len(seen), (updating, len(seen))

"""The two-process hashing path gives the same bytes as one process, and fails loudly.

The fork threshold is lowered here so that small stores take the parallel path.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tallyproof.ledger import canonical as cn
from tallyproof.ledger import commit_store, merkle, parallel, verify_store
from tallyproof.ledger.log import sort_order
from tallyproof.ledger.parallel import ParallelHashError, run_pair

from .conftest import ELECTION, add_cards, make_store, no_child_left_behind

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PROCESSES", 2)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ITEMS", 2)


@pytest.fixture
def serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PROCESSES", 1)


def test_run_pair_forked_matches_in_process() -> None:
    assert run_pair(lambda: b"ab", lambda: b"cd" * 100_000, True) == (b"ab", b"cd" * 100_000)
    assert run_pair(lambda: b"ab", lambda: b"", False) == (b"ab", b"")


def test_run_pair_child_exception_is_raised_with_traceback() -> None:
    def boom() -> bytes:
        raise ValueError("child went wrong")

    with pytest.raises(ParallelHashError, match="child went wrong"):
        run_pair(lambda: b"", boom, True)


def test_run_pair_dead_child_is_an_error() -> None:
    with pytest.raises(ParallelHashError, match="died"):
        run_pair(lambda: b"", lambda: os._exit(3), True)


def test_run_pair_parent_exception_still_reaps_child() -> None:
    def boom() -> bytes:
        raise KeyError("parent")

    with no_child_left_behind(), pytest.raises(KeyError):
        run_pair(boom, lambda: b"x", True)


def test_objects_alive_at_the_fork_are_frozen_while_a_pair_runs() -> None:
    """The collector leaves the objects both processes share alone while the child lives
    (no copy-on-write from its writes), nested pairs included, and gets them back after,
    also when a part fails."""
    import gc

    assert gc.get_freeze_count() == 0
    seen: list[int] = []

    def inner() -> bytes:
        seen.append(gc.get_freeze_count())
        return b""

    def outer() -> bytes:
        seen.append(gc.get_freeze_count())
        run_pair(inner, lambda: b"", True)
        seen.append(gc.get_freeze_count())  # the outer child still runs: still frozen
        return b""

    def child() -> bytes:
        return str(gc.get_freeze_count() > 0).encode()

    assert run_pair(outer, child, True) == (b"", b"True")
    assert all(n > 0 for n in seen) and len(seen) == 3
    assert gc.get_freeze_count() == 0

    def boom() -> bytes:
        raise KeyError("parent")

    with pytest.raises(KeyError):
        run_pair(boom, lambda: b"", True)
    with pytest.raises(ParallelHashError):
        run_pair(lambda: b"", lambda: os._exit(3), True)
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("n", [127, 128, 129, 200, 255, 256, 1000, 4097])
def test_tree_levels_same_in_parallel(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    leaves = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n))
    monkeypatch.setattr(parallel, "PROCESSES", 1)
    one = merkle.Tree(leaves)
    monkeypatch.setattr(parallel, "PROCESSES", 2)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ITEMS", 2)
    two = merkle.Tree(leaves)
    assert two.levels == one.levels
    assert two.root() == one.root()
    assert two.inclusion_proof(n // 3) == one.inclusion_proof(n // 3)


@pytest.mark.parametrize("n", [127, 128, 129, 1000, 4097])
@pytest.mark.parametrize("processes", [1, 2])
def test_tree_with_meanwhile_task(n: int, processes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit writes its segment while the tree is built (the child then takes the larger
    share): same levels, the task runs exactly once, and its error is the caller's."""
    leaves = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n))
    monkeypatch.setattr(parallel, "PROCESSES", 1)
    one = merkle.Tree(leaves)
    monkeypatch.setattr(parallel, "PROCESSES", processes)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ITEMS", 2)
    calls: list[int] = []
    assert merkle.Tree(leaves, meanwhile=lambda: calls.append(os.getpid())).levels == one.levels
    assert calls == [os.getpid()]  # in this process, once

    def boom() -> None:
        raise OSError("disk full")

    with no_child_left_behind(), pytest.raises(OSError, match="disk full"):
        merkle.Tree(leaves, meanwhile=boom)


def test_encode_and_hash_same_in_parallel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = make_store(tmp_path / "s", n=301).cvrs()
    salts = np.frombuffer(os.urandom(16 * table.num_rows), np.uint8).reshape(-1, 16)
    sup = [None] * 300 + [(7, "re-scan")]
    monkeypatch.setattr(parallel, "PROCESSES", 1)
    one = cn.encode_and_hash(table, ELECTION, salts, sup)
    monkeypatch.setattr(parallel, "PROCESSES", 2)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ITEMS", 2)
    two = cn.encode_and_hash(table, ELECTION, salts, sup)
    assert two == one
    # and both are the documented leaf hashes SHA-256(0x00 ‖ leaf data)
    datas = cn.encode_cards(table, ELECTION, salts, sup)
    assert one == cn.hash_leaves(datas)


def test_bad_input_fails_before_forking(forced: None, tmp_path: Path) -> None:
    table = make_store(tmp_path / "s", n=10).cvrs()
    with pytest.raises(ValueError, match="salts must have shape"):
        cn.encode_and_hash(table, ELECTION, np.zeros((9, 16), np.uint8))


def test_commit_and_verify_in_parallel_detect_tampering(
    forced: None, tmp_path: Path, key_pair: tuple[Path, Path]
) -> None:
    store = make_store(tmp_path / "s", n=300)
    commit_store(store, key_pair[0])
    add_cards(store, 50, seed=3, prefix="late", source="late.csv")
    commit_store(store, key_pair[0])
    report = verify_store(store)
    assert report.ok, report.failures
    # rewrite one card's precinct in the CVR table: verify (forked) must name that ballot
    files = sorted(store.root.rglob("*.parquet"))
    cvr_files = [f for f in files if store.log_dir not in f.parents]
    target = cvr_files[0]
    t = pq.read_table(target)
    victim = t.column("ballot_id")[5].as_py()
    mask = pc.equal(t.column("ballot_id"), victim)
    precinct = pc.if_else(mask, pa.scalar("P9"), t.column("precinct"))
    pq.write_table(t.set_column(t.schema.get_field_index("precinct"), "precinct", precinct), target)
    bad = verify_store(store)
    assert not bad.ok
    assert [f.check for f in bad.failures] == ["changed"]
    assert bad.failures[0].ballot_ids == [victim]


def _reference_order(hashes: bytes) -> list[int]:
    return sorted(range(len(hashes) // 32), key=lambda i: (hashes[32 * i : 32 * i + 32], i))


@pytest.mark.parametrize("m", [0, 1, 2, 3, 100, 1000])
def test_sort_order_random(m: int) -> None:
    hashes = os.urandom(32 * m)
    assert sort_order(hashes).tolist() == _reference_order(hashes)


def test_sort_order_settles_ties_on_the_full_hash() -> None:
    # equal first 64 bits, top bits equal but low bits differing, and exact duplicates
    same8 = [b"\x01" * 8 + os.urandom(24) for _ in range(20)]
    base = int.from_bytes(os.urandom(8), "big") & ~0xFFFF
    low = [(base | i).to_bytes(8, "big") + os.urandom(24) for i in range(200)]
    parts = same8 + low + [os.urandom(32) for _ in range(50)]
    parts += parts[:5]
    random.Random(1).shuffle(parts)
    hashes = b"".join(parts)
    assert sort_order(hashes).tolist() == _reference_order(hashes)


def test_no_pair_is_split_again_while_one_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A running pair keeps both cores busy: work inside either side runs in one process
    (a third process would only share the cores), and splitting resumes once it ends."""
    monkeypatch.setattr(parallel, "PROCESSES", 2)
    big = parallel.MIN_PARALLEL_ITEMS
    inside: list[int] = []

    def first() -> bytes:
        inside.append(parallel.processes_for(big))
        return b""

    _, theirs = run_pair(first, lambda: str(parallel.processes_for(big)).encode(), True)
    assert inside == [1] and theirs == b"1"
    assert parallel.processes_for(big) == 2
    assert parallel.processes_for(big - 1) == 1


def test_duckdb_takes_one_thread_while_a_pair_runs(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Both cores are taken while a pair runs: a query then runs on one thread instead of
    contending for the other process's core; outside a pair DuckDB takes its default."""
    from tallyproof.store import Store

    monkeypatch.setattr(parallel, "PROCESSES", 2)
    store = Store.create(tmp_path / "s")

    def threads() -> int:
        return int(store.duckdb().execute("SELECT current_setting('threads')").fetchone()[0])

    outside = threads()
    seen: list[bool] = []

    def first() -> bytes:
        seen.append(parallel.pair_running())
        return str(threads()).encode()

    mine, theirs = run_pair(first, lambda: f"{parallel.pair_running()} {threads()}".encode(),
                            True)
    assert seen == [True] and mine == b"1" and theirs == b"True 1"
    assert not parallel.pair_running() and threads() == outside

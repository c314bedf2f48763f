"""Small synthetic stores for the ledger tests (built with Store.append + CvrBuilder)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from tallyproof.cvr_table import CvrBuilder
from tallyproof.ledger import new_keypair
from tallyproof.model import Candidate, Contest, ContestKind, Election, SourceFile
from tallyproof.store import Store

CANDIDATES = tuple(Candidate(f"c{i}", f"Candidate {i}") for i in range(4))
CONTESTS = (
    Contest("mayor", "Mayor", candidates=CANDIDATES),
    Contest("council", "Council", kind=ContestKind.APPROVAL, seats=2, vote_for=4,
            candidates=CANDIDATES),
    Contest("rcv", "Ranked", kind=ContestKind.IRV, candidates=CANDIDATES, max_rankings=3),
)
ELECTION = Election(name="Test General", jurisdiction="Test County", date="2026-11-03",
                    contests=CONTESTS)


def card_batches(n: int, seed: int = 0, prefix: str = "b", source: str = "export.csv"):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    builder = CvrBuilder(CONTESTS, chunk_rows=max(1, n // 3 or 1))
    for i in range(n):
        votes: dict[str, list[list[int]]] = {}
        if rng.random() < 0.9:
            votes["mayor"] = [[rng.randrange(4)]] if rng.random() < 0.9 else [[]]
        if rng.random() < 0.6:
            votes["council"] = [sorted(rng.sample(range(4), rng.randrange(5)))]
        if rng.random() < 0.7:
            votes["rcv"] = [[rng.randrange(4)] for _ in range(rng.randrange(4))]
        out = builder.add(
            ballot_id=f"{prefix}{i:05d}", tabulator=f"T{i % 2}", batch=f"{i // 7}", record=i % 7,
            precinct=f"P{i % 3}", ballot_style="S1", vote_type="mail" if i % 2 else "election_day",
            source_file=source, source_record=str(i), votes=votes,
        )
        if out is not None:
            yield out
    last = builder.finish()
    if last is not None:
        yield last


def add_cards(store: Store, n: int, seed: int = 0, prefix: str = "b",
              source: str = "export.csv") -> None:
    src = SourceFile(path=source, name=source, sha256=f"{seed:064x}", format="test", cards=n)
    store.append(ELECTION, card_batches(n, seed, prefix, source), [src])


def make_store(root: Path, n: int = 30, seed: int = 0) -> Store:
    store = Store.create(root, ELECTION)
    add_cards(store, n, seed)
    return store


@pytest.fixture(scope="session")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return new_keypair(tmp_path_factory.mktemp("keys") / "clerk")


@contextmanager
def no_child_left_behind() -> Iterator[None]:
    """Every process the block forks must be gone (reaped) when it ends.

    Only the block's own children count: a process an earlier test on the same worker left
    running (a Dask cluster's worker, a resource tracker) is not this block's, and
    ``os.waitpid(-1)`` would wrongly blame the block for it."""
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    yield
    left = sorted(p.pid for p in me.children() if p.pid not in before)
    assert not left, f"child process(es) left behind: {left}"

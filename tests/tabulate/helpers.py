"""Small hand-built elections for the tabulation tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from tallyproof.cvr_table import CvrBuilder, Marks
from tallyproof.model import Candidate, Contest, ContestKind, Election
from tallyproof.store import Store


def contest(cid: str, names: Sequence[str], kind: ContestKind = ContestKind.PLURALITY,
            vote_for: int = 1, seats: int = 1) -> Contest:
    return Contest(id=cid, name=cid.title(), kind=kind, seats=seats, vote_for=vote_for,
                   candidates=tuple(Candidate(id=n, name=n) for n in names))


def table(contests: Sequence[Contest], cards: Sequence[dict[str, Marks]],
          precincts: Sequence[str | None] | None = None) -> pa.Table:
    b = CvrBuilder(contests)
    for i, votes in enumerate(cards):
        b.add(ballot_id=f"b{i}", precinct=precincts[i] if precincts else None, votes=votes)
    batch = b.finish()
    if batch is None:
        return b.schema.empty_table()
    return pa.Table.from_batches([batch])


def store(root: Path, contests: Sequence[Contest], cards: Sequence[dict[str, Marks]]) -> Store:
    st = Store.create(root)
    t = table(contests, cards)
    st.append(Election(name="test", contests=tuple(contests)), iter(t.to_batches()), [])
    return st

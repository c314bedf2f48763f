"""Grouping CVR-table columns into distinct rankings (vectorised) agrees with the plain way."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.model import OVERVOTE_UNKNOWN, ContestKind
from tallyproof.tabulate.ballots import as_ranking, from_lists, from_table

from .helpers import contest, table

RCV = contest("rcv", ["a", "b", "c", "d"], kind=ContestKind.IRV)

position = st.one_of(st.just([]), st.lists(st.integers(0, 3), min_size=1, max_size=1),
                     st.lists(st.integers(0, 3), min_size=2, max_size=3, unique=True),
                     st.just([OVERVOTE_UNKNOWN]))
card = st.one_of(st.none(), st.lists(position, max_size=5))


def _counts(b, kinds=()):  # multiset of (ranking, slice ids)
    out: Counter = Counter()
    for i, (item, w) in enumerate(zip(b.items, b.weights, strict=True)):
        ids = tuple(b.slices[k][i] for k in kinds)
        out[(as_ranking(item), ids)] += int(w)
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(card, max_size=25), st.one_of(st.none(), st.integers(1, 4)),
       st.lists(st.sampled_from(["p1", "p2", None, " "]), min_size=25, max_size=25))
def test_from_table_agrees_with_from_lists(cards, max_rankings, precincts) -> None:
    t = table([RCV], [{} if c is None else {"rcv": c} for c in cards],
              precincts=precincts[: len(cards)])
    got = from_table(t, RCV.column, max_rankings)
    want = from_lists([c for c in cards if c is not None], max_rankings)
    assert _counts(got) == _counts(want)
    assert got.total == sum(1 for c in cards if c is not None)
    sliced = from_table(t, RCV.column, max_rankings, slice_columns={"precinct": "precinct"},
                        missing_slice={"precinct": "no precinct id"})
    fixed = [p if p and p.strip() else "no precinct id" for p in precincts[: len(cards)]]
    want_s = from_lists([c for c in cards if c is not None], max_rankings,
                        slices={"precinct": [p for c, p in zip(cards, fixed, strict=True)
                                             if c is not None]})
    assert _counts(sliced, ["precinct"]) == _counts(want_s, ["precinct"])


def test_dense_matrix_when_every_rank_has_one_mark() -> None:
    t = table([RCV], [{"rcv": [[0], [], [2]]}, {"rcv": [[0], [], [2]]}, {"rcv": [[1]]}, {}])
    b = from_table(t, RCV.column)
    assert b.dense is not None
    assert sorted(b.dense.tolist()) == [[1, 0, 3], [2, 0, 0]]
    assert sorted(b.weights.tolist()) == [1, 2]
    assert sorted(b.rankings) == [((1, (0,)), (3, (2,))), ((1, (1,)),)]

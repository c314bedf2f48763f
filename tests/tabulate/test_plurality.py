from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.errors import UsageError
from tallyproof.model import OVERVOTE_UNKNOWN, ContestKind
from tallyproof.tabulate import tally_table
from tallyproof.tabulate.plurality import decide

from .helpers import contest, table

MAYOR = contest("mayor", ["alice", "bob", "carol"])


def test_vote_for_one_counts_overvotes_and_undervotes() -> None:
    cards = [{"mayor": [[0]]}, {"mayor": [[0]]}, {"mayor": [[1]]}, {"mayor": [[0, 1]]},
             {"mayor": [[]]}, {}, {"mayor": [[OVERVOTE_UNKNOWN]]}]
    t = tally_table(table([MAYOR], cards), MAYOR)["ALL"]
    assert t.cards == 6  # one card does not carry the contest
    assert t.votes == {"alice": 2, "bob": 1, "carol": 0}
    assert list(t.votes) == ["alice", "bob", "carol"]
    assert t.overvotes == 2
    assert t.undervotes == 1
    assert t.winners == ("alice",)
    assert not t.tied


def test_vote_for_two_and_tie_at_last_seat() -> None:
    council = contest("council", ["a", "b", "c", "d"], vote_for=2, seats=2)
    cards = [{"council": [[0, 1]]}, {"council": [[0, 2]]}, {"council": [[0]]},
             {"council": [[0, 1, 2]]}]
    t = tally_table(table([council], cards), council)["ALL"]
    assert t.votes == {"a": 3, "b": 1, "c": 1, "d": 0}
    assert t.overvotes == 1
    assert t.undervotes == 1
    assert t.winners == ("a", "b")
    assert t.tied  # b and c share the second seat


def test_approval_uses_seats() -> None:
    app = contest("prop", ["x", "y", "z"], kind=ContestKind.APPROVAL, vote_for=3, seats=1)
    cards = [{"prop": [[0, 1, 2]]}, {"prop": [[1, 2]]}, {"prop": [[1]]}]
    t = tally_table(table([app], cards), app)["ALL"]
    assert t.votes == {"x": 1, "y": 3, "z": 2}
    assert t.winners == ("y",)
    assert t.overvotes == 0
    assert t.undervotes == 0 + 1 + 2


def test_by_precinct_splits_and_sums_to_all() -> None:
    cards = [{"mayor": [[0]]}, {"mayor": [[1]]}, {"mayor": [[1]]}, {"mayor": [[2]]}]
    res = tally_table(table([MAYOR], cards, precincts=["p1", "p1", "p2", None]), MAYOR,
                      by="precinct")
    assert set(res) == {"ALL", "p1", "p2", ""}
    assert res["p1"].votes == {"alice": 1, "bob": 1, "carol": 0}
    assert res["p1"].tied
    assert res["p2"].winners == ("bob",)
    assert res[""].votes["carol"] == 1
    for cand in ("alice", "bob", "carol"):
        assert sum(res[k].votes[cand] for k in ("p1", "p2", "")) == res["ALL"].votes[cand]


def test_ranked_contest_refused() -> None:
    rcv = contest("rcv", ["a", "b"], kind=ContestKind.IRV)
    with pytest.raises(UsageError):
        tally_table(table([rcv], [{"rcv": [[0], [1]]}]), rcv)


def test_decide_stable() -> None:
    import numpy as np

    assert decide(np.array([3, 5, 5]), 1) == ([1], True)
    assert decide(np.array([3, 5, 4]), 2) == ([1, 2], False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(st.integers(0, 3), max_size=3, unique=True)),
                max_size=40),
       st.integers(1, 3))
def test_totals_equal_marks_counted(raw: list[list[int] | None], vote_for: int) -> None:
    c = contest("c", ["a", "b", "c", "d"], vote_for=vote_for, seats=vote_for)
    cards = [{} if r is None else {"c": [r]} for r in raw]
    t = tally_table(table([c], cards), c)["ALL"]
    present = [r for r in raw if r is not None]
    valid = [r for r in present if len(r) <= vote_for]
    assert t.cards == len(present)
    assert t.overvotes == len(present) - len(valid)
    assert sum(t.votes.values()) == sum(len(r) for r in valid)
    assert t.undervotes == sum(vote_for - len(r) for r in valid)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(
    st.one_of(st.none(), st.lists(st.one_of(st.integers(0, 3), st.just(OVERVOTE_UNKNOWN)),
                                  max_size=3, unique=True)),
    st.sampled_from(["p1", "p2", "p3", None])), max_size=40),
       st.integers(1, 3))
def test_each_precinct_is_counted_as_its_own_cards_alone(
        raw: list[tuple[list[int] | None, str | None]], vote_for: int) -> None:
    """The grouped count (one pass over all marks, dropped cards taken back) gives every
    precinct exactly the tally of that precinct's cards counted on their own: overvotes,
    unknown-candidate overvotes, cards without the contest and undervotes included."""
    c = contest("c", ["a", "b", "c", "d"], vote_for=vote_for, seats=vote_for)
    cards = [{} if r is None else {"c": [r]} for r, _ in raw]
    precincts = [p for _, p in raw]
    res = tally_table(table([c], cards, precincts=precincts), c, by="precinct")
    assert res["ALL"] == tally_table(table([c], cards), c)["ALL"]
    for label in {p or "" for p in precincts}:
        mine = [i for i, p in enumerate(precincts) if (p or "") == label]
        alone = tally_table(table([c], [cards[i] for i in mine],
                                  precincts=[precincts[i] for i in mine]), c)["ALL"]
        assert res[label] == alone


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(
    st.one_of(st.none(), st.lists(st.one_of(st.integers(0, 3), st.just(OVERVOTE_UNKNOWN)),
                                  max_size=3, unique=True)),
    st.sampled_from(["p1", "p2", None])), min_size=1, max_size=30),
       st.integers(1, 7), st.integers(0, 5))
def test_counting_slice_by_slice_adds_up_to_the_whole(
        raw: list[tuple[list[int] | None, str | None]], rows_per_pass: int, skip: int) -> None:
    """A column counted a few cards per pass (every pass's counts added) gives the very
    tallies of one pass over it, per precinct and in all, on a sliced table too."""
    from tallyproof.tabulate import plurality

    c = contest("c", ["a", "b", "c", "d"], vote_for=2, seats=2)
    cards = [{} if r is None else {"c": [r]} for r, _ in raw]
    t = table([c], cards, precincts=[p for _, p in raw])
    t = t.slice(min(skip, len(raw) - 1))
    whole = tally_table(t, c, by="precinct"), tally_table(t, c)
    saved = plurality.ROWS_PER_PASS
    plurality.ROWS_PER_PASS = rows_per_pass
    try:
        assert (tally_table(t, c, by="precinct"), tally_table(t, c)) == whole
    finally:
        plurality.ROWS_PER_PASS = saved

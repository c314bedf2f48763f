"""The fast IRV path (one-sort grouping straight from Arrow offsets + column-wise rounds) makes
exactly the decisions of the general path (Python grouping + per-group engine walk)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.errors import UsageError
from tallyproof.model import OVERVOTE_UNKNOWN, Candidate, Contest, ContestKind
from tallyproof.tabulate.ballots import (
    _group_one_mark_per_rank,
    as_ranking,
    count_keys,
    from_lists,
    from_table,
    group_marks,
)
from tallyproof.tabulate.rcv import tabulate_ranked
from tallyproof.tabulate.rules import UNLIMITED, OvervoteRule, RcvRules

from .helpers import contest, table

NAMES = ["a", "b", "c", "d", "e"]
RCV = contest("r", NAMES, kind=ContestKind.IRV)

# a rank position: skipped, one mark, an overvote naming candidates (maybe repeating one),
# or an overvote the export does not name
position = st.one_of(
    st.just([]),
    st.lists(st.integers(0, 4), min_size=1, max_size=1),
    st.lists(st.integers(0, 4), min_size=1, max_size=1),
    st.lists(st.integers(0, 4), min_size=2, max_size=3),
    st.just([OVERVOTE_UNKNOWN]),
)
card = st.one_of(st.none(), st.lists(position, max_size=6))
# at most one mark per rank position (skips allowed): the shape the fast grouping takes
one_mark_card = st.one_of(st.none(), st.lists(
    st.one_of(st.integers(0, 4).map(lambda c: [c]), st.just([])), max_size=6))


def _outcome(fn):  # a result's JSON, or the project error it raised
    try:
        return fn().to_json()
    except UsageError as exc:
        return ("UsageError", str(exc))


@settings(max_examples=150, deadline=None)
@given(st.lists(card, min_size=1, max_size=40),
       st.sampled_from(list(OvervoteRule)),
       st.sampled_from([0, 1, 2, UNLIMITED]),
       st.booleans(), st.booleans(),
       st.one_of(st.none(), st.integers(1, 4)))
def test_fast_path_equals_general_path(cards, over, max_skip, dup, batch, max_rankings) -> None:
    _assert_fast_equals_slow(cards, RcvRules(
        overvote_rule=over, max_skipped_ranks_allowed=max_skip,
        exhaust_on_duplicate_candidate=dup, batch_elimination=batch), max_rankings)


def _assert_fast_equals_slow(cards: list, rules: RcvRules, max_rankings: int | None,
                             one_mark: bool = False) -> None:
    """The outcome from the table's column (the fast paths) equals the outcome from the same
    rankings as lists: from_lists keeps every ranking as a tuple, which sends the engine down
    its per-group walk. ``one_mark``: the cards also take the one-sort grouping."""
    t = table([RCV], [{} if c is None else {"r": c} for c in cards])
    cast = [c for c in cards if c is not None]
    if not cast:
        return
    if one_mark:
        assert _group_one_mark_per_rank(_arr(t), max_rankings) is not None
    fast = _outcome(lambda: tabulate_ranked(from_table(t, RCV.column, max_rankings), NAMES,
                                            rules))
    slow = _outcome(lambda: tabulate_ranked(from_lists(cast, max_rankings), NAMES, rules))
    assert fast == slow


single = st.one_of(st.integers(0, 4).map(lambda c: [c]), st.just([OVERVOTE_UNKNOWN]),
                   st.just([]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(single, max_size=3)), min_size=1, max_size=40),
       st.sampled_from(list(OvervoteRule)),
       st.sampled_from([0, 1, UNLIMITED]),
       st.booleans(), st.booleans(),
       st.one_of(st.none(), st.integers(1, 4)))
def test_one_mark_fast_path_equals_general_path(cards, over, max_skip, dup, batch,
                                                max_rankings) -> None:
    """Cards with at most one mark per rank (skips, repeats, unnamed overvotes) take the one-sort
    grouping and the column-wise rounds (at most 3 ranks: 17-bit codes fit one 64-bit key); the
    per-group walk must agree under every rule."""
    _assert_fast_equals_slow(cards, RcvRules(
        overvote_rule=over, max_skipped_ranks_allowed=max_skip,
        exhaust_on_duplicate_candidate=dup, batch_elimination=batch), max_rankings, one_mark=True)


def _arr(t: pa.Table) -> pa.Array:
    return t.column(RCV.column).combine_chunks()


@settings(max_examples=100, deadline=None)
@given(st.lists(one_mark_card, max_size=40), st.one_of(st.none(), st.integers(1, 5)),
       st.sampled_from([1, 3, 1 << 18]))
def test_one_sort_grouping_equals_general_grouping(cards, max_rankings, per_pass) -> None:
    """Whatever the number of cards grouped per pass (their counts then added up)."""
    from tallyproof.tabulate import ballots

    t = table([RCV], [{} if c is None else {"r": c} for c in cards])
    arr = _arr(t)
    saved, ballots.CARDS_PER_PASS = ballots.CARDS_PER_PASS, per_pass
    try:
        fast = _group_one_mark_per_rank(arr, max_rankings)
    finally:
        ballots.CARDS_PER_PASS = saved
    assert fast is not None  # every position holds one mark: the fast path applies
    general = group_marks(arr, RCV.column, max_rankings, t)
    assert general.dense is not None and fast.dense is not None
    assert fast.dense.tolist() == general.dense.tolist()  # same rows, same (sorted) order
    assert fast.weights.tolist() == general.weights.tolist()
    assert fast.total == sum(1 for c in cards if c is not None)


def test_fast_grouping_declines_overvotes_and_takes_skips() -> None:
    for marks, fast in (([[0], [], [1]], True), ([[0], [1, 2]], False), ([[3], [3, 3]], False),
                        ([[], [], [2]], True)):
        t = table([RCV], [{"r": [[1]]}, {"r": marks}])
        assert (_group_one_mark_per_rank(_arr(t), None) is not None) == fast
        got = from_table(t, RCV.column)
        assert sorted(got.rankings) == sorted(from_lists([[[1]], marks]).rankings)


def test_sliced_and_chunked_columns_group_like_whole_ones() -> None:
    cards = [{"r": [[i % 5], [(i + 1) % 5]][: 1 + i % 2]} if i % 7 else {} for i in range(60)]
    t = table([RCV], cards)
    whole = from_table(t, RCV.column)
    chunked = pa.Table.from_batches(t.slice(0, 23).to_batches() + t.slice(23).to_batches())
    assert chunked.column(RCV.column).num_chunks == 2
    again = from_table(chunked, RCV.column)
    assert again.dense is not None and whole.dense is not None
    assert again.dense.tolist() == whole.dense.tolist()
    assert again.weights.tolist() == whole.weights.tolist()
    part = from_table(t.slice(17, 30), RCV.column)
    want = from_lists([c["r"] for c in cards[17:47] if c])
    assert sorted(zip(part.rankings, part.weights.tolist(), strict=True)) == \
        sorted(zip(want.rankings, want.weights.tolist(), strict=True))


def test_rankings_too_wide_for_one_key_fall_back_to_byte_comparison() -> None:
    many = Contest(id="w", name="W", kind=ContestKind.IRV, seats=1, vote_for=1,
                   candidates=tuple(Candidate(f"c{j}", f"c{j}") for j in range(300)),
                   max_rankings=12)
    rng = np.random.default_rng(3)
    ranks = [[[int(c)] for c in rng.permutation(300)[:12]] for _ in range(30)]
    ranks += ranks[:5]
    t = table([many], [{"w": r} for r in ranks])
    arr = t.column(many.column).combine_chunks()
    assert _group_one_mark_per_rank(arr, None) is None  # 9 bits x 12 ranks > 64 bits
    got = from_table(t, many.column)
    want = from_lists(ranks)
    assert sorted(zip(got.rankings, got.weights.tolist(), strict=True)) == \
        sorted(zip(want.rankings, want.weights.tolist(), strict=True))
    assert got.total == 35 and len(got) == 30


def test_null_candidate_code_is_bad_input() -> None:
    from tallyproof.errors import InputError
    from tallyproof.cvr_table import MARKS_TYPE

    col = pa.array([[[0]], [[None]]], type=MARKS_TYPE)
    with pytest.raises(InputError, match="null candidate code"):
        from_table(pa.table({RCV.column: col}), RCV.column)


def test_explicit_overvote_codes_survive_the_fast_grouping() -> None:
    t = table([RCV], [{"r": [[OVERVOTE_UNKNOWN]]}, {"r": [[2], [OVERVOTE_UNKNOWN]]}])
    got = from_table(t, RCV.column)
    assert sorted(as_ranking(x) for x in got.items) == sorted(
        [((1, (OVERVOTE_UNKNOWN,)),), ((1, (2,)), (2, (OVERVOTE_UNKNOWN,)))])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), max_size=60), st.integers(0, 12))
def test_count_keys_hash_and_sort_agree(values, spread) -> None:
    key = np.array(values, dtype=np.uint32) >> np.uint32(spread * 2)  # more or fewer repeats
    by_hash = count_keys(key, sample=len(key) + 1)  # sample never taken: hash count
    by_sort = count_keys(key, sample=1) if len(key) > 2 else by_hash  # 1 of 1 distinct: sort
    want = np.unique(key, return_counts=True)
    for got in (by_hash, by_sort):
        assert got[0].tolist() == want[0].tolist()
        assert got[1].tolist() == want[1].tolist()

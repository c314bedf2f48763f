"""IRV under each RCTab rule option, on tiny elections whose answers are worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.model import OVERVOTE_UNKNOWN
from tallyproof.tabulate.ballots import from_lists, normalize_ranking
from tallyproof.tabulate.rcv import TiebreakNeedsOperator, tabulate_ranked
from tallyproof.tabulate.rules import (
    UNLIMITED,
    JavaRandom,
    OvervoteRule,
    RcvRules,
    TiebreakMode,
    java_hashset_order,
)

ABCD = ["A", "B", "C", "D"]
A, B, C, D = 0, 1, 2, 3


def run(rankings: list[list[list[int]]], rules: RcvRules | None = None, names=ABCD, **kw):
    return tabulate_ranked(from_lists(rankings), names, rules or RcvRules(), **kw)


def test_first_round_majority() -> None:
    r = run([[[A]]] * 3 + [[[B]]] * 2)
    assert r.winners == ("A",)
    assert len(r.rounds) == 1
    assert r.rounds[0].threshold == 3
    assert r.rounds[0].elected == ("A",)


def test_elimination_transfers_to_next_choice() -> None:
    r = run([[[A]]] * 4 + [[[B]]] * 3 + [[[C], [B]]] * 2, names=["A", "B", "C"])
    assert r.winners == ("B",)
    assert r.rounds[0].eliminated == ("C",)
    assert r.rounds[0].transfers == {"C": {"B": Decimal(2)}}
    assert r.rounds[1].tally == {"A": 4, "B": 5}


def test_exhausted_choices_lower_the_threshold() -> None:
    r = run([[[A]]] * 4 + [[[B]]] * 3 + [[[C]]] * 2, names=["A", "B", "C"])
    assert r.winners == ("A",)
    last = r.rounds[-1]
    assert last.inactive["exhaustedChoices"] == 2
    assert last.threshold == 4  # floor(7/2)+1, recomputed on the continuing ballots
    assert r.rounds[0].transfers == {"C": {"exhausted": Decimal(2)}}


OVER = [[[A]]] * 3 + [[[B]]] * 3 + [[[D]]] + [[[D], [A, C]]] + [[[C]]]


def test_overvote_exhaust_if_multiple_continuing() -> None:
    r = run(OVER, RcvRules(overvote_rule=OvervoteRule.EXHAUST_IF_MULTIPLE_CONTINUING))
    # C goes first; when D goes, the ballot's rank 2 holds A and the eliminated C: it counts for A
    assert [x.eliminated for x in r.rounds[:2]] == [("C",), ("D",)]
    assert r.winners == ("A",)
    assert r.rounds[-1].tally["A"] == 4
    assert r.rounds[-1].inactive.get("overvotes", 0) == 0


def test_overvote_exhaust_immediately_and_skip() -> None:
    r = run(OVER, RcvRules(overvote_rule=OvervoteRule.EXHAUST_IMMEDIATELY))
    assert r.rounds[2].inactive["overvotes"] == 1
    r2 = run(OVER, RcvRules(overvote_rule=OvervoteRule.ALWAYS_SKIP_TO_NEXT_RANK))
    # the overvote is the last rank: skipping it leaves no choices
    assert r2.rounds[2].inactive["exhaustedChoices"] == 3  # C's, D's and the overvoted one
    assert r2.rounds[2].inactive.get("overvotes", 0) == 0


SKIP = [[[A], [], [], [B]]] + [[[B]]] * 2 + [[[C]]] * 3


@pytest.mark.parametrize(("max_skip", "winner", "skipped"),
                         [(1, "C", 1), (2, "B", 0), (UNLIMITED, "B", 0)])
def test_max_skipped_ranks(max_skip: int, winner: str, skipped: int) -> None:
    r = run(SKIP, RcvRules(max_skipped_ranks_allowed=max_skip), names=["A", "B", "C"])
    assert r.winners == (winner,)
    assert r.rounds[1].inactive.get("skippedRankings", 0) == skipped


DUP = [[[A], [A], [B]]] + [[[B]]] * 2 + [[[C]]] * 3


def test_duplicate_candidate_rules() -> None:
    exhaust = run(DUP, RcvRules(exhaust_on_duplicate_candidate=True), names=["A", "B", "C"])
    assert exhaust.winners == ("C",)
    assert exhaust.rounds[1].inactive["repeatedRankings"] == 1
    skip = run(DUP, RcvRules(exhaust_on_duplicate_candidate=False), names=["A", "B", "C"])
    # B and C tie 3-3 in the final round; useCandidateOrder elects the earlier candidate
    assert skip.winners == ("B",)
    assert skip.tiebreaks[0].selecting_winner


def test_max_rankings_drops_later_ranks() -> None:
    assert normalize_ranking([[A], [B], [C]], max_rankings=2) == ((1, (A,)), (2, (B,)))
    assert normalize_ranking([[], [B, B]]) == ((2, (B,)),)


BATCH = [[[A]]] * 9 + [[[B]]] * 6 + [[[C]]] * 2 + [[[D], [B]]]


def test_batch_elimination() -> None:
    r = run(BATCH, RcvRules(batch_elimination=True))
    assert r.rounds[0].eliminated == ("C", "D")
    r2 = run(BATCH, RcvRules(batch_elimination=False))
    assert r2.rounds[0].eliminated == ("D",)


def test_continue_until_two_candidates_remain() -> None:
    ballots = [[[A]]] * 5 + [[[B]]] * 2 + [[[C], [B]]] * 2
    short = run(ballots, names=["A", "B", "C"])
    assert len(short.rounds) == 1
    long = run(ballots, RcvRules(continue_until_two_candidates_remain=True), names=["A", "B", "C"])
    assert long.winners == ("A",)
    assert len(long.rounds) == 3
    assert long.rounds[1].eliminated == ("C",)  # tie with B: the later candidate loses
    assert long.rounds[-1].tally == {"A": 5, "B": 4}


def test_minimum_vote_threshold() -> None:
    ballots = [[[A]]] * 5 + [[[B]]] * 5 + [[[C]]] + [[[D], [B]]]
    r = run(ballots, RcvRules(minimum_vote_threshold=Decimal(2)))
    assert r.rounds[0].eliminated == ("C", "D")
    assert r.winners == ("B",)


def test_undeclared_write_ins_dropped_first_and_never_win() -> None:
    names = ["A", "B", "Undeclared Write-ins"]
    ballots = [[[A]]] * 3 + [[[B]]] * 2 + [[[2], [B]]] * 2
    r = run(ballots, names=names, uwi=2)
    assert r.rounds[0].eliminated == ("Undeclared Write-ins",)
    assert r.winners == ("B",)


def test_java_random_matches_java() -> None:
    # java: new Random(0).nextDouble() == 0.730967787376657; new Random(42).nextDouble() ==
    # 0.7275636800328681
    assert JavaRandom(0).next_double() == 0.730967787376657
    assert JavaRandom(42).next_double() == 0.7275636800328681


def test_random_tiebreak_is_reproducible_from_seed() -> None:
    ballots = [[[A]]] * 2 + [[[B]]] * 2 + [[[C]]] * 3
    rules = RcvRules(tiebreak_mode=TiebreakMode.RANDOM, random_seed=0)
    r = run(ballots, rules, names=["A", "B", "C"])
    # tied A, B sorted; floor(0.7309... * 2) = 1 -> B loses
    assert r.rounds[0].eliminated == ("B",)
    assert r.tiebreaks[0].tied == ("A", "B")
    assert run(ballots, rules, names=["A", "B", "C"]).to_json() == r.to_json()


PREV = [[[A]]] * 3 + [[[B]]] * 2 + [[[C]]] * 4 + [[[D], [B]]]


def test_previous_round_counts_tiebreak() -> None:
    r = run(PREV, RcvRules(tiebreak_mode=TiebreakMode.PREVIOUS_ROUND_COUNTS_THEN_RANDOM,
                           random_seed=1))
    assert r.rounds[1].eliminated == ("B",)  # fewer votes than A in round 1
    order = run(PREV, RcvRules(), permutation=[B, A, C, D])
    assert order.rounds[1].eliminated == ("A",)  # latest in the given order


def test_stop_counting_and_ask_refuses_to_guess() -> None:
    with pytest.raises(TiebreakNeedsOperator):
        run(PREV, RcvRules(tiebreak_mode=TiebreakMode.STOP_COUNTING_AND_ASK))


# ------------------------------------------------------------------------------ properties
rankings_st = st.lists(
    st.lists(st.lists(st.integers(0, 3), min_size=0, max_size=2, unique=True), max_size=4),
    min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(rankings_st, st.randoms(use_true_random=False))
def test_permuting_ballots_does_not_change_result(ballots, rnd) -> None:
    rules = RcvRules(tiebreak_mode=TiebreakMode.RANDOM, random_seed=7)
    before = run(ballots, rules).to_json()
    shuffled = list(ballots)
    rnd.shuffle(shuffled)
    assert run(shuffled, rules).to_json() == before


@settings(max_examples=60, deadline=None)
@given(rankings_st)
def test_every_ballot_is_counted_or_inactive_each_round(ballots) -> None:
    r = run(ballots, RcvRules(overvote_rule=OvervoteRule.ALWAYS_SKIP_TO_NEXT_RANK))
    for rr in r.rounds:
        assert sum(rr.tally.values()) + sum(rr.inactive.values()) == len(ballots)


@settings(max_examples=60, deadline=None)
@given(rankings_st, st.integers(0, 3))
def test_majority_winner_wins_in_round_one(ballots, favourite) -> None:
    ballots = ballots + [[[favourite]]] * (len(ballots) + 1)
    r = run(ballots)
    assert r.winners == (ABCD[favourite],)
    assert len(r.rounds) == 1


def test_rules_with_winners_switches_mode() -> None:
    rules = RcvRules().with_winners(3)
    assert rules.number_of_winners == 3
    assert rules.uses_surpluses
    assert not replace(rules, number_of_winners=1).uses_surpluses


single_mark = st.lists(
    st.lists(st.one_of(st.just([]), st.lists(st.integers(0, 3), min_size=1, max_size=1),
                       st.just([OVERVOTE_UNKNOWN])),
             max_size=5),
    min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(single_mark, st.sampled_from([0, 1, UNLIMITED]), st.booleans(), st.booleans(),
       st.sampled_from([OvervoteRule.EXHAUST_IMMEDIATELY, OvervoteRule.ALWAYS_SKIP_TO_NEXT_RANK]))
def test_columnwise_path_agrees_with_per_group_path(ballots, max_skip, dup, batch, over) -> None:
    from tallyproof.model import ContestKind
    from tallyproof.tabulate.ballots import from_table

    from .helpers import contest, table

    c = contest("r", ABCD, kind=ContestKind.IRV)
    rules = RcvRules(max_skipped_ranks_allowed=max_skip, exhaust_on_duplicate_candidate=dup,
                     batch_elimination=batch, overvote_rule=over)
    dense = from_table(table([c], [{"r": b} for b in ballots]), c.column)
    assert dense.dense is not None
    fast = tabulate_ranked(dense, ABCD, rules).to_json()
    slow = run(ballots, rules)
    assert fast == slow.to_json()


def test_continue_until_two_ignores_excluded_candidates_and_holds_the_threshold() -> None:
    """RCTab: excluded candidates do not count towards "two remain", and once the winner is
    known the threshold stays what it was (it is not recomputed from fewer active ballots)."""
    ballots = [[[A]]] * 10 + [[[B]]] * 5 + [[[C], [A]]] * 3
    rules = RcvRules(continue_until_two_candidates_remain=True)
    r = run(ballots, rules, excluded=frozenset({D}))
    assert r.winners == ("A",) and r.rounds[0].elected == ("A",)
    assert [rr.eliminated for rr in r.rounds] == [(), ("C",), ()]
    assert len(r.rounds) == 3  # A and B remain: stop (D, excluded, is not a third)
    assert [rr.threshold for rr in r.rounds] == [10, 10, 10]
    # ballots that exhaust after the winner is known lower the active count, not the threshold
    exhausting = [[[A]]] * 10 + [[[B]]] * 5 + [[[C]]] * 3
    r2 = run(exhausting, rules, excluded=frozenset({D}))
    assert r2.rounds[-1].tally == {"A": 10, "B": 5} and r2.rounds[-1].threshold == 10


def test_java_hashset_order() -> None:
    # one-letter names hash to their code point: bucket = code & (capacity - 1)
    assert java_hashset_order(["A", "B", "P"]) == ["P", "A", "B"]  # 80&15=0, 65&15=1, 66&15=2
    # 13 keys need 32 buckets (13 / 0.75 + 1 = 18 → 32): "A" (65&31=1) before "P" (80&31=16)
    keys = ["P", "A"] + [f"k{i}" for i in range(11)]
    order = java_hashset_order(keys)
    assert order.index("A") < order.index("P") and sorted(order) == sorted(keys)


def test_previous_round_counts_then_random_draws_in_rctab_order() -> None:
    """Still tied after every previous round: RCTab draws among the tied candidates in the order
    its HashSet gives them (P, A, B here), not sorted (A, B, P); the same random number then
    picks a different candidate."""
    names = ["A", "B", "P", "D"]
    ballots = [[[0]]] * 2 + [[[1]]] * 2 + [[[2]]] * 2 + [[[3]]]
    seed = 7  # any seed: the two orders differ at every position
    rules = RcvRules(tiebreak_mode=TiebreakMode.PREVIOUS_ROUND_COUNTS_THEN_RANDOM,
                     random_seed=seed)
    r = run(ballots, rules, names=names)
    assert r.rounds[0].eliminated == ("D",)
    expected = ["P", "A", "B"][int(JavaRandom(seed).next_double() * 3)]
    assert r.rounds[1].eliminated == (expected,)
    assert r.tiebreaks[0].selected == expected
    assert expected != ["A", "B", "P"][int(JavaRandom(seed).next_double() * 3)]

"""Multi-seat STV: Droop/Hare thresholds and fractional surplus transfer, worked by hand."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tallyproof.model import Candidate, Contest, ContestKind
from tallyproof.tabulate import stv
from tallyproof.tabulate.ballots import from_lists
from tallyproof.tabulate.rcv import divide, multiply, tabulate_ranked
from tallyproof.tabulate.rules import RcvRules, WinnerElectionMode

A, B, C = 0, 1, 2
BALLOTS = [[[A], [B]]] * 6 + [[[A], [C]]] * 2 + [[[B]]] + [[[C]]] * 3
TWO_SEATS = Contest(id="council", name="Council", kind=ContestKind.STV, seats=2,
                    candidates=tuple(Candidate(id=x, name=x) for x in "ABC"))


def test_droop_threshold_and_gregory_surplus() -> None:
    r = stv(from_lists(BALLOTS), TWO_SEATS)
    assert r.winners == ("A", "C")
    first, second = r.rounds[0], r.rounds[1]
    assert first.threshold == 5  # floor(12 / 3) + 1
    assert first.elected == ("A",)
    # surplus 3 of 8: every A ballot passes on 0.3750 of a vote
    assert first.transfers == {"A": {"B": Decimal("2.2500"), "C": Decimal("0.7500")}}
    assert second.tally["B"] == Decimal("3.2500")
    assert second.tally["C"] == Decimal("3.7500")
    assert second.tally["A"] == Decimal("5.0000")
    assert second.eliminated == ("B",)
    # the last seat is filled in round 3, and round 4 shows the final surplus going nowhere
    assert r.rounds[2].elected == ("C",)
    assert len(r.rounds) == 4
    assert "finalRoundSurplus" in r.rounds[3].inactive


def test_non_integer_threshold_and_hare_quota() -> None:
    rules = RcvRules(non_integer_winning_threshold=True).with_winners(2)
    r = tabulate_ranked(from_lists(BALLOTS), ["A", "B", "C"], rules)
    assert r.rounds[0].threshold == Decimal("4.0001")  # 12/3 truncated + 0.0001
    hare = tabulate_ranked(from_lists(BALLOTS), ["A", "B", "C"],
                           replace(rules, hare_quota=True))
    assert hare.rounds[0].threshold == Decimal("6.0000")  # 12/2 rounded up


def test_one_winner_per_round() -> None:
    ballots = [[[A]]] * 5 + [[[B]]] * 5 + [[[C]]] * 2
    rules = RcvRules(winner_election_mode=WinnerElectionMode.MULTI_WINNER_ONE_PER_ROUND,
                     number_of_winners=2)
    r = tabulate_ranked(from_lists(ballots), ["A", "B", "C"], rules)
    assert r.rounds[0].elected == ("A",)  # tie broken by candidate order
    assert r.rounds[1].elected == ("B",)
    both = tabulate_ranked(from_lists(ballots), ["A", "B", "C"], RcvRules().with_winners(2))
    assert both.rounds[0].elected == ("A", "B")


def test_truncating_arithmetic() -> None:
    assert divide(Decimal("0.7499"), Decimal(8), 4) == Decimal("0.0937")
    assert divide(Decimal(29), Decimal(4), 0) == 7
    assert divide(Decimal(29), Decimal(4), 0, up=True) == 8
    assert multiply(Decimal("0.3333"), Decimal("0.5555"), 4) == Decimal("0.1851")
    assert str(multiply(Decimal(1), Decimal("0.0937"), 4)) == "0.0937"


def test_slices_add_up_to_the_whole() -> None:
    precincts = ["p1" if i % 3 else "p2" for i in range(len(BALLOTS))]
    b = from_lists(BALLOTS, slices={"precinct": precincts})
    for rules in (RcvRules().with_winners(2), RcvRules()):
        r = tabulate_ranked(b, ["A", "B", "C"], rules, slices=["precinct"])
        parts = r.slices["precinct"]
        assert set(parts) == {"p1", "p2"}
        for n, whole in enumerate(r.rounds):
            for cand, votes in whole.tally.items():
                assert sum(parts[p][n].tally[cand] for p in parts) == votes
            for kind, v in whole.inactive.items():
                assert sum(parts[p][n].inactive.get(kind, 0) for p in parts) == v
            for src, moved in whole.transfers.items():
                for dst, v in moved.items():
                    assert sum(parts[p][n].transfers.get(src, {}).get(dst, 0) for p in parts) == v

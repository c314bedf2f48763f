"""Multi-winner single transferable vote, as RCTab counts it.

STV runs on the same round engine as IRV (:func:`tallyproof.tabulate.rcv.tabulate_ranked`):
winners are candidates at or above the threshold (Droop ``floor(votes/(seats+1)) + 1``, or with
``non_integer_winning_threshold`` ``floor(votes/(seats+1), d) + 10^-d``; Hare with
``hare_quota``), computed from the first round's active ballots. A winner's surplus is passed on
fractionally — the Gregory method: every ballot held by the winner keeps
``value × (1 − surplus/votes)`` with the surplus fraction and each ballot's transfer truncated to
``decimal_places_for_vote_arithmetic`` decimals, exactly as RCTab does — and what truncation
leaves over is reported as residual surplus. Values are ``decimal.Decimal``, never floats.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import UsageError
from ..model import Contest
from .ballots import RankedBallots
from .rcv import RcvResult, tabulate_ranked
from .rules import RcvRules, WinnerElectionMode


def stv(ballots: RankedBallots, contest: Contest, rules: RcvRules | None = None) -> RcvResult:
    """Elect ``contest.seats`` candidates (candidate ids as names) by STV under ``rules``
    (default: RCTab's defaults with multiple winners allowed per round)."""
    if contest.seats < 1:
        raise UsageError(f"contest {contest.id!r} has {contest.seats} seats")
    rules = rules or RcvRules()
    if rules.number_of_winners != contest.seats:
        rules = rules.with_winners(contest.seats)
    single = WinnerElectionMode.SINGLE_WINNER_MAJORITY
    if contest.seats > 1 and rules.winner_election_mode == single:
        rules = replace(rules,
                        winner_election_mode=WinnerElectionMode.MULTI_WINNER_MULTIPLE_PER_ROUND)
    return tabulate_ranked(ballots, [c.id for c in contest.candidates], rules,
                           contest_id=contest.id)

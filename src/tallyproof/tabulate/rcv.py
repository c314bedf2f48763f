"""Ranked-choice tabulation (IRV, and the round engine STV shares), with RCTab's rule options.

The round logic follows RCTab 2.0 (the certified tabulator; see ``docs/tabulation.md``) so that
its published results reproduce exactly: every round each ballot counts for its highest-ranked
continuing candidate, subject to the overvote rule, the skipped-rank limit and the duplicate rule;
then winners are those at or above the threshold, otherwise undeclared write-ins are dropped,
then candidates under the minimum vote threshold, then a batch of candidates who cannot catch up
(batch elimination), otherwise the last-place candidate (ties broken by the tiebreak mode).
Multi-seat contests transfer surpluses fractionally (Gregory method with RCTab's truncation to
``decimal_places_for_vote_arithmetic``).

Arithmetic is exact: ``decimal.Decimal`` with enough precision that additions never round, and
RCTab's truncation (``RoundingMode.DOWN``) where RCTab truncates; nothing that decides a winner is
a float. Ballots are grouped into distinct rankings with weights (:mod:`.ballots`), and after the
first round only the groups whose candidate left the count are looked at again, so a round costs
what moves, not the whole election.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import InputError, TallyproofError, UsageError
from ..model import OVERVOTE_UNKNOWN
from .ballots import RankedBallots
from .rules import (
    UNLIMITED,
    JavaRandom,
    OvervoteRule,
    RcvRules,
    TiebreakMode,
    WinnerElectionMode,
    java_hashset_order,
)

_CTX = decimal.Context(prec=80, rounding=decimal.ROUND_DOWN, traps=[decimal.InvalidOperation])
_ONE = Decimal(1)  # a ballot's full value (compared by identity on the hot path)

EXHAUSTED = "exhausted"  # transfer target of a ballot that stops counting
RESIDUAL = "residual surplus"  # transfer target of rounding residue in multi-seat contests
UWI_NAME = "Undeclared Write-ins"

# Inactive-ballot categories (RCTab's StatusForRound), keyed as in RCTab's JSON report.
ACTIVE = "active"
OVERVOTES = "overvotes"
SKIPPED = "skippedRankings"
EXHAUSTED_CHOICES = "exhaustedChoices"
REPEATED = "repeatedRankings"
NO_RANKINGS = "undervotes"  # ballot ranks nobody: not counted as inactive in reports
FINAL_SURPLUS = "finalRoundSurplus"  # surplus with nowhere to go after the last seat is filled
INACTIVE_KINDS = (OVERVOTES, SKIPPED, EXHAUSTED_CHOICES, REPEATED, NO_RANKINGS, FINAL_SURPLUS)


class TiebreakNeedsOperator(TallyproofError):
    """A tie must be broken by a person (tiebreakMode stopCountingAndAsk): exit 2."""


@dataclass(frozen=True)
class Tiebreak:
    """A tie that was broken: who was tied, who was chosen, and how."""

    round: int
    selecting_winner: bool
    tied: tuple[str, ...]
    selected: str
    votes: Decimal
    explanation: str


@dataclass(frozen=True)
class RoundResult:
    """One round: tallies after transfers, the threshold, the decisions and their transfers.

    ``transfers[from][to]`` are the votes that moved because of this round's decisions (RCTab
    stores them under the next round and reports them with this one). ``inactive`` holds the
    cumulative inactive ballots by category; ``residual_surplus`` is cumulative.
    """

    round: int
    tally: dict[str, Decimal]
    threshold: Decimal
    elected: tuple[str, ...]
    eliminated: tuple[str, ...]
    transfers: dict[str, dict[str, Decimal]]
    inactive: dict[str, Decimal]
    residual_surplus: Decimal

    @property
    def active(self) -> Decimal:
        """Ballots counting for a candidate, or locked in as a final-round surplus."""
        s = sum(self.tally.values(), Decimal(0))
        return s + self.inactive.get(FINAL_SURPLUS, Decimal(0))

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "tally": {k: str(v) for k, v in self.tally.items()},
            "threshold": str(self.threshold),
            "elected": list(self.elected),
            "eliminated": list(self.eliminated),
            "transfers": {f: {t: str(v) for t, v in d.items()} for f, d in self.transfers.items()},
            "inactive": {k: str(v) for k, v in self.inactive.items()},
            "residual_surplus": str(self.residual_surplus),
        }


@dataclass(frozen=True)
class RcvResult:
    """Outcome of an IRV or STV tabulation, round by round (and by slice when asked)."""

    contest_id: str
    candidates: tuple[str, ...]  # names, in contest order (undeclared write-ins last)
    seats: int
    winners: tuple[str, ...]  # in order of election (alphabetical within a round)
    rounds: tuple[RoundResult, ...]
    rules: RcvRules
    total_ballots: int
    tiebreaks: tuple[Tiebreak, ...] = ()
    slices: dict[str, dict[str, tuple[RoundResult, ...]]] = field(default_factory=dict)

    @property
    def winner(self) -> str | None:
        return self.winners[0] if self.winners else None

    @property
    def threshold(self) -> Decimal:
        return self.rounds[-1].threshold

    @property
    def undervotes(self) -> int:
        """Ballots that rank no candidate at all."""
        return int(self.rounds[0].inactive.get(NO_RANKINGS, Decimal(0))) if self.rounds else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "contest_id": self.contest_id,
            "candidates": list(self.candidates),
            "seats": self.seats,
            "winners": list(self.winners),
            "threshold": str(self.threshold) if self.rounds else None,
            "total_ballots": self.total_ballots,
            "undervotes": self.undervotes,
            "rules": self.rules.to_json(),
            "tiebreaks": [
                {"round": t.round, "selecting_winner": t.selecting_winner, "tied": list(t.tied),
                 "selected": t.selected, "votes": str(t.votes), "explanation": t.explanation}
                for t in self.tiebreaks
            ],
            "rounds": [r.to_json() for r in self.rounds],
        }


# ---------------------------------------------------------------------------- arithmetic
def divide(a: Decimal, b: Decimal, scale: int, up: bool = False) -> Decimal:
    """``a / b`` to ``scale`` decimals, truncated (RCTab ``RoundingMode.DOWN``) or rounded away
    from zero (``UP``), computed exactly with fractions."""
    q = Fraction(a) / Fraction(b) * (10**scale)
    n = q.numerator // q.denominator if q >= 0 else -((-q.numerator) // q.denominator)
    if up and Fraction(n) != q:
        n += 1 if q > 0 else -1
    return Decimal(n).scaleb(-scale, _CTX)


def multiply(a: Decimal, b: Decimal, scale: int) -> Decimal:
    """``a × b`` truncated to ``scale`` decimals (RCTab's ``config.multiply``)."""
    return _CTX.multiply(a, b).quantize(Decimal(1).scaleb(-scale), rounding=decimal.ROUND_DOWN,
                                        context=_CTX)


# ---------------------------------------------------------------------------- the engine
class _Engine:
    def __init__(self, ballots: RankedBallots, names: Sequence[str], rules: RcvRules, *,
                 contest_id: str, uwi: int | None, permutation: Sequence[int] | None,
                 excluded: frozenset[int], slices: Sequence[str]) -> None:
        self.b = ballots
        self.names = list(names)
        self.k = len(names)
        self.rules = rules
        self.contest_id = contest_id
        self.uwi = uwi
        self.excluded = excluded
        self.slice_kinds = list(slices)
        self.dp = rules.decimal_places_for_vote_arithmetic
        self.n_seats = rules.number_of_winners
        perm = list(permutation) if permutation is not None else [
            i for i in range(self.k) if i != uwi]
        self.random: JavaRandom | None = None
        if rules.tiebreak_mode in (TiebreakMode.RANDOM, TiebreakMode.GENERATE_PERMUTATION,
                                   TiebreakMode.PREVIOUS_ROUND_COUNTS_THEN_RANDOM):
            if rules.random_seed is None:
                raise UsageError(f"tiebreak mode {rules.tiebreak_mode.value} needs a random seed")
            self.random = JavaRandom(rules.random_seed)
            if rules.tiebreak_mode == TiebreakMode.GENERATE_PERMUTATION:
                perm = sorted(perm, key=lambda i: self.names[i])
                self.random.shuffle(perm)
        self.permutation = perm
        self.num_declared = sum(1 for i in range(self.k) if i != uwi and i not in excluded)
        #: candidates in the count (excluded ones never are): RCTab's getNumCandidates
        self.n_candidates = self.k - sum(1 for i in excluded if 0 <= i < self.k)
        self.validate()
        u = len(ballots)
        self.rec: list[int] = [-1] * u
        self.ftv: list[Decimal] = [_ONE] * u
        self.cont: list[bool] = [True] * self.k
        # imported here: rcv_columnwise imports this module's status names
        from .rcv_columnwise import ColumnwiseRounds

        columnwise = self.n_seats == 1 and not self.slice_kinds and \
            not rules.continue_until_two_candidates_remain
        self.vector = ColumnwiseRounds.build(self) if columnwise else None
        # Decimal weights for the per-group path (the column-wise path keeps int64 weights)
        self.w = [] if self.vector is not None else [Decimal(int(x)) for x in ballots.weights]
        self.alloc: list[dict[int, Decimal] | None] = [None] * u
        self.holders: list[list[int]] = [[] for _ in range(self.k)]
        self.winner_round: dict[int, int] = {}
        self.elim_round: dict[int, int] = {}
        self.winner_ballots: dict[int, list[int]] = {}
        self.tiebreaks: list[Tiebreak] = []
        self._history: list[dict[int, Decimal]] = []  # each round's tally (previous-round ties)
        self.round = 0
        # slice id per ballot group, per kind; slice ids per kind (sorted)
        self.slice_of = {kind: ballots.slices[kind] for kind in self.slice_kinds}
        self.slice_ids = {kind: sorted(set(self.slice_of[kind])) for kind in self.slice_kinds}

    def validate(self) -> None:
        if self.b.dense is not None:
            d = self.b.dense
            bad = (d > self.k) & (d != OVERVOTE_UNKNOWN + 1)
            if bad.any():
                raise InputError(f"candidate code {int(d[bad][0]) - 1} is not a candidate of "
                                 f"contest {self.contest_id!r}", field=f"contest:{self.contest_id}")
            return
        for item in self.b.items:
            if isinstance(item, list):
                codes = [v - 1 for v in item if v]
            else:
                codes = [c for _rank, cands in item for c in cands]
            for c in codes:
                if c != OVERVOTE_UNKNOWN and not 0 <= c < self.k:
                    raise InputError(f"candidate code {c} is not a candidate of contest "
                                     f"{self.contest_id!r}", field=f"contest:{self.contest_id}")

    # ------------------------------------------------------------------ status helpers
    def continuing(self, c: int) -> bool:
        if c in self.excluded:
            return False
        if c in self.winner_round:
            return self.rules.continue_until_two_candidates_remain
        return c not in self.elim_round

    # ------------------------------------------------------------------ main loop
    def run(self) -> RcvResult:
        rounds: list[RoundResult] = []
        slice_rounds: dict[str, dict[str, list[RoundResult]]] = {
            kind: {sid: [] for sid in self.slice_ids[kind]} for kind in self.slice_kinds}
        prev_tally: dict[int, Decimal] = {}
        prev_inactive: dict[str, Decimal] = {}
        prev_slice: dict[tuple[str, str], tuple[dict[int, Decimal], dict[str, Decimal]]] = {}
        residual = Decimal(0)
        # group indices to (re)walk this round: an index array on the column-wise path
        to_process: Any = np.arange(len(self.b)) if self.vector is not None else \
            list(range(len(self.b)))
        threshold = Decimal(0)
        while self.should_continue():
            self.round += 1
            r = self.round
            tally = {c: prev_tally.get(c, Decimal(0)) for c in range(self.k) if self.continuing(c)}
            inactive = dict(prev_inactive)
            transfers: dict[int, dict[str, Decimal]] = {}
            s_state: dict[tuple[str, str], list[Any]] = {}
            for kind in self.slice_kinds:
                for sid in self.slice_ids[kind]:
                    pt, pi = prev_slice.get((kind, sid), ({}, {}))
                    s_state[(kind, sid)] = [
                        {c: pt.get(c, Decimal(0)) for c in tally}, dict(pi), {}]
            self.cont = [self.continuing(c) for c in range(self.k)]
            if self.vector is not None:
                self.vector.process(to_process, tally, inactive, transfers)
            else:
                for i in to_process:
                    self.process(i, tally, inactive, transfers, s_state)
            # threshold
            # recomputed each round in a single-seat count until a winner is known (then held,
            # as RCTab holds it while continuing until two remain); multi-seat: round 1 only
            if r == 1 or (self.n_seats <= 1 and not self.rules.first_round_determines_threshold
                          and not self.winner_round):
                threshold = self.compute_threshold(tally)
            by_tally = _invert(tally)
            winners = self.identify_winners(tally, by_tally, threshold)
            eliminated: list[int] = []
            if winners:
                for wnr in winners:
                    self.winner_round[wnr] = r
                if self.rules.uses_surpluses:
                    for wnr in winners:
                        self.elect_with_surplus(wnr, tally[wnr], threshold)
            elif (len(self.winner_round) < self.n_seats
                  or (self.rules.continue_until_two_candidates_remain
                      and len(self.elim_round) < self.n_candidates - 2)
                  or self.rules.winner_election_mode == WinnerElectionMode.BOTTOMS_UP_PERCENTAGE):
                eliminated = self.eliminate(tally, by_tally, threshold)
                for c in eliminated:
                    self.elim_round[c] = r
            if not winners and not eliminated and self.should_continue():
                # nothing changed, so the next round would be this one again
                raise UsageError(f"round {r}: no candidate can be elected or eliminated under "
                                 f"winnerElectionMode {self.rules.winner_election_mode.value}")
            if self.n_seats > 1:
                residual = self.update_winner_tallies(tally, prev_tally, threshold, residual,
                                                      transfers, s_state, prev_slice)
            # ballots to look at next round: those whose candidate left the count
            if self.vector is not None:
                to_process = self.vector.leaving([c for c in range(self.k)
                                                  if not self.continuing(c)])
            else:
                to_process = []
                for c in range(self.k):
                    if self.holders[c] and not self.continuing(c):
                        to_process.extend(self.holders[c])
                        self.holders[c] = []
            rounds.append(RoundResult(
                round=r,
                tally={self.names[c]: v for c, v in tally.items()},
                threshold=threshold,
                elected=tuple(sorted(self.names[c] for c in winners)),
                eliminated=tuple(sorted(self.names[c] for c in eliminated)),
                transfers={},  # filled below from the next round's movements
                inactive=inactive,
                residual_surplus=residual,
            ))
            if len(rounds) >= 2:
                rounds[-2] = _with_transfers(rounds[-2], transfers, self.names)
            for (kind, sid), (st_t, st_i, st_tr) in s_state.items():
                lst = slice_rounds[kind][sid]
                lst.append(RoundResult(
                    round=r, tally={self.names[c]: v for c, v in st_t.items()},
                    threshold=threshold, elected=rounds[-1].elected,
                    eliminated=rounds[-1].eliminated, transfers={}, inactive=st_i,
                    residual_surplus=Decimal(0)))
                if len(lst) >= 2:
                    lst[-2] = _with_transfers(lst[-2], st_tr, self.names)
            prev_tally = dict(tally)
            prev_inactive = inactive
            prev_slice = {key: (dict(v[0]), dict(v[1])) for key, v in s_state.items()}
        # transfers of the last round's decisions happen in a round that is never tabulated
        winners_order = sorted(self.winner_round, key=lambda c: (self.winner_round[c],
                                                                 self.names[c]))
        return RcvResult(
            contest_id=self.contest_id,
            candidates=tuple(self.names),
            seats=self.n_seats,
            winners=tuple(self.names[c] for c in winners_order),
            rounds=tuple(rounds),
            rules=self.rules,
            total_ballots=self.b.total,
            tiebreaks=tuple(self.tiebreaks),
            slices={kind: {sid: tuple(v) for sid, v in d.items()}
                    for kind, d in slice_rounds.items()},
        )

    # ------------------------------------------------------------------ one ballot group
    def process(self, i: int, tally: dict[int, Decimal], inactive: dict[str, Decimal],
                transfers: dict[int, dict[str, Decimal]],
                s_state: dict[tuple[str, str], list[Any]]) -> None:
        """Find the ballot group's next choice (RCTab's per-CVR walk, from the first rank)."""
        item = self.b.items[i]
        rules = self.rules
        cont = self.cont
        final_surplus = rules.uses_surpluses and len(self.winner_round) == self.n_seats
        max_skip = rules.max_skipped_ranks_allowed
        dup_rule = rules.exhaust_on_duplicate_candidate
        last_rank = 0
        seen: set[int] = set()
        any_rank = False
        pairs: Any = (((j + 1, (v - 1,)) for j, v in enumerate(item) if v)
                      if isinstance(item, list) else item)
        status = ""
        for rank, cands in pairs:
            any_rank = True
            if final_surplus:
                status = FINAL_SURPLUS
                break
            if max_skip != UNLIMITED and rank - last_rank > max_skip + 1:
                status = SKIPPED
                break
            last_rank = rank
            if dup_rule:
                if any(c in seen for c in cands) or len(set(cands)) < len(cands):
                    status = REPEATED
                    break
                seen.update(cands)
            if len(cands) == 1 and cands[0] != OVERVOTE_UNKNOWN:
                if cont[cands[0]]:
                    self.record(i, cands[0], ACTIVE, tally, inactive, transfers, s_state)
                    return
                continue
            decision = self.overvote_decision(cands)
            if decision == "exhaust":
                status = OVERVOTES
                break
            if decision == "skip":
                continue
            for c in cands:
                if cont[c]:
                    self.record(i, c, ACTIVE, tally, inactive, transfers, s_state)
                    return
        else:
            # out of rankings (an overvote skipped at the last rank ends here too)
            status = EXHAUSTED_CHOICES if any_rank else NO_RANKINGS
        self.record(i, -1, status, tally, inactive, transfers, s_state)

    def overvote_decision(self, cands: tuple[int, ...]) -> str:
        rule = self.rules.overvote_rule
        if OVERVOTE_UNKNOWN in cands:
            if len(cands) != 1:
                raise InputError("a rank holds both an unnamed overvote and candidates",
                                 field=f"contest:{self.contest_id}")
            if rule == OvervoteRule.EXHAUST_IF_MULTIPLE_CONTINUING:
                raise UsageError("overvote rule exhaustIfMultipleContinuing needs the overvoted "
                                 "candidates, but this export only says 'overvote'")
            return "exhaust" if rule == OvervoteRule.EXHAUST_IMMEDIATELY else "skip"
        if len(cands) <= 1:
            return "none"
        if rule == OvervoteRule.EXHAUST_IMMEDIATELY:
            return "exhaust"
        if rule == OvervoteRule.ALWAYS_SKIP_TO_NEXT_RANK:
            return "skip"
        n = sum(1 for c in cands if self.cont[c])
        return "exhaust" if n >= 2 else "none"

    def record(self, i: int, sel: int, status: str, tally: dict[int, Decimal],
               inactive: dict[str, Decimal],
               transfers: dict[int, dict[str, Decimal]],
               s_state: dict[tuple[str, str], list[Any]]) -> None:
        ftv = self.ftv[i]
        value = self.w[i] if ftv is _ONE else _CTX.multiply(self.w[i], ftv)
        src = self.rec[i]
        target = self.names[sel] if sel >= 0 else EXHAUSTED
        if self.ftv[i] > 0 and src >= 0:
            d = transfers.setdefault(src, {})
            d[target] = d.get(target, Decimal(0)) + value
        self.rec[i] = sel
        if sel >= 0:
            tally[sel] = tally[sel] + value
            self.holders[sel].append(i)
        else:
            inactive[status] = inactive.get(status, Decimal(0)) + value
        for kind in self.slice_kinds:
            st = s_state[(kind, self.slice_of[kind][i])]
            if self.ftv[i] > 0 and src >= 0:
                d = st[2].setdefault(src, {})
                d[target] = d.get(target, Decimal(0)) + value
            if sel >= 0:
                st[0][sel] = st[0][sel] + value
            else:
                st[1][status] = st[1].get(status, Decimal(0)) + value

    # ------------------------------------------------------------------ decisions
    def compute_threshold(self, tally: dict[int, Decimal]) -> Decimal:
        rules = self.rules
        active = sum(tally.values(), Decimal(0))
        if rules.winner_election_mode == WinnerElectionMode.BOTTOMS_UP_PERCENTAGE:
            pct = rules.multi_seat_bottoms_up_percentage_threshold
            if pct is None:
                raise UsageError("bottomsUpUsingPercentageThreshold needs "
                                 "multiSeatBottomsUpPercentageThreshold")
            threshold = _CTX.multiply(active, _CTX.divide(pct, Decimal(100)))
        else:
            divisor = Decimal(self.n_seats if rules.hare_quota else self.n_seats + 1)
            decimals = self.dp if rules.non_integer_winning_threshold else 0
            augend = Decimal(1).scaleb(-decimals, _CTX)
            if rules.hare_quota:
                threshold = divide(active, divisor, decimals, up=True)
            else:
                threshold = _CTX.add(divide(active, divisor, decimals), augend)
        mvt = rules.minimum_vote_threshold
        if mvt > 0 and mvt > threshold:
            threshold = mvt
        return threshold

    def identify_winners(self, tally: dict[int, Decimal], by_tally: list[tuple[Decimal, list[int]]],
                         threshold: Decimal) -> list[int]:
        rules = self.rules
        self._history.append(dict(tally))
        if self.uwi is not None and tally.get(self.uwi, Decimal(0)) != 0:
            return []
        selected: list[int] = []
        n_active = len(tally)
        if rules.winner_election_mode == WinnerElectionMode.BOTTOMS_UP_PERCENTAGE:
            if sum(1 for v in tally.values() if v > threshold) == n_active:
                selected = list(tally)
            return selected
        unfilled = self.n_seats - len(self.winner_round)
        if unfilled > 0:
            if n_active <= unfilled:
                selected = list(tally)
            elif rules.first_round_determines_threshold and n_active - 1 == self.n_seats:
                selected = list(by_tally[-1][1])
            elif rules.winner_election_mode != WinnerElectionMode.BOTTOMS_UP:
                for v, cs in by_tally:
                    if v >= threshold:
                        selected.extend(c for c in cs if c != self.uwi)
        multiple = len(selected) > 1 and (
            rules.winner_election_mode == WinnerElectionMode.MULTI_WINNER_ONE_PER_ROUND
            or rules.first_round_determines_threshold)
        none = (self.n_seats == 1 and not selected and n_active == 2 and unfilled == 1
                and all(v >= rules.minimum_vote_threshold for v, _ in by_tally))
        if multiple or none:
            top_votes, top = by_tally[-1]
            selected = list(top)
            if len(selected) > 1:
                selected = [self.break_tie(selected, top_votes, selecting_winner=True)]
        return selected

    def elect_with_surplus(self, wnr: int, votes: Decimal, threshold: Decimal) -> None:
        extra = votes - threshold
        frac = divide(extra, votes, self.dp) if extra > 0 else Decimal(0)
        holders = list(self.holders[wnr])
        self.winner_ballots[wnr] = holders
        for i in holders:
            ftv = self.ftv[i]
            transfer = multiply(ftv, frac, self.dp)
            alloc = self.alloc[i] or {}
            alloc[wnr] = ftv - transfer
            self.alloc[i] = alloc
            remaining = Decimal(1)
            for v in alloc.values():
                remaining = remaining - v
            self.ftv[i] = remaining

    def update_winner_tallies(self, tally: dict[int, Decimal], prev_tally: dict[int, Decimal],
                              threshold: Decimal, residual: Decimal,
                              transfers: dict[int, dict[str, Decimal]],
                              s_state: dict[tuple[str, str], list[Any]],
                              prev_slice: dict[tuple[str, str], tuple[dict[int, Decimal],
                                                                       dict[str, Decimal]]],
                              ) -> Decimal:
        r = self.round
        past = [c for c, wr in self.winner_round.items() if wr != r]
        fresh = [c for c in past if self.winner_round[c] == r - 1]
        for c in past:
            tally[c] = Decimal(0) if c in fresh else prev_tally[c]
            for key, st in s_state.items():
                st[0][c] = Decimal(0) if c in fresh else prev_slice[key][0].get(c, Decimal(0))
        if not fresh:
            return residual
        for c in fresh:
            for i in self.winner_ballots.get(c, []):
                alloc = self.alloc[i]
                if alloc is None or c not in alloc:
                    continue
                v = _CTX.multiply(self.w[i], alloc[c])
                tally[c] = tally[c] + v
                for kind in self.slice_kinds:
                    st = s_state[(kind, self.slice_of[kind][i])]
                    st[0][c] = st[0][c] + v
        for c in sorted(fresh):
            res = tally[c] - threshold
            if res > 0:
                residual = residual + res
                tally[c] = threshold
                d = transfers.setdefault(c, {})
                d[RESIDUAL] = d.get(RESIDUAL, Decimal(0)) + res
        return residual

    def eliminate(self, tally: dict[int, Decimal], by_tally: list[tuple[Decimal, list[int]]],
                  threshold: Decimal) -> list[int]:
        rules = self.rules
        if self.uwi is not None and tally.get(self.uwi, Decimal(0)) > 0:
            return [self.uwi]
        if rules.cutoff_elimination and all(c == self.uwi for c in self.elim_round):
            # the first elimination of a bottoms-up percentage count: everyone below the
            # threshold at once (RCTab's cutoffElimination)
            out = [c for v, cs in by_tally if v < threshold for c in cs]
            if len(out) == len(tally):
                raise UsageError(f"round {self.round}: every candidate is below the threshold "
                                 f"{threshold}; cutoff elimination would leave nobody")
            if out:
                return out
        mvt = rules.minimum_vote_threshold
        if mvt > 0 and by_tally[0][0] < mvt:
            out = [c for v, cs in by_tally if v < mvt for c in cs]
            if len(out) == self.num_declared:
                raise UsageError("every declared candidate is below the minimum vote threshold")
            return out
        if rules.batch_elimination:
            batch = self.batch_elimination(by_tally)
            if len(batch) > 1:
                return batch
        low_votes, low = by_tally[0]
        if len(low) > 1:
            return [self.break_tie(low, low_votes, selecting_winner=False)]
        return [low[0]]

    def batch_elimination(self, by_tally: list[tuple[Decimal, list[int]]]) -> list[int]:
        running = Decimal(0)
        seen: list[int] = []
        done: set[int] = set()
        elim: list[int] = []
        prev: list[int] = []
        for votes, cs in by_tally:
            new = list(elim)
            if running < votes:
                for c in seen:
                    if c not in done:
                        done.add(c)
                        new.append(c)
            running = running + multiply(votes, Decimal(len(cs)), self.dp)
            seen.extend(cs)
            if len(new) > len(elim):
                prev, elim = elim, new
        if (self.rules.continue_until_two_candidates_remain
                and len(elim) + len(self.elim_round) == self.n_candidates - 1):
            elim = prev
        return elim

    def break_tie(self, tied: list[int], votes: Decimal, *, selecting_winner: bool) -> int:
        mode = self.rules.tiebreak_mode
        ordered = sorted(tied, key=lambda c: self.names[c])
        if mode in (TiebreakMode.USE_CANDIDATE_ORDER, TiebreakMode.GENERATE_PERMUTATION):
            perm = self.permutation if selecting_winner else list(reversed(self.permutation))
            pick = next((c for c in perm if c in tied), None)
            if pick is None:
                raise UsageError(f"tie between {', '.join(self.names[c] for c in ordered)} in "
                                 f"round {self.round}: none of them is in the candidate order")
            why = ("earliest" if selecting_winner else "latest") + " in the tie-breaking order"
        elif mode == TiebreakMode.RANDOM:
            pick, why = self.random_pick(ordered), "random draw from the recorded seed"
        elif mode == TiebreakMode.STOP_COUNTING_AND_ASK:
            raise TiebreakNeedsOperator(
                f"round {self.round}: tie between {', '.join(self.names[c] for c in ordered)} "
                f"at {votes} votes; tiebreakMode stopCountingAndAsk needs an operator — choose a "
                "non-interactive tiebreak mode")
        else:
            pick, why = self.previous_rounds(ordered, selecting_winner)
        self.tiebreaks.append(Tiebreak(
            round=self.round, selecting_winner=selecting_winner,
            tied=tuple(self.names[c] for c in ordered), selected=self.names[pick], votes=votes,
            explanation=why))
        return pick

    def random_pick(self, ordered: list[int]) -> int:
        if self.random is None:  # pragma: no cover - constructor guarantees it
            raise UsageError("random tiebreak without a seed")
        d = self.random.next_double()
        return ordered[int(d * len(ordered))]

    def previous_rounds(self, ordered: list[int], selecting_winner: bool) -> tuple[int, str]:
        hist = self._history
        contention = list(ordered)  # sorted by name, as RCTab sorts the tied candidates
        by_name = {self.names[c]: c for c in contention}
        for rr in range(self.round - 1, 0, -1):
            vals = hist[rr - 1]
            key = max if selecting_winner else min
            best = key(vals.get(c, Decimal(0)) for c in contention)
            # RCTab regroups the candidates through a java.util.HashSet each round, so those
            # still tied come out in that set's order: the random draw below depends on it
            order = java_hashset_order([self.names[c] for c in contention])
            contention = [by_name[n] for n in order if vals.get(by_name[n], Decimal(0)) == best]
            if len(contention) == 1:
                return contention[0], f"{'most' if selecting_winner else 'fewest'} votes in " \
                                      f"round {rr}"
        if self.rules.tiebreak_mode == TiebreakMode.PREVIOUS_ROUND_COUNTS_THEN_ASK:
            raise TiebreakNeedsOperator(
                f"round {self.round}: tie between {', '.join(self.names[c] for c in contention)} "
                "not broken by previous rounds; previousRoundCountsThenAsk needs an operator")
        return self.random_pick(contention), \
            "still tied in every previous round; random draw from the recorded seed"

    def should_continue(self) -> bool:
        rules = self.rules
        r = self.round
        n_elim, n_win = len(self.elim_round), len(self.winner_round)
        if rules.stop_tabulation_early_after_round is not None and \
                r >= rules.stop_tabulation_early_after_round:
            return False
        if n_win == self.num_declared and self.n_seats > self.n_candidates:
            return False
        if rules.continue_until_two_candidates_remain:
            return n_elim + n_win + 1 < self.n_candidates or r in self.elim_round.values()
        if rules.winner_election_mode == WinnerElectionMode.BOTTOMS_UP_PERCENTAGE:
            return n_win == 0
        return n_win < self.n_seats or (rules.uses_surpluses and r in self.winner_round.values())


def _invert(tally: dict[int, Decimal]) -> list[tuple[Decimal, list[int]]]:
    """Tally → [(votes, candidates with those votes)] ascending (RCTab's TreeMap)."""
    groups: dict[Decimal, list[int]] = {}
    for c, v in tally.items():
        groups.setdefault(v, []).append(c)
    return sorted(groups.items(), key=lambda kv: kv[0])


def _with_transfers(rr: RoundResult, transfers: dict[int, dict[str, Decimal]],
                    names: Sequence[str]) -> RoundResult:
    return RoundResult(
        round=rr.round, tally=rr.tally, threshold=rr.threshold, elected=rr.elected,
        eliminated=rr.eliminated,
        transfers={names[src]: dict(d) for src, d in sorted(transfers.items())},
        inactive=rr.inactive, residual_surplus=rr.residual_surplus)


def tabulate_ranked(ballots: RankedBallots, candidates: Sequence[str], rules: RcvRules, *,
                    contest_id: str = "contest", uwi: int | None = None,
                    permutation: Sequence[int] | None = None,
                    excluded: frozenset[int] = frozenset(),
                    slices: Sequence[str] = ()) -> RcvResult:
    """Tabulate distinct rankings (codes index ``candidates``) under RCTab rules.

    ``uwi`` is the code standing for undeclared write-ins (dropped as soon as it has votes and
    never elected), ``permutation`` the tie-break order for ``useCandidateOrder`` (default:
    candidate order without ``uwi``), ``slices`` the slice kinds (keys of ``ballots.slices``) to
    report separately, as RCTab's tabulate-by-precinct / by-batch.
    """
    if not candidates:
        raise UsageError(f"contest {contest_id!r} has no candidates")
    for kind in slices:
        if kind not in ballots.slices:
            raise UsageError(f"ballots were not grouped by {kind!r}")
    eng = _Engine(ballots, candidates, rules, contest_id=contest_id, uwi=uwi,
                         permutation=permutation, excluded=excluded, slices=slices)
    return eng.run()


def irv(ballots: RankedBallots, contest: Any, rules: RcvRules | None = None) -> RcvResult:
    """Single-winner instant runoff over a :class:`~tallyproof.model.Contest`'s candidates
    (candidate ids as names), with RCTab's default rules unless given."""
    rules = rules or RcvRules()
    if rules.number_of_winners != 1:
        raise UsageError("irv() elects one winner; use stv() for several seats")
    return tabulate_ranked(ballots, [c.id for c in contest.candidates], rules,
                           contest_id=contest.id)

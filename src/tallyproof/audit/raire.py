"""RAIRE: assertions that imply an IRV winner, chosen to make the audit as cheap as possible.

Blom, Stuckey, Teague (2019), "RAIRE: Risk-Limiting Audits for IRV Elections",
arXiv:1903.08804. Two kinds of assertion (both SHANGRLA assorters, see
:mod:`tallyproof.audit.assorters`):

* NEB(w, l), "w is not eliminated before l": w's first preferences exceed every ballot on
  which l could ever count while w is still standing (l ranked above w, or l ranked and w not).
* NEN(w, l | S), "with S continuing, w has more votes than l", so w is not eliminated next.

An *elimination suffix* π = (π₀, …, π_k) says: the candidates outside π were eliminated first
(in any order), then π₀, π₁, …, and π_k won. NEB(x, y) rules π out when x is eliminated before
y in it (x outside π or earlier than y); NEN(π₀, y | set(π)) rules π out directly. RAIRE
searches the tree of suffixes ending in each alternative winner c ≠ w (the children of π
prepend one more candidate) and stops each branch at a node some assertion rules out (§4).
The cost of an audit is that of its hardest assertion (the estimated sample size, decreasing
in the margin), so minimising it is a bottleneck problem: tallyproof bisects on the smallest
margin allowed and keeps the largest for which every branch can be closed, which gives the
same optimal difficulty as the paper's branch-and-bound with its lower bound. If some
complete elimination order with another winner cannot be ruled out by any assertion with a
positive margin, the contest cannot be audited by RAIRE (the CVRs do not support the reported
winner, or the count is a tie): :class:`RaireResult` says so with ``auditable=False``.
Assertions implied by the others are then dropped (as SHANGRLA does), hardest first.

Ballots are compressed to distinct rankings (with counts) so that every margin is computed in
numpy over a few thousand rows, not per ballot.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import AuditError
from .assorters import NOT_RANKED, Assertion, AssertionKind, ContestVotes
from .plan import no_error_floor

INF = math.inf


def estimated_sample_size(margin: float, risk_limit: float, *, polling: bool = False,
                          N: int | None = None) -> float:
    """Cost of auditing one assertion with diluted assorter margin ``margin``.

    Comparison: the fewest cards that can confirm it when none shows an error
    (:func:`tallyproof.audit.plan.no_error_floor`): ⌈ln(1/α) / ln(2/(2 − v))⌉ sampling with
    replacement (``N`` None; each card multiplies a betting supermartingale by at most
    2/(2 − v), SHANGRLA §3.2), and a few cards fewer without replacement from ``N`` cards,
    where the null mean of what is left falls as clean cards are drawn. Polling: the Wald
    approximation 2·ln(1/α)/v² (Lindeman, Stark, Yates 2012, BRAVO §5). All decrease in v,
    so they choose the same assertions; they only differ in the reported cost.
    """
    if margin <= 0:
        return INF
    if polling:
        return math.ceil(2.0 * math.log(1.0 / risk_limit) / margin**2)
    floor = no_error_floor(margin, risk_limit, N=N)
    return INF if floor is None else floor


@dataclass(frozen=True)
class RaireResult:
    """The assertions RAIRE chose (or why there are none)."""

    contest_id: str
    winner: int
    elimination_order: tuple[int, ...]  # by the CVRs, first eliminated first, winner last
    assertions: tuple[Assertion, ...]
    difficulty: float  # estimated sample size of the hardest assertion
    auditable: bool
    reason: str = ""
    margins: dict[str, float] = field(default_factory=dict)


#: Up to this many possible rankings, :func:`_distinct_rows` counts keys in an array.
_DENSE_KEYS = 1 << 24


def _distinct_rows(ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(ranks, axis=0, return_counts=True)``: the same rows in the same
    (lexicographic) order, found by sorting one int64 key per card (ranks read as digits in
    base R+1, :data:`NOT_RANKED` as R) instead of sorting rows; several times faster on
    millions of cards. Rankings too wide for one int64 key take numpy's way."""
    ranked = ranks != NOT_RANKED
    top = int(ranks[ranked].max()) + 1 if ranked.any() else 0
    base = top + 1
    if base ** ranks.shape[1] >= 2**62:
        return np.unique(ranks, axis=0, return_counts=True)
    digits = np.where(ranked, ranks, top).astype(np.int64)
    key = np.zeros(len(ranks), dtype=np.int64)
    for j in range(ranks.shape[1]):
        key = key * base + digits[:, j]
    if base ** ranks.shape[1] > _DENSE_KEYS:
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        return ranks[first], counts
    # few possible rankings: count every key, then spell the keys that occur back as rows
    occurs = np.bincount(key)
    keys = np.flatnonzero(occurs)
    rows = np.empty((len(keys), ranks.shape[1]), dtype=ranks.dtype)
    rest = keys.copy()
    for j in range(ranks.shape[1] - 1, -1, -1):
        d = rest % base
        rows[:, j] = np.where(d == top, NOT_RANKED, d)
        rest //= base
    return rows, occurs[keys]


class _Ballots:
    """Distinct rankings with counts; margins of NEB/NEN assertions over them."""

    def __init__(self, votes: ContestVotes) -> None:
        ranks = votes.ranks[votes.present]
        self.n_cards = len(votes)  # every card in the contest's frame dilutes the margin
        if len(ranks):
            uniq, counts = _distinct_rows(ranks)
        else:
            uniq, counts = ranks, np.zeros(0, dtype=np.int64)
        self.ranks = uniq
        self.counts = counts.astype(np.int64)
        self.n_cand = votes.ranks.shape[1]
        self._nen: dict[frozenset[int], np.ndarray] = {}
        first = self.ranks.min(axis=1) if len(self.ranks) else np.zeros(0)
        # neb_votes[w, l] = first prefs of w − ballots where l is above w (margin in cards)
        big = np.iinfo(np.int64).min
        self.neb_votes = np.full((self.n_cand, self.n_cand), big, dtype=np.int64)
        for w in range(self.n_cand):
            fp = self.counts[(self.ranks[:, w] == first) & (self.ranks[:, w] != NOT_RANKED)].sum()
            for lo in range(self.n_cand):
                if lo != w:
                    above = self.counts[self.ranks[:, lo] < self.ranks[:, w]].sum()
                    self.neb_votes[w, lo] = fp - above

    def tallies(self, continuing: frozenset[int]) -> np.ndarray:
        """Votes of each candidate when only ``continuing`` remain (zeros for the others)."""
        got = self._nen.get(continuing)
        if got is None:
            cols = np.array(sorted(continuing), dtype=np.int64)
            sub = self.ranks[:, cols]
            best = sub.argmin(axis=1) if len(sub) else np.zeros(0, dtype=np.int64)
            live = sub[np.arange(len(sub)), best] != NOT_RANKED
            got = np.zeros(self.n_cand, dtype=np.int64)
            np.add.at(got, cols[best[live]], self.counts[live])
            self._nen[continuing] = got
        return got


def irv_elimination_order(votes: ContestVotes) -> tuple[int, ...]:
    """Eliminate the lowest tally one at a time, first eliminated first, winner last.

    A tie for last place is resolved only when it cannot matter: the tied candidates (and
    any just above them) are eliminated together when their combined tally is below the
    next candidate's (the "batch elimination" of RCTab and most IRV laws: they would all go
    in any order). Any other tie raises :class:`AuditError`: the count relied on a
    tie-break, so the reported winner must be named explicitly.
    """
    b = _Ballots(votes)
    remaining = set(range(b.n_cand))
    order: list[int] = []
    while len(remaining) > 1:
        t = b.tallies(frozenset(remaining))
        cand = sorted(remaining, key=lambda c: (t[c], c))
        tallies = [int(t[c]) for c in cand]
        if len(cand) == 2 or tallies[0] < tallies[1]:
            out = [cand[0]]
        else:
            k = next((k for k in range(2, len(cand))
                      if sum(tallies[:k]) < tallies[k]), None)
            if k is None:
                raise AuditError(f"contest {votes.contest.id!r}: tie for elimination between "
                                 f"codes {[c for c in cand if t[c] == tallies[0]]}; name the "
                                 "reported winner explicitly")
            out = cand[:k]
        if len(out) == 1 and len(cand) == 2 and tallies[0] == tallies[1]:
            raise AuditError(f"contest {votes.contest.id!r}: the last two candidates tie; "
                             "name the reported winner explicitly")
        order.extend(out)
        remaining.difference_update(out)
    order.extend(remaining)
    return tuple(order)


def raire_assertions(
    votes: ContestVotes,
    *,
    risk_limit: float = 0.05,
    winner: int | None = None,
    polling: bool = False,
    node_budget: int = 500_000,
) -> RaireResult:
    """RAIRE assertions for the IRV contest in ``votes`` (see the module docstring).

    The audit's difficulty is the cost of its hardest assertion, a decreasing function of
    that assertion's margin, so the optimal set is found by bisection on the smallest margin
    allowed: :func:`_cover` decides whether assertions with at least that margin can rule
    out every elimination order with another winner, exploring the suffix tree depth first
    and stopping at the first node some allowed assertion rules out (RAIRE §4's tree, with
    the bound fixed instead of discovered). ``winner`` defaults to the winner by the CVRs.
    ``node_budget`` bounds each search; a contest too large to search within it raises
    :class:`AuditError` rather than returning assertions that might not imply the outcome.
    """
    contest = votes.contest
    b = _Ballots(votes)
    n = b.n_cand
    if n < 2:
        raise AuditError(f"contest {contest.id!r} has fewer than two candidates")
    order = irv_elimination_order(votes) if winner is None else ()
    w = order[-1] if winner is None else winner
    if not 0 <= w < n:
        raise AuditError(f"contest {contest.id!r}: no candidate code {w}")
    counts = int(round(b.n_cards))

    def best(pi: tuple[int, ...]) -> tuple[int, Assertion]:
        """Largest margin (in cards) of an assertion ruling out suffix ``pi``, and it."""
        pos = np.full(n, -1)
        pos[list(pi)] = np.arange(len(pi))
        ok = (pos[:, None] < pos[None, :]) & (pos[None, :] >= 0)
        m = np.where(ok, b.neb_votes, np.iinfo(np.int64).min)
        x, y = np.unravel_index(int(np.argmax(m)), m.shape)
        top = int(m[x, y])
        a = Assertion(contest.id, AssertionKind.NEB, int(x), int(y))
        if len(pi) >= 2:
            t = b.tallies(frozenset(pi))
            rest = list(pi[1:])
            lo = rest[int(np.argmin(t[rest]))]
            nen = int(t[pi[0]] - t[lo])
            if nen > top:
                top = nen
                a = Assertion(contest.id, AssertionKind.NEN, pi[0], lo, continuing=pi)
        return top, a

    def cover(threshold: int) -> dict[Assertion, int] | None:
        """Assertions with margin ≥ ``threshold`` cards ruling out every other winner, or
        None if some elimination order escapes them."""
        chosen: dict[Assertion, int] = {}

        def closes(pi: tuple[int, ...]) -> bool:
            m, a = best(pi)
            if m >= threshold:
                chosen[a] = m
                return True
            return False

        ok = _all_closed(n, w, closes, node_budget,
                         f"contest {contest.id!r}: RAIRE search exceeded {node_budget:,} "
                         "nodes; too many candidates to generate assertions here")
        return chosen if ok else None

    found = cover(1)
    if found is None:
        return RaireResult(contest.id, w, order, (), INF, False,
                           reason="no set of assertions with positive margins rules out "
                                  "every other winner: the CVRs do not support the reported "
                                  "winner, or it is a tie")
    lo, hi = min(found.values()), counts + 1  # cover(lo) succeeds; cover(hi) cannot
    while hi - lo > 1:
        mid = (lo + hi) // 2
        got = cover(mid)
        if got is None:
            hi = mid
        else:
            lo, found = min(got.values()), got
    found = _drop_implied(found, w, n, node_budget, contest.id)
    margins = {a.id: m / b.n_cards for a, m in found.items()}
    chosen = tuple(
        Assertion(a.contest_id, a.kind, a.winner, a.loser, a.continuing,
                  notes={"margin": margins[a.id]})
        for a in sorted(found, key=lambda a: a.id)
    )
    difficulty = estimated_sample_size(min(margins.values()), risk_limit, polling=polling,
                                       N=None if polling else b.n_cards)
    return RaireResult(contest.id, w, order, chosen, difficulty, True, margins=margins)


def _rules_out_suffix(a: Assertion, pi: tuple[int, ...]) -> bool:
    """Whether ``a`` rules out every elimination order ending in the suffix ``pi``."""
    if a.kind is AssertionKind.NEB:
        if a._loser not in pi:
            return False
        return a.winner not in pi or pi.index(a.winner) < pi.index(a._loser)
    k = len(pi) - len(a.continuing)  # NEN: decided once |S| candidates are in the suffix
    return k >= 0 and set(pi[k:]) == set(a.continuing) and pi[k] == a.winner


def _all_closed(n: int, w: int, closes: Callable[[tuple[int, ...]], bool], node_budget: int,
                too_big: str) -> bool:
    """Whether every elimination suffix ending in a candidate other than ``w`` is closed:
    depth first over the suffix tree (RAIRE §4; children prepend one more candidate),
    stopping each branch at the first node ``closes`` accepts. More than ``node_budget``
    nodes raises :class:`AuditError` with ``too_big``."""
    nodes = 0

    def visit(pi: tuple[int, ...]) -> bool:
        nonlocal nodes
        nodes += 1
        if nodes > node_budget:
            raise AuditError(too_big)
        if closes(pi):
            return True
        if len(pi) == n:
            return False
        return all(visit((x, *pi)) for x in range(n) if x not in pi)

    return all(visit((c,)) for c in range(n) if c != w)


def _drop_implied(found: dict[Assertion, int], w: int, n: int, node_budget: int,
                  contest_id: str) -> dict[Assertion, int]:
    """Drop assertions the others already imply (SHANGRLA removes such assertions too; each
    one costs audit work and adds nothing): hardest first, an assertion goes when the rest
    still rule out every elimination order with another winner."""
    kept = dict(found)
    for a in sorted(found, key=lambda a: (found[a], a.id)):
        rest = [b for b in kept if b != a]
        if rest and _all_closed(
                n, w, lambda pi, rest=rest: any(_rules_out_suffix(b, pi) for b in rest),
                node_budget, f"contest {contest_id!r}: RAIRE redundancy check exceeded "
                             f"{node_budget:,} nodes"):
            del kept[a]
    return kept


def rules_out(assertion: Assertion, order: tuple[int, ...]) -> bool:
    """Whether ``assertion`` (if true) contradicts a complete elimination ``order``.

    Used by tests and by verifiers to check that a set of assertions implies the winner: every
    order ending in another candidate must be ruled out by one of them.
    """
    pos = {c: i for i, c in enumerate(order)}
    if assertion.kind is AssertionKind.NEB:
        return pos[assertion.winner] < pos[assertion._loser]
    if assertion.kind is AssertionKind.NEN:
        s = set(assertion.continuing)
        k = len(order) - len(s)
        return set(order[k:]) == s and order[k] == assertion.winner
    raise AuditError(f"{assertion.kind} is not an IRV assertion")



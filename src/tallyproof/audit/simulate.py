"""Vectorised simulation of sequential audits, shared by planning (quantiles of the sample
size), the validity tests (how often a wrong outcome is confirmed) and the benchmark.

Why one engine: comparing methods is only fair on the *same* draws (common random numbers),
and the risk limit must be checked with exactly the code that measures risk. Draws are made
in blocks of ``block`` ballots for all replicates at once (numpy), each method keeps its own
running log T and stopping time, and the loop ends when every method has stopped in every
replicate or the cap is reached.

A population is a small number of *categories* (e.g. winner / loser / neither for polling;
no error / one-vote overstatement / ... for comparison), each with an assorter value. With a
population size (``counts``) draws are without replacement: each block's category counts are
multivariate hypergeometric given what is left, in a uniformly random order, so the sequence
is an exact random permutation of the population.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError
from .bravo import bravo_log_factors
from .kaplan_markov import DEFAULT_GAMMA, kaplan_markov_log_factors
from .macro import macro_log_factors
from .risk import comparison_support, log_factors, support_bucket

__all__ = [
    "Population",
    "MethodSpec",
    "SimulationResult",
    "simulate",
    "polling_population",
    "comparison_population",
]

SEED = 20_231_104  # fixed: planning and benchmarks must be reproducible


@dataclass(frozen=True)
class Population:
    """Categories of ballots: assorter ``values`` with either ``counts`` (a finite population,
    drawn without replacement) or ``probs`` (drawn with replacement). ``labels`` name the
    categories; ``overstatement`` gives each category's overstatement in votes (comparison
    audits, for Kaplan-Markov)."""

    values: np.ndarray
    upper: float
    labels: tuple[str, ...]
    counts: np.ndarray | None = None
    probs: np.ndarray | None = None
    overstatement: np.ndarray | None = None

    @property
    def N(self) -> int | None:
        return None if self.counts is None else int(self.counts.sum())

    def true_mean(self) -> float:
        if self.counts is not None:
            return float(np.dot(self.counts, self.values) / self.counts.sum())
        if self.probs is None:
            raise UsageError("a population needs counts or probabilities")
        return float(np.dot(self.probs, self.values))


def polling_population(winner: float, loser: float, *, N: int | None = None) -> Population:
    """Two-candidate polling population: fractions of ballots for the winner and the loser
    (the rest show neither, assorter value 1/2). With ``N`` the counts are rounded."""
    # fractions computed from vote totals may sum to 1 + a rounding error (e.g. 502500/10^6 +
    # 497500/10^6); that is not an input error, so allow a few ulps and clip "neither" at 0
    if winner < 0 or loser < 0 or winner + loser > 1 + 4 * np.finfo(float).eps:
        raise UsageError("winner and loser fractions must be >= 0 and sum to at most 1")
    probs = np.array([winner, loser, max(0.0, 1 - winner - loser)])
    probs = probs / probs.sum()
    values = np.array([1.0, 0.0, 0.5])
    labels = ("winner", "loser", "neither")
    if N is None:
        return Population(values, 1.0, labels, probs=probs)
    counts = np.round(probs * N).astype(np.int64)
    counts[1] = min(counts[1], N - counts[0])
    counts[2] = N - counts[0] - counts[1]
    return Population(values, 1.0, labels, counts=counts)


def comparison_population(margin: float, *, o1: float = 0.0, o2: float = 0.0, u1: float = 0.0,
                          u2: float = 0.0, N: int | None = None) -> Population:
    """Ballot-level comparison population for a reported diluted margin ``margin`` (plurality,
    u_A = 1) with discrepancy *rates* o1, o2 (one/two-vote overstatements) and u1, u2."""
    rates = np.array([o2, o1, 0.0, u1, u2])
    if np.any(rates < 0) or rates.sum() > 1:
        raise UsageError("discrepancy rates must be >= 0 and sum to at most 1")
    rates[2] = 1.0 - rates.sum()
    upper = 2.0 / (2.0 - margin)
    values = comparison_support(upper)
    over = np.array([2.0, 1.0, 0.0, -1.0, -2.0])
    labels = ("o2", "o1", "clean", "u1", "u2")
    if N is None:
        return Population(values, upper, labels, probs=rates, overstatement=over)
    counts = np.round(rates * N).astype(np.int64)
    counts[2] = N - (counts.sum() - counts[2])
    return Population(values, upper, labels, counts=counts, overstatement=over)


@dataclass(frozen=True)
class MethodSpec:
    """A risk-measuring method to simulate: ``kind`` is a ``measure_risk`` method
    ("alpha", "kelly", ...) or "bravo" (``winner_share``), "kaplan-markov" (``margin``,
    ``gamma``) or "macro" (``total_bound``; the population's values are taints);
    ``use_N`` = use the population size (sampling without replacement)."""

    name: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    use_N: bool = True


@dataclass(frozen=True)
class SimulationResult:
    """Per method: the sample size at which each replicate confirmed, or the cap (N, or
    ``max_n``) where it did not; and whether it confirmed."""

    sample_sizes: dict[str, np.ndarray]
    confirmed: dict[str, np.ndarray]
    cap: int

    def mean(self, name: str) -> float:
        return float(self.sample_sizes[name].mean())

    def quantile(self, name: str, q: float) -> int:
        return int(math.ceil(np.quantile(self.sample_sizes[name], q, method="higher")))

    def rejection_rate(self, name: str) -> float:
        return float(self.confirmed[name].mean())


def _factor_fn(spec: MethodSpec, pop: Population, mu: float
               ) -> Callable[[np.ndarray, np.ndarray, dict[str, Any]], np.ndarray]:
    kind = spec.kind.lower()
    N = pop.N if spec.use_N else None
    if kind == "bravo":
        share = float(spec.params["winner_share"])
        return lambda x, idx, st: bravo_log_factors(x, share)
    if kind == "kaplan-markov":
        if pop.overstatement is None:
            raise UsageError("Kaplan-Markov needs a comparison population")
        v = float(spec.params["margin"])
        g = float(spec.params.get("gamma", DEFAULT_GAMMA))
        over = pop.overstatement
        return lambda x, idx, st: kaplan_markov_log_factors(over[idx], v, g)
    if kind == "macro":
        # values are the categories' taints; draws are PPEB (probabilities u_p / U)
        total = float(spec.params["total_bound"])
        return lambda x, idx, st: macro_log_factors(x, total)
    params = dict(spec.params)
    return lambda x, idx, st: log_factors(x, upper=pop.upper, N=N, method=kind, mu=mu,
                                          state=st, **params)


def _draw_block(rng: np.random.Generator, pop: Population, remaining: np.ndarray | None,
                reps: int, m: int) -> np.ndarray:
    """Category indices, shape (reps, m)."""
    K = pop.values.size
    if remaining is None:
        return rng.choice(K, size=(reps, m), p=pop.probs)
    idx = np.empty((reps, m), dtype=np.int64)
    for r in range(reps):
        got = rng.multivariate_hypergeometric(remaining[r], m)
        remaining[r] -= got
        idx[r] = np.repeat(np.arange(K), got)
    return rng.permuted(idx, axis=1)


def _draw_block_vectorised(rng: np.random.Generator, pop: Population,
                           remaining: np.ndarray | None, reps: int, m: int) -> np.ndarray:
    """As :func:`_draw_block`, with every replicate's category counts drawn at once: the
    multivariate hypergeometric as a chain of (vectorised) hypergeometric marginals, which
    is the same distribution (another random stream, so it is opt-in: seeded results made
    with the loop stay as they were)."""
    K = pop.values.size
    if remaining is None:
        return rng.choice(K, size=(reps, m), p=pop.probs)
    got = np.empty((reps, K), dtype=np.int64)
    left = np.full(reps, m, dtype=np.int64)
    rest = remaining.sum(axis=1)
    for k in range(K - 1):
        rest = rest - remaining[:, k]
        got[:, k] = rng.hypergeometric(remaining[:, k], rest, left)
        left -= got[:, k]
    got[:, K - 1] = left
    remaining -= got
    edges = np.cumsum(got, axis=1)[:, :-1]
    pos = np.arange(m)[None, :]
    idx = np.zeros((reps, m), dtype=np.int64)  # category of each sorted position
    for e in range(K - 1):
        idx += pos >= edges[:, e, None]
    return rng.permuted(idx, axis=1)


def simulate(
    pop: Population,
    methods: Sequence[MethodSpec],
    *,
    risk_limit: float,
    reps: int,
    max_n: int | None = None,
    mu: float = 0.5,
    seed: int = SEED,
    block_elems: int = 200_000,
    until: float | None = None,
    vectorised_draws: bool = False,
) -> SimulationResult:
    """Run ``reps`` sequential audits of ``pop`` with every method on the same draws.

    Stops a replicate for a method at the first n with T_n >= 1/risk_limit. The cap is the
    population size (a full hand count) or ``max_n`` (required with replacement).
    ``until`` (a fraction) ends the run once that fraction of replicates has stopped for
    every method: enough for a quantile below it, and the long tail is not drawn; the
    replicates still open keep the cap and ``confirmed`` False (so their size and the mean
    are then lower bounds). ``vectorised_draws`` draws without replacement for all
    replicates at once (:func:`_draw_block_vectorised`).
    """
    if not 0 < risk_limit < 1:
        raise UsageError(f"risk limit must be in (0, 1), got {risk_limit}")
    if reps < 1 or not methods:
        raise UsageError("need at least one replicate and one method")
    cap = pop.N if pop.N is not None else max_n
    if cap is None:
        raise UsageError("max_n is required when sampling with replacement")
    if max_n is not None:
        cap = min(cap, max_n)
    rng = np.random.default_rng(seed)
    threshold = math.log(1 / risk_limit)
    fns = {s.name: _factor_fn(s, pop, mu) for s in methods}
    log_t = {s.name: np.zeros(reps) for s in methods}
    stop = {s.name: np.full(reps, cap, dtype=np.int64) for s in methods}
    done = {s.name: np.zeros(reps, dtype=bool) for s in methods}
    remaining = None if pop.counts is None else np.tile(pop.counts, (reps, 1))
    bucket = support_bucket(pop.values, pop.upper)
    hits_of_category = (bucket[:, None] == np.arange(5)[None, :]).astype(float)
    state: dict[str, Any] = {"sum": np.zeros(reps), "sumsq": np.zeros(reps),
                             "counts": np.zeros((reps, 5)), "j": 0}
    m = max(16, block_elems // reps)
    drawn = 0
    need = reps if until is None else min(reps, math.ceil(until * reps))
    draw = _draw_block_vectorised if vectorised_draws else _draw_block
    while drawn < cap and not all(int(d.sum()) >= need for d in done.values()):
        mm = min(m, cap - drawn)
        idx = draw(rng, pop, remaining, reps, mm)
        x = pop.values[idx]
        for name, fn in fns.items():
            if done[name].all():
                continue
            with np.errstate(invalid="ignore"):
                path = log_t[name][:, None] + np.cumsum(fn(x, idx, state), axis=1)
            path = np.where(np.isnan(path), -np.inf, path)
            crossed = path >= threshold
            any_crossed = crossed.any(axis=1)
            first = np.where(any_crossed, crossed.argmax(axis=1) + 1 + drawn, cap)
            newly = ~done[name] & any_crossed
            stop[name] = np.where(newly, first, stop[name])
            done[name] |= newly
            log_t[name] = path[:, -1]
        state["sum"] = state["sum"] + x.sum(axis=1)
        state["sumsq"] = state["sumsq"] + (x * x).sum(axis=1)
        # draws per category, then per support bucket: integer counts, exact in floats
        per_category = np.stack([(idx == k).sum(axis=1) for k in range(pop.values.size)],
                                axis=1)
        state["counts"] = state["counts"] + per_category @ hits_of_category
        state["j"] += mm
        drawn += mm
    return SimulationResult(sample_sizes=stop, confirmed=done, cap=cap)

"""Sample-size planning, the way officials plan workload: how many ballots to pull.

Four bases, named in every estimate's ``basis``:

* ``"closed form"``: the Kaplan-Markov / super-simple size (Stark 2010) with errors at the
  assumed rates.
* ``"expected-rate path"`` (comparison audits with no discrepancies assumed): the first n at
  which the *expected* log of the method's own test statistic (the same bets as
  :func:`tallyproof.audit.risk.measure_risk`, with the history at its expected value) reaches
  log(1/alpha). With no discrepancies the stopping time is not random, so this is exact;
  fast enough to plan hundreds of contests in well under a second.
* ``"stopping-time distribution"``: the ``quantile`` (default ``DEFAULT_PLAN_QUANTILE`` =
  0.9: a 90% chance of finishing in one round) of the stopping time, i.e. the smallest n by
  which the audit stops with probability >= q.

  - Comparison audits (kelly, alpha, betting, agrapa) with assumed discrepancy rates.
    Discrepancies come whole and at random places, and one early in the sample costs far
    more than its share, so a path that spreads them fractionally planned below the chance
    of finishing, 1-22% below SHANGRLA's simulated plans. ``reps`` simulated audits with the
    discrepancies at exact random positions (:mod:`tallyproof.audit.stopping`; draw by draw
    through ``simulate.py`` when they are many), as SHANGRLA's ``sample_size(reps=...,
    quantile=...)`` plans.
  - Polling audits (bravo; alpha, betting, agrapa), ballots drawn from a population with
    the reported shares (or the assumed ones given). BRAVO's average sample number is a
    mean of a right-skewed distribution (about half of the audits planned at it need a
    second round; the 0.9-quantile is about twice it), and the expected-rate path was a
    typical figure, not a chance. BRAVO (with replacement) and ALPHA with eta fixed at the
    reported mean sampling with replacement (which is BRAVO on the diluted margin) are
    computed exactly by dynamic programming on the lattice of (winner, loser) counts
    (:mod:`tallyproof.audit.polling_stopping`; simulated with a 95% interval past
    ``DP_MAX_PAIRS`` = 600,000 pair draws). ALPHA sampling without replacement takes that with-replacement quantile
    while it is at most ``WOR_BOUND_FRACTION`` of the ballots (an upper bound:
    :func:`_polling_quantile`); the others, and larger samples without replacement, are
    simulated (``reps`` audits, fixed seed) and reported with a 95% interval for the
    quantile. Polling plans, and comparison plans' stopping times, are cached within the
    process.
* ``"simulation"``: the ``quantile`` of the sample size over ``reps`` simulated
  Kaplan-Markov audits (vectorised, fixed seed), when a quantile is asked for.

Discrepancies ``o1, o2, u1, u2`` are *rates per ballot examined* (e.g. 0.001 = one in a
thousand ballots has a one-vote overstatement), except for Kaplan-Markov with
``error_counts=True``, where they are counts expected in the sample (as in Stark's
super-simple calculator).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import UsageError
from .bravo import bravo_log_factors
from .options import PLAN_METHODS
from .kaplan_markov import (
    DEFAULT_GAMMA,
    kaplan_markov_log_factors,
    kaplan_markov_sample_size,
    stark_sample_size,
    stark_sample_size_from_rates,
)
from .risk import expected_log_factors
from .simulate import (
    MethodSpec,
    Population,
    SimulationResult,
    comparison_population,
    polling_population,
    simulate,
)
from .polling_stopping import binom_ppf, quantile_interval, walk_stopping_quantile
from .stopping import StoppingTimes, comparison_stopping_times

__all__ = [
    "SampleSizeEstimate",
    "estimate_sample_size",
    "plan_for_assertion",
    "margin_from_votes",
    "no_error_floor",
    "DEFAULT_METHODS",
    "PLAN_METHODS",
    "KM_FORMULAS",
    "DEFAULT_PLAN_QUANTILE",
]

#: tallyproof's default risk-measuring method per audit kind (see docs/audit-math.md).
DEFAULT_METHODS = {"polling": "alpha", "comparison": "kelly"}
_POLLING_ONLY = {"bravo"}
_COMPARISON_ONLY = {"kaplan-markov", "kelly", "cobra"}
_WITH_REPLACEMENT_CAP = 10_000_000
#: Kaplan-Markov closed forms: "exact" = the smallest n with P(n) <= alpha; "stark" = the
#: published first-order formula of Stark's super-simple calculator and Arlo (Stark 2010).
KM_FORMULAS = ("exact", "stark")


@dataclass(frozen=True)
class SampleSizeEstimate:
    """A planned sample size and how it was obtained.

    ``sample_size`` is None when the audit is not expected to confirm the outcome at all
    (the assumed errors overturn it, or it would need more ballots than there are): plan a
    full hand count. ``expected`` is the closed-form or simulated mean when one is known.
    """

    sample_size: int | None
    method: str
    audit: str
    risk_limit: float
    margin: float
    quantile: float | None
    basis: str
    ballots: int | None
    expected: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "sample_size": self.sample_size,
            "full_hand_count": self.sample_size is None,
            "method": self.method,
            "audit": self.audit,
            "risk_limit": self.risk_limit,
            "margin": self.margin,
            "quantile": self.quantile,
            "basis": self.basis,
            "ballots": self.ballots,
            "expected": self.expected,
            **self.details,
        }


def margin_from_votes(votes: Mapping[str, int], ballots: int | None = None
                      ) -> tuple[float, float, int]:
    """(diluted margin, winner's share of the top two's votes, ballots) from vote totals.

    The diluted margin is (winner - runner-up) / ballots, ballots defaulting to the sum of
    the votes (every ballot shows exactly one of the candidates).
    """
    if len(votes) < 2:
        raise UsageError("need votes for at least two candidates")
    if any(v < 0 for v in votes.values()):
        raise UsageError("vote counts must be non-negative")
    top = sorted(votes.values(), reverse=True)
    total = sum(votes.values())
    n_ballots = total if ballots is None else ballots
    if n_ballots < top[0] + top[1]:
        raise UsageError(f"{n_ballots} ballots cannot hold {top[0] + top[1]} votes for the top two")
    if top[0] == top[1]:
        raise UsageError("the top two candidates are tied: no outcome to audit")
    return (top[0] - top[1]) / n_ballots, top[0] / (top[0] + top[1]), n_ballots


def no_error_floor(margin: float, risk_limit: float, *, N: int | None = None) -> int | None:
    """Fewest cards that can confirm a comparison assertion with diluted margin v when no
    card shows an error, or None if even a full count of N cards cannot.

    A clean card has comparison-assorter value x = 1/(2 - v) (SHANGRLA §3.2) and no betting
    factor exceeds x/mu_i (everything bet, lambda = 1/mu_i). With replacement mu_i = 1/2, so
    the floor is ceil(ln(1/alpha) / ln(2/(2 - v))). Without replacement from N cards,
    mu_i = (N/2 - (i - 1) x)/(N - i + 1) (Stark 2023, ALPHA §2.2.1) falls as clean cards are
    drawn, so the first n with sum ln(x/mu_i) >= ln(1/alpha) can be smaller: the
    with-replacement figure is then not a floor.
    """
    if not 0 < margin < 2 or not 0 < risk_limit < 1:
        raise UsageError("need 0 < margin < 2 and 0 < risk limit < 1")
    x = 1.0 / (2.0 - margin)
    threshold = math.log(1.0 / risk_limit)
    with_replacement = math.ceil(threshold / math.log(2.0 * x) - 1e-12)
    if N is None:
        return with_replacement
    m = min(N, with_replacement)
    i = np.arange(1, m + 1, dtype=float)
    mu_i = (N / 2.0 - (i - 1) * x) / (N - i + 1)
    with np.errstate(divide="ignore"):
        log_t = np.cumsum(np.where(mu_i > 0, np.log(x / np.maximum(mu_i, 1e-300)), np.inf))
    hit = np.flatnonzero(log_t >= threshold - 1e-12)
    return int(hit[0]) + 1 if hit.size else None


def _path_sample_size(pop: Population, spec: MethodSpec, risk_limit: float, cap: int,
                      mu: float = 0.5) -> int | None:
    """First n at which the expected log of the method's T reaches log(1/alpha) along the
    expected-rate path (``risk.expected_log_factors``); None if not by ``cap``."""
    probs = pop.probs if pop.probs is not None else pop.counts / pop.counts.sum()
    threshold = math.log(1 / risk_limit)
    if spec.kind in ("bravo", "kaplan-markov"):  # fixed bets: a constant expected step
        if spec.kind == "bravo":
            per = bravo_log_factors(pop.values, float(spec.params["winner_share"]))
        else:
            if pop.overstatement is None:
                raise UsageError("Kaplan-Markov needs a comparison population")
            per = kaplan_markov_log_factors(pop.overstatement, float(spec.params["margin"]),
                                            float(spec.params.get("gamma", DEFAULT_GAMMA)))
        step = float(np.dot(probs, per))
        if step <= 0:
            return None
        n = math.ceil(threshold / step - 1e-9)
        return n if n <= cap else None
    N = pop.N if spec.use_N else None
    # every factor depends only on its own draw's expected history, and T on the factors
    # before it, so a longer path starts with the shorter one: start short, grow 4x
    length = min(cap, 256)
    while True:
        lf = expected_log_factors(pop.values, probs, length, upper=pop.upper, N=N,
                                  method=spec.kind, mu=mu, **spec.params)
        with np.errstate(invalid="ignore"):
            path = np.cumsum(lf)
        hit = np.flatnonzero(path >= threshold)
        if hit.size:
            return int(hit[0]) + 1
        if length >= cap:
            return None
        length = min(cap, length * 4)


def _method_params(method: str, audit: str, pop: Population, margin: float,
                   winner_share: float, gamma: float) -> MethodSpec:
    if method == "bravo":
        return MethodSpec(method, "bravo", {"winner_share": winner_share}, use_N=False)
    if method == "kaplan-markov":
        return MethodSpec(method, "kaplan-markov", {"margin": margin, "gamma": gamma}, use_N=False)
    if method == "alpha":
        if audit == "polling":
            # eta0 = the reported mean of the polling assorter, kept fixed (huge d).
            return MethodSpec(method, "alpha", {"eta0": pop.true_mean(), "d": ALPHA_POLLING_D})
        # Comparison: the assorter's mean is barely above 1/2, so eta must start near the
        # upper bound for ALPHA to bet hard (our fixed choice; kelly is the default).
        return MethodSpec(method, "alpha", {"eta0": 0.9 * pop.upper + 0.1 * pop.true_mean(),
                                            "d": 1000.0})
    if method == "cobra":
        method = "kelly"
    return MethodSpec(method, method, {})


#: Methods whose comparison plans with assumed discrepancies come from the distribution of
#: stopping times (:mod:`tallyproof.audit.stopping`).
RANDOM_STOP_METHODS = ("kelly", "cobra", "alpha", "betting", "agrapa")
#: The quantile planned when discrepancies make the stopping time random and none is asked
#: for: a 90% chance of finishing in one round (as Arlo's 90% option); the median would
#: send officials back for a second round about half the time.
DEFAULT_PLAN_QUANTILE = 0.9
#: Above this many discrepancies expected within the planning horizon, stopping times are
#: simulated draw by draw instead of on the lattice (whose size grows with their number).
_LATTICE_MAX_ERRORS = 40

#: The "betting" method's fixed bet with replacement in a polling audit: lam_frac / mu with
#: the default lam_frac = 1/2 and mu = 1/2 (:func:`tallyproof.audit.risk.measure_risk`).
_POLLING_BET = 1.0

#: ALPHA's shrinkage weight for polling audits. d -> infinity fixes eta at the reported mean
#: (Stark 2023, Section 2.5.2: d trades adaptivity for efficiency when the reported results
#: are right); with replacement that is exactly BRAVO, and without replacement it examined
#: fewer ballots than BRAVO in every cell of benchmarks/bench_audit.py (docs/audit-math.md).
ALPHA_POLLING_D = 1e12


def estimate_sample_size(
    method: str,
    *,
    risk_limit: float,
    margin: float | None = None,
    votes: Mapping[str, int] | None = None,
    ballots: int | None = None,
    gamma: float = DEFAULT_GAMMA,
    o1: float = 0.0,
    o2: float = 0.0,
    u1: float = 0.0,
    u2: float = 0.0,
    error_counts: bool = False,
    quantile: float | None = None,
    audit: str | None = None,
    reps: int = 400,
    seed: int | None = None,
    km_formula: str = "exact",
    assumed_votes: Mapping[str, int] | None = None,
) -> SampleSizeEstimate:
    """Plan the sample size of a two-candidate (or winner vs runner-up) contest.

    Give ``margin`` (the diluted margin: (winner - runner-up) / ballots) or ``votes``.
    ``ballots`` is the number of ballot cards in the population; with it, methods that use
    the population size sample without replacement (BRAVO and Kaplan-Markov never do).
    ``quantile`` None plans ``DEFAULT_PLAN_QUANTILE`` of the stopping time for polling
    audits and for comparison audits with discrepancy rates, the closed form for
    Kaplan-Markov and the expected-rate path for comparison audits without discrepancies; a
    number in (0, 1) plans that quantile (simulated ``reps`` audits, or exactly where the
    stopping time is a random walk on a lattice: see the module docstring).
    ``km_formula`` picks the Kaplan-Markov closed form (``KM_FORMULAS``): "exact" (the
    smallest n with P <= alpha, e.g. 478 at alpha 10%, margin 1%) or "stark" (Stark 2010's
    published formula n = max(o1+o2+u1+u2, ceil(-2 gamma (ln alpha + o1 ln(1 - 1/(2 gamma))
    + o2 ln(1 - 1/gamma) + u1 ln(1 + 1/(2 gamma)) + u2 ln(1 + 1/gamma)) / v)), which uses
    ln(1 - v/(2 gamma)) ~ -v/(2 gamma) and so prints 479 there, as his calculator and Arlo do).

    Polling audits plan the ``quantile`` (default ``DEFAULT_PLAN_QUANTILE``) of the stopping
    time (:func:`_polling_plan`): ballots are drawn from a population whose shares are the
    reported ones, or ``assumed_votes`` (the same names as ``votes``, counts out of the same
    ballots) when given, while the test still bets on the reported ones.
    """
    method = method.lower()
    if method not in PLAN_METHODS:
        raise UsageError(f"unknown method {method!r}; choose from {', '.join(PLAN_METHODS)}")
    if audit is None:
        audit = "polling" if method in _POLLING_ONLY else "comparison"
    if audit not in ("polling", "comparison"):
        raise UsageError(f"audit must be 'polling' or 'comparison', not {audit!r}")
    wrong_kind = _POLLING_ONLY if audit == "comparison" else _COMPARISON_ONLY
    if method in wrong_kind:
        raise UsageError(f"method {method!r} does not apply to a {audit} audit")
    if not 0 < risk_limit < 1:
        raise UsageError(f"risk limit must be in (0, 1), got {risk_limit}")
    if quantile is not None and not 0 < quantile < 1:
        raise UsageError(f"quantile must be in (0, 1), got {quantile}")
    if (margin is None) == (votes is None):
        raise UsageError("give exactly one of margin or votes")
    if votes is not None:
        margin, share, ballots = margin_from_votes(votes, ballots)
        top = sorted(votes.values(), reverse=True)
        # the fractions straight from the counts: share * fraction would round differently
        win_frac, lose_frac = top[0] / ballots, top[1] / ballots
        fraction = (top[0] + top[1]) / ballots
    elif margin is not None:
        share, fraction = (1 + margin) / 2, 1.0
        win_frac, lose_frac = share, 1.0 - share
    if not 0 < margin < 1:
        raise UsageError(f"margin must be in (0, 1), got {margin}")
    if ballots is not None and ballots < 1:
        raise UsageError("ballots must be positive")
    if min(o1, o2, u1, u2) < 0:
        raise UsageError("discrepancy rates must be non-negative")
    if km_formula not in KM_FORMULAS:
        raise UsageError(f"Kaplan-Markov formula must be one of {', '.join(KM_FORMULAS)}, "
                         f"not {km_formula!r}")
    if km_formula != "exact" and (method != "kaplan-markov" or quantile is not None):
        raise UsageError("the Kaplan-Markov formula applies to the kaplan-markov closed form only")
    if error_counts and method != "kaplan-markov":
        raise UsageError("error counts are only meaningful for the Kaplan-Markov closed form; "
                         "give rates per ballot")
    if audit == "polling" and max(o1, o2, u1, u2) > 0:
        raise UsageError("discrepancy rates apply to comparison audits only")

    common: dict[str, Any] = dict(method=method, audit=audit, risk_limit=risk_limit,
                                  margin=margin, ballots=ballots)
    details: dict[str, Any] = (
        {"o1": o1, "o2": o2, "u1": u1, "u2": u2} if audit == "comparison"
        else {"winner_share": share, "ballot_fraction": fraction})
    if method == "kaplan-markov":
        details["gamma"] = gamma
        if quantile is None:
            details["formula"] = ("Stark 2010 super-simple (first-order, as Arlo)"
                                  if km_formula == "stark" else "exact smallest n")
    cap = ballots if ballots is not None else _WITH_REPLACEMENT_CAP

    if quantile is None and method == "kaplan-markov":
        errs = dict(gamma=gamma, o1=o1, o2=o2, u1=u1, u2=u2)
        try:
            if km_formula == "exact":
                n = kaplan_markov_sample_size(margin, risk_limit, rates=not error_counts, **errs)
            elif error_counts:
                n = stark_sample_size(margin, risk_limit, **errs)
            else:
                n = stark_sample_size_from_rates(margin, risk_limit, **errs)
        except UsageError:
            n = None
        return SampleSizeEstimate(sample_size=n if n is not None and n < cap else None,
                                  quantile=None, basis="closed form", details=details, **common)

    if audit == "polling":
        true_w, true_l = win_frac, lose_frac
        if assumed_votes is not None:
            true_w, true_l = _assumed_fractions(votes, assumed_votes, ballots)
            details["assumed_votes"] = dict(assumed_votes)
        q = DEFAULT_PLAN_QUANTILE if quantile is None else quantile
        return _polling_plan(method, q, share=share, reported=(win_frac, lose_frac),
                             true=(true_w, true_l), cap=cap, reps=reps, seed=seed,
                             details=details, common=common)
    if assumed_votes is not None:
        raise UsageError("assumed votes apply to polling audits; comparison audits take "
                         "discrepancy rates")
    pop = comparison_population(margin, o1=o1, o2=o2, u1=u1, u2=u2, N=ballots)
    spec = _method_params(method, audit, pop, margin, share, gamma)
    if pop.true_mean() <= 0.5:
        return SampleSizeEstimate(sample_size=None, quantile=quantile, basis="assumed rates",
                                  details={**details,
                                           "reason": "the assumed errors overturn the outcome"},
                                  **common)
    rates = {"o1": o1, "o2": o2, "u1": u1, "u2": u2}
    if audit == "comparison" and spec.kind in RANDOM_STOP_METHODS and max(rates.values()) > 0:
        # the stopping time is random: plan its quantile (module docstring, "stopping times")
        q = DEFAULT_PLAN_QUANTILE if quantile is None else quantile
        path = _path_sample_size(pop, spec, risk_limit, cap)
        horizon = min(cap, 4 * path if path is not None else 1024)
        seeded = {} if seed is None else {"seed": seed}
        st = _comparison_stops(  # rare discrepancies: the fast lattice
            margin, risk_limit, spec.kind, tuple(sorted(rates.items())), ballots, cap, reps,
            horizon, tuple(sorted(spec.params.items())), seed, _LATTICE_MAX_ERRORS)
        if st is not None:
            n_q, confirmed, sizes = st.quantile(q), st.confirmed, st.sizes
        else:  # many discrepancies: draw by draw (simulate.py), the same distribution
            sim = simulate(pop, [spec], risk_limit=risk_limit, reps=reps,
                           max_n=None if ballots is not None else cap, **seeded)
            confirmed, sizes = sim.confirmed[spec.name], sim.sample_sizes[spec.name]
            n_q = sim.quantile(spec.name, q)
            n_q = n_q if n_q < sim.cap or bool(confirmed.all()) else None
        return SampleSizeEstimate(
            sample_size=n_q, quantile=q, basis="stopping-time distribution",
            expected=float(sizes.mean()),
            details={**details, "reps": reps, "confirm_rate": float(confirmed.mean())},
            **common)
    if quantile is None:
        n = _path_sample_size(pop, spec, risk_limit, cap)
        return SampleSizeEstimate(sample_size=n, quantile=None, basis="expected-rate path",
                                  details=details, **common)
    sim = simulate(pop, [spec], risk_limit=risk_limit, reps=reps,
                   max_n=None if ballots is not None else cap,
                   **({} if seed is None else {"seed": seed}))
    q = sim.quantile(spec.name, quantile)
    confirmed = sim.confirmed[spec.name]
    n_out = q if q < sim.cap or bool(confirmed.all()) else None
    return SampleSizeEstimate(sample_size=n_out, quantile=quantile, basis="simulation",
                              expected=sim.mean(spec.name),
                              details={**details, "reps": reps,
                                       "confirm_rate": float(confirmed.mean())}, **common)


@lru_cache(maxsize=4096)
def _comparison_stops(margin: float, risk_limit: float, method: str,
                      rates: tuple[tuple[str, float], ...], ballots: int | None, cap: int,
                      reps: int, horizon: int, params: tuple[tuple[str, Any], ...],
                      seed: int | None, max_errors: float) -> StoppingTimes | None:
    """:func:`tallyproof.audit.stopping.comparison_stopping_times` for hashable arguments,
    cached within the process: contests with the same margin and rates have the same
    stopping times (the seed is fixed), and the audit workflow re-plans the same assertions
    every round. Every input is an argument (``max_errors`` too, so a changed limit is not
    served from the cache); the arrays returned are read-only, so no caller can change a
    cached plan."""
    st = comparison_stopping_times(
        margin, risk_limit=risk_limit, method=method, rates=dict(rates), N=ballots, cap=cap,
        reps=reps, horizon=horizon, params=dict(params), max_errors=max_errors,
        **({} if seed is None else {"seed": seed}))
    if st is not None:
        st.sizes.setflags(write=False)
        st.confirmed.setflags(write=False)
    return st


def _assumed_fractions(votes: Mapping[str, int] | None, assumed: Mapping[str, int],
                       ballots: int | None) -> tuple[float, float]:
    """True fractions of all ballots for the reported winner and runner-up under the
    assumed vote counts (same names as the reported ones, out of the same ballots)."""
    if votes is None or ballots is None:
        raise UsageError("assumed votes need the reported votes (--votes) to name the winner "
                         "and the runner-up")
    if set(assumed) != set(votes):
        raise UsageError("assumed votes must name the same candidates as the reported votes")
    if any(v < 0 for v in assumed.values()):
        raise UsageError("assumed vote counts must be non-negative")
    ranked = sorted(votes, key=lambda name: votes[name], reverse=True)
    winner, loser = ranked[0], ranked[1]
    if assumed[winner] + assumed[loser] > ballots:
        raise UsageError(f"{ballots} ballots cannot hold {assumed[winner] + assumed[loser]} "
                         "assumed votes for the top two")
    return assumed[winner] / ballots, assumed[loser] / ballots


def _wald_asn(log_up: float, log_down: float, winner: float, loser: float,
              risk_limit: float) -> float | None:
    """BRAVO's average sample number by Wald's approximation (LSY 2012, Section 5) with
    per-ballot log factors ``log_up`` (winner) and ``log_down`` (loser) and true fractions
    of all ballots; None without upward drift (the mean is then infinite)."""
    drift = winner * log_up + loser * log_down
    if drift <= 0:
        return None
    return (math.log(1 / risk_limit) + log_up / 2) / drift


def _polling_plan(method: str, q: float, *, share: float, reported: tuple[float, float],
                  true: tuple[float, float], cap: int, reps: int, seed: int | None,
                  details: dict[str, Any], common: dict[str, Any]) -> SampleSizeEstimate:
    """The q-quantile of a polling audit's stopping time, ballots drawn with the ``true``
    fractions (winner, runner-up) and the test betting on the ``reported`` ones.

    The figures come from :func:`_polling_quantile`, a pure function of hashable arguments
    cached within the process: the audit workflow plans the same assertions every round."""
    risk_limit, ballots = common["risk_limit"], common["ballots"]
    true_w, true_l = true
    if true_w <= true_l:
        return SampleSizeEstimate(sample_size=None, quantile=q, basis="assumed shares",
                                  details={**details, "reason": "the assumed shares overturn "
                                           "the outcome"}, **common)
    n, expected, extra = _polling_quantile(method, q, share, reported, true, cap, reps, seed,
                                           risk_limit, ballots)
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in extra}
    return SampleSizeEstimate(sample_size=n, quantile=q, basis="stopping-time distribution",
                              expected=expected, details={**details, **out}, **common)


#: Sampling without replacement, ALPHA's polling plan is the quantile of its stopping time
#: *with* replacement (exact on the lattice) when that is at most this fraction of the
#: ballots: an upper bound for sampling without (docs/audit-math.md, "Planning"), tight
#: when the sample is a small part of the population. Above it the audits without
#: replacement are simulated, so a plan near the population size is not needlessly large.
WOR_BOUND_FRACTION = 0.10
#: The basis named in a plan taken from the with-replacement stopping time.
WOR_BOUND_BASIS = ("quantile q of the stopping time with replacement, an upper bound for "
                   "sampling without")


@lru_cache(maxsize=4096)
def _polling_quantile(method: str, q: float, share: float, reported: tuple[float, float],
                      true: tuple[float, float], cap: int, reps: int, seed: int | None,
                      risk_limit: float, ballots: int | None
                      ) -> tuple[int | None, float | None, tuple[tuple[str, Any], ...]]:
    """(plan, expected, details as sorted pairs) for :func:`_polling_plan`.

    BRAVO, and with replacement ALPHA with eta fixed at the reported mean (BRAVO on the
    diluted margin: a winner ballot multiplies T by 1 + m, a loser by 1 - m; Stark 2023,
    Section 2.4) and fixed bets (1 +- lambda/2), are random walks computed exactly on the
    lattice of counts (:mod:`tallyproof.audit.polling_stopping`). ALPHA without
    replacement takes the with-replacement quantile when it is at most
    ``WOR_BOUND_FRACTION`` of the ballots (an upper bound, ``WOR_BOUND_BASIS``). The rest
    (adaptive bets, and large samples without replacement) are simulated (``reps``
    audits, fixed seed) and reported with a 95% interval for the quantile."""
    true_w, true_l = true
    seeded = {} if seed is None else {"seed": seed}
    m_reported = reported[0] - reported[1]
    walk: tuple[float, float] | None = None  # (log factor of a winner, of a loser ballot)
    if method == "bravo":
        walk = (math.log(2 * share), math.log(2 * (1 - share)))
    elif method == "alpha":  # without replacement: a candidate upper bound, checked below
        walk = (math.log(1 + m_reported), math.log(1 - m_reported))
    elif method == "betting" and ballots is None:  # the fixed bet lambda = lam_frac / mu
        walk = (math.log(1 + _POLLING_BET / 2), math.log(1 - _POLLING_BET / 2))
    if walk is not None:
        stop = walk_stopping_quantile(*walk, true_w, true_l, risk_limit=risk_limit, q=q,
                                      cap=cap, **seeded)
        n = stop.sample_size if stop.sample_size is not None and stop.sample_size < cap else None
        bound = method == "alpha" and ballots is not None
        if not bound or (n is not None and n <= WOR_BOUND_FRACTION * ballots):
            extra: dict[str, Any] = {
                "computed": stop.computed, "sampling": "with replacement",
                "stop_probability": stop.prob,
                "expected_basis": "Wald's approximation (Lindeman, Stark & Yates 2012, "
                                  "Section 5)"}
            if bound:
                extra.update(sampling="without replacement", plan_basis=WOR_BOUND_BASIS,
                             stop_probability_with_replacement=extra.pop("stop_probability"))
                extra.pop("expected_basis")
            if stop.interval is not None:
                extra.update(reps=stop.reps, quantile_interval_95=tuple(stop.interval))
            else:
                extra["truncated_mass"] = stop.dropped
            asn = None if bound else _wald_asn(*walk, true_w, true_l, risk_limit)
            return n, asn, tuple(sorted(extra.items()))
    pop = polling_population(true_w, true_l, N=ballots)
    reported_mean = (1 + m_reported) / 2
    params: dict[str, Any] = ({"eta0": reported_mean, "d": ALPHA_POLLING_D}
                              if method == "alpha" else {})
    spec = MethodSpec(method, method, params)
    def run(n_reps: int) -> SimulationResult:
        # the audits need only run until the upper end of the quantile's interval stopped;
        # without replacement every audit of a true winner stops before the last ballot
        until = min(1.0, (binom_ppf(0.975, n_reps, q) + 1) / n_reps)
        return simulate(pop, [spec], risk_limit=risk_limit, reps=n_reps,
                        max_n=None if ballots is not None else cap, until=until,
                        vectorised_draws=True, **seeded)

    sim = run(reps)
    sizes, confirmed = sim.sample_sizes[method], sim.confirmed[method]
    n_q = sim.quantile(method, q)
    n_out = n_q if n_q < sim.cap or bool(confirmed.all()) else None
    lo, hi = quantile_interval(sizes, q)
    extra = {"computed": "simulated",
             "sampling": "without replacement" if ballots is not None else "with replacement",
             "reps": reps, "stop_probability": float((confirmed & (sizes <= n_q)).mean()),
             "quantile_interval_95": (lo, hi)}
    return n_out, None, tuple(sorted(extra.items()))


def plan_for_assertion(
    margin: float,
    upper: float,
    N: int | None,
    risk_limit: float,
    method: str,
    error_rates: Mapping[str, float] | None = None,
    quantile: float | None = None,
    *,
    audit: str | None = None,
) -> int | None:
    """Planned total sample size for one SHANGRLA assertion, or None (full hand count).

    ``margin`` is the reported assorter margin v = 2 mean(A) - 1 over the ``N`` cards (or
    None: with replacement), ``upper`` the assorter's upper bound u. Comparison audits
    (the default for every method but "bravo"/"alpha" with ``audit="polling"``) use the
    comparison assorter with upper bound 2/(2 - v/u), so the plan depends on v/u;
    ``error_rates`` maps "o1", "o2", "u1", "u2" to rates per ballot.
    """
    method = method.lower()
    if audit is None:  # callers should say; the guess follows the workflow's defaults
        polling_like = method == "bravo" or (method == "alpha" and error_rates is None)
        audit = "polling" if polling_like else "comparison"
    if not upper > 0:
        raise UsageError(f"assorter upper bound must be positive, got {upper}")
    if margin <= 0:
        return None
    rates = dict(error_rates or {})
    unknown = set(rates) - {"o1", "o2", "u1", "u2"}
    if unknown:
        raise UsageError(f"unknown error-rate keys: {', '.join(sorted(unknown))}")
    # polling: the assorter's margin as a fraction of its range (exact for u = 1)
    v = margin / upper
    if v >= 1:
        return 1
    est = estimate_sample_size(method, risk_limit=risk_limit, margin=v, ballots=N, audit=audit,
                               quantile=quantile, **{k: float(x) for k, x in rates.items()})
    return est.sample_size


"""Risk-measuring functions: test supermartingales for the SHANGRLA half-average null.

SHANGRLA (Stark 2020, "Sets of half-average nulls generate risk-limiting audits") reduces
every assertion to: the mean of a list of N assorter values in [0, u] is at most mu (= 1/2).
A nonnegative supermartingale T_j with T_0 = 1 under that null gives, by Ville's inequality,
P(max_j T_j >= 1/alpha) <= alpha, so ``p = min(1, 1 / max_j T_j)`` is an anytime-valid
p-value (the audit's measured risk).

Every method here is a betting martingale (Waudby-Smith & Ramdas 2021, "Estimating means of
bounded random variables by betting", JRSS-B; applied to RLAs in Waudby-Smith, Sridhar, Stark &
Ramdas 2021, "RiLACS", E-Vote-ID)::

    T_j = prod_{i<=j} (1 + lambda_i (X_i - mu_i)),   0 <= lambda_i <= 1/mu_i,

with a bet lambda_i chosen from X_1..X_{i-1} only (predictable), which is what keeps the
risk limit whatever the bets are. Sampling without replacement from a population of N uses
the mean of the *remaining* values under the null (Stark 2023, ALPHA, Section 2.2.1)::

    mu_i = (N mu - sum_{k<i} X_k) / (N - i + 1).

If mu_i < 0 (or mu_i = 0 and a positive value is drawn) the null is impossible (T = inf);
if mu_i > u the null is certainly true from then on (T is set to 0 for the rest of the
sample, which is conservative).

Methods (``measure_risk(method=...)``):

* ``"alpha"``: ALPHA (Stark 2023, "ALPHA: Audit that Learns from Previously Hand-Audited
  Ballots", Ann. Appl. Stat. 17(1)), factor ``(X eta/mu + (u - X)(u - eta)/(u - mu)) / u``
  (Section 2.3), i.e. lambda = (eta/mu - 1)/(u - mu), with the truncated shrinkage estimator
  of Section 2.5.2: ``eta_i = min(u (1 - eps), max((d eta0 + S_{i-1}) / (d + i - 1),
  mu_i + c / sqrt(d + i - 1)))``.
* ``"betting"``: a fixed bet ``lam`` (a multiple of 1/mu_i given by ``lam_frac`` if ``lam``
  is not given).
* ``"agrapa"``: approximate GRAPA bets (Waudby-Smith & Ramdas 2021, Section B.3):
  ``lambda_i = clip((m_{i-1} - mu_i) / (s2_{i-1} + (m_{i-1} - mu_i)^2), 0, c_grapa / mu_i)``
  from running (shrunk) mean and variance estimates.
* ``"kelly"`` (alias ``"cobra"``): for comparison audits, the Kelly-optimal bet given
  discrepancy-rate estimates (Spertus 2023, "COBRA: Comparison-Optimal Betting for Risk-
  limiting Audits", Section 3): the values of the comparison assorter take few values
  ``b_k = (1 - omega_k/u_A) u / 2`` (two-vote overstatement, one-vote overstatement, none,
  one-vote understatement, two-vote understatement); the rates p_k are shrunk toward prior
  rates (``p_k = (d p0_k + n_k) / (d + i - 1)``, adaptive, as in COBRA's adaptive bets) and
  lambda_i maximises ``sum_k p_k log(1 + lambda (b_k - mu_i))`` on [0, (1 - eps)/mu_i].
  Defaults: prior rates ``COMPARISON_PRIOR`` (two-vote overstatements 1e-5, one-vote 1e-3),
  d = 1000, eps = 1e-4; chosen with ``benchmarks/bench_audit.py`` (docs/audit-math.md).
  The bets are valid whatever the true rates: the prior only affects efficiency.

Everything is vectorised over a leading "replicate" axis so that simulation (``simulate.py``)
and measuring one audit share the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError

__all__ = [
    "RiskResult",
    "WorstOrderRisk",
    "measure_risk",
    "worst_order_risk",
    "lattice_log_factors",
    "lattice_bets",
    "lattice_step_factors",
    "log_factors",
    "expected_log_factors",
    "METHODS",
    "COMPARISON_PRIOR",
    "comparison_support",
    "support_bucket",
]

METHODS = ("alpha", "betting", "agrapa", "kelly", "cobra")

#: Default prior rates for "kelly" bets, per ballot: two-vote overstatement, one-vote
#: overstatement, none, one-vote understatement, two-vote understatement.
COMPARISON_PRIOR: tuple[float, float, float, float, float] = (1e-5, 1e-3, 0.0, 0.0, 0.0)

_EPS = 1e-4
_CLEAN_INDEX = 2  # "no discrepancy" in the comparison support (o2, o1, none, u1, u2)


@dataclass(frozen=True)
class RiskResult:
    """The measured risk of one audit: ``p_value`` = min(1, 1 / max_j T_j), the history
    ``p_history[j]`` = min(1, 1 / max_{i<=j} T_i), and the method used."""

    p_value: float
    p_history: np.ndarray = field(repr=False)
    method: str

    def __repr__(self) -> str:  # numpy arrays make the default repr unreadable
        return (f"RiskResult(p_value={self.p_value:.6g}, n={self.p_history.size}, "
                f"method={self.method!r})")


def comparison_support(upper: float) -> np.ndarray:
    """Values of a comparison assorter with upper bound ``upper`` = 2/(2 - v/u_A), for
    overstatements omega/u_A = 1, 1/2, 0, -1/2, -1 (SHANGRLA, Stark 2020, Section 3.2)."""
    return np.array([0.0, 0.25, 0.5, 0.75, 1.0]) * upper


def support_bucket(x: np.ndarray, upper: float) -> np.ndarray:
    """Index (0..4) of the comparison-support value at or below each x: a value between two
    support points counts as the more severe discrepancy, so Kelly bets never under-react
    to discrepancies that are not exactly one or two votes (e.g. assorters with u != 1)."""
    return np.clip(np.floor(np.asarray(x, dtype=float) * 4.0 / upper + 1e-9), 0, 4).astype(np.int64)


def _mu_from(s_prev: np.ndarray, j: np.ndarray, mu: float, N: int | None) -> np.ndarray:
    """mu_i, the null mean of what is left before draw i (Stark 2023, Section 2.2.1);
    constant with replacement."""
    if N is None:
        return np.full(np.broadcast(s_prev, j).shape, float(mu))
    remaining = N - j + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(remaining > 0, (N * mu - s_prev) / np.maximum(remaining, 1), np.nan)


def _kelly_lambda(p: np.ndarray, mu_i: np.ndarray, upper: float, eps: float) -> np.ndarray:
    """argmax over [0, (1 - eps)/mu_i] of sum_k p_k log(1 + lambda (b_k - mu_i)) on the
    comparison support b (COBRA, Spertus 2023, Section 3): bisection on the decreasing
    derivative sum_k p_k (b_k - mu_i) / (1 + lambda (b_k - mu_i)).

    Speed without changing a bit of the result: p_k (b_k - mu_i) is computed once, the
    derivative's terms are added in the order of the support (as a sum over it would add
    them), and a support point with p_k = 0 throughout (e.g. understatements, with the
    default prior and none seen) is left out: its terms are exact zeros, because under the
    cap 1 + lambda (b_k - mu_i) >= 1 - lambda mu_i >= eps > 0 (so not when eps < 1e-12)."""
    support = comparison_support(upper)
    diff = support.reshape((-1,) + (1,) * mu_i.ndim) - mu_i[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        hi = (1 - eps) / mu_i
    hi = np.where(np.isfinite(hi) & (hi > 0), hi, 0.0)
    pd = p * diff
    rows = [k for k in range(support.size) if eps < 1e-12 or np.any(p[k] != 0)]
    if not rows:  # no mass at all: every bet's derivative is zero
        rows = [_CLEAN_INDEX]
    terms = [(pd[k], diff[k]) for k in rows]

    def slope(lam: np.ndarray) -> np.ndarray:
        total = terms[0][0] / (1 + lam * terms[0][1])
        for num, dk in terms[1:]:
            total = total + num / (1 + lam * dk)
        return total

    top_ok = slope(hi) >= 0  # still increasing at the cap: bet the cap
    lo = np.zeros_like(hi)
    up = hi.copy()
    for _ in range(32):  # bracket width (1/mu) 2^-32: far below any effect on T
        mid = (lo + up) / 2
        pos = slope(mid) > 0
        np.copyto(lo, mid, where=pos)
        np.copyto(up, mid, where=~pos)
    lam = np.where(top_ok, hi, lo)
    return np.where(slope(np.zeros_like(hi)) <= 0, 0.0, lam)


def _kelly_prior(params: Mapping[str, Any]) -> np.ndarray:
    prior = np.asarray(params.get("prior", COMPARISON_PRIOR), dtype=float)
    if prior.shape != (5,) or np.any(prior < 0) or prior.sum() - prior[2] >= 1:
        raise UsageError("kelly prior: five rates (o2, o1, none, u1, u2), >= 0, summing < 1")
    prior = prior.copy()
    prior[2] = 1.0 - (prior.sum() - prior[2])
    return prior


def _bets(method: str, *, mu_i: np.ndarray, upper: float, mu: float, j: np.ndarray,
          s_prev: np.ndarray, sq_prev: np.ndarray, counts_prev: np.ndarray | None,
          params: Mapping[str, Any]) -> np.ndarray:
    """The bet lambda_i for every draw from the history before it (predictable)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "alpha":
            eta0 = float(params.get("eta0", (mu + upper) / 2))
            d = float(params.get("d", 100.0))
            c = float(params.get("c", (eta0 - mu) / 2))
            eps = float(params.get("eps", _EPS))
            est = (d * eta0 + s_prev) / (d + j - 1)
            eta = np.minimum(upper * (1 - eps), np.maximum(est, mu_i + c / np.sqrt(d + j - 1)))
            return (eta / mu_i - 1.0) / (upper - mu_i)
        if method == "betting":
            if "lam" in params:
                return np.minimum(np.asarray(params["lam"], dtype=float), 1.0 / mu_i)
            return float(params.get("lam_frac", 0.5)) / mu_i
        if method == "agrapa":
            m0 = float(params.get("prior_mean", mu))
            v0 = float(params.get("prior_var", upper**2 / 4))
            d = float(params.get("d", 10.0))
            m = (d * m0 + s_prev) / (d + j - 1)
            s2 = np.maximum((d * (v0 + m0**2) + sq_prev) / (d + j - 1) - m * m, 1e-12)
            lam = (m - mu_i) / (s2 + (m - mu_i) ** 2)
            return np.clip(lam, 0.0, float(params.get("c_grapa", 0.99)) / mu_i)
        if method in ("kelly", "cobra"):
            prior = _kelly_prior(params)
            d = float(params.get("d", 1000.0))
            if counts_prev is None:
                raise UsageError("kelly bets need discrepancy counts")
            shape = (-1,) + (1,) * (counts_prev.ndim - 1)
            p = (d * prior.reshape(shape) + counts_prev) / (d + j - 1)
            p = p / p.sum(axis=0, keepdims=True)
            return _kelly_lambda(p, mu_i, upper, float(params.get("eps", _EPS)))
    raise UsageError(f"unknown risk method {method!r}; choose from {', '.join(METHODS)}")


def _finish(logf_raw: np.ndarray, x: np.ndarray, mu_i: np.ndarray, upper: float) -> np.ndarray:
    # the null is impossible once the remaining mean would have to be negative, or zero
    # while a positive value is drawn
    logf = np.where((mu_i < 0) | ((mu_i <= 0) & (x > 0)), np.inf, logf_raw)
    # ... and certainly true once it would have to exceed the upper bound
    above = mu_i > upper
    certainly_true = np.maximum.accumulate(above, axis=-1) if above.shape[-1] else above
    return np.where(certainly_true, -np.inf, logf)


def log_factors(
    x: np.ndarray,
    *,
    upper: float,
    N: int | None,
    method: str = "alpha",
    mu: float = 0.5,
    state: Mapping[str, Any] | None = None,
    **params: Any,
) -> np.ndarray:
    """log of each martingale factor, shape of ``x`` (last axis = draw order).

    ``state`` carries sums from earlier blocks (``sum``, ``sumsq``, ``counts``, ``j``) so a
    long sequence can be processed in blocks (see ``simulate.py``).
    """
    x = np.asarray(x, dtype=float)
    method = method.lower()
    if method not in METHODS:
        raise UsageError(f"unknown risk method {method!r}; choose from {', '.join(METHODS)}")
    st = dict(state or {})
    start_j = int(st.get("j", 0))
    j = start_j + np.arange(1, x.shape[-1] + 1)
    s_prev = np.asarray(st.get("sum", 0.0), dtype=float)[..., None] + np.cumsum(x, axis=-1) - x
    sq = x * x
    sq_prev = np.asarray(st.get("sumsq", 0.0), dtype=float)[..., None] + np.cumsum(sq, axis=-1) - sq
    counts_prev = None
    if method in ("kelly", "cobra"):
        bucket = support_bucket(x, upper)
        hits = np.stack([bucket == k for k in range(5)])
        counts_prev = np.cumsum(hits, axis=-1) - hits
        if st.get("counts") is not None:
            counts_prev = counts_prev + np.moveaxis(np.asarray(st["counts"]), -1, 0)[..., None]
    mu_i = _mu_from(s_prev, j, mu, N)
    lam = _bets(method, mu_i=mu_i, upper=upper, mu=mu, j=j, s_prev=s_prev, sq_prev=sq_prev,
                counts_prev=counts_prev, params=params)
    return _finish(_log_step(lam, x, mu_i), x, mu_i, upper)


def _log_step(lam: np.ndarray, x: np.ndarray, mu_i: np.ndarray) -> np.ndarray:
    """log(1 + lambda (x - mu_i)) with a non-finite or negative bet taken as no bet."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lam = np.where(np.isfinite(lam), np.maximum(lam, 0.0), 0.0)
        return np.log(np.maximum(1.0 + lam * (x - mu_i), 0.0))


def expected_log_factors(
    values: np.ndarray,
    probs: np.ndarray,
    n: int,
    *,
    upper: float,
    N: int | None,
    method: str = "alpha",
    mu: float = 0.5,
    **params: Any,
) -> np.ndarray:
    """E[log factor] of draws 1..n when every draw has the category distribution ``probs``
    over ``values`` and the history is at its expected value (S_{i-1} = (i-1) E[X], counts
    = (i-1) p). Summing gives the planning path of ``plan.py``: smooth in the rates, so
    rates too small to produce a whole error before the audit ends still cost ballots."""
    method = method.lower()
    if method not in METHODS:
        raise UsageError(f"unknown risk method {method!r}; choose from {', '.join(METHODS)}")
    values = np.asarray(values, dtype=float)
    probs = np.asarray(probs, dtype=float)
    j = np.arange(1, n + 1, dtype=float)
    mean, mean_sq = float(probs @ values), float(probs @ values**2)
    s_prev, sq_prev = (j - 1) * mean, (j - 1) * mean_sq
    counts_prev = None
    if method in ("kelly", "cobra"):
        bucket = support_bucket(values, upper)
        rate = np.array([probs[bucket == k].sum() for k in range(5)])
        counts_prev = rate[:, None] * (j - 1)[None, :]
    mu_i = _mu_from(s_prev, j, mu, N)
    lam = _bets(method, mu_i=mu_i, upper=upper, mu=mu, j=j, s_prev=s_prev, sq_prev=sq_prev,
                counts_prev=counts_prev, params=params)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lam = np.where(np.isfinite(lam), np.maximum(lam, 0.0), 0.0)
        terms = np.log(np.maximum(1.0 + lam[None, :] * (values[:, None] - mu_i[None, :]), 0.0))
        terms = np.where(probs[:, None] > 0, terms, 0.0)
        expected = (probs[:, None] * terms).sum(axis=0)
    return _finish(expected, np.full(n, mean), mu_i, upper)


def measure_risk(
    x: np.ndarray,
    *,
    upper: float,
    N: int | None,
    method: str = "alpha",
    mu: float = 0.5,
    with_replacement: bool = False,
    **params: Any,
) -> RiskResult:
    """Measured risk (p-value) of the half-average null ``mean <= mu`` given assorter values
    ``x`` in [0, upper] in sample order.

    ``N`` is the population size (None, or ``with_replacement=True``, for sampling with
    replacement). ``params`` tune the method (see the module docstring): ``eta0``, ``d``,
    ``c``, ``eps`` for ALPHA; ``lam``/``lam_frac`` for fixed bets; ``prior`` (five rates) and
    ``d`` for Kelly/COBRA bets.

    Example: twenty ballots that all show the reported winner, a fixed bet lambda = 1.8,
    sampling with replacement: ``p = (1 + 1.8 * 0.5) ** -20 = 2.6e-6``.
    """
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise UsageError("x must be a one-dimensional array of assorter values")
    if not upper > 0 or not 0 < mu < upper:
        raise UsageError(f"need 0 < mu < upper, got mu={mu}, upper={upper}")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > upper * (1 + 1e-12))
    if bad.any():
        raise UsageError(f"assorter values must lie in [0, {upper}]")
    pop = None if with_replacement else N
    if pop is not None and arr.size > pop:
        raise UsageError(f"{arr.size} draws without replacement from a population of {pop}")
    logf = log_factors(arr, upper=upper, N=pop, method=method, mu=mu, **params)
    with np.errstate(invalid="ignore"):
        log_t = np.cumsum(logf)
    log_t = np.where(np.isnan(log_t), -np.inf, log_t)
    running = np.maximum.accumulate(log_t) if arr.size else log_t
    p_hist = np.minimum(1.0, np.exp(-running))
    p = float(p_hist[-1]) if arr.size else 1.0
    return RiskResult(p_value=p, p_history=p_hist, method=method.lower())


#: Beyond this many lattice states (orders of discrepancy counts × sample size) the exact
#: search is refused: give the sequence instead.
WORST_ORDER_MAX_STATES = 4_000_000
_BIG = 1e4  # |log T| beyond this is p = 0 or T = 0 for every purpose; keeps sums exact


def lattice_log_factors(values: np.ndarray, fixed: Mapping[int, int], chain: int, M: int,
                        k: int, *, upper: float, N: int | None, method: str, mu: float = 0.5,
                        **params: Any) -> np.ndarray:
    """log factor of drawing ``values[k]`` from each lattice state (``fixed[kk]`` draws of
    every value kk != chain, m draws of ``values[chain]``) for m = 0..M.

    Every method bets from the counts drawn so far, so this is the same factor
    :func:`log_factors` applies along any path through that state. A null made impossible
    gives +BIG, one made certainly true -BIG (so sums stay finite; |log T| >= BIG/2 means
    p = 0 or T = 0)."""
    bets = lattice_bets(values, fixed, chain, M, upper=upper, N=N, method=method, mu=mu,
                        **params)
    return lattice_step_factors(bets, float(values[k]), upper)


def lattice_bets(values: np.ndarray, fixed: Mapping[int, int], chain: int, M: int, *,
                 upper: float, N: int | None, method: str, mu: float = 0.5,
                 **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """(lambda_i, mu_i) at each lattice state of :func:`lattice_log_factors`: the bet and the
    null mean depend on the state only, not on the value drawn next, so callers that need
    the factors of several values from the same states compute them once."""
    c = np.zeros((values.size, M + 1))
    for kk, cnt in fixed.items():
        c[kk] = cnt
    c[chain] = np.arange(M + 1, dtype=float)
    j = c.sum(axis=0) + 1
    s_prev, sq_prev = values @ c, (values * values) @ c
    counts_prev = None
    if method in ("kelly", "cobra"):
        counts_prev = np.zeros((5, M + 1))
        np.add.at(counts_prev, support_bucket(values, upper), c)
    mu_i = _mu_from(s_prev, j, mu, N)
    lam = _bets(method, mu_i=mu_i, upper=upper, mu=mu, j=j, s_prev=s_prev, sq_prev=sq_prev,
                counts_prev=counts_prev, params=params)
    return lam, mu_i


def lattice_step_factors(bets: tuple[np.ndarray, np.ndarray], value: float,
                         upper: float) -> np.ndarray:
    """log factor of drawing ``value`` with the bets of :func:`lattice_bets` (clipped as
    :func:`lattice_log_factors` says)."""
    lam, mu_i = bets
    x = np.full(mu_i.shape, value)
    logf = _log_step(lam, x, mu_i)
    logf = np.where((mu_i < 0) | ((mu_i <= 0) & (x > 0)), np.inf, logf)
    logf = np.where(mu_i > upper, -np.inf, logf)  # the null is certainly true from here
    return np.clip(np.nan_to_num(logf, nan=0.0, posinf=_BIG, neginf=-_BIG), -_BIG, _BIG)


@dataclass(frozen=True)
class WorstOrderRisk:
    """The measured risk of a sample known only by its counts of each kind of value.

    ``p_value`` holds whatever order the values were drawn in: it is at least the p-value
    of every order (an upper bound on the largest), ``exact`` says whether some order
    attains it (then it *is* the largest), ``attained`` is the p-value of the worst order
    tried (the most damaging values first).
    """

    p_value: float
    exact: bool
    attained: float


def worst_order_risk(
    values: np.ndarray,
    counts: np.ndarray,
    *,
    upper: float,
    N: int | None,
    method: str,
    mu: float = 0.5,
    **params: Any,
) -> WorstOrderRisk:
    """Largest measured risk over every order of a sample with ``counts[k]`` draws of
    assorter value ``values[k]``.

    Adaptive bets (ALPHA, AGRAPA, Kelly/COBRA) depend on the order, so counts alone do not
    determine ``measure_risk``'s p-value. Every method here bets from the history's counts,
    so each draw's log factor is a function of the counts drawn before it (a lattice state)
    and of the value drawn; ``log T_n`` of an order is a sum along a monotone lattice path.
    The smallest ``log T_n`` over all paths is a shortest path (dynamic programming over
    the lattice, vectorised along the most frequent value's axis with a min-plus scan), and
    since ``max_j T_j >= T_n`` for every order, ``min(1, 1 / min T_n)`` is at least every
    order's p-value. The most damaging order (lowest values first) is measured too; when it
    attains the bound (the usual case: discrepancies first, then the clean ballots), the
    bound is exact.
    """
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    if values.shape != counts.shape or values.ndim != 1 or np.any(counts < 0):
        raise UsageError("values and counts must be two equal-length lists, counts >= 0")
    n = int(counts.sum())
    if n == 0:
        return WorstOrderRisk(1.0, True, 1.0)
    method = method.lower()
    chain = int(np.argmax(counts))
    others = [k for k in range(values.size) if k != chain and counts[k] > 0]
    M = int(counts[chain])
    dims = tuple(int(counts[k]) + 1 for k in others)
    if math.prod(dims) * (M + 1) > WORST_ORDER_MAX_STATES:
        raise UsageError("too many discrepancies to bound the risk over every order; "
                         "measure it from the sequence of values in draw order")
    def step(d: tuple[int, ...], k: int) -> np.ndarray:
        return lattice_log_factors(values, dict(zip(others, d, strict=True)), chain, M, k,
                                   upper=upper, N=N, method=method, mu=mu, **params)

    def entries(d: tuple[int, ...]) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        """b_m, the smallest log T entering (d, m) from another combination, and the
        candidates it is the minimum of (value drawn, log T through it)."""
        b = np.full(M + 1, np.inf)
        if not any(d):
            b[0] = 0.0
        cands = []
        for i, k in enumerate(others):
            if d[i]:
                pred = d[:i] + (d[i] - 1,) + d[i + 1:]
                cands.append((i, best[pred] + step(pred, k)))
                b = np.minimum(b, cands[-1][1])
        return b, cands

    best = np.empty(dims + (M + 1,))
    for d in np.ndindex(*dims):
        b, _ = entries(d)
        # along the chain: a_m = min(a_{m-1} + g_m, b_m) = G_m + min_{i<=m} (b_i - G_i)
        g = np.concatenate(([0.0], np.cumsum(step(d, chain)[:-1])))
        best[d] = g + np.minimum.accumulate(b - g)
    end = tuple(x - 1 for x in dims)
    low = float(best[end + (M,)])
    if low <= -_BIG / 2:
        bound = 1.0
    elif low >= _BIG / 2:
        bound = 0.0
    else:
        bound = min(1.0, math.exp(-low))

    # the order the shortest path takes (walked back from the end), and lowest values first
    path: list[int] = []
    d, m = end, M
    while any(d) or m:
        b, cands = entries(d)
        g = np.concatenate(([0.0], np.cumsum(step(d, chain)[:-1])))
        i0 = int(np.argmin((b - g)[: m + 1]))  # where the chain segment ending at m starts
        path.extend([chain] * (m - i0))
        m = i0
        if not any(d) and m == 0:
            break
        i, _ = min(cands, key=lambda c: float(c[1][m]))
        path.append(others[i])
        d = d[:i] + (d[i] - 1,) + d[i + 1:]
    shortest = values[np.array(path[::-1], dtype=np.int64)]
    order = np.argsort(values, kind="stable")
    lowest_first = np.repeat(values[order], counts[order])
    attained = max(measure_risk(seq, upper=upper, N=N, method=method, mu=mu, **params).p_value
                   for seq in (shortest, lowest_first))
    return WorstOrderRisk(p_value=bound, exact=attained >= bound * (1 - 1e-9),
                          attained=attained)

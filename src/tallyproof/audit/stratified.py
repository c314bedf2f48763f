"""Stratified audits: a CVR stratum (comparison) and a no-CVR stratum (polling), combined.

Spertus & Stark (2022), "Sweeter than SUITE: Supermartingale Stratified Union-Intersection
Tests of Elections", E-Vote-ID (LNCS 13553). For an assertion with assorter A ∈ [0, u], the
null "mean of A over all N = N₁ + N₂ cards ≤ 1/2" is the union over θ = (θ₁, θ₂) with
N₁θ₁ + N₂θ₂ = N/2 of the intersection nulls "mean in stratum k ≤ θ_k" (§2; larger θ only
make each null easier to keep, so the boundary suffices). For each θ the strata are sampled
independently, each has an ALPHA test supermartingale T_k(θ_k) (Stark 2023), and the product
T₁T₂ has expectation ≤ 1 under the intersection null, so p(θ) = min(1, 1/(T₁T₂)) (§3,
"product" combining). The union's p-value is max_θ p(θ), taken here over a grid of θ₁ values
(the paper also maximises over a grid; ``grid`` sets its size).

Stratum 1 (CVRs): with overstatements ω = A(cvr) − A(paper) and the stratum's reported mean
Ā₁ᶜ, "true mean ≤ θ₁" ⟺ "mean of y = u − ω ≤ u − (Ā₁ᶜ − θ₁)", y ∈ [0, 2u] (SHANGRLA §3.2's
comparison transform with the null shifted to θ₁). Stratum 2 (no CVRs): the assorter values
of the paper, null mean θ₂.

A batch comparison stratum (a county with batch tallies only, SHANGRLA §3.3,
:mod:`tallyproof.audit.batch`) is the comparison transform with whole batches as units: with
B batches, N cards, batch overstatements ω_b = (B/N)(S_b^c − S_b) (so mean_b ω_b = Āᶜ − Ā)
and τ = u·B·max_b n_b / N ≥ |ω_b|, "true mean ≤ θ" ⟺ "mean of τ − ω ≤ τ − (Āᶜ − θ)",
y ∈ [0, 2τ]: the same test with τ for u, B units for the supermartingale and N cards for the
stratum's weight in N₁θ₁ + N₂θ₂ = N/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AuditError
from .assorters import Assertion, ContestVotes
from .risk import log_factors


@dataclass(frozen=True)
class StratumSample:
    """One stratum's sample in draw order.

    ``kind`` "comparison": ``values`` are overstatements ω ∈ [−u, u] and ``reported_mean`` is
    the mean of A over the stratum's CVRs. ``kind`` "polling": ``values`` are A(paper) ∈ [0, u].
    ``kind`` "batch": ``values`` are batch overstatements ω_b ∈ [−τ, τ] (module docstring),
    ``N`` the number of batches, ``cards`` the stratum's cards and ``upper`` τ.
    """

    kind: str
    N: int
    values: np.ndarray
    reported_mean: float | None = None
    cards: int | None = None  # the stratum's weight (cards) when its units are not cards
    upper: float | None = None  # bound of |values| when it is not the assorter's u

    @property
    def weight(self) -> int:
        return self.N if self.cards is None else self.cards


@dataclass(frozen=True)
class StratifiedResult:
    p_value: float
    theta: tuple[float, float]  # the stratum null means where the p-value is largest
    grid: int


def _log_t(s: StratumSample, theta: float, upper: float, method: str) -> float:
    """log T_n of the stratum's supermartingale for null mean ``theta`` (−∞/∞ at the edges)."""
    x = np.asarray(s.values, dtype=float)
    upper = upper if s.upper is None else s.upper
    if s.kind in ("comparison", "batch"):
        if s.reported_mean is None:
            raise AuditError("a comparison stratum needs its reported assorter mean")
        y = upper - x
        eta = upper - (s.reported_mean - theta)
        top = 2.0 * upper
    elif s.kind == "polling":
        y, eta, top = x, theta, upper
    else:
        raise AuditError(f"unknown stratum kind {s.kind!r}")
    if len(y) == 0:
        return 0.0
    if eta >= top:  # the null is certainly true: no evidence against it
        return 0.0
    if eta <= 0:  # the null needs every value to be 0
        return 0.0 if np.all(y <= 0) else np.inf
    logf = log_factors(y, upper=top, N=s.N, method=method, mu=eta)
    # Once the stratum's null is certainly true (the remaining cards could not lift its mean
    # to the null's: mu_i > upper, Stark 2023 §2.2.1) stop betting, i.e. freeze T (λ = 0 is
    # predictable and keeps T a supermartingale). The risk module sets T to 0 there, which
    # is valid alone but would void the other stratum's evidence in the product.
    j = np.arange(1, len(y) + 1)
    mu_i = (s.N * eta - (np.cumsum(y) - y)) / (s.N - j + 1)
    frozen = np.maximum.accumulate(mu_i > top)
    return float(np.sum(np.where(frozen, 0.0, logf)))


def stratified_risk(
    cvr: StratumSample,
    no_cvr: StratumSample,
    *,
    upper: float,
    method: str = "alpha",
    grid: int = 201,
) -> StratifiedResult:
    """Union-intersection p-value for "overall mean of A ≤ 1/2" (module docstring)."""
    n1, n2 = cvr.weight, no_cvr.weight
    n = n1 + n2
    if n1 <= 0 or n2 <= 0:
        raise AuditError("both strata must contain cards")
    # θ₁ range so that θ₂ = (N/2 − N₁θ₁)/N₂ stays in [0, u]
    lo = max(0.0, (n / 2 - n2 * upper) / n1)
    hi = min(upper, (n / 2) / n1)
    worst_p, worst = 0.0, (lo, (n / 2 - n1 * lo) / n2)
    for t1 in np.linspace(lo, hi, grid):
        t2 = (n / 2 - n1 * t1) / n2
        total = _log_t(cvr, float(t1), upper, method) + _log_t(no_cvr, float(t2), upper, method)
        p = 1.0 if total <= 0 else float(min(1.0, np.exp(-total)))
        if p > worst_p or (p == worst_p and worst_p == 0.0):
            worst_p, worst = p, (float(t1), float(t2))
        if worst_p >= 1.0:
            break
    return StratifiedResult(worst_p, worst, grid)


def stratified_assertion_risk(
    assertion: Assertion,
    *,
    cvr_stratum_cvrs: ContestVotes,
    cvr_stratum_sample: np.ndarray,
    cvr_stratum_paper: ContestVotes,
    no_cvr_paper: ContestVotes,
    n_cvr: int,
    n_no_cvr: int,
    method: str = "alpha",
    grid: int = 201,
) -> StratifiedResult:
    """Risk of one assertion from both strata's samples (draw order).

    ``cvr_stratum_cvrs`` holds the CVRs of *every* card of the CVR stratum (for its reported
    mean, cards beyond them in ``n_cvr`` counting 1/2), ``cvr_stratum_sample`` the row indices
    of the sampled cards in it, ``cvr_stratum_paper`` their paper readings in the same order,
    and ``no_cvr_paper`` the paper readings of the no-CVR stratum's sample.
    """
    a_cvr = assertion.assort(cvr_stratum_cvrs)
    reported_mean = (float(a_cvr.sum()) + 0.5 * (n_cvr - len(a_cvr))) / n_cvr
    omega = a_cvr[cvr_stratum_sample] - assertion.assort(cvr_stratum_paper)
    return stratified_risk(
        StratumSample("comparison", n_cvr, omega, reported_mean=reported_mean),
        StratumSample("polling", n_no_cvr, assertion.assort(no_cvr_paper)),
        upper=assertion.upper, method=method, grid=grid,
    )

"""The distribution of a comparison audit's stopping time when discrepancies are rare.

Why: a plan that spreads the assumed discrepancies fractionally over the sample (the
expected-rate path of :mod:`tallyproof.audit.plan`) is a typical figure, not a chance of
finishing: real discrepancies come whole and at random places, and one early in the sample
costs far more than its share. Officials want "how many ballots give us a q chance of
finishing in one round", i.e. the q-quantile of the stopping time (SHANGRLA's
``sample_size(..., reps, quantile)`` plans the same way, by simulation).

How, fast: every method here bets from the counts drawn so far
(:func:`tallyproof.audit.risk.lattice_log_factors`), so log T along an audit is a sum over
lattice states. With discrepancies rare, a simulated audit is a few runs of clean ballots
between a few discrepancies: for each combination d of discrepancy counts met, the cumulative
log factors of clean draws G_d[m] (and the factor of each kind of discrepancy from each state)
are computed once, vectorised, and every replicate is then a handful of slices of those
arrays. The positions of the discrepancies are exact: with replacement, each draw is a
discrepancy of kind k with probability ``rate_k``; without replacement, the counts among the
first H draws are multivariate hypergeometric from ``round(rate_k N)`` and their positions a
uniformly random subset. Replicates that have not stopped by the horizon H extend it (up to
the cap: N, or the with-replacement cap), so every size reported is the true stopping time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError
from .risk import comparison_support, lattice_log_factors

__all__ = ["StoppingTimes", "comparison_stopping_times"]

SEED = 20_231_104  # fixed: plans must be reproducible
_CLEAN = 2  # index of "no discrepancy" in the comparison support (o2, o1, clean, u1, u2)
_KINDS = (0, 1, 3, 4)


@dataclass(frozen=True)
class StoppingTimes:
    """Stopping time of each replicate (``cap`` where it did not confirm) and whether it
    confirmed."""

    sizes: np.ndarray
    confirmed: np.ndarray
    cap: int

    def quantile(self, q: float) -> int | None:
        """The q-quantile of the stopping time (the "higher" order statistic, so at least a
        fraction q of replicates stop by it), or None if that needs a full count."""
        n = int(np.quantile(self.sizes, q, method="higher"))
        return n if n < self.cap or bool(self.confirmed.all()) else None


class _Lattice:
    """Cached log factors over the lattice of (discrepancy counts, clean draws) states."""

    def __init__(self, values: np.ndarray, H: int, risk: Mapping[str, Any]) -> None:
        self.values, self.H, self.risk = values, H, risk
        self._clean: dict[tuple[int, ...], np.ndarray] = {}
        self._step: dict[tuple[tuple[int, ...], int], np.ndarray] = {}

    def clean(self, d: tuple[int, ...]) -> np.ndarray:
        """G_d[m] = log T gained by m clean draws from the state (d, 0)."""
        got = self._clean.get(d)
        if got is None:
            f = lattice_log_factors(self.values, dict(zip(_KINDS, d, strict=True)), _CLEAN,
                                    self.H, _CLEAN, **self.risk)
            got = np.concatenate(([0.0], np.cumsum(f[:-1])))
            self._clean[d] = got
        return got

    def step(self, d: tuple[int, ...], k: int) -> np.ndarray:
        got = self._step.get((d, k))
        if got is None:
            got = lattice_log_factors(self.values, dict(zip(_KINDS, d, strict=True)), _CLEAN,
                                      self.H, k, **self.risk)
            self._step[(d, k)] = got
        return got


def _walk(lat: _Lattice, events: list[tuple[int, int]], threshold: float) -> int | None:
    """Draws until log T first reaches ``threshold`` for one replicate whose discrepancies
    (draw index, kind) are ``events`` (sorted), or None if not within the horizon."""
    d = (0, 0, 0, 0)
    log_t, m, pos = 0.0, 0, 0
    for p, k in [*events, (lat.H, -1)]:
        g = lat.clean(d)
        run = g[m + 1: m + (p - pos) + 1] + (log_t - g[m])
        hit = np.flatnonzero(run >= threshold)
        if hit.size:
            return pos + int(hit[0]) + 1
        log_t += g[m + (p - pos)] - g[m]
        m += p - pos
        pos = p
        if k < 0:
            return None
        log_t += float(lat.step(d, k)[m])
        pos += 1
        i = _KINDS.index(k)
        d = d[:i] + (d[i] + 1,) + d[i + 1:]
        if log_t >= threshold:
            return pos
    return None  # unreachable: the sentinel event ends the loop


def comparison_stopping_times(
    margin: float,
    *,
    risk_limit: float,
    method: str,
    rates: Mapping[str, float],
    N: int | None,
    cap: int,
    reps: int = 1000,
    horizon: int = 256,
    seed: int = SEED,
    params: Mapping[str, Any] | None = None,
    max_errors: float = 40.0,
) -> StoppingTimes | None:
    """Stopping times of ``reps`` simulated comparison audits of a plurality assertion with
    diluted margin ``margin`` and discrepancy ``rates`` ("o1", "o2", "u1", "u2", per ballot),
    measured with ``method`` (a :func:`tallyproof.audit.risk.measure_risk` method) sampling
    without replacement from ``N`` cards (None: with replacement), up to ``cap`` draws.

    None when the audits run so long that more than ``max_errors`` discrepancies are expected
    within the horizon: the lattice grows with their number, so simulate those draw by draw
    (:func:`tallyproof.audit.simulate.simulate`)."""
    r = np.array([rates.get("o2", 0.0), rates.get("o1", 0.0), 0.0, rates.get("u1", 0.0),
                  rates.get("u2", 0.0)], dtype=float)
    if np.any(r < 0) or r.sum() >= 1:
        raise UsageError("discrepancy rates must be >= 0 and sum to less than 1")
    if reps < 1 or cap < 1:
        raise UsageError("need at least one replicate and a positive cap")
    upper = 2.0 / (2.0 - margin)
    values = comparison_support(upper)
    risk = {"upper": upper, "N": N, "method": method.lower(), **(params or {})}
    threshold = math.log(1.0 / risk_limit)
    counts = None
    if N is not None:
        counts = np.round(r * N).astype(np.int64)
        counts[_CLEAN] = N - (counts.sum() - counts[_CLEAN])
    H = min(cap, max(horizon, 16))
    kinds_p = r[list(_KINDS)] / r.sum() if r.sum() > 0 else None
    while True:
        if r.sum() * H > max_errors:
            return None
        rng = np.random.default_rng(seed)
        lat = _Lattice(values, H, risk)
        # discrepancies among the first H draws of every replicate: how many of each kind
        if counts is None:
            n_err = rng.binomial(H, r.sum(), size=reps)
        else:
            got = rng.multivariate_hypergeometric(counts, H, size=reps)
            n_err = got.sum(axis=1) - got[:, _CLEAN]
        clean_only = _walk(lat, [], threshold)  # shared by every replicate without any
        sizes = np.full(reps, cap, dtype=np.int64)
        confirmed = np.zeros(reps, dtype=bool)
        open_ = 0
        for rep in range(reps):
            e = int(n_err[rep])
            if e == 0:
                n = clean_only
            else:  # their positions: a uniformly random subset of the H draws
                where = np.sort(rng.choice(H, size=e, replace=False))
                if counts is None:
                    kinds = rng.choice(np.array(_KINDS), size=e, p=kinds_p)
                else:
                    kinds = rng.permutation(np.repeat(np.array(_KINDS), got[rep, list(_KINDS)]))
                n = _walk(lat, list(zip(where.tolist(), kinds.tolist(), strict=True)),
                          threshold)
            if n is not None:
                sizes[rep], confirmed[rep] = n, True
            else:
                open_ += 1
        if open_ == 0 or H >= cap:
            return StoppingTimes(sizes=sizes, confirmed=confirmed, cap=cap)
        H = min(cap, H * 4)

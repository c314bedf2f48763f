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
from .risk import comparison_support, lattice_bets, lattice_step_factors

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
    """Cached log factors over the lattice of (discrepancy counts, clean draws) states.

    The bets at a state do not depend on the value drawn next, so they are computed once per
    combination d of discrepancy counts (:func:`tallyproof.audit.risk.lattice_bets`) and
    shared by the clean run and every kind of discrepancy from it."""

    def __init__(self, values: np.ndarray, H: int, risk: Mapping[str, Any]) -> None:
        self.values, self.H, self.risk = values, H, risk
        self._bets: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._clean: dict[tuple[int, ...], np.ndarray] = {}
        self._step: dict[tuple[tuple[int, ...], int], np.ndarray] = {}

    def bets(self, d: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        got = self._bets.get(d)
        if got is None:
            got = lattice_bets(self.values, dict(zip(_KINDS, d, strict=True)), _CLEAN, self.H,
                               **self.risk)
            self._bets[d] = got
        return got

    def clean(self, d: tuple[int, ...]) -> np.ndarray:
        """G_d[m] = log T gained by m clean draws from the state (d, 0)."""
        got = self._clean.get(d)
        if got is None:
            f = lattice_step_factors(self.bets(d), float(self.values[_CLEAN]),
                                     self.risk["upper"])
            got = np.concatenate(([0.0], np.cumsum(f[:-1])))
            self._clean[d] = got
        return got

    def step(self, d: tuple[int, ...], k: int) -> np.ndarray:
        got = self._step.get((d, k))
        if got is None:
            got = lattice_step_factors(self.bets(d), float(self.values[k]), self.risk["upper"])
            self._step[(d, k)] = got
        return got


def _first_crossing(g: np.ndarray, m: np.ndarray, offset: np.ndarray, length: np.ndarray,
                    threshold: float) -> np.ndarray:
    """For every replicate, the first i < ``length`` with ``g[m + 1 + i] + offset >=
    threshold`` (a run of clean draws from lattice position m, log T = offset + g[m] before
    it), or -1. Columns are examined in blocks of doubling width, only for replicates not yet
    decided, so the work is at most about twice that of slicing each run on its own."""
    first = np.full(m.size, -1, dtype=np.int64)
    rows = np.flatnonzero(length > 0)
    start, width, last = 0, 64, g.size - 1
    while rows.size:
        cols = np.arange(start, start + width)
        idx = np.minimum(m[rows, None] + 1 + cols[None, :], last)
        hit = (g[idx] + offset[rows, None] >= threshold) & (cols[None, :] < length[rows, None])
        got = hit.any(axis=1)
        first[rows[got]] = start + hit[got].argmax(axis=1)
        start += width
        rows = rows[~got & (length[rows] > start)]
        width *= 2
    return first


def _walk_all(lat: _Lattice, where: np.ndarray, kinds: np.ndarray, threshold: float
              ) -> np.ndarray:
    """Draws until log T first reaches ``threshold`` for every replicate, or -1 if not within
    the horizon. Row r of ``where``/``kinds`` holds replicate r's discrepancies in draw order
    (draw index, kind), then the sentinel (H, -1) and any padding.

    All replicates walk together, one discrepancy at a time: those at the same lattice
    state d share its clean-run array G_d, and every replicate does exactly the floating-point
    operations, in the same order, of walking it alone (log T after a run of L clean draws
    from position m is ``log_t + (G_d[m + L] - G_d[m])``, then plus the discrepancy's log
    factor), so the stopping times are those of the replicate-by-replicate walk."""
    reps = where.shape[0]
    out = np.full(reps, -1, dtype=np.int64)
    d = np.zeros((reps, len(_KINDS)), dtype=np.int64)
    log_t = np.zeros(reps)
    m = np.zeros(reps, dtype=np.int64)
    pos = np.zeros(reps, dtype=np.int64)
    active = np.arange(reps)
    kind_col = {k: i for i, k in enumerate(_KINDS)}
    for j in range(where.shape[1]):
        if not active.size:
            break
        states, group = np.unique(d[active], axis=0, return_inverse=True)
        for gi, state in enumerate(states):
            rows = active[group.reshape(-1) == gi]
            dt = tuple(int(c) for c in state)
            g = lat.clean(dt)
            p, k = where[rows, j], kinds[rows, j]
            run = p - pos[rows]
            first = _first_crossing(g, m[rows], log_t[rows] - g[m[rows]], run, threshold)
            hit = first >= 0
            out[rows[hit]] = pos[rows[hit]] + first[hit] + 1
            rows, p, k, run = rows[~hit], p[~hit], k[~hit], run[~hit]
            log_t[rows] += g[m[rows] + run] - g[m[rows]]
            m[rows] += run
            pos[rows] = p
            rows, k = rows[k >= 0], k[k >= 0]  # the sentinel: not within the horizon
            for kind in np.unique(k).tolist():
                at = rows[k == kind]
                log_t[at] += lat.step(dt, kind)[m[at]]
                pos[at] += 1
                d[at, kind_col[kind]] += 1
            crossed = rows[log_t[rows] >= threshold]
            out[crossed] = pos[crossed]
        active = active[(out[active] < 0) & (kinds[active, j] >= 0)]
    return out


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
        # the discrepancies' positions (a uniformly random subset of the H draws) and kinds,
        # drawn replicate by replicate in a fixed order: the plan depends only on the seed
        errs = np.flatnonzero(n_err > 0)
        width = int(n_err.max()) + 1
        where = np.full((errs.size + 1, width), H, dtype=np.int64)
        kinds = np.full((errs.size + 1, width), -1, dtype=np.int64)
        kind_values = np.array(_KINDS)
        kind_counts = got[:, list(_KINDS)] if counts is not None else None
        for row, (rep, e) in enumerate(zip(errs.tolist(), n_err[errs].tolist(), strict=True)):
            at = rng.choice(H, size=e, replace=False)
            at.sort()
            where[row, :e] = at
            if kind_counts is None:
                kinds[row, :e] = rng.choice(kind_values, size=e, p=kinds_p)
            else:
                kinds[row, :e] = rng.permutation(np.repeat(kind_values, kind_counts[rep]))
        walked = _walk_all(lat, where, kinds, threshold)  # last row: no discrepancy at all
        n_all = np.full(reps, walked[-1], dtype=np.int64)
        n_all[errs] = walked[:-1]
        confirmed = n_all >= 0
        sizes = np.where(confirmed, n_all, cap).astype(np.int64)
        open_ = int((~confirmed).sum())
        if open_ == 0 or H >= cap:
            return StoppingTimes(sizes=sizes, confirmed=confirmed, cap=cap)
        H = min(cap, H * 4)

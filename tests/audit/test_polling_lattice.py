"""The blocked lattice (polling_stopping._WalkLattice) and the bracketed search for the
quantile (polling_stopping._search) that plan polling audits give the same plans as the
row-by-row lattice and the bisection over [0, cap] they replaced, kept here verbatim as the
reference (``_ReferenceLattice``, ``_reference_search``): the same quantile of the same
stopping-time distribution, checked over a grid of margins, assumed shares, ballots showing
neither, caps, risk limits and quantiles, over random cases and through the calculator;
P(K = k) agrees to rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from tallyproof.audit import polling_stopping as ps
from tallyproof.audit.plan import _polling_quantile, estimate_sample_size

_EPS = ps._EPS
_TINY = ps._TINY


class _ReferenceLattice:
    """P(K = k), the pair ballots drawn when BRAVO stops, by dynamic programming over the
    lattice of (W, L) = (winner, loser) ballots drawn, one row of W at a time.

    Row W holds Q_W[L] = P(reach (W, L) without having stopped). A loser ballot moves along
    the row and a winner ballot to the next one, so Q_W[L] = t Q_{W-1}[L] + (1 - t) Q_W[L-1],
    a first-order recursion along the row (``scipy.signal.lfilter``, in C). BRAVO stops on
    a winner ballot that brings a W + b L to ln(1/alpha), i.e. at (W, L) with
    L <= l*(W) = floor((a W - ln(1/alpha)) / -b): that mass, t Q_{W-1}[L], is P(K = W + L),
    and those cells hold nothing afterwards. Mass above the top of the window is dropped
    once below 1e-16 (only lowering P(stop), so plans only grow); ``dropped`` sums it.
    Resumable: ``advance(k_hi)`` continues from where the last call stopped."""

    def __init__(self, a: float, b: float, thr: float, t: float) -> None:
        self.a, self.b, self.thr, self.t = a, b, thr, t
        self.w = 0  # the row held
        self.l0 = 0  # L of row[0]
        # rows are padded by this many cells a step: the geometric tail beyond is < 1e-16
        self.pad = int(math.ceil(-37.0 / math.log(1 - t))) + 1 if 0 < t < 1 else 1
        # row 0: only losers drawn, nobody stops (thr > 0): P(0, L) = (1 - t)^L, trimmed
        self.row = (1 - t) ** np.arange(self.pad, dtype=float) if t < 1 else np.ones(1)
        self.pk = np.zeros(1)
        self.dropped = 0.0
        self._trim()

    def _l_star(self, w: int) -> int:
        return math.floor((self.a * w - self.thr) / -self.b + _EPS)

    def _trim(self) -> None:
        keep = np.flatnonzero(self.row >= _TINY)
        if keep.size == 0:
            self.dropped += float(self.row.sum())
            self.row = np.zeros(0)
            return
        top = int(keep[-1]) + 1
        self.dropped += float(self.row[top:].sum())
        self.row = self.row[:top]

    def advance(self, k_hi: int) -> np.ndarray:
        """P(K = k) for k = 0..k_hi (rows computed as far as any of them can change it)."""
        from scipy.signal import lfilter

        if self.pk.size < k_hi + 1:
            self.pk = np.concatenate((self.pk, np.zeros(k_hi + 1 - self.pk.size)))
        t, pad = self.t, self.pad
        # a stop from row w + 1 onwards is at k >= w + 1 + l0 (L never decreases)
        b_filter, a_filter = np.array([1.0]), np.array([1.0, -(1 - t)])
        while self.row.size and self.w + 1 + self.l0 <= k_hi:
            w = self.w + 1
            x = t * np.concatenate((self.row, np.zeros(pad)))  # arriving by a winner ballot
            cut = max(0, min(self._l_star(w) - self.l0 + 1, x.size))  # cells L <= l*(w)
            for i in range(cut):  # at most a couple of cells a row
                k = w + self.l0 + i
                if k >= self.pk.size:
                    self.pk = np.concatenate((self.pk, np.zeros(k + 1 - self.pk.size)))
                self.pk[k] += x[i]
            rest = x[cut:]
            self.row = lfilter(b_filter, a_filter, rest) if t < 1 else rest
            self.l0 += cut
            self.w = w
            if w % 16 == 0:
                self._trim()
        self._trim()
        return self.pk[: k_hi + 1]


def _reference_search(pk: np.ndarray, known: float, k_hi: int, f: float, q: float, cap: int
            ) -> tuple[int | None, float] | None:
    """(n_q, P(stop by n_q)) when P(K = k) for k <= k_hi decides the smallest n <= cap with
    P(stop by n) >= q; (None, P(stop by cap)) when it decides that there is none; None when
    the DP must be extended.

    The unknown tail k > k_hi adds at most (1 - known) P(Binomial(n, f) > k_hi) to
    P(stop by n): the known sum is a lower bound, that plus the tail an upper bound."""
    def low(n: int) -> float:
        return ps._total_draw_cdf(pk, n, f)

    def high(n: int) -> float:
        tail = float(binom.sf(k_hi, n, f)) if f < 1 else float(n > k_hi)
        return low(n) + max(1.0 - known, 0.0) * tail

    if low(cap) < q:
        return (None, low(cap)) if high(cap) < q else None
    lo_n, hi_n = 0, cap  # low(hi_n) >= q; low(lo_n) < q (low(0) = 0)
    while hi_n - lo_n > 1:
        mid = (lo_n + hi_n) // 2
        if low(mid) >= q:
            hi_n = mid
        else:
            lo_n = mid
    if lo_n >= 1 and high(lo_n) >= q:
        return None  # the draw before might already reach q: know more of the tail
    return hi_n, low(hi_n)


def _reference(a: float, b: float, thr: float, t: float, *, block: int | None = None
               ) -> _ReferenceLattice:
    """The reference in place of _WalkLattice (which takes a block size; rows have none)."""
    return _ReferenceLattice(a, b, thr, t)


def _walk(share: float) -> tuple[float, float]:
    return math.log(2 * share), math.log(2 * (1 - share))


def _both(monkeypatch: pytest.MonkeyPatch, *args: float, **kw: float
          ) -> tuple[ps.PollingStop, ps.PollingStop]:
    new = ps.walk_stopping_quantile(*args, **kw)
    with monkeypatch.context() as m:
        m.setattr(ps, "_WalkLattice", _reference)
        m.setattr(ps, "_search", _reference_search)
        old = ps.walk_stopping_quantile(*args, **kw)
    return new, old


def _same(new: ps.PollingStop, old: ps.PollingStop) -> None:
    assert new.computed == old.computed
    assert new.sample_size == old.sample_size
    if new.prob is not None and old.prob is not None:
        assert new.prob == pytest.approx(old.prob, abs=1e-12)


# (reported share of the pair, true winner fraction, true loser fraction): the reported
# shares, assumed shares closer than reported, and ballots showing neither candidate
SHARES = [(0.52, 0.52, 0.48), (0.55, 0.55, 0.45), (0.6, 0.6, 0.4), (0.75, 0.75, 0.25),
          (0.55, 0.53, 0.47), (0.6, 0.35, 0.25), (0.53, 0.4, 0.35), (0.7, 0.5, 0.3),
          (0.515, 0.515, 0.485)]


@pytest.mark.parametrize(("share", "w", "l"), SHARES)
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.25])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
@pytest.mark.slow
def test_plans_equal_the_row_by_row_lattice(monkeypatch: pytest.MonkeyPatch, share: float,
                                            w: float, l: float, alpha: float,
                                            q: float) -> None:
    for cap in (10**7, 2_000):
        new, old = _both(monkeypatch, *_walk(share), w, l, risk_limit=alpha, q=q, cap=cap)
        _same(new, old)  # (past DP_MAX_PAIRS both simulate, on the same seed)


def test_plans_equal_the_row_by_row_lattice_on_random_cases(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(20_261_206)
    sizes = []
    for _ in range(60):
        share = float(rng.uniform(0.515, 0.9))
        f = float(rng.choice([1.0, rng.uniform(0.3, 1.0)]))
        t = min(0.999, share + float(rng.uniform(-0.01, 0.03)))
        alpha = float(rng.uniform(0.005, 0.3))
        q = float(rng.uniform(0.05, 0.995))
        cap = int(rng.choice([10**7, int(rng.integers(50, 20_000))]))
        new, old = _both(monkeypatch, *_walk(share), t * f, (1 - t) * f, risk_limit=alpha,
                         q=q, cap=cap)
        _same(new, old)
        sizes.append(new.sample_size)
    assert len({s for s in sizes if s is not None}) > 40  # the cases are not all alike


@pytest.mark.parametrize(("share", "t", "alpha"), [(0.51, 0.51, 0.05), (0.6, 0.58, 0.01),
                                                   (0.53, 0.55, 0.1), (0.9, 0.9, 0.05),
                                                   (0.97, 0.999, 0.2)])
@pytest.mark.parametrize("block", [16, 32, 7])
def test_stopping_probabilities_agree_to_rounding(share: float, t: float, alpha: float,
                                                  block: int) -> None:
    a, b = _walk(share)
    thr = math.log(1 / alpha)
    k_hi = 12_000
    new = ps._WalkLattice(a, b, thr, t, block=block)
    old = _ReferenceLattice(a, b, thr, t)
    p_new = new.advance(k_hi).copy()
    p_old = old.advance(k_hi).copy()
    assert p_new.size == k_hi + 1
    assert p_old.sum() > 0.5  # most of the mass decided: the comparison means something
    assert np.abs(np.cumsum(p_new) - np.cumsum(p_old)).max() < 1e-12
    assert np.abs(p_new - p_old).max() < 1e-13
    # resumable: two calls give what one does
    again = ps._WalkLattice(a, b, thr, t, block=block)
    again.advance(k_hi // 3)
    assert np.array_equal(again.advance(k_hi), p_new)
    assert 0 <= new.dropped < 1e-10


@pytest.mark.parametrize("method", ["bravo", "alpha"])
@pytest.mark.parametrize("margin", [0.02, 0.05, 0.137, 0.3])
@pytest.mark.parametrize("ballots", [None, 1_000_000, 20_000])
def test_polling_plans_through_the_calculator(monkeypatch: pytest.MonkeyPatch, method: str,
                                              margin: float, ballots: int | None) -> None:
    # the CLI's `audit estimate` calls estimate_sample_size, so this is its path too
    kw = dict(audit="polling", risk_limit=0.05, margin=margin, ballots=ballots)
    _polling_quantile.cache_clear()
    new = estimate_sample_size(method, **kw)
    _polling_quantile.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(ps, "_WalkLattice", _reference)
        m.setattr(ps, "_search", _reference_search)
        old = estimate_sample_size(method, **kw)
    _polling_quantile.cache_clear()
    assert new.sample_size == old.sample_size
    assert new.details.get("computed") == old.details.get("computed")


def test_simulated_draws_are_unchanged() -> None:
    # simulate.py builds each block's category indices and the Kelly counts with fewer
    # passes; the seeded audits must stop where they did before (sums and first sizes
    # recorded from the code before the change, 2026-12-06)
    from tallyproof.audit.simulate import (
        MethodSpec,
        comparison_population,
        polling_population,
        simulate,
    )
    pop = polling_population(0.4, 0.3, N=50_000)
    got = simulate(pop, [MethodSpec("alpha", "alpha", {"eta0": 0.55, "d": 1e12}),
                         MethodSpec("agrapa", "agrapa")], risk_limit=0.1, reps=200,
                   vectorised_draws=True).sample_sizes
    assert int(got["alpha"].sum()) == 72_272 and got["alpha"][:6].tolist() == [
        177, 203, 475, 262, 272, 311]
    assert int(got["agrapa"].sum()) == 91_635
    cp = comparison_population(0.02, o1=0.002, u1=0.001, N=200_000)
    got = simulate(cp, [MethodSpec("kelly", "kelly"),
                        MethodSpec("km", "kaplan-markov", {"margin": 0.02}, use_N=False)],
                   risk_limit=0.05, reps=200).sample_sizes
    assert int(got["kelly"].sum()) == 67_367 and int(got["km"].sum()) == 69_685


def test_without_upward_drift_the_plan_is_simulated_as_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # assumed shares far below the reported ones (no upward drift): the boundary runs away
    # from the mass, the lattice would be slow, so past DP_MAX_PAIRS_NO_DRIFT pair draws
    # the stopping time is simulated, as it was
    new, old = _both(monkeypatch, *_walk(0.6), 0.52, 0.48, risk_limit=0.05, q=0.9,
                     cap=500_000)
    assert new.computed == "simulated" and new.sample_size is None
    _same(new, old)

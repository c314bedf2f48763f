"""The fast paths of planning compute exactly what the slow ones did (issue 11: planning a
200-contest election in < 2 s, by making the code faster, not by computing anything else).

* the replicate-by-replicate walk of ``stopping.py`` (kept here verbatim as the reference)
  and the walk of all replicates together give the same stopping times;
* the Kelly/COBRA bisection gives the same bets, bit for bit, as the sum over the support
  it replaced (kept here verbatim);
* the binomial functions taken from ``scipy.special`` are ``scipy.stats.binom``'s;
* the plans of benchmarks/bench_audit.py's 200-contest election (its first 24 contests)
  are the ones planned before the change.
"""

from __future__ import annotations

import numpy as np
import pytest

from tallyproof.audit import polling_stopping as ps
from tallyproof.audit.plan import estimate_sample_size
from tallyproof.audit.risk import _kelly_lambda, comparison_support
from tallyproof.audit.stopping import _KINDS, _Lattice, _walk_all


def _walk(lat: _Lattice, events: list[tuple[int, int]], threshold: float) -> int | None:
    """The walk of one replicate as stopping.py had it before replicates walked together."""
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


@pytest.mark.parametrize(("margin", "method", "N", "H"), [
    (0.02, "kelly", 1_000_000, 1500), (0.1, "kelly", None, 300), (0.05, "alpha", 20_000, 600),
    (0.3, "agrapa", 5_000, 64)])
def test_walk_of_all_replicates_is_the_walk_of_each(margin: float, method: str,
                                                    N: int | None, H: int) -> None:
    upper = 2.0 / (2.0 - margin)
    params = ({"eta0": 0.9 * upper + 0.1 * 0.5, "d": 1000.0} if method == "alpha" else {})
    lat = _Lattice(comparison_support(upper), H, {"upper": upper, "N": N, "method": method,
                                                  **params})
    rng = np.random.default_rng(5)
    threshold = float(np.log(20.0))
    reps, width = 300, 9
    where = np.full((reps, width), H, dtype=np.int64)
    kinds = np.full((reps, width), -1, dtype=np.int64)
    events = []
    for r in range(reps):
        e = int(rng.integers(0, width))  # some with none, some discrepancies side by side
        pos = np.sort(rng.choice(H, size=e, replace=False)) if r % 5 else np.arange(e)
        kk = rng.choice(np.array(_KINDS), size=e, p=[0.2, 0.5, 0.2, 0.1])
        where[r, :e], kinds[r, :e] = pos, kk
        events.append(list(zip(pos.tolist(), kk.tolist(), strict=True)))
    got = _walk_all(lat, where, kinds, threshold)
    want = [_walk(lat, ev, threshold) for ev in events]
    assert got.tolist() == [-1 if w is None else w for w in want]


def _kelly_reference(p: np.ndarray, mu_i: np.ndarray, upper: float, eps: float) -> np.ndarray:
    """risk._kelly_lambda before it was made faster."""
    support = comparison_support(upper)
    diff = support.reshape((-1,) + (1,) * mu_i.ndim) - mu_i[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        hi = (1 - eps) / mu_i
    hi = np.where(np.isfinite(hi) & (hi > 0), hi, 0.0)

    def slope(lam: np.ndarray) -> np.ndarray:
        return np.sum(p * diff / (1 + lam[None] * diff), axis=0)

    top_ok = slope(hi) >= 0
    lo = np.zeros_like(hi)
    up = hi.copy()
    for _ in range(32):
        mid = (lo + up) / 2
        pos = slope(mid) > 0
        lo = np.where(pos, mid, lo)
        up = np.where(pos, up, mid)
    lam = np.where(top_ok, hi, lo)
    return np.where(slope(np.zeros_like(hi)) <= 0, 0.0, lam)


def test_kelly_bets_are_bit_for_bit_the_reference() -> None:
    rng = np.random.default_rng(3)
    with np.errstate(all="ignore"):
        for t in range(160):
            M = int(rng.integers(1, 200))
            upper = 2 / (2 - rng.uniform(0.001, 0.9))
            mu = rng.uniform(-0.1, 1.2, size=M)
            if t % 7 == 0:
                mu[::5] = np.nan
            p = rng.dirichlet(np.ones(5), size=M).T
            p[rng.random(5) < 0.5] = 0.0  # support points with no mass at all
            if t % 11 == 0:
                p[:, ::3] = 0.0
            eps = (1e-4, 0.0, 1e-13, 0.3)[t % 4]
            want = _kelly_reference(p, mu, upper, eps)
            assert np.array_equal(_kelly_lambda(p, mu, upper, eps), want, equal_nan=True), t


def test_binomial_functions_are_scipy_stats() -> None:
    stats = pytest.importorskip("scipy.stats")
    for n in (0, 1, 16, 32, 400, 10_000, 250_001):
        for p in (0.0, 1e-6, 0.3, 0.5, 0.9, 0.999999, 1.0):
            k = np.arange(-2, min(n, 300) + 3)
            k_in = k[(k >= 0) & (k <= n)]
            assert np.array_equal(ps._binom_pmf(k_in, n, p), stats.binom.pmf(k_in, n, p))
            assert np.array_equal(ps._binom_sf(k, n, p), stats.binom.sf(k, n, p))
            assert float(ps._binom_sf(n // 2, n, p)) == float(stats.binom.sf(n // 2, n, p))
            for q in (1e-9, 0.025, 0.5, 0.9, 0.975, 1 - 1e-9):
                assert ps.binom_ppf(q, n, p) == float(stats.binom.ppf(q, n, p))
    k = np.arange(0, 50)  # several n at once, as bravo_round_end_probability asks
    w = np.ceil(np.linspace(-3, 30, 50))
    assert np.array_equal(ps._binom_sf(w - 1, k, 0.55), stats.binom.sf(w - 1, k, 0.55))


#: benchmarks/bench_audit.py's planning_time(): its first 24 contests, planned before the
#: fast paths (comparison: kelly, o1 = 0.001; polling: alpha), N = 1,000,000, alpha 5%.
BENCH_COMPARISON = [23, 16, 18, 60, 46, 16, 723, 17, 18, 30, 46, 50, 54, 32, 28, 25, 14, 18,
                    23, 14, 63, 82, 23, 271]
BENCH_POLLING = [188, 91, 123, 1259, 745, 98, 81678, 110, 116, 325, 735, 857, 1007, 358, 282,
                 236, 75, 116, 188, 77, 1362, 2289, 195, 16310]


def test_bench_election_plans_are_unchanged() -> None:
    margins = np.round(np.random.default_rng(7).uniform(0.01, 0.4, size=200), 4)[:24]
    comparison = [estimate_sample_size("kelly", risk_limit=0.05, margin=float(m),
                                       ballots=1_000_000, o1=0.001).sample_size
                  for m in margins]
    polling = [estimate_sample_size("alpha", audit="polling", risk_limit=0.05,
                                    margin=float(m), ballots=1_000_000).sample_size
               for m in margins]
    assert comparison == BENCH_COMPARISON
    assert polling == BENCH_POLLING


def test_comparison_stopping_times_are_cached_and_read_only() -> None:
    from tallyproof.audit import plan

    args = dict(risk_limit=0.05, margin=0.0437, ballots=200_000, o1=0.002)
    first = estimate_sample_size("kelly", **args)
    hits = plan._comparison_stops.cache_info().hits
    again = estimate_sample_size("kelly", **args)
    assert plan._comparison_stops.cache_info().hits == hits + 1
    assert again.to_json() == first.to_json()
    key = (0.0437, 0.05, "kelly", (("o1", 0.002),), 200_000, 200_000, 400, 512, (), None, 40)
    st = plan._comparison_stops(*key)
    assert st is not None and plan._comparison_stops(*key) is st
    with pytest.raises(ValueError):
        st.sizes[0] = 1



def test_a_changed_lattice_limit_is_not_served_from_the_cache(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tallyproof.audit import plan

    kw = dict(risk_limit=0.05, margin=0.05, o1=0.005, ballots=20_000, reps=200)
    lattice = estimate_sample_size("kelly", **kw)  # about 4 discrepancies in its horizon
    monkeypatch.setattr(plan, "_LATTICE_MAX_ERRORS", 2)
    drawn = estimate_sample_size("kelly", **kw)  # draw by draw: other random draws
    assert drawn.expected != lattice.expected

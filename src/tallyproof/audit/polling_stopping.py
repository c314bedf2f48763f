"""The distribution of a ballot-polling audit's stopping time, for planning.

Why: a plan is read by officials as "pull this many ballots and the audit will most likely
be over". BRAVO's average sample number (LSY 2012, Section 5) is a mean of a right-skewed
distribution: planned at the ASN, about half of the audits need a second round. The plan is
therefore the q-quantile of the stopping time (default 0.9, as Arlo's 90% option and
SHANGRLA's ``sample_size(..., quantile=...)``): the smallest n with P(audit stops by n) >= q
when ballots are drawn from a population whose true shares are the reported ones (or the
assumed ones the user gives). The audit stops at the first draw at which its test statistic
reaches 1/alpha (sequential: every ballot is looked at in draw order, as
:func:`tallyproof.audit.risk.measure_risk` measures it).

BRAVO (with replacement) is computed exactly:

* Only ballots for the winner or the loser move BRAVO's statistic: log T = a W + b L with
  a = ln(2 s), b = ln(2 (1 - s)) < 0 (s the reported share of the pair's votes). Ballots for
  neither are skipped draws. Let K be the number of pair ballots drawn when the audit stops.
  With W of them for the winner, the audit stops at the first k with W_k >= w*(k) =
  ceil((ln(1/alpha) - b k) / (a - b)); w*(k) rises by 0 or 1 per draw, so a path stops exactly
  on a winner draw that lands on the boundary. ``P(K = k)`` comes from dynamic programming
  over the lattice of (k, W): the probability of every unstopped W, moved by pair draws
  (W + 1 with the true pair share t, else W), the mass on the boundary removed and recorded
  as stopping at k. :class:`_WalkLattice` moves 16 or 32 draws per Python step, exactly:
  cells too far below the boundary to reach it in the block by one binomial convolution,
  the cells next to it by cached transfer matrices. The window of W kept is cut below where
  the mass is < 1e-16 (dropped mass only lowers P(stop), so the plan can only be larger;
  the dropped total is reported). Plans are identical to those of the row-by-row lattice
  used before (kept as the reference in tests/audit/test_polling_lattice.py).
* Total draws: the k-th pair ballot arrives at draw n with probability given by the negative
  binomial, so P(stop by n) = sum_k P(K = k) P(Binomial(n, f) >= k), f = the fraction of
  ballots with a vote for one of the two. Terms k > n vanish, so P(stop by n) is exact once
  P(K = k) is known up to k = n; the DP is extended only until the quantile is decided
  (bounds from the unknown tail included).

When the dynamic programme would need more than ``DP_MAX_PAIRS`` pair draws (margins below
about 0.45% at alpha 5%; the lattice costs about 0.2 s at a 1% margin and 1 s at 0.5% on a
loaded 2-core machine), the same stopping time is simulated instead: each replicate jumps
ahead by as many pair draws as cannot possibly reach the threshold (W advanced
binomially), then steps one draw at a time near it; the skipped draws for neither are added
from the negative binomial. Exact in distribution, seeded, and reported with a
distribution-free 95% interval for the quantile (order statistics of the binomial).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError

__all__ = [
    "PollingStop",
    "bravo_stopping_quantile",
    "walk_stopping_quantile",
    "bravo_round_end_probability",
    "quantile_interval",
    "DP_MAX_PAIRS",
    "DP_MAX_PAIRS_NO_DRIFT",
    "SIM_REPS",
    "SEED",
]

SEED = 20_231_104  # fixed: plans must be reproducible
#: Beyond this many pair draws the exact dynamic programme hands over to simulation: up to
#: here (margins down to about 0.45% at alpha 5%) the blocked lattice is faster than the
#: 10,000 simulated replicates (0.2 s at a 1% margin, 1 s at 0.5%; simulated: 1 s, 1.8 s).
DP_MAX_PAIRS = 600_000
#: The limit when the walk has no upward drift (assumed shares far below the reported
#: ones): the boundary then runs away from the mass and the window of W held grows with
#: k, so the lattice costs more per draw (4.6 s to 500,000 draws at s = 0.6, t = 0.52)
#: than the simulation (0.2 s); the limit the lattice had before it was blocked.
DP_MAX_PAIRS_NO_DRIFT = 30_000
#: Replicates of the simulated BRAVO stopping time (jumps make them cheap: about 0.3 s per
#: 2,000 at a 1% margin): the 95% interval of the 0.9-quantile is then about +-2%.
SIM_REPS = 10_000
_TINY = 1e-16
_EPS = 1e-9


@dataclass(frozen=True)
class PollingStop:
    """The planned quantile of a polling audit's stopping time and how it was computed.

    ``sample_size`` is None when the audit does not stop by ``cap`` (a full hand count) with
    probability q. ``computed`` is "exact" or "simulated"; ``interval`` is the 95% interval
    for a simulated quantile (None when exact); ``prob`` is P(stop by sample_size) (exact,
    or the fraction of replicates); ``dropped`` the probability mass the DP cut off."""

    sample_size: int | None
    quantile: float
    computed: str
    prob: float | None
    interval: tuple[int, int] | None = None
    reps: int | None = None
    dropped: float = 0.0


def quantile_interval(sizes: np.ndarray, q: float, conf: float = 0.95) -> tuple[int, int]:
    """Distribution-free ``conf`` interval for the q-quantile from i.i.d. sample ``sizes``:
    order statistics X_(j) <= xi_q <= X_(k) with j, k from the Binomial(reps, q) quantiles
    (e.g. Conover, Practical Nonparametric Statistics, Section 3.2)."""
    x = np.sort(np.asarray(sizes))
    n = x.size
    lo = int(binom_ppf((1 - conf) / 2, n, q))
    hi = int(binom_ppf(1 - (1 - conf) / 2, n, q)) + 1
    return int(x[max(lo - 1, 0)]), int(x[min(hi - 1, n - 1)])


class _WalkLattice:
    """P(K = k), the pair ballots drawn when the walk stops, by dynamic programming over
    the number of pair draws k, B draws (``BLOCK``) per step of the Python loop.

    The state after k pair draws is the vector of P(W_k = w, not stopped) over the winner
    counts w below the stopping boundary c_k. A cell (W, L) stops the audit when
    L <= l*(W) = floor((a W - ln(1/alpha)) / -b) (Lindeman, Stark & Yates 2012, BRAVO:
    its log T = a W + b L reaches ln(1/alpha)); W + l*(W) rises by at least 1 with W, so after k draws
    the stopped cells are exactly W >= c_k = min{W : W + l*(W) >= k}, c_{k+1} - c_k is 0 or
    1, and a path stops exactly when a winner draw lands it on c_k (one cell a draw).

    A block of B draws is split exactly (no approximation):

    * cells W < c_{k0} - B cannot reach c_{k0} <= c_k within the block (W rises by at most
      one a draw), so they move by the Binomial(B, t) law of the winners among B draws: one
      convolution with its pmf;
    * the B cells just below c_{k0} are moved by a matrix computed by stepping a unit mass
      from each of them through the B draws (p <- (1 - t) p + t shift(p), then the cell on
      the boundary removed and recorded as P(K = k)). The matrix depends only on the
      boundary's rises c_{k0+s} - c_{k0}, s = 1..B, so it is cached: c_k is a floor of a
      linear function of k (up to the rounding of l*), whose words of rises of length B
      number at most B + 1 (mechanical words; Lothaire, Algebraic Combinatorics on Words,
      Chapter 2). Nothing relies on that count but the speed.

    The result is the same recursion as the row-by-row lattice it replaced (the sums are
    taken in another order, so values agree to rounding; tests/audit/test_polling_lattice.py
    checks that plans are identical). Cells far below the boundary are dropped once below
    1e-16 each: dropped mass only lowers P(stop), so a plan can only grow; ``dropped`` sums
    it. Resumable: ``advance(k_hi)`` continues from where the last call stopped."""

    #: Pair draws per block: a larger B means fewer Python steps but costs ~B^4 to
    #: build the transfer matrices (at most B + 1 of B x 2B), so small plans use 16.
    BLOCK = 32

    def __init__(self, a: float, b: float, thr: float, t: float, *,
                 block: int | None = None) -> None:
        self.a, self.b, self.thr, self.t = a, b, thr, t
        if block is not None:
            self.BLOCK = block
        self.k = 0  # pair draws done
        self.w_lo = 0  # W of vec[0]
        self.c = self._boundary(np.arange(1))  # c_k for k < c.size
        self.vec = np.zeros(int(self.c[0]))  # unstopped cells W = w_lo .. c_k - 1
        if self.vec.size:
            self.vec[0] = 1.0
        self.pk = np.zeros(1)
        self.dropped = 0.0
        self._transfers: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        j = np.arange(self.BLOCK + 1)
        self._kernel = _binom_pmf(j, self.BLOCK, t) if 0 < t < 1 else (
            (j == (self.BLOCK if t >= 1 else 0)).astype(float))

    def _l_star(self, w: np.ndarray) -> np.ndarray:
        """l*(W), the same floating-point expression as the row-by-row lattice used."""
        return np.floor((self.a * w.astype(float) - self.thr) / -self.b + _EPS)

    def _boundary(self, k: np.ndarray) -> np.ndarray:
        """c_k for the given k (ascending): the first W with W + l*(W) >= k."""
        k_max = int(k[-1]) if k.size else 0
        # W + l*(W) >= W, so c_k <= k + c_0; c_0 <= ln(1/alpha)/a + 1
        w = np.arange(int(self.thr / self.a) + k_max + 3)
        s = w + self._l_star(w)
        return np.searchsorted(s, k, side="left").astype(np.int64)

    def _transfers_for(self, rises: np.ndarray) -> None:
        """Cache (A, F) for every row of ``rises`` (one block's boundary rises
        c_{k0+s} - c_{k0}, s = 1..B, a row) not cached yet, all stepped together:
        A[s - 1, j] = P(stop at draw k0 + s | start in cell c_{k0} - B + j), F[i, j] =
        P(in cell c_{k0} - B + i, unstopped, after B draws | the same)."""
        todo = {}
        for r in rises:
            key = r.tobytes()
            if key not in self._transfers:
                todo[key] = r
        if not todo:
            return
        keys = list(todo)
        top = np.stack([todo[k] for k in keys]) + self.BLOCK  # boundary cell per draw
        B, t, n = self.BLOCK, self.t, len(keys)
        p = np.zeros((n, 2 * B + 1, B))  # the boundary rises by at most B in B draws
        p[:, :B, :] = np.eye(B)
        absorbed = np.zeros((n, B, B))
        every = np.arange(n)
        for s in range(B):
            moved = (1 - t) * p
            moved[:, 1:] += t * p[:, :-1]
            # before the draw every cell is below the boundary, so after it only the
            # boundary cell itself can hold the stopped paths
            absorbed[:, s] = moved[every, top[:, s]]
            moved[every, top[:, s]] = 0.0
            p = moved
        for i, key in enumerate(keys):
            self._transfers[key] = (absorbed[i], p[i, : int(top[i, -1])])

    def advance(self, k_hi: int) -> np.ndarray:
        """P(K = k) for k = 0..k_hi (blocks run on past k_hi to the next multiple of B)."""
        B = self.BLOCK
        blocks = max(0, -(-(k_hi - self.k) // B))
        need = max(k_hi, self.k + blocks * B) + 1
        if self.pk.size < need:
            self.pk = np.concatenate((self.pk, np.zeros(need - self.pk.size)))
        if blocks and self.vec.size:
            k_end = self.k + blocks * B
            if self.c.size <= k_end:
                self.c = self._boundary(np.arange(k_end + 1))
            starts = self.k + B * np.arange(blocks)
            rises = self.c[starts[:, None] + np.arange(1, B + 1)[None, :]] - \
                self.c[starts][:, None]
            self._transfers_for(rises)
            for row in rises:
                if not self.vec.size:
                    break
                self._block(row)
        return self.pk[: k_hi + 1]

    def _block(self, rises: np.ndarray) -> None:
        """B draws from self.k (class docstring); ``rises`` as in :meth:`_transfers_for`."""
        B, k0, vec = self.BLOCK, self.k, self.vec
        c0 = int(self.c[k0])
        absorbed, final = self._transfers[rises.tobytes()]
        n_far = c0 - B - self.w_lo  # cells below c0 - B: they cannot stop in this block
        if n_far >= 0:
            near, new_lo = vec[n_far:], self.w_lo
        else:  # fewer than B cells held: the ones below w_lo are empty
            near, new_lo, n_far = np.concatenate((np.zeros(-n_far), vec)), c0 - B, 0
        np.dot(absorbed, near, out=self.pk[k0 + 1: k0 + B + 1])
        moved = final @ near  # cells c0 - B .. c_{k0+B} - 1
        if n_far:
            new = np.convolve(vec[: c0 - B - self.w_lo], self._kernel)  # n_far + B cells
            new[n_far:] += moved[:B]
            new = np.concatenate((new, moved[B:]))
        else:
            new = moved
        self.k = k0 + B
        # drop the cells far below the boundary once each is below 1e-16 (conservative)
        if new[0] < _TINY:
            big = new >= _TINY
            first = int(big.argmax()) if big[-1] or big.any() else new.size
            self.dropped += float(new[:first].sum())
            new, new_lo = new[first:], new_lo + first
        self.vec, self.w_lo = new, new_lo


def _total_draw_cdf(pk: np.ndarray, n: int, f: float) -> float:
    """sum_k P(K = k) P(Binomial(n, f) >= k) over the known k (k <= n contribute)."""
    if f >= 1.0:
        return float(pk[: n + 1].sum())
    k = np.arange(1, min(n, pk.size - 1) + 1)
    return float(np.dot(pk[k], _binom_sf(k - 1, n, f)))


def bravo_stopping_quantile(
    reported_share: float,
    winner: float,
    loser: float,
    *,
    risk_limit: float,
    q: float,
    cap: int,
    reps: int = SIM_REPS,
    seed: int = SEED,
    max_pairs: int = DP_MAX_PAIRS,
) -> PollingStop:
    """The q-quantile of BRAVO's stopping time (total ballots drawn, with replacement).

    ``reported_share`` is s, the reported winner's share of the pair's votes (the bets);
    ``winner`` and ``loser`` are the true fractions of all ballots showing each (the draws).
    ``cap`` is the most ballots the audit can draw (the population for a full hand count, or
    the planning cap). Exact by dynamic programming when at most ``max_pairs`` pair draws
    are needed, else simulated (``reps`` replicates, ``seed``).
    """
    if not 0.5 < reported_share < 1:
        raise UsageError(f"reported winner share must be in (1/2, 1), got {reported_share}")
    return walk_stopping_quantile(math.log(2 * reported_share),
                                  math.log(2 * (1 - reported_share)), winner, loser,
                                  risk_limit=risk_limit, q=q, cap=cap, reps=reps, seed=seed,
                                  max_pairs=max_pairs)


def walk_stopping_quantile(
    log_up: float,
    log_down: float,
    winner: float,
    loser: float,
    *,
    risk_limit: float,
    q: float,
    cap: int,
    reps: int = SIM_REPS,
    seed: int = SEED,
    max_pairs: int = DP_MAX_PAIRS,
) -> PollingStop:
    """As :func:`bravo_stopping_quantile` for any test whose statistic is multiplied by
    exp(``log_up``) > 1 for a winner ballot, exp(``log_down``) < 1 for a loser ballot and 1
    for any other (BRAVO: ln 2s, ln 2(1 - s); fixed bets with replacement:
    ln(1 +- lambda/2))."""
    if not log_up > 0 > log_down:
        raise UsageError("a winner ballot must raise the statistic and a loser ballot lower it")
    if not 0 < risk_limit < 1 or not 0 < q < 1:
        raise UsageError("need 0 < risk limit < 1 and 0 < q < 1")
    if winner < 0 or loser < 0 or winner + loser <= 0 or winner + loser > 1 + 1e-12:
        raise UsageError("winner and loser fractions must be >= 0 and sum to (0, 1]")
    if cap < 1:
        raise UsageError("cap must be positive")
    a, b = log_up, log_down
    thr = math.log(1 / risk_limit)
    f = min(1.0, winner + loser)
    t = winner / (winner + loser)
    # pair draws to start with: about twice the mean (Wald); doubled until decided. Without
    # upward drift (assumed shares far from the reported ones) that is the cap at once.
    drift = t * a + (1 - t) * b
    k_hi = min(cap, max(64, int(2 * (thr + a) / drift)) if drift > 0 else cap)
    lattice = _WalkLattice(a, b, thr, t, block=16 if k_hi <= 8_000 else None)
    while True:
        if k_hi > (max_pairs if drift > 0 else min(max_pairs, DP_MAX_PAIRS_NO_DRIFT)):
            return _simulate(a, b, thr, t, f, q=q, cap=cap, reps=reps, seed=seed)
        pk = lattice.advance(k_hi)
        decided = _search(pk, float(pk.sum()), k_hi, f, q, cap)
        if decided is not None:
            n, prob = decided
            return PollingStop(sample_size=n, quantile=q, computed="exact", prob=prob,
                               dropped=lattice.dropped)
        k_hi = min(cap, 2 * k_hi)  # at k_hi = cap every n <= cap is decided


def _search(pk: np.ndarray, known: float, k_hi: int, f: float, q: float, cap: int
            ) -> tuple[int | None, float] | None:
    """(n_q, P(stop by n_q)) when P(K = k) for k <= k_hi decides the smallest n <= cap with
    P(stop by n) >= q; (None, P(stop by cap)) when it decides that there is none; None when
    the DP must be extended.

    The unknown tail k > k_hi adds at most (1 - known) P(Binomial(n, f) > k_hi) to
    P(stop by n): the known sum is a lower bound, that plus the tail an upper bound."""
    memo: dict[int, float] = {}

    def low(n: int) -> float:
        if n not in memo:
            memo[n] = _total_draw_cdf(pk, n, f)
        return memo[n]

    def high(n: int) -> float:
        tail = float(_binom_sf(k_hi, n, f)) if f < 1 else float(n > k_hi)
        return low(n) + max(1.0 - known, 0.0) * tail

    if low(cap) < q:
        return (None, low(cap)) if high(cap) < q else None
    # low(n) rises with n (P(Binomial(n, f) >= k) does), so the smallest n with low(n) >= q
    # is found by bisection in any bracket low(lo_n) < q <= low(hi_n); it starts near the
    # n at which the pair draws alone would reach q (each evaluation costs a pass over
    # P(K = k), so a tight bracket saves most of the ~24 of bisecting [0, cap])
    cdf = np.cumsum(pk)
    guess = min(cap, max(1, math.ceil(int(np.searchsorted(cdf, q)) / f)))
    step = max(1, guess // 64)
    if low(guess) >= q:
        hi_n = guess
        lo_n = max(0, guess - step)
        while lo_n > 0 and low(lo_n) >= q:
            hi_n, step = lo_n, 2 * step
            lo_n = max(0, lo_n - step)
    else:
        lo_n = guess
        hi_n = min(cap, guess + step)
        while low(hi_n) < q:  # low(cap) >= q ends it
            lo_n, step = hi_n, 2 * step
            hi_n = min(cap, hi_n + step)
    while hi_n - lo_n > 1:  # low(hi_n) >= q; low(lo_n) < q (low(0) = 0)
        mid = (lo_n + hi_n) // 2
        if low(mid) >= q:
            hi_n = mid
        else:
            lo_n = mid
    if lo_n >= 1 and high(lo_n) >= q:
        return None  # the draw before might already reach q: know more of the tail
    return hi_n, low(hi_n)


def _simulate(a: float, b: float, thr: float, t: float, f: float, *, q: float, cap: int,
              reps: int, seed: int) -> PollingStop:
    """Stopping times of ``reps`` BRAVO audits by jumps (module docstring), then the
    q-quantile with its 95% interval."""
    rng = np.random.default_rng(seed)
    log_t = np.zeros(reps)
    k = np.zeros(reps, dtype=np.int64)
    done = np.zeros(reps, dtype=bool)
    k_cap = cap  # pair draws can never exceed total draws
    while True:
        live = ~done & (k < k_cap)
        if not live.any():
            break
        gap = thr - log_t[live]
        # no path can reach the threshold within m pair draws while m a < gap
        m = np.maximum(np.ceil(gap / a - _EPS).astype(np.int64) - 1, 1)
        m = np.minimum(m, k_cap - k[live])
        w = rng.binomial(m, t)
        step = w * a + (m - w) * b
        new_log = log_t[live] + step
        idx = np.flatnonzero(live)
        k[idx] += m
        log_t[idx] = new_log
        # m == 1 steps can cross; larger jumps cannot (by the choice of m)
        crossed = new_log >= thr - _EPS
        done[idx[crossed]] = True
    sizes = np.full(reps, cap, dtype=np.int64)
    if f < 1:
        extra = rng.negative_binomial(np.maximum(k, 1), f)
        total = k + extra
    else:
        total = k.copy()
    ok = done & (total <= cap)
    sizes[ok] = total[ok]
    n_q = int(np.quantile(sizes, q, method="higher"))
    prob = float((sizes <= n_q).mean() if ok.any() else 0.0)
    if n_q >= cap and not ok.all():
        return PollingStop(sample_size=None, quantile=q, computed="simulated",
                           prob=float(ok.mean()), interval=None, reps=reps)
    return PollingStop(sample_size=n_q, quantile=q, computed="simulated", prob=prob,
                       interval=quantile_interval(sizes, q), reps=reps)


def bravo_round_end_probability(n: np.ndarray | int, reported_share: float, winner: float,
                                loser: float, *, risk_limit: float) -> np.ndarray:
    """P(T_n >= 1/alpha): the chance that BRAVO's statistic *at the end* of a round of n
    ballots (with replacement) reaches the threshold, the rule of audits that look only at
    the round's totals (Arlo's BRAVO: its round sizes are this chance at 70/80/90%, by
    Lindeman's normal approximation). Exact: sum_k Binomial(n, f)(k) P(Binomial(k, t) >=
    w*(k)). A sequential audit stops by n at least this often, so its quantiles are smaller.
    Not monotone in n (the lattice), which is one reason to plan sequentially."""
    a, b = math.log(2 * reported_share), math.log(2 * (1 - reported_share))
    thr = math.log(1 / risk_limit)
    f = min(1.0, winner + loser)
    t = winner / (winner + loser)
    ns = np.atleast_1d(np.asarray(n, dtype=np.int64))
    k = np.arange(int(ns.max()) + 1 if ns.size else 1)
    w_star = np.ceil((thr - b * k) / (a - b) - _EPS)
    pass_k = _binom_sf(w_star - 1, k, t)  # P(the round's total passes | k pair ballots)
    if f >= 1:
        return pass_k[ns]
    return np.array([float(np.dot(_binom_pmf(k[: m + 1], int(m), f), pass_k[: m + 1]))
                     for m in ns])


def _binom_ufuncs() -> Any:
    """SciPy's binomial ufuncs (``scipy.special._ufuncs``: Boost's binomial distribution),
    which ``scipy.stats.binom`` itself calls. Importing ``scipy.special`` costs about a
    quarter of the CPU second that ``scipy.stats`` does (benchmarks/bench_audit.py plans
    200 polling contests well under a second without it), and most commands that load this
    module (``verify`` re-checking an audit) never plan one. The functions below apply
    ``scipy.stats.binom``'s handling of the support's ends, so every value is SciPy's
    (tests/audit/test_plan_fast_paths.py holds them equal, bit for bit)."""
    from scipy.special import _ufuncs

    return _ufuncs


def _binom_pmf(k: np.ndarray, n: int, p: float) -> np.ndarray:
    """``scipy.stats.binom.pmf(k, n, p)`` for integer ``0 <= k <= n`` and 0 <= p <= 1."""
    return np.clip(_binom_ufuncs()._binom_pmf(np.asarray(k, dtype=float), float(n), p), 0, 1)


def _binom_sf(k: np.ndarray | int, n: np.ndarray | int, p: float) -> np.ndarray:
    """``scipy.stats.binom.sf(k, n, p)`` for integer-valued k, integer n >= 0 and
    0 <= p <= 1: 1 below the support, 0 from its top, Boost's tail in between."""
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    out = np.where(k_arr < 0, 1.0, 0.0)
    inside = (k_arr >= 0) & (k_arr < n_arr)
    if inside.any():
        out[inside] = np.clip(_binom_ufuncs()._binom_sf(np.floor(k_arr[inside]),
                                                         n_arr[inside], p), 0, 1)
    return out


def binom_ppf(q: float, n: int, p: float) -> float:
    """``scipy.stats.binom.ppf(q, n, p)`` for 0 < q < 1, integer n >= 0 and 0 <= p <= 1."""
    if not 0 < q < 1:
        raise UsageError(f"binomial quantile needs 0 < q < 1, got {q}")
    return float(_binom_ufuncs()._binom_ppf(q, float(n), p))

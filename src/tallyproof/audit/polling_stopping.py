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
  over the lattice of (k, W): the probability of every unstopped W, moved one pair draw at a
  time (W + 1 with the true pair share t, else W), the mass on the boundary removed and
  recorded as stopping at k. The window of W kept is cut below where the mass is < 1e-16
  (dropped mass only lowers P(stop), so the plan can only be larger; the dropped total is
  reported).
* Total draws: the k-th pair ballot arrives at draw n with probability given by the negative
  binomial, so P(stop by n) = sum_k P(K = k) P(Binomial(n, f) >= k), f = the fraction of
  ballots with a vote for one of the two. Terms k > n vanish, so P(stop by n) is exact once
  P(K = k) is known up to k = n; the DP is extended only until the quantile is decided
  (bounds from the unknown tail included).

When the dynamic programme would need more than ``DP_MAX_PAIRS`` pair draws (margins below
about 2%: it costs one row of the lattice per two pair draws, about 1.6 s for a 2% margin on
a loaded 2-core machine), the same stopping time is simulated instead: each replicate jumps ahead by as
many pair draws as cannot possibly reach the threshold (W advanced binomially), then steps
one draw at a time near it; the skipped draws for neither are added from the negative
binomial. Exact in distribution, seeded, and reported with a distribution-free 95% interval
for the quantile (order statistics of the binomial).
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
    "SIM_REPS",
    "SEED",
]

SEED = 20_231_104  # fixed: plans must be reproducible
#: Beyond this many pair draws the exact dynamic programme hands over to simulation.
DP_MAX_PAIRS = 30_000
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
    lo = int(_stats().binom.ppf((1 - conf) / 2, n, q))
    hi = int(_stats().binom.ppf(1 - (1 - conf) / 2, n, q)) + 1
    return int(x[max(lo - 1, 0)]), int(x[min(hi - 1, n - 1)])


class _BravoLattice:
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


def _total_draw_cdf(pk: np.ndarray, n: int, f: float) -> float:
    """sum_k P(K = k) P(Binomial(n, f) >= k) over the known k (k <= n contribute)."""
    if f >= 1.0:
        return float(pk[: n + 1].sum())
    k = np.arange(1, min(n, pk.size - 1) + 1)
    return float(np.dot(pk[k], _stats().binom.sf(k - 1, n, f)))


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
    lattice = _BravoLattice(a, b, thr, t)
    while True:
        if k_hi > max_pairs:
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
    def low(n: int) -> float:
        return _total_draw_cdf(pk, n, f)

    def high(n: int) -> float:
        tail = float(_stats().binom.sf(k_hi, n, f)) if f < 1 else float(n > k_hi)
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
    pass_k = _stats().binom.sf(w_star - 1, k, t)  # P(the round's total passes | k pair ballots)
    if f >= 1:
        return pass_k[ns]
    return np.array([float(np.dot(_stats().binom.pmf(k[: m + 1], int(m), f), pass_k[: m + 1]))
                     for m in ns])


def _stats() -> Any:
    """``scipy.stats``, imported on first use: it takes about a second of CPU to import, and
    most commands that load this module (``verify`` re-checking an audit) never plan one."""
    from scipy import stats

    return stats

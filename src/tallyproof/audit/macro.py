"""MACRO: maximum across-contest relative overstatement, for batch-level comparison audits
(Stark 2008, "A Sharper Discrepancy Measure for Post-Election Audits", Ann. Appl. Stat. 2(3);
with the Kaplan-Markov bound for sampling with probability proportional to an error bound,
PPEB, Stark 2009, "Risk-limiting post-election audits: P-values from common probability
inequalities", Section 4).

For batch p with b_p ballots, reported votes r and audited (hand-count) votes a, and each
pair (winner w, loser l) with reported margin V_wl in votes:

* error  e_p = max_{w,l} ((r_w - r_l) - (a_w - a_l)) / V_wl  (the relative overstatement)
* bound  u_p = max_{w,l} ((r_w - r_l) + b_p) / V_wl          (the most e_p could be)
* taint  t_p = e_p / u_p <= 1, U = sum_p u_p.

The outcome is wrong only if sum_p e_p >= 1. Drawing batches with replacement with
probability u_p / U, the P-value after draws with taints t_1..t_n is (Stark 2009, eq. for
the Kaplan-Markov MACRO bound)::

    P = prod_j (1 - 1/U) / (1 - t_j),  capped at 1.

A taint of 1 makes the bound uninformative (P stays 1 from then on: a full hand count is
needed), which is what the formula gives as 1 - t_j -> 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..errors import UsageError

__all__ = ["macro_error", "macro_bound", "macro_pvalue", "macro_sample_size", "macro_log_factors"]


def _pairs(winners: Sequence[str], losers: Sequence[str],
           margins: Mapping[tuple[str, str], int]) -> Iterable[tuple[str, str, int]]:
    for w in winners:
        for l in losers:
            v = margins[(w, l)]
            if v <= 0:
                raise UsageError(f"reported margin of {w} over {l} must be positive, got {v}")
            yield w, l, v


def macro_error(reported: Mapping[str, int], audited: Mapping[str, int], *,
                winners: Sequence[str], losers: Sequence[str],
                margins: Mapping[tuple[str, str], int]) -> float:
    """Relative overstatement e_p of one batch (module docstring)."""
    return max(
        ((reported.get(w, 0) - reported.get(l, 0)) - (audited.get(w, 0) - audited.get(l, 0))) / v
        for w, l, v in _pairs(winners, losers, margins)
    )


def macro_bound(reported: Mapping[str, int], ballots: int, *, winners: Sequence[str],
                losers: Sequence[str], margins: Mapping[tuple[str, str], int]) -> float:
    """Error bound u_p of one batch (module docstring)."""
    if ballots < 0:
        raise UsageError("batch ballot count must be non-negative")
    return max((reported.get(w, 0) - reported.get(l, 0) + ballots) / v
               for w, l, v in _pairs(winners, losers, margins))


def macro_log_factors(taints: np.ndarray, total_bound: float) -> np.ndarray:
    """log of 1/P's per-draw factor ``(1 - t) / (1 - 1/U)``; -inf at a taint of 1."""
    if not total_bound > 1:
        raise UsageError(f"total error bound U must exceed 1, got {total_bound}")
    t = np.asarray(taints, dtype=float)
    if np.any(t > 1 + 1e-12):
        raise UsageError("a taint cannot exceed 1")
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(1 - t, 0.0)) - math.log(1 - 1 / total_bound)


def macro_pvalue(taints: Sequence[float] | np.ndarray, total_bound: float) -> float:
    """MACRO P-value after PPEB draws with the given taints (module docstring)."""
    log_t = float(np.sum(macro_log_factors(np.asarray(taints, dtype=float), total_bound)))
    return 1.0 if log_t == -math.inf else min(1.0, math.exp(-log_t))


def macro_sample_size(total_bound: float, risk_limit: float, *, expected_taint: float = 0.0) -> int:
    """PPEB draws needed if every draw has the given taint: smallest n with
    ``((1 - 1/U) / (1 - t))^n <= alpha``."""
    if not 0 < risk_limit < 1:
        raise UsageError(f"risk limit must be in (0, 1), got {risk_limit}")
    per = float(macro_log_factors(np.array([expected_taint]), total_bound)[0])
    if per <= 0:
        raise UsageError("with this taint the audit would never confirm the outcome")
    return max(1, math.ceil(math.log(1 / risk_limit) / per - 1e-9))

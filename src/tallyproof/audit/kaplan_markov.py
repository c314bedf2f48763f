"""Kaplan-Markov P-values for ballot-level comparison audits (Stark 2009, "Risk-limiting
post-election audits: P-values from common probability inequalities", IEEE TIFS 4(4); the
"super-simple" simultaneous audit, Stark 2010, EVT/WOTE '10; Lindeman & Stark 2012, "A
Gentle Introduction to Risk-limiting Audits", IEEE Security & Privacy, Section "ballot-level
comparison audits"), kept for compatibility with deployed tools and as the efficiency
baseline for comparison audits.

With diluted margin v (smallest reported margin in votes / ballots cast), error inflation
factor gamma > 1, and U = 2 gamma / v, the P-value after n ballots with o1, o2 one- and
two-vote overstatements and u1, u2 understatements is (Lindeman & Stark 2012, eq. for the
"super-simple" P-value)::

    P = (1 - 1/U)^n (1 - 1/(2 gamma))^-o1 (1 - 1/gamma)^-o2 (1 + 1/(2 gamma))^-u1 (1 + 1/gamma)^-u2

Per ballot this is the betting martingale with fixed bet lambda = 2 (2 - v) / (2 gamma - v)
on the SHANGRLA comparison assorter, so it is valid sequentially (with replacement).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError
from .options import DEFAULT_GAMMA

__all__ = [
    "DEFAULT_GAMMA",
    "kaplan_markov_pvalue",
    "kaplan_markov_sample_size",
    "stark_sample_size",
    "stark_sample_size_from_rates",
    "kaplan_markov_log_factors",
]


def _check(margin: float, gamma: float) -> None:
    if not 0 < margin <= 1:
        raise UsageError(f"diluted margin must be in (0, 1], got {margin}")
    if not gamma > 1:
        raise UsageError(f"gamma must be > 1, got {gamma}")


def _log_error_terms(o1: float, o2: float, u1: float, u2: float, gamma: float) -> float:
    """log of the discrepancy part of P (multiplying counts by the per-error log factors)."""
    return (
        -o1 * math.log(1 - 1 / (2 * gamma))
        - o2 * math.log(1 - 1 / gamma)
        - u1 * math.log(1 + 1 / (2 * gamma))
        - u2 * math.log(1 + 1 / gamma)
    )


def kaplan_markov_pvalue(n: int, o1: int = 0, o2: int = 0, u1: int = 0, u2: int = 0, *,
                         margin: float, gamma: float = DEFAULT_GAMMA) -> float:
    """Kaplan-Markov P-value (formula in the module docstring), capped at 1."""
    _check(margin, gamma)
    if min(n, o1, o2, u1, u2) < 0 or o1 + o2 + u1 + u2 > n:
        raise UsageError("need 0 <= o1 + o2 + u1 + u2 <= n")
    log_p = n * math.log(1 - margin / (2 * gamma)) + _log_error_terms(o1, o2, u1, u2, gamma)
    return min(1.0, math.exp(log_p))


def kaplan_markov_sample_size(margin: float, risk_limit: float, *, gamma: float = DEFAULT_GAMMA,
                              o1: float = 0, o2: float = 0, u1: float = 0, u2: float = 0,
                              rates: bool = False) -> int:
    """Smallest n with P <= risk_limit (Stark 2010, super-simple sample size).

    ``o1..u2`` are expected *counts* of discrepancies in the sample, or, with ``rates=True``,
    expected *rates* per ballot (counts = rate * n), in which case n solves
    ``n (log(1 - v/(2 gamma)) + sum_k r_k log(error factor_k)) = log(alpha)``. Raises
    UsageError if the assumed error rates are so high that P never falls below alpha.
    """
    _check(margin, gamma)
    if not 0 < risk_limit < 1:
        raise UsageError(f"risk limit must be in (0, 1), got {risk_limit}")
    clean = math.log(1 - margin / (2 * gamma))
    if rates:
        per_ballot = clean + _log_error_terms(o1, o2, u1, u2, gamma)
        if per_ballot >= 0:
            raise UsageError("with these error rates the audit would never confirm the outcome")
        n = math.ceil(math.log(risk_limit) / per_ballot - 1e-9)
    else:
        errors = _log_error_terms(o1, o2, u1, u2, gamma)
        n = math.ceil((math.log(risk_limit) - errors) / clean - 1e-9)
        n = max(n, math.ceil(o1 + o2 + u1 + u2))
    return max(n, 1)


def kaplan_markov_log_factors(overstatement: np.ndarray, margin: float,
                              gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """log of 1/P's per-ballot factor ``(1 - e/(2 gamma)) / (1 - v/(2 gamma))`` for
    overstatements e in votes (2, 1, 0, -1, -2); vectorised."""
    _check(margin, gamma)
    e = np.asarray(overstatement, dtype=float)
    return np.log(1 - e / (2 * gamma)) - math.log(1 - margin / (2 * gamma))


def stark_sample_size(margin: float, risk_limit: float, *, gamma: float = DEFAULT_GAMMA,
                      o1: float = 0, o2: float = 0, u1: float = 0, u2: float = 0) -> int:
    """Stark's first-order approximation used by his super-simple calculator and by Arlo:
    ``max(o1+o2+u1+u2, ceil(-2 gamma (ln alpha - E) / v))`` with E the log error terms of the
    module docstring and o1..u2 expected *counts* (Stark 2010, "Super-simple simultaneous
    single-ballot risk-limiting audits", Section 3, using ln(1 - v/(2 gamma)) ~ -v/(2 gamma)).
    Never smaller than :func:`kaplan_markov_sample_size`, so it is a safe, slightly larger plan.
    """
    _check(margin, gamma)
    if not 0 < risk_limit < 1:
        raise UsageError(f"risk limit must be in (0, 1), got {risk_limit}")
    e = _log_error_terms(o1, o2, u1, u2, gamma)
    return max(math.ceil(o1 + o2 + u1 + u2),
               math.ceil(-2 * gamma * (math.log(risk_limit) - e) / margin - 1e-9))


def stark_sample_size_from_rates(margin: float, risk_limit: float, *,
                                 gamma: float = DEFAULT_GAMMA, o1: float = 0, o2: float = 0,
                                 u1: float = 0, u2: float = 0) -> int:
    """Stark's super-simple calculator with discrepancy *rates* per ballot (as Arlo plans):
    n0 solves the rates' fixed point (:func:`kaplan_markov_sample_size` with ``rates=True``),
    the one-vote discrepancies expected in n0 ballots are rounded up to whole ones (the
    calculator's default "round up 1-vote differences"; two-vote ones stay fractional), and
    :func:`stark_sample_size` is applied to those counts."""
    n0 = kaplan_markov_sample_size(margin, risk_limit, gamma=gamma, o1=o1, o2=o2, u1=u1, u2=u2,
                                   rates=True)
    return stark_sample_size(margin, risk_limit, gamma=gamma, o1=math.ceil(o1 * n0 - 1e-9),
                             o2=o2 * n0, u1=math.ceil(u1 * n0 - 1e-9), u2=u2 * n0)

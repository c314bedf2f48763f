"""BRAVO ballot-polling audits (Lindeman, Stark & Yates 2012, "BRAVO: Ballot-polling
Risk-limiting Audits to Verify Outcomes", EVT/WOTE '12), kept for compatibility with
deployed tools (Arlo) and as the efficiency baseline for polling audits.

For one (winner, loser) pair with reported share ``s = s_w / (s_w + s_l)`` of the pair's
votes, Wald's SPRT of p = 1/2 against p = s multiplies the test statistic by ``2 s`` for each
sampled ballot showing the winner, by ``2 (1 - s)`` for the loser and leaves it alone for any
other ballot (paper, Section 3, "the test statistic T"); the outcome is confirmed once
T >= 1/alpha. BRAVO samples with replacement. In SHANGRLA terms it is ALPHA with the fixed
estimate eta = s and sampling with replacement (Stark 2023, Section 2.4).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError

__all__ = ["bravo_pvalue", "bravo_asn", "bravo_log_factors"]


def _check_share(share: float) -> None:
    if not 0.5 < share < 1:
        raise UsageError(f"reported winner share must be in (1/2, 1), got {share}")


def bravo_pvalue(n_winner: int, n_loser: int, winner_share: float) -> float:
    """BRAVO p-value after a sample with ``n_winner`` ballots for the winner and
    ``n_loser`` for the loser: ``min(1, 1 / ((2 s)^n_w (2 (1 - s))^n_l))``.

    This is the value of 1/T at the end of the sample (the form Arlo reports); a sequential
    audit that looked after every ballot may use the running maximum instead
    (:func:`tallyproof.audit.risk.measure_risk`).
    """
    _check_share(winner_share)
    if n_winner < 0 or n_loser < 0:
        raise UsageError("ballot counts must be non-negative")
    log_t = n_winner * math.log(2 * winner_share) + n_loser * math.log(2 * (1 - winner_share))
    return min(1.0, math.exp(-log_t))


def bravo_asn(margin: float, risk_limit: float, *, winner_share: float | None = None,
              ballot_fraction: float = 1.0) -> float:
    """Average sample number of BRAVO when the reported results are correct
    (paper, Section 5, ASN formula; Wald's approximation without overshoot)::

        ASN = (ln(1/alpha) + z_w / 2) / (p_w z_w + p_l z_l),
        z_w = ln(2 s_w), z_l = ln(2 s_l), s_w = (1 + m) / 2, s_l = 1 - s_w

    with ``margin`` m = s_w - s_l the pair's margin as a fraction of the pair's votes and
    p_w = s_w f, p_l = s_l f the shares of all ballots (f = ``ballot_fraction``, the fraction
    of ballots with a vote for one of the two). Table 1 of the paper lists 46,151 for a 1%
    margin (50.5% to 49.5%) at alpha = 10%: ``ceil(bravo_asn(0.01, 0.10)) == 46151``.
    """
    if not 0 < margin < 1:
        raise UsageError(f"margin must be in (0, 1), got {margin}")
    if not 0 < risk_limit < 1:
        raise UsageError(f"risk limit must be in (0, 1), got {risk_limit}")
    s_w = (1 + margin) / 2 if winner_share is None else winner_share
    _check_share(s_w)
    s_l = 1 - s_w
    z_w, z_l = math.log(2 * s_w), math.log(2 * s_l)
    return (math.log(1 / risk_limit) + z_w / 2) / (ballot_fraction * (s_w * z_w + s_l * z_l))


def bravo_log_factors(x: np.ndarray, winner_share: float) -> np.ndarray:
    """log of BRAVO's per-ballot factor for polling assorter values x (1 = winner,
    0 = loser, 1/2 = neither); vectorised over any leading axes."""
    _check_share(winner_share)
    x = np.asarray(x, dtype=float)
    return np.where(
        x > 0.75, math.log(2 * winner_share),
        np.where(x < 0.25, math.log(2 * (1 - winner_share)), 0.0),
    )

"""Ballot-polling audits: the paper alone, no CVRs needed (SHANGRLA §3.1).

Each sampled card contributes its assorter value A(paper) ∈ [0, u]; the assertion is
confirmed when the test supermartingale for "mean(A) ≤ 1/2" rejects at the risk limit
(ALPHA by default: Stark 2023, "ALPHA: Audit that Learns from Previously Hand-Audited
Ballots"; BRAVO-like fixed bets are available through ``method``). A sampled card that cannot
be found scores 0, the worst case for the reported outcome.
"""

from __future__ import annotations

import numpy as np

from .assorters import Assertion, ContestVotes, Discrepancies
from .comparison import AssertionRisk, mvr_assort
from .risk import measure_risk


def polling_risk(
    assertion: Assertion,
    mvr: ContestVotes,
    *,
    N: int,
    method: str = "alpha",
    not_found: np.ndarray | None = None,
    margin: float = float("nan"),
    **params: object,
) -> AssertionRisk:
    """Risk of ``assertion`` from the paper readings of the sampled cards, in draw order, from
    a frame of ``N`` cards (``margin``, the reported one, is only carried for the report)."""
    x = mvr_assort(assertion, mvr, not_found)
    res = measure_risk(x, upper=assertion.upper, N=N, method=method, **params)
    return AssertionRisk(
        assertion_id=assertion.id,
        examined=len(x),
        discrepancies=Discrepancies(),
        p_value=res.p_value,
        p_history=tuple(float(p) for p in res.p_history),
        margin=margin,
        method=res.method,
    )

"""Ballot-level comparison audits: each sampled card's CVR against the paper (SHANGRLA §3.2).

For an assertion with assorter A (upper bound u) and reported assorter margin v over the N
cards of the sample frame, every examined card contributes the comparison assorter
B = (1 − ω/u)/(2 − v/u) with ω = A(cvr) − A(paper); the outcome of the assertion is confirmed
when the test supermartingale for "mean(B) ≤ 1/2" (:func:`tallyproof.audit.risk.measure_risk`)
rejects at the risk limit. A sampled card that cannot be found is scored as the worst case:
A(paper) = 0, so ω = A(cvr) (SHANGRLA §3.4, "missing ballots").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .assorters import (
    Assertion,
    ContestVotes,
    Discrepancies,
    comparison_upper,
    comparison_values,
)
from .risk import measure_risk


@dataclass(frozen=True)
class AssertionRisk:
    """Measured risk of one assertion after ``examined`` cards (in draw order)."""

    assertion_id: str
    examined: int
    discrepancies: Discrepancies
    p_value: float
    p_history: tuple[float, ...]
    margin: float
    method: str

    def to_json(self) -> dict[str, object]:
        return {
            "assertion_id": self.assertion_id,
            "examined": self.examined,
            "discrepancies": self.discrepancies.to_json(),
            "p_value": self.p_value,
            "p_history": list(self.p_history),
            "margin": self.margin,
            "method": self.method,
        }


def mvr_assort(assertion: Assertion, mvr: ContestVotes, not_found: np.ndarray | None) -> np.ndarray:
    """A(paper) per card, 0 (the worst case for the reported outcome) where not found."""
    values = assertion.assort(mvr)
    if not_found is not None:
        values = np.where(not_found, 0.0, values)
    return values


def comparison_risk(
    assertion: Assertion,
    cvr: ContestVotes,
    mvr: ContestVotes,
    *,
    margin: float,
    N: int,
    method: str = "kelly",
    not_found: np.ndarray | None = None,
    **params: object,
) -> AssertionRisk:
    """Risk of ``assertion`` from paired CVR/paper readings of the sampled cards, in draw order
    (``margin`` is the reported assorter margin over the whole frame of ``N`` cards)."""
    u = assertion.upper
    omega = assertion.assort(cvr) - mvr_assort(assertion, mvr, not_found)
    x = comparison_values(omega, u, margin)
    res = measure_risk(x, upper=comparison_upper(u, margin), N=N, method=method, **params)
    return AssertionRisk(
        assertion_id=assertion.id,
        examined=len(x),
        discrepancies=Discrepancies.from_omega(omega, u),
        p_value=res.p_value,
        p_history=tuple(float(p) for p in res.p_history),
        margin=margin,
        method=res.method,
    )

"""Stratified CVR + no-CVR audits (Spertus & Stark 2022, union-intersection with ALPHA)."""

from __future__ import annotations

import numpy as np
import pytest

from tallyproof.audit.stratified import StratumSample, stratified_risk
from tallyproof.errors import AuditError


def _population(rng: np.random.Generator, wrong: bool):
    """Stratum 1: 500 cards with CVRs, reported A-mean 0.6; stratum 2: 500 paper-only cards.
    ``wrong``: 50 CVRs say winner where the paper says loser and stratum 2 leans to the
    loser, so the true overall mean is 0.49 < 1/2 (the reported winner lost)."""
    cvr = np.array([1.0] * 300 + [0.0] * 200)
    paper1 = cvr.copy()
    if wrong:
        paper1[:50] = 0.0
        paper2 = np.array([1.0] * 240 + [0.0] * 260)
    else:
        paper2 = np.array([1.0] * 290 + [0.0] * 210)
    perm1, perm2 = rng.permutation(500), rng.permutation(500)
    return cvr[perm1], paper1[perm1], paper2[perm2]


def _audit(rng: np.random.Generator, wrong: bool, n: int, grid: int = 41) -> float:
    cvr, paper1, paper2 = _population(rng, wrong)
    s1 = StratumSample("comparison", 500, (cvr - paper1)[:n], reported_mean=0.6)
    s2 = StratumSample("polling", 500, paper2[:n])
    return stratified_risk(s1, s2, upper=1.0, grid=grid).p_value


def test_confirms_a_correct_outcome() -> None:
    rng = np.random.default_rng(11)
    assert _audit(rng, wrong=False, n=200, grid=101) < 0.05


def test_risk_limit_holds_when_reported_winner_lost() -> None:
    rng = np.random.default_rng(12)
    alpha, reps = 0.1, 150
    hits = sum(_audit(rng, wrong=True, n=150) <= alpha for _ in range(reps))
    se = np.sqrt(alpha * (1 - alpha) / reps)
    assert hits / reps <= alpha + 3 * se


def test_no_evidence_without_samples_and_edges() -> None:
    empty1 = StratumSample("comparison", 10, np.zeros(0), reported_mean=0.6)
    empty2 = StratumSample("polling", 10, np.zeros(0))
    r = stratified_risk(empty1, empty2, upper=1.0)
    assert r.p_value == 1.0
    with pytest.raises(AuditError, match="both strata"):
        stratified_risk(StratumSample("polling", 0, np.zeros(0)), empty2, upper=1.0)
    with pytest.raises(AuditError, match="reported"):
        stratified_risk(StratumSample("comparison", 10, np.zeros(1)), empty2, upper=1.0)


def test_p_value_is_max_over_theta() -> None:
    rng = np.random.default_rng(5)
    cvr, paper1, paper2 = _population(rng, wrong=False)
    s1 = StratumSample("comparison", 500, (cvr - paper1)[:80], reported_mean=0.6)
    s2 = StratumSample("polling", 500, paper2[:80])
    coarse = stratified_risk(s1, s2, upper=1.0, grid=5)
    fine = stratified_risk(s1, s2, upper=1.0, grid=201)
    assert fine.p_value >= coarse.p_value - 1e-12  # a finer grid only finds larger maxima
    t1, t2 = fine.theta
    assert 500 * t1 + 500 * t2 == pytest.approx(500)  # on the boundary N₁θ₁ + N₂θ₂ = N/2


def test_assertion_level_wrapper_matches_stratum_values() -> None:
    from tallyproof.audit.assorters import Assertion, AssertionKind, votes_from_marks
    from tallyproof.audit.stratified import stratified_assertion_risk
    from tallyproof.model import Candidate, Contest, ContestKind

    c = Contest("c", "C", ContestKind.PLURALITY,
                candidates=(Candidate("A", "A"), Candidate("B", "B")))
    a = Assertion("c", AssertionKind.PAIRWISE, 0, 1)
    cvrs = votes_from_marks(c, [[[0]]] * 60 + [[[1]]] * 40)
    idx = np.arange(0, 100, 2)
    paper1 = votes_from_marks(c, [[[0]]] * 30 + [[[1]]] * 20)  # what rows idx show
    paper2 = votes_from_marks(c, [[[0]]] * 35 + [[[1]]] * 15)
    got = stratified_assertion_risk(a, cvr_stratum_cvrs=cvrs, cvr_stratum_sample=idx,
                                    cvr_stratum_paper=paper1, no_cvr_paper=paper2,
                                    n_cvr=100, n_no_cvr=100, grid=21)
    omega = a.assort(cvrs)[idx] - a.assort(paper1)
    want = stratified_risk(StratumSample("comparison", 100, omega, reported_mean=0.6),
                           StratumSample("polling", 100, a.assort(paper2)), upper=1.0, grid=21)
    assert got == want

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


def _batch_population(rng: np.random.Generator, wrong: bool):  # noqa: ANN202
    """A batch stratum of 60 batches (5 to 15 cards) whose reported tallies give the winner
    ~60% of the cards; ``wrong``: in 40 batches most winner votes were the loser's on paper,
    so with the CVR stratum of :func:`_population` the reported winner truly lost."""
    cards = rng.integers(5, 16, size=60)
    w = np.round(cards * 0.6).astype(int)
    reported = (cards + w - (cards - w)) / 2.0  # Σ A per batch, A = (1 + b_w − b_l)/2
    paper_w = w.copy()
    if wrong:
        paper_w[:40] = 1
    paper = (cards + paper_w - (cards - paper_w)) / 2.0
    perm = rng.permutation(60)
    return cards[perm], reported[perm], paper[perm]


def _batch_stratum(cards, reported, paper, n: int) -> StratumSample:  # noqa: ANN001
    b, n2 = len(cards), int(cards.sum())
    omega = (b / n2) * (reported - paper)
    tau = 1.0 * b * float(cards.max()) / n2
    return StratumSample("batch", b, omega[:n], reported_mean=float(reported.sum()) / n2,
                         cards=n2, upper=tau)


def test_a_batch_stratum_of_one_card_batches_is_a_comparison_stratum() -> None:
    """With every batch one card, ω_b is the card's overstatement and τ = u: the batch
    stratum is the comparison stratum (SHANGRLA §3.3 reduces to §3.2)."""
    rng = np.random.default_rng(3)
    cvr, paper1, paper2 = _population(rng, wrong=False)
    ones = np.ones(500, dtype=int)
    as_batches = _batch_stratum(ones, cvr, paper1, 80)
    s1 = StratumSample("comparison", 500, (cvr - paper1)[:80], reported_mean=0.6)
    s2 = StratumSample("polling", 500, paper2[:80])
    assert as_batches.upper == 1.0 and as_batches.reported_mean == pytest.approx(0.6)
    p = stratified_risk(s1, s2, upper=1.0, grid=41).p_value
    q = stratified_risk(as_batches, s2, upper=1.0, grid=41).p_value
    assert p == pytest.approx(q)


def test_cards_and_batches_confirm_or_keep_the_risk_limit() -> None:
    """A card stratum and a batch stratum: a correct outcome is confirmed with every batch
    counted; when the reported winner lost, the p-value stays above the limit in (nearly)
    every simulated audit."""
    rng = np.random.default_rng(21)
    cvr, paper1, _ = _population(rng, wrong=False)
    cards, reported, paper = _batch_population(rng, wrong=False)
    s1 = StratumSample("comparison", 500, (cvr - paper1)[:150], reported_mean=0.6)
    assert stratified_risk(s1, _batch_stratum(cards, reported, paper, 60), upper=1.0,
                           grid=41).p_value < 0.05
    wrongly = 0
    for seed in range(40):
        r = np.random.default_rng(100 + seed)
        cvr, paper1, _ = _population(r, wrong=True)
        cards, reported, paper = _batch_population(r, wrong=True)
        s1 = StratumSample("comparison", 500, (cvr - paper1)[:150], reported_mean=0.6)
        p = stratified_risk(s1, _batch_stratum(cards, reported, paper, 30), upper=1.0,
                            grid=41).p_value
        wrongly += p <= 0.05
    assert wrongly <= 2  # 40 audits at risk limit 0.05: about 2 may stop by chance at most

"""Ballot-level comparison risk (SHANGRLA §3.2): plumbing checked by hand, and validity."""

from __future__ import annotations

import numpy as np
import pytest

from tallyproof.audit.assorters import Assertion, AssertionKind, votes_from_marks
from tallyproof.audit.comparison import comparison_risk
from tallyproof.audit.risk import measure_risk
from tallyproof.model import Candidate, Contest, ContestKind

C = Contest("c", "C", ContestKind.PLURALITY,
            candidates=(Candidate("A", "A"), Candidate("B", "B"), Candidate("X", "X")))
AB = Assertion("c", AssertionKind.PAIRWISE, 0, 1)


def test_values_passed_to_the_risk_function() -> None:
    cvr = votes_from_marks(C, [[[0]], [[0]], [[1]], [[2]]])
    mvr = votes_from_marks(C, [[[0]], [[1]], [[1]], [[0]]])
    v = 0.2  # reported assorter margin over the frame
    r = comparison_risk(AB, cvr, mvr, margin=v, N=1000, method="alpha")
    # ω = 0, 1, 0, −1/2 → B = (1 − ω)/(2 − v) = 1/1.8, 0, 1/1.8, 1.5/1.8
    x = np.array([1.0, 0.0, 1.0, 1.5]) / 1.8
    want = measure_risk(x, upper=2 / 1.8, N=1000, method="alpha")
    assert r.p_value == pytest.approx(want.p_value)
    assert r.p_history == pytest.approx(tuple(want.p_history))
    assert (r.discrepancies.o2, r.discrepancies.u1, r.discrepancies.o1) == (1, 1, 0)
    assert r.examined == 4


def test_not_found_scores_zero_on_paper() -> None:
    cvr = votes_from_marks(C, [[[0]], [[2]]])
    mvr = votes_from_marks(C, [None, None])
    r = comparison_risk(AB, cvr, mvr, margin=0.2, N=100, not_found=np.array([True, True]))
    # CVR for A, missing → ω = 1 (2-vote); CVR for X (A = 1/2), missing → ω = 1/2 (1-vote)
    assert (r.discrepancies.o2, r.discrepancies.o1) == (1, 1)


def test_clean_sample_reaches_the_kaplan_markov_floor() -> None:
    # no errors, v = 0.1: the floor is ceil(ln(1/α)/ln(2/(2 − v))) = ceil(58.4) = 59, α = 0.05
    n = 200
    cards = [[[0]]] * n
    cvr = votes_from_marks(C, cards)
    r = comparison_risk(AB, cvr, cvr, margin=0.1, N=100_000, method="kelly")
    first = int(np.argmax(np.array(r.p_history) <= 0.05)) + 1
    floor = int(np.ceil(np.log(1 / 0.05) / np.log(2 / 1.9)))
    assert floor == 59
    assert floor <= first <= int(1.05 * floor) + 1


def test_risk_limit_holds_when_cvrs_overstate_a_losing_winner() -> None:
    """CVRs say A 55%, B 45%; the paper says A 49%, B 51%. Sampling 150 of 2,000 cards,
    a comparison audit must confirm A in at most α of audits (plus 3 standard errors)."""
    rng = np.random.default_rng(2024)
    n_cards, alpha, reps = 2000, 0.05, 400
    cvr_codes = np.array([0] * 1100 + [1] * 900)
    paper_codes = cvr_codes.copy()
    paper_codes[:120] = 1  # 120 CVRs for A are B on paper: true margin −2%
    cvr_all = votes_from_marks(C, [[[int(c)]] for c in cvr_codes])
    paper_all = votes_from_marks(C, [[[int(c)]] for c in paper_codes])
    margin = 2 * AB.assort(cvr_all).mean() - 1
    wrong = 0
    for _ in range(reps):
        idx = rng.permutation(n_cards)[:150]
        r = comparison_risk(AB, cvr_all.take(idx), paper_all.take(idx), margin=margin,
                            N=n_cards, method="kelly")
        wrong += r.p_value <= alpha
    se = np.sqrt(alpha * (1 - alpha) / reps)
    assert wrong / reps <= alpha + 3 * se

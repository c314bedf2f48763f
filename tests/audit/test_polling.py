"""Ballot-polling risk (SHANGRLA §3.1): plumbing by hand, worst case, validity."""

from __future__ import annotations

import numpy as np
import pytest

from tallyproof.audit.assorters import Assertion, AssertionKind, votes_from_marks
from tallyproof.audit.polling import polling_risk
from tallyproof.audit.risk import measure_risk
from tallyproof.model import Candidate, Contest, ContestKind

C = Contest("c", "C", ContestKind.PLURALITY,
            candidates=(Candidate("A", "A"), Candidate("B", "B")))
AB = Assertion("c", AssertionKind.PAIRWISE, 0, 1)


def test_fixed_bet_hand_computed() -> None:
    # ten cards for A, bet λ = 1 with replacement-like population (N huge): T = 1.5^10
    mvr = votes_from_marks(C, [[[0]]] * 10)
    r = polling_risk(AB, mvr, N=10**9, method="betting", lam=1.0)
    assert r.p_value == pytest.approx(1.5 ** -10, rel=1e-6)


def test_not_found_counts_for_the_loser() -> None:
    mvr = votes_from_marks(C, [[[0]], None, [[0]]])
    nf = np.array([False, True, False])
    r = polling_risk(AB, mvr, N=1000, method="alpha", not_found=nf)
    want = measure_risk(np.array([1.0, 0.0, 1.0]), upper=1.0, N=1000, method="alpha")
    assert r.p_value == pytest.approx(want.p_value)


def test_risk_limit_holds_for_a_tie() -> None:
    """A true tie (reported winner did not win): polling confirms in at most α of audits."""
    rng = np.random.default_rng(99)
    alpha, reps, n_cards = 0.1, 300, 1000
    codes = np.array([0] * 500 + [1] * 500)
    votes = votes_from_marks(C, [[[int(c)]] for c in codes])
    wrong = 0
    for _ in range(reps):
        idx = rng.permutation(n_cards)[:200]
        wrong += polling_risk(AB, votes.take(idx), N=n_cards).p_value <= alpha
    se = np.sqrt(alpha * (1 - alpha) / reps)
    assert wrong / reps <= alpha + 3 * se

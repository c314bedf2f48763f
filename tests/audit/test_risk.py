"""Test supermartingales: identities with the classical methods, sampling without
replacement, and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tallyproof.audit.bravo import bravo_pvalue
from tallyproof.audit.kaplan_markov import kaplan_markov_pvalue
from tallyproof.audit.risk import (
    comparison_support,
    log_factors,
    measure_risk,
    worst_order_risk,
)
from tallyproof.errors import UsageError


def test_alpha_with_fixed_eta_is_bravo() -> None:
    # ALPHA with eta fixed at the reported share and sampling with replacement is BRAVO
    # (Stark 2023, Section 2.4); the final T must match BRAVO's statistic exactly.
    x = np.array([1, 1, 0, 0.5, 1, 1, 0, 1, 1, 1, 0.5, 1] * 5, dtype=float)
    s = 0.6
    r = measure_risk(x, upper=1.0, N=None, method="alpha", eta0=s, d=1e12, c=0.0)
    log_t = np.sum(log_factors(x, upper=1.0, N=None, method="alpha", eta0=s, d=1e12, c=0.0))
    expected = bravo_pvalue(int((x == 1).sum()), int((x == 0).sum()), s)
    assert math.exp(-log_t) == pytest.approx(expected, rel=1e-9)
    assert r.p_value <= expected + 1e-15  # running max can only be smaller


def test_kaplan_markov_is_a_fixed_bet() -> None:
    v, gamma = 0.04, 1.03905
    upper = 2 / (2 - v)
    over = np.array([0] * 40 + [1] + [0] * 30 + [-1] + [0] * 10 + [2] + [0] * 400)
    x = (1 - over / 2) / (2 - v)  # comparison assorter, omega = e / 2
    lam = 2 * (2 - v) / (2 * gamma - v)
    log_t = np.sum(log_factors(x, upper=upper, N=None, method="betting", lam=lam))
    p_km = kaplan_markov_pvalue(len(over), o1=1, o2=1, u1=1, margin=v, gamma=gamma)
    assert math.exp(-log_t) == pytest.approx(p_km, rel=1e-9)


def test_without_replacement_null_becomes_impossible() -> None:
    # population of 10 with mean <= 1/2 cannot start with 6 ones
    r = measure_risk(np.ones(6), upper=1.0, N=10, method="alpha")
    assert r.p_value == 0.0
    assert measure_risk(np.ones(6), upper=1.0, N=None, method="alpha").p_value > 0


def test_without_replacement_null_certainly_true() -> None:
    # after six zeros the remaining four of ten would need mean 5/4 > 1 to reach 1/2
    r = measure_risk(np.array([0.0] * 6 + [1.0] * 4), upper=1.0, N=10, method="alpha")
    assert r.p_value == 1.0
    logf = log_factors(np.array([0.0] * 6 + [1.0]), upper=1.0, N=10, method="alpha")
    assert logf[-1] == -np.inf


def test_without_replacement_is_sharper() -> None:
    rng = np.random.default_rng(3)
    x = (rng.random(400) < 0.56).astype(float)
    with_r = measure_risk(x, upper=1.0, N=None, method="alpha", eta0=0.56)
    without = measure_risk(x, upper=1.0, N=1000, method="alpha", eta0=0.56)
    assert without.p_value < with_r.p_value


@pytest.mark.parametrize("method", ["alpha", "agrapa", "kelly", "betting"])
def test_history_monotone_and_final(method: str) -> None:
    v = 0.05
    upper = 2 / (2 - v)
    x = np.full(120, 1 / (2 - v))
    x[30] = 0.5 / (2 - v)
    r = measure_risk(x, upper=upper, N=None, method=method)
    assert np.all(np.diff(r.p_history) <= 0)
    assert r.p_value == r.p_history[-1] < 1


def test_kelly_near_floor_without_errors() -> None:
    # no discrepancies: the best possible is ceil(ln(1/alpha)/ln(2/(2-v))) ballots
    for v in (0.01, 0.05, 0.1):
        floor = math.ceil(math.log(20) / math.log(2 / (2 - v)))
        r = measure_risk(np.full(2 * floor, 1 / (2 - v)), upper=2 / (2 - v), N=None,
                         method="kelly")
        n = int(np.argmax(r.p_history <= 0.05)) + 1
        assert floor <= n <= 1.05 * floor


def test_kelly_backs_off_after_errors() -> None:
    v = 0.05
    u = 2 / (2 - v)
    sup = comparison_support(u)
    x = np.full(200, sup[2])
    x[:5] = sup[1]
    lf = log_factors(x, upper=u, N=None, method="kelly")
    lam_clean_after = np.expm1(lf[-1]) / (sup[2] - 0.5)
    x2 = np.full(200, sup[2])
    lam_no_err = np.expm1(log_factors(x2, upper=u, N=None, method="kelly")[-1]) / (sup[2] - 0.5)
    assert lam_clean_after < lam_no_err


def test_kelly_counts_discrepancies_between_support_points() -> None:
    # an overstatement of 0.3 u (not a whole vote) counts as the worse, one-vote kind
    u = 2 / (2 - 0.05)
    sup = comparison_support(u)
    clean = np.full(100, sup[2])
    odd = clean.copy()
    odd[:3] = sup[2] - 0.3 * (sup[2] - sup[1])  # between one-vote and none

    def last_bet(x: np.ndarray) -> float:
        return float(np.expm1(log_factors(x, upper=u, N=None, method="kelly")[-1])
                     / (sup[2] - 0.5))

    assert last_bet(odd) < last_bet(clean)


def test_blocks_match_single_pass() -> None:
    rng = np.random.default_rng(5)
    x = (rng.random(300) < 0.55).astype(float)
    whole = log_factors(x, upper=1.0, N=5000, method="alpha", eta0=0.55)
    first = log_factors(x[:100], upper=1.0, N=5000, method="alpha", eta0=0.55)
    second = log_factors(x[100:], upper=1.0, N=5000, method="alpha", eta0=0.55,
                         state={"sum": x[:100].sum(), "j": 100})
    np.testing.assert_allclose(np.concatenate([first, second]), whole)


def test_bad_input() -> None:
    with pytest.raises(UsageError):
        measure_risk(np.array([1.5]), upper=1.0, N=None)
    with pytest.raises(UsageError):
        measure_risk(np.array([0.5]), upper=1.0, N=None, method="nope")
    with pytest.raises(UsageError):
        measure_risk(np.ones(5), upper=1.0, N=3)
    with pytest.raises(UsageError):
        measure_risk(np.ones(5), upper=1.0, N=None, mu=1.0)


def test_empty_sample_has_no_evidence() -> None:
    assert measure_risk(np.array([]), upper=1.0, N=100).p_value == 1.0


def _all_orders(counts: list[int]) -> list[list[int]]:
    seqs: list[list[int]] = [[]]
    for _ in range(sum(counts)):
        seqs = [s + [k] for s in seqs for k in range(len(counts))
                if s.count(k) < counts[k]]
    return seqs


@pytest.mark.parametrize("method", ["kelly", "alpha", "agrapa", "betting"])
@pytest.mark.parametrize(("counts", "N"), [([0, 2, 6, 1, 0], None), ([1, 1, 7, 0, 0], 30),
                                           ([0, 3, 5, 0, 1], 12)])
def test_worst_order_risk_bounds_every_order(method: str, counts: list[int],
                                             N: int | None) -> None:
    v = 0.3
    upper = 2 / (2 - v)
    values = comparison_support(upper)
    worst = worst_order_risk(values, np.array(counts), upper=upper, N=N, method=method)
    ps = [measure_risk(values[np.array(s)], upper=upper, N=N, method=method).p_value
          for s in _all_orders(counts)]
    assert max(ps) <= worst.p_value * (1 + 1e-9)  # holds whatever the order
    assert worst.attained == pytest.approx(max(ps), rel=1e-9) or not worst.exact
    if worst.exact:
        assert worst.p_value == pytest.approx(max(ps), rel=1e-9)
    assert min(ps) < max(ps)  # the order matters for these methods


def test_worst_order_risk_refuses_huge_lattices() -> None:
    upper = 2 / (2 - 0.01)
    with pytest.raises(UsageError, match="sequence"):
        worst_order_risk(comparison_support(upper), np.array([300, 300, 100_000, 300, 300]),
                         upper=upper, N=None, method="kelly")

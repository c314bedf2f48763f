"""Kaplan-Markov: the super-simple P-value and sample sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tallyproof.audit.kaplan_markov import (
    kaplan_markov_log_factors,
    kaplan_markov_pvalue,
    kaplan_markov_sample_size,
    stark_sample_size,
    stark_sample_size_from_rates,
)
from tallyproof.audit.plan import estimate_sample_size
from tallyproof.errors import UsageError

G = 1.03905


def test_pvalue_formula() -> None:
    v, n = 0.04, 600
    expected = ((1 - v / (2 * G)) ** n * (1 - 1 / (2 * G)) ** -2 * (1 - 1 / G) ** -1
                * (1 + 1 / (2 * G)) ** -1)
    assert kaplan_markov_pvalue(n, o1=2, o2=1, u1=1, margin=v) == pytest.approx(expected)


def test_sample_size_is_the_first_n_below_alpha() -> None:
    for v in (0.005, 0.02, 0.1):
        for alpha in (0.05, 0.1):
            for o1 in (0, 1, 3):
                n = kaplan_markov_sample_size(v, alpha, o1=o1)
                assert kaplan_markov_pvalue(n, o1=o1, margin=v) <= alpha
                assert kaplan_markov_pvalue(n - 1, o1=o1, margin=v) > alpha


def test_rates_solve_the_fixed_point() -> None:
    n = kaplan_markov_sample_size(0.02, 0.05, o1=0.002, rates=True)
    assert kaplan_markov_pvalue(n, o1=0, margin=0.02) < 0.05  # sanity: errors only add
    log_p = n * math.log(1 - 0.02 / (2 * G)) - 0.002 * n * math.log(1 - 1 / (2 * G))
    assert log_p <= math.log(0.05) + 1e-12
    assert (n - 1) * math.log(1 - 0.02 / (2 * G)) - 0.002 * (n - 1) * math.log(
        1 - 1 / (2 * G)) > math.log(0.05)
    with pytest.raises(UsageError, match="never confirm"):
        kaplan_markov_sample_size(0.01, 0.05, o1=0.02, rates=True)


def test_stark_approximation_is_a_safe_upper_plan() -> None:
    # Stark's super-simple formula: ceil(-2 gamma ln(alpha) / v) with no errors
    assert stark_sample_size(0.05, 0.1) == math.ceil(-2 * G * math.log(0.1) / 0.05)
    for v in (0.01, 0.05, 0.2):
        for o1 in (0, 2):
            assert stark_sample_size(v, 0.05, o1=o1) >= kaplan_markov_sample_size(v, 0.05, o1=o1)


def test_log_factors_match_pvalue() -> None:
    e = np.array([0] * 400 + [1, -1, 2, 0, 0])
    lf = kaplan_markov_log_factors(e, 0.05)
    assert math.exp(-lf.sum()) == pytest.approx(
        kaplan_markov_pvalue(405, o1=1, o2=1, u1=1, margin=0.05), rel=1e-9)


def test_bad_input() -> None:
    with pytest.raises(UsageError):
        kaplan_markov_pvalue(10, o1=11, margin=0.1)
    with pytest.raises(UsageError):
        kaplan_markov_pvalue(10, margin=0.1, gamma=1.0)
    with pytest.raises(UsageError):
        kaplan_markov_sample_size(0.0, 0.1)


@pytest.mark.parametrize(("margin", "o1", "published"), [(0.01, 0, 479), (0.002, 0, 2393),
                                                         (0.05, 1, 123)])
def test_stark_formula_reproduces_the_super_simple_calculator(margin: float, o1: int,
                                                              published: int) -> None:
    # Stark's super-simple calculator and Arlo, alpha 10%, gamma 1.03905, counts in the sample
    est = estimate_sample_size("kaplan-markov", risk_limit=0.1, margin=margin, o1=o1,
                               error_counts=True, km_formula="stark")
    assert est.sample_size == published
    assert "Stark 2010" in est.details["formula"]
    exact = estimate_sample_size("kaplan-markov", risk_limit=0.1, margin=margin, o1=o1,
                                 error_counts=True)
    assert exact.details["formula"] == "exact smallest n"
    assert exact.sample_size is not None and exact.sample_size < published
    assert kaplan_markov_pvalue(exact.sample_size, o1=o1, margin=margin) <= 0.1


def test_stark_formula_from_rates_rounds_one_vote_errors_up() -> None:
    # 478 ballots at a one-vote rate of 1/1000 expect 0.48 of one: planned as one whole error
    n = stark_sample_size_from_rates(0.01, 0.1, o1=0.001)
    n0 = kaplan_markov_sample_size(0.01, 0.1, o1=0.001, rates=True)
    assert n == stark_sample_size(0.01, 0.1, o1=math.ceil(0.001 * n0))
    est = estimate_sample_size("kaplan-markov", risk_limit=0.1, margin=0.01, o1=0.001,
                               km_formula="stark")
    assert est.sample_size == n
    with pytest.raises(UsageError):
        estimate_sample_size("kelly", risk_limit=0.1, margin=0.01, km_formula="stark")

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
)
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

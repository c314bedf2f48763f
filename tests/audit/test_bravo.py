"""BRAVO: the published average sample number and the test statistic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tallyproof.audit.bravo import bravo_asn, bravo_log_factors, bravo_pvalue
from tallyproof.errors import UsageError


def test_published_asn_one_percent_margin() -> None:
    # Lindeman, Stark & Yates 2012, Table 1: 1% margin (50.5% vs 49.5%), alpha = 10%
    assert math.ceil(bravo_asn(0.01, 0.10)) == 46151


def test_asn_grows_as_margin_shrinks_and_risk_limit_tightens() -> None:
    sizes = [bravo_asn(m, 0.1) for m in (0.2, 0.1, 0.05, 0.02)]
    assert sizes == sorted(sizes)
    assert bravo_asn(0.05, 0.05) > bravo_asn(0.05, 0.10)
    # roughly (ln 1/alpha) / (m^2 / 2) for small margins
    assert bravo_asn(0.01, 0.1) == pytest.approx(2 * math.log(10) / 0.01**2, rel=0.01)


def test_pvalue_formula() -> None:
    s = 0.6
    p = bravo_pvalue(30, 12, s)
    assert p == pytest.approx(1 / ((2 * s) ** 30 * (2 * (1 - s)) ** 12))
    assert bravo_pvalue(0, 5, s) == 1.0


def test_log_factors_match_pvalue() -> None:
    x = np.array([1.0] * 30 + [0.0] * 12 + [0.5] * 7)
    lf = bravo_log_factors(x, 0.6)
    assert math.exp(-lf.sum()) == pytest.approx(bravo_pvalue(30, 12, 0.6))


def test_bad_input() -> None:
    with pytest.raises(UsageError):
        bravo_pvalue(1, 1, 0.5)
    with pytest.raises(UsageError):
        bravo_asn(0.0, 0.1)
    with pytest.raises(UsageError):
        bravo_asn(0.1, 1.5)

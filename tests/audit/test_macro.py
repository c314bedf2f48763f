"""MACRO for batch comparison audits: errors, bounds, taints, P-values."""

from __future__ import annotations

import math

import pytest

from tallyproof.audit.macro import macro_bound, macro_error, macro_pvalue, macro_sample_size
from tallyproof.errors import UsageError

# Contest: A 600, B 400, C 100 over 3 batches; winner A, losers B and C.
MARGINS = {("A", "B"): 200, ("A", "C"): 500}
KW = {"winners": ["A"], "losers": ["B", "C"], "margins": MARGINS}


def test_error_is_the_largest_relative_overstatement() -> None:
    reported = {"A": 200, "B": 130, "C": 30}
    audited = {"A": 190, "B": 135, "C": 30}  # A overstated by 10, B understated by 5
    assert macro_error(reported, audited, **KW) == pytest.approx(max(15 / 200, 10 / 500))
    assert macro_error(reported, reported, **KW) == 0.0
    # an understatement of the winner's lead is a negative error
    assert macro_error(reported, {"A": 210, "B": 130, "C": 30}, **KW) < 0


def test_bound() -> None:
    reported = {"A": 200, "B": 130, "C": 30}
    assert macro_bound(reported, 370, **KW) == pytest.approx(max((70 + 370) / 200,
                                                                 (170 + 370) / 500))


def test_pvalue_and_sample_size_without_errors() -> None:
    U = 12.5
    n = macro_sample_size(U, 0.1)
    assert macro_pvalue([0.0] * n, U) <= 0.1 < macro_pvalue([0.0] * (n - 1), U)
    assert n == math.ceil(math.log(10) / -math.log(1 - 1 / U))


def test_taints_raise_the_pvalue() -> None:
    U = 12.5
    clean = macro_pvalue([0.0] * 40, U)
    assert macro_pvalue([0.0] * 39 + [0.3], U) == pytest.approx(clean / 0.7)
    assert macro_pvalue([0.0] * 39 + [-0.2], U) == pytest.approx(clean / 1.2)
    assert macro_pvalue([1.0] + [0.0] * 1000, U) == 1.0  # a maximal taint: full hand count


def test_bad_input() -> None:
    with pytest.raises(UsageError):
        macro_pvalue([1.5], 10)
    with pytest.raises(UsageError):
        macro_pvalue([0.0], 0.5)
    with pytest.raises(UsageError):
        macro_error({}, {}, winners=["A"], losers=["B"], margins={("A", "B"): 0})


def test_arlo_published_scenario() -> None:
    # Arlo's MACRO test data (server/tests/audit_math/test_macro.py): three contests over 400
    # batches; the maximum possible overstatements u_p it publishes, and a sample of 37
    # batches (6 with the winner's lead wiped out in contest A) whose P-value it gives as
    # 0.247688222 with tolerance 0.01. Across contests MACRO takes the maximum (Stark 2008).
    contests = {"A": (60000, 54000), "B": (30000, 24000), "C": (18000, 12600)}

    def batch(i: int, av: bool) -> dict[str, tuple[int, int, int]]:
        k = 1 if av else 2
        out = {"A": (100 * k, 90 * k, 200 * k)}
        if i < 100:
            out["B"] = (100 * k, 80 * k, 200 * k)
        if i < 30 or 100 <= i < 130:
            out["C"] = (100 * k, 70 * k, 200 * k)
        return out

    def bound(b: dict[str, tuple[int, int, int]]) -> float:
        return max(macro_bound({"w": w, "l": l}, n, winners=["w"], losers=["l"],
                               margins={("w", "l"): contests[c][0] - contests[c][1]})
                   for c, (w, l, n) in b.items())

    # published u_p values
    assert bound(batch(150, False)) == pytest.approx(0.0700, abs=1e-3)
    assert bound(batch(150, True)) == pytest.approx(0.035, abs=1e-3)
    assert bound(batch(50, False)) == pytest.approx(0.0733, abs=1e-3)
    assert bound(batch(10, True)) == pytest.approx(0.0426, abs=1e-3)

    U = sum(bound(batch(i, av)) for i in range(200) for av in (False, True))
    taints = [0.0] * 31
    for i in range(100, 106):
        b = batch(i, False)
        e = macro_error({"w": 200, "l": 180}, {"w": 190, "l": 190}, winners=["w"],
                        losers=["l"], margins={("w", "l"): 6000})
        taints.append(e / bound(b))
    assert macro_pvalue(taints, U) == pytest.approx(0.247688222, abs=1e-2)

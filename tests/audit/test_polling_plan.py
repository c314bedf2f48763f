"""Polling plans are a quantile of the stopping time: exact for BRAVO (dynamic programming on
the lattice of counts), simulated for the adaptive and without-replacement methods; checked
against Arlo's published figures and by simulating the audits the plan is for."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.audit.plan import DEFAULT_PLAN_QUANTILE, estimate_sample_size
from tallyproof.audit.polling_stopping import (
    bravo_round_end_probability,
    bravo_stopping_quantile,
    quantile_interval,
)
from tallyproof.audit.simulate import MethodSpec, polling_population, simulate
from tallyproof.errors import UsageError

# Arlo (votingworks/arlo, server/tests/audit_math/test_bravo.py): BRAVO round sizes at risk
# limit 10% for a chance q of finishing in one round, with the round judged on its totals.
# (winner's fraction of all ballots, runner-up's, q, Arlo's size)
ARLO_ROUND_SIZES = [
    (0.6, 0.4, 0.9, 351), (0.6, 0.4, 0.8, 244), (0.6, 0.4, 0.7, 184),
    (0.4, 0.32, 0.9, 1599), (0.4, 0.32, 0.4, 409),
    (0.36, 0.32, 0.9, 6067), (0.36, 0.32, 0.6, 2476),
    (0.52, 0.47, 0.9, 5657),
    (600 / 900, 200 / 900, 0.9, 57), (0.3, 0.2, 0.9, 702), (0.5, 0.45, 0.9, 5426),
]


@pytest.mark.parametrize(("w", "l", "q", "arlo"), ARLO_ROUND_SIZES)
def test_round_end_chance_reproduces_arlo(w: float, l: float, q: float, arlo: int) -> None:
    # Arlo's figures answer "the round's totals reach 1/alpha" with a normal approximation;
    # the exact chance (bravo_round_end_probability) first reaches q within 5% of them (the
    # lattice makes the chance wobble in n, by 3% at 60:40)
    n = np.arange(int(arlo * 0.9), int(arlo * 1.06) + 1)
    p = bravo_round_end_probability(n, w / (w + l), w, l, risk_limit=0.1)
    assert p[0] < q  # well below Arlo's size the chance is short of q
    first = int(n[np.argmax(p >= q)])
    assert abs(first / arlo - 1) <= 0.05


@pytest.mark.parametrize(("w", "l", "q", "arlo"), ARLO_ROUND_SIZES)
def test_sequential_plan_is_below_arlos_round_end_plan(w: float, l: float, q: float,
                                                      arlo: int) -> None:
    # tallyproof measures the risk after every ballot in draw order, so the audit stops by n
    # whenever T crossed 1/alpha at any draw, not only at the end: its q-quantile is smaller.
    # Over Arlo's cases the ratio is 0.68-0.75; the test allows 0.6-0.8
    got = bravo_stopping_quantile(w / (w + l), w, l, risk_limit=0.1, q=q, cap=10**7)
    assert got.computed == "exact" and got.sample_size is not None
    assert 0.6 * arlo <= got.sample_size <= 0.8 * arlo


@pytest.mark.parametrize(("w", "l", "N"), [(0.6, 0.4, None), (0.3, 0.2, None),
                                           (0.55, 0.45, None)])
def test_exact_bravo_quantile_against_the_draw_by_draw_engine(w: float, l: float,
                                                             N: int | None) -> None:
    # simulate.py (draw by draw, BRAVO's own log factors) must stop by the exact plan in
    # about q of its audits and by one ballot less in fewer than q (+ 3 standard errors)
    s = w / (w + l)
    plan = bravo_stopping_quantile(s, w, l, risk_limit=0.1, q=0.9, cap=10**7)
    assert plan.sample_size is not None and plan.prob is not None
    assert 0.9 <= plan.prob
    reps = 4000
    sim = simulate(polling_population(w, l), [MethodSpec("bravo", "bravo",
                                                         {"winner_share": s}, use_N=False)],
                   risk_limit=0.1, reps=reps, max_n=20 * plan.sample_size, seed=7)
    sizes = sim.sample_sizes["bravo"]
    se = math.sqrt(0.9 * 0.1 / reps)
    assert abs(float((sizes <= plan.sample_size).mean()) - plan.prob) <= 3 * se
    below = bravo_stopping_quantile(s, w, l, risk_limit=0.1, q=0.9, cap=plan.sample_size - 1)
    assert below.sample_size is None and below.prob is not None and below.prob < 0.9


def test_bravo_jump_simulation_brackets_the_exact_quantile() -> None:
    # past DP_MAX_PAIRS the plan is simulated: its 95% interval holds the exact value
    exact = bravo_stopping_quantile(0.515, 0.515, 0.485, risk_limit=0.1, q=0.9, cap=10**7)
    sim = bravo_stopping_quantile(0.515, 0.515, 0.485, risk_limit=0.1, q=0.9, cap=10**7,
                                  max_pairs=1)
    assert exact.computed == "exact" and sim.computed == "simulated"
    assert exact.sample_size is not None and sim.interval is not None
    assert sim.interval[0] <= exact.sample_size <= sim.interval[1]
    again = bravo_stopping_quantile(0.515, 0.515, 0.485, risk_limit=0.1, q=0.9, cap=10**7,
                                    max_pairs=1)
    assert again == sim  # seeded: the same plan for the same inputs


def test_published_bravo_asn_is_the_expected_size_and_the_plan_its_quantile() -> None:
    est = estimate_sample_size("bravo", risk_limit=0.10, margin=0.01)
    assert est.expected is not None and math.ceil(est.expected) == 46151  # LSY 2012 Table 1
    assert est.basis == "stopping-time distribution" and est.quantile == DEFAULT_PLAN_QUANTILE
    assert est.details["sampling"] == "with replacement"
    # a 1% margin needs ~96,000 pair draws: exact (the row-by-row lattice, about 15 s, gave
    # 96,469 too; it simulated such margins, with an interval holding this value)
    assert est.details["computed"] == "exact" and est.sample_size == 96_469
    assert est.sample_size > 2 * 46151  # the mean is far below a 90% chance of finishing


def test_bravo_plan_from_votes_uses_the_pair_share() -> None:
    est = estimate_sample_size("bravo", risk_limit=0.1, votes={"a": 600, "b": 400})
    assert est.sample_size == 244 and est.details["computed"] == "exact"
    assert est.expected is not None and math.ceil(est.expected) == 119  # Arlo's ASN
    median = estimate_sample_size("bravo", risk_limit=0.1, votes={"a": 600, "b": 400},
                                  quantile=0.5)
    assert median.sample_size is not None and median.sample_size < est.sample_size
    others = estimate_sample_size("bravo", risk_limit=0.1, votes={"a": 600, "b": 400, "c": 100})
    assert others.sample_size is not None and others.sample_size > est.sample_size


def test_alpha_with_replacement_is_bravo_on_the_diluted_margin() -> None:
    alpha = estimate_sample_size("alpha", audit="polling", risk_limit=0.1, margin=0.1)
    bravo = estimate_sample_size("bravo", risk_limit=0.1, margin=0.1)
    assert alpha.details["computed"] == "exact" and alpha.sample_size == bravo.sample_size


@pytest.mark.parametrize(("method", "margin", "N"), [("alpha", 0.1, 10_000),
                                                     ("agrapa", 0.2, 5_000),
                                                     ("alpha", 0.05, 50_000)])
def test_simulated_polling_plan_stops_with_probability_q(method: str, margin: float,
                                                         N: int) -> None:
    # an independent simulation (other seed, the per-replicate draw loop) of the audit the
    # plan is for stops within the plan in q of its audits: within 0.05 (3 standard errors
    # of the plan's 400 and the check's 2,000 replicates)
    est = estimate_sample_size(method, audit="polling", risk_limit=0.1, margin=margin,
                               ballots=N)
    assert est.basis == "stopping-time distribution" and est.sample_size is not None
    assert est.details["sampling"] == "without replacement"
    lo, hi = est.details["quantile_interval_95"]
    assert lo <= est.sample_size <= hi
    s = (1 + margin) / 2
    params = {"eta0": s, "d": 1e12} if method == "alpha" else {}
    sim = simulate(polling_population(s, 1 - s, N=N), [MethodSpec(method, method, params)],
                   risk_limit=0.1, reps=2000, seed=99)
    frac = float((sim.confirmed[method] & (sim.sample_sizes[method] <= est.sample_size)).mean())
    assert abs(frac - DEFAULT_PLAN_QUANTILE) <= 0.05
    again = estimate_sample_size(method, audit="polling", risk_limit=0.1, margin=margin,
                                 ballots=N)
    assert again == est


def test_without_replacement_needs_fewer_ballots_than_bravo() -> None:
    alpha = estimate_sample_size("alpha", audit="polling", risk_limit=0.05, margin=0.03,
                                 ballots=40_000)
    bravo = estimate_sample_size("bravo", risk_limit=0.05, margin=0.03, ballots=40_000)
    assert alpha.sample_size is not None and bravo.sample_size is not None
    assert alpha.sample_size < bravo.sample_size


def test_assumed_votes() -> None:
    votes = {"a": 5400, "b": 4600}
    base = estimate_sample_size("bravo", risk_limit=0.1, votes=votes)
    closer = estimate_sample_size("bravo", risk_limit=0.1, votes=votes,
                                  assumed_votes={"a": 5300, "b": 4700})
    assert base.sample_size is not None and closer.sample_size is not None
    assert closer.sample_size > base.sample_size
    assert closer.details["assumed_votes"] == {"a": 5300, "b": 4700}
    wrong = estimate_sample_size("alpha", audit="polling", risk_limit=0.1, votes=votes,
                                 assumed_votes={"a": 4900, "b": 5100})
    assert wrong.sample_size is None and wrong.details["reason"].startswith("the assumed")
    # BRAVO bets on the reported share: a much closer true share may never finish
    far = estimate_sample_size("bravo", risk_limit=0.1, votes={"a": 6000, "b": 4000},
                               assumed_votes={"a": 5500, "b": 4500})
    assert far.sample_size is None and far.details["stop_probability"] < 0.9
    with pytest.raises(UsageError, match="same candidates"):
        estimate_sample_size("bravo", risk_limit=0.1, votes=votes, assumed_votes={"a": 1})
    with pytest.raises(UsageError, match="reported votes"):
        estimate_sample_size("bravo", risk_limit=0.1, margin=0.1, assumed_votes={"a": 1})
    with pytest.raises(UsageError, match="polling"):
        estimate_sample_size("kelly", risk_limit=0.1, votes=votes, assumed_votes=votes)


def test_fixed_bets_with_replacement_are_a_walk_too() -> None:
    # fixed bets (lambda = 1: x1.5 for the winner, x0.5 for the loser) lose on average at a
    # 1% margin: a full hand count, decided on the lattice (not 400 audits of 10^7 draws)
    est = estimate_sample_size("betting", audit="polling", risk_limit=0.1, margin=0.01)
    assert est.sample_size is None and est.to_json()["full_hand_count"]
    assert est.details["sampling"] == "with replacement" and est.expected is None
    wide = estimate_sample_size("betting", audit="polling", risk_limit=0.1, margin=0.6)
    assert wide.sample_size is not None and wide.details["computed"] == "exact"
    s = 0.8
    sim = simulate(polling_population(s, 1 - s), [MethodSpec("betting", "betting", {})],
                   risk_limit=0.1, reps=4000, max_n=10_000, seed=3)
    frac = float((sim.sample_sizes["betting"] <= wide.sample_size).mean())
    assert abs(frac - wide.details["stop_probability"]) <= 3 * math.sqrt(0.09 / 4000)


def test_quantile_interval_is_distribution_free() -> None:
    sizes = np.arange(1, 401)
    lo, hi = quantile_interval(sizes, 0.9)
    assert lo < 360 < hi and 340 <= lo and hi <= 380


@settings(max_examples=40, deadline=None)
@given(loser=st.integers(1, 20_000), lead=st.integers(1, 20_000), other=st.integers(0, 2_000),
       shift=st.integers(-20_000, 20_000))
def test_bravo_plans_never_fail(loser: int, lead: int, other: int, shift: int) -> None:
    # any vote totals, with or without assumed ones: a size within the population or a
    # full hand count, never an exception
    x = min(other, loser - 1)  # a third candidate behind the runner-up (no ties)
    votes = {"w": loser + lead, "l": loser} | ({"x": x} if x > 0 else {})
    total = sum(votes.values())
    assumed_w = min(max(votes["w"] + shift, 0), votes["w"] + votes["l"])
    assumed = {"w": assumed_w, "l": votes["w"] + votes["l"] - assumed_w} | (
        {"x": x} if x > 0 else {})
    for kw in ({}, {"assumed_votes": assumed}):
        est = estimate_sample_size("bravo", risk_limit=0.1, votes=votes, **kw)
        assert est.ballots == total
        assert est.sample_size is None or 1 <= est.sample_size < total

"""Sample-size planning: published numbers, closed forms, paths, simulation, speed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.audit.kaplan_markov import kaplan_markov_sample_size
from tallyproof.audit.plan import (
    estimate_sample_size,
    margin_from_votes,
    no_error_floor,
    plan_for_assertion,
)
from tallyproof.audit import plan
from tallyproof.audit.plan import DEFAULT_PLAN_QUANTILE, _path_sample_size
from tallyproof.audit.risk import measure_risk
from tallyproof.audit.simulate import MethodSpec, comparison_population, simulate
from tallyproof.audit.stopping import comparison_stopping_times
from tallyproof.errors import UsageError


def test_bravo_published_46151() -> None:
    # the published ASN is the plan's expected size; the plan itself is the 0.9-quantile of
    # the stopping time (tests/audit/test_polling_plan.py; it was the ASN, 46,151, before)
    est = estimate_sample_size("bravo", risk_limit=0.10, margin=0.01)
    assert est.expected is not None and math.ceil(est.expected) == 46151
    assert est.basis == "stopping-time distribution"
    assert est.audit == "polling"


def test_bravo_from_votes_uses_pair_share_and_ballot_fraction() -> None:
    est = estimate_sample_size("bravo", risk_limit=0.1, votes={"a": 600, "b": 400, "c": 100})
    assert est.details["winner_share"] == pytest.approx(0.6)
    assert est.details["ballot_fraction"] == pytest.approx(1000 / 1100)
    alone = estimate_sample_size("bravo", risk_limit=0.1, votes={"a": 600, "b": 400})
    assert est.sample_size > alone.sample_size  # ballots for neither carry no evidence


def test_kaplan_markov_closed_form() -> None:
    est = estimate_sample_size("kaplan-markov", risk_limit=0.05, margin=0.02, o1=0.001)
    assert est.sample_size == kaplan_markov_sample_size(0.02, 0.05, o1=0.001, rates=True)
    counts = estimate_sample_size("kaplan-markov", risk_limit=0.05, margin=0.02, o1=2,
                                  error_counts=True)
    assert counts.sample_size == kaplan_markov_sample_size(0.02, 0.05, o1=2)


@pytest.mark.parametrize("v", [0.005, 0.02, 0.1])
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_default_comparison_plan_near_floor(v: float, alpha: float) -> None:
    floor = math.ceil(math.log(1 / alpha) / math.log(2 / (2 - v)))
    n = estimate_sample_size("kelly", risk_limit=alpha, margin=v).sample_size
    assert n is not None and floor <= n <= 1.05 * floor


def test_errors_increase_the_plan_and_can_overturn() -> None:
    base = estimate_sample_size("kelly", risk_limit=0.05, margin=0.02).sample_size
    more = estimate_sample_size("kelly", risk_limit=0.05, margin=0.02, o1=0.005).sample_size
    assert base is not None and more is not None and more > base
    wrong = estimate_sample_size("kelly", risk_limit=0.05, margin=0.02, o1=0.03)
    assert wrong.sample_size is None and wrong.to_json()["full_hand_count"]


def test_simulated_quantile_is_reproducible_and_ordered() -> None:
    kw = dict(risk_limit=0.1, margin=0.05, o1=0.002, reps=200)
    a = estimate_sample_size("kelly", quantile=0.5, **kw)
    b = estimate_sample_size("kelly", quantile=0.5, **kw)
    c = estimate_sample_size("kelly", quantile=0.9, **kw)
    assert a.sample_size == b.sample_size
    assert a.basis == "stopping-time distribution"
    assert a.sample_size is not None and c.sample_size is not None
    assert c.sample_size >= a.sample_size


def test_polling_alpha_with_population() -> None:
    est = estimate_sample_size("alpha", audit="polling", risk_limit=0.1, margin=0.1,
                               ballots=10_000)
    bravo = estimate_sample_size("bravo", risk_limit=0.1, margin=0.1)
    assert est.sample_size is not None and bravo.sample_size is not None
    assert est.sample_size <= bravo.sample_size * 1.05
    tiny = estimate_sample_size("alpha", audit="polling", risk_limit=0.05, margin=0.01,
                                ballots=5000)
    assert tiny.sample_size is not None and tiny.sample_size <= 5000


def test_plan_for_assertion() -> None:
    # comparison: the plan depends on v/u; u = 1 plurality
    n = plan_for_assertion(0.02, 1.0, 100_000, 0.05, "kelly")
    assert n == estimate_sample_size("kelly", risk_limit=0.05, margin=0.02,
                                     ballots=100_000).sample_size
    assert plan_for_assertion(0.02, 1.0, 100_000, 0.05, "kelly", {"o1": 0.001}) > n
    assert plan_for_assertion(-0.01, 1.0, 1000, 0.05, "kelly") is None
    polling = plan_for_assertion(0.1, 1.0, 100_000, 0.05, "alpha", audit="polling")
    assert polling is not None and polling > n
    with pytest.raises(UsageError):
        plan_for_assertion(0.1, 1.0, 1000, 0.05, "kelly", {"oops": 0.1})


def test_two_hundred_contests_plan_reproducibly() -> None:
    """Many contests plan at once (the speed is benchmarks' business, not a test's): every
    plan is a sample size within the frame, and planning again gives the same sizes."""
    margins = np.random.default_rng(1).uniform(0.01, 0.4, size=200)

    def plan() -> list[int | None]:
        return [estimate_sample_size("kelly", risk_limit=0.05, margin=float(m),
                                     ballots=500_000, o1=0.001).sample_size for m in margins]

    sizes = plan()
    assert all(s is not None and 0 < s < 500_000 for s in sizes)
    assert plan() == sizes


def test_margin_from_votes() -> None:
    assert margin_from_votes({"a": 60, "b": 30, "c": 10}) == (0.3, 60 / 90, 100)
    assert margin_from_votes({"a": 60, "b": 30}, 120)[0] == pytest.approx(0.25)
    with pytest.raises(UsageError, match="tied"):
        margin_from_votes({"a": 5, "b": 5})
    with pytest.raises(UsageError):
        margin_from_votes({"a": 5, "b": 4}, 8)


def test_bad_requests() -> None:
    with pytest.raises(UsageError):
        estimate_sample_size("bravo", risk_limit=0.1)
    with pytest.raises(UsageError):
        estimate_sample_size("bravo", risk_limit=0.1, margin=0.1, audit="comparison")
    with pytest.raises(UsageError):
        estimate_sample_size("nope", risk_limit=0.1, margin=0.1)
    with pytest.raises(UsageError):
        estimate_sample_size("kelly", risk_limit=0.1, margin=0.1, quantile=1.5)
    with pytest.raises(UsageError):
        estimate_sample_size("kelly", risk_limit=0.1, margin=0.1, o1=2, error_counts=True)


@pytest.mark.parametrize("method", ["alpha", "betting", "agrapa"])
def test_two_candidate_votes_that_round_above_one(method: str) -> None:
    # the winner's and loser's fractions, computed as share * fraction, summed to 1 + 1 ulp
    # and the totals were rejected as bad input
    # (reps=20: the polling plan simulates 1,000,000-ballot audits; this test is about input)
    est = estimate_sample_size(method, audit="polling", risk_limit=0.1,
                               votes={"A": 502_500, "B": 497_500}, reps=20)
    assert est.sample_size is not None and 0 < est.sample_size <= 1_000_000


@settings(max_examples=60, deadline=None)
@given(loser=st.integers(1, 20_000), lead=st.integers(1, 20_000), other=st.integers(0, 2_000),
       method=st.sampled_from(["alpha", "betting", "agrapa", "bravo"]))
def test_polling_calculators_accept_any_vote_totals(loser: int, lead: int, other: int,
                                                    method: str) -> None:
    votes = {"w": loser + lead, "l": loser} | ({"x": min(other, loser - 1)} if other else {})
    quantile = 0.5 if method == "bravo" else None
    est = estimate_sample_size(method, audit="polling", risk_limit=0.1, votes=votes,
                               quantile=quantile, reps=20)
    total = sum(votes.values())
    assert est.ballots == total
    if est.sample_size is not None:
        assert 1 <= est.sample_size <= total


@pytest.mark.parametrize(("v", "N"), [(0.1, 1000), (0.1, 200), (0.02, 20_000), (0.3, 50)])
def test_no_error_floor_without_replacement(v: float, N: int) -> None:
    # betting everything on every clean card (lambda = 1/mu_i) reaches the risk limit at the
    # floor and not one card earlier; without replacement that is below the bound with
    # replacement, which is therefore not a floor there
    floor = no_error_floor(v, 0.05, N=N)
    with_replacement = no_error_floor(v, 0.05)
    assert floor is not None and with_replacement is not None and floor < with_replacement
    upper = 2 / (2 - v)
    clean = np.full(floor, 1 / (2 - v))
    at = measure_risk(clean, upper=upper, N=N, method="betting", lam=1e12).p_value
    before = measure_risk(clean[:-1], upper=upper, N=N, method="betting", lam=1e12).p_value
    assert at <= 0.05 < before


@pytest.mark.parametrize(("v", "o1", "o2", "N"), [(0.01, 0.001, 0.0, 200_000),
                                                  (0.02, 0.004, 0.0002, None),
                                                  (0.03, 0.005, 0.0, 3_000)])
def test_stopping_times_match_the_simulation_engine(v: float, o1: float, o2: float,
                                                    N: int | None) -> None:
    # the fast lattice simulation against simulate.py (draw-by-draw), same settings
    cap = N if N is not None else 1_000_000
    st = comparison_stopping_times(v, risk_limit=0.05, method="kelly",
                                   rates={"o1": o1, "o2": o2}, N=N, cap=cap, reps=800)
    assert st is not None
    sim = simulate(comparison_population(v, o1=o1, o2=o2, N=N),
                   [MethodSpec("kelly", "kelly", {})], risk_limit=0.05, reps=800,
                   max_n=None if N is not None else cap)
    # same distribution: the largest gap between the two empirical CDFs (Kolmogorov-Smirnov)
    # is within what 800 + 800 replicates allow (critical value 0.068 at 5%; 0.085 at 0.5%)
    grid = np.union1d(st.sizes, sim.sample_sizes["kelly"])
    cdf_ours = np.searchsorted(np.sort(st.sizes), grid, side="right") / st.sizes.size
    theirs = np.sort(sim.sample_sizes["kelly"])
    cdf_theirs = np.searchsorted(theirs, grid, side="right") / theirs.size
    assert float(np.abs(cdf_ours - cdf_theirs).max()) <= 0.085
    assert st.confirmed.mean() == pytest.approx(sim.rejection_rate("kelly"), abs=0.02)


def test_plans_with_errors_are_a_quantile_of_the_stopping_time() -> None:
    # spreading the errors fractionally (the expected-rate path) planned below the chance
    # of finishing; the plan is now the quantile asked for (0.9 unless told)
    kw = dict(risk_limit=0.05, margin=0.01, o1=0.001, ballots=500_000)
    est = estimate_sample_size("kelly", **kw)
    assert est.basis == "stopping-time distribution" and est.quantile == DEFAULT_PLAN_QUANTILE
    st = comparison_stopping_times(0.01, risk_limit=0.05, method="kelly", rates={"o1": 0.001},
                                   N=500_000, cap=500_000, reps=400)
    assert st is not None
    assert est.sample_size == st.quantile(DEFAULT_PLAN_QUANTILE)
    assert float((st.sizes <= est.sample_size).mean()) >= DEFAULT_PLAN_QUANTILE
    pop = comparison_population(0.01, o1=0.001, N=500_000)
    path = _path_sample_size(pop, MethodSpec("kelly", "kelly", {}), 0.05, 500_000)
    assert path is not None and est.sample_size > path
    median = estimate_sample_size("kelly", quantile=0.5, **kw)
    assert median.quantile == 0.5 and median.sample_size == st.quantile(0.5)
    clean = estimate_sample_size("kelly", risk_limit=0.05, margin=0.01, ballots=500_000)
    assert clean.basis == "expected-rate path"  # no errors: the stopping time is not random


def test_plans_with_many_errors_simulate_draw_by_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    # the lattice grows with the discrepancies met: past max_errors it hands over
    assert comparison_stopping_times(0.02, risk_limit=0.05, method="kelly", rates={"o1": 0.009},
                                     N=None, cap=1_000_000, reps=50, max_errors=2) is None
    kw = dict(risk_limit=0.05, margin=0.02, o1=0.009, ballots=20_000, reps=800)
    lattice = estimate_sample_size("kelly", **kw)
    monkeypatch.setattr(plan, "_LATTICE_MAX_ERRORS", 2)
    drawn = estimate_sample_size("kelly", **kw)
    assert drawn.basis == lattice.basis == "stopping-time distribution"
    assert drawn.sample_size is not None and lattice.sample_size is not None
    # the same distribution, different random draws: close, not equal
    assert abs(drawn.sample_size - lattice.sample_size) <= 0.1 * lattice.sample_size
    assert drawn.expected == pytest.approx(lattice.expected, rel=0.05)
    path = estimate_sample_size("kelly", risk_limit=0.05, margin=0.02).sample_size
    assert path is not None and drawn.sample_size > path

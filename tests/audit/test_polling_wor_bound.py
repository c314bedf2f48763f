"""ALPHA's polling plan without replacement from the exact with-replacement quantile: never
below the simulated without-replacement quantile, used only when the sample is a small part
of the population, honoured by the audits it plans, and cached."""

from __future__ import annotations

import math

import pytest

from tallyproof.audit.plan import (
    ALPHA_POLLING_D,
    DEFAULT_PLAN_QUANTILE,
    WOR_BOUND_BASIS,
    WOR_BOUND_FRACTION,
    _polling_quantile,
    estimate_sample_size,
)
from tallyproof.audit.polling_stopping import quantile_interval, walk_stopping_quantile
from tallyproof.audit.simulate import MethodSpec, polling_population, simulate

Q = DEFAULT_PLAN_QUANTILE


def _with_replacement(reported: tuple[float, float], true: tuple[float, float],
                      risk_limit: float) -> int:
    m = reported[0] - reported[1]
    stop = walk_stopping_quantile(math.log(1 + m), math.log(1 - m), *true,
                                  risk_limit=risk_limit, q=Q, cap=10_000_000)
    assert stop.sample_size is not None
    return stop.sample_size


def _without_replacement(reported: tuple[float, float], true: tuple[float, float], N: int,
                         risk_limit: float, reps: int = 2000, seed: int = 4242):
    spec = MethodSpec("alpha", "alpha", {"eta0": (1 + reported[0] - reported[1]) / 2,
                                         "d": ALPHA_POLLING_D})
    # until 0.95: the replicates still open then are past every quantile these tests read
    return simulate(polling_population(*true, N=N), [spec], risk_limit=risk_limit, reps=reps,
                    seed=seed, vectorised_draws=True, until=0.95)


# (reported winner, runner-up fractions of all ballots; true ones; N; risk limit): margins
# 2-40%, ballots for neither, true shares closer than reported, and samples from under 1%
# to several times the population (where without replacement is far faster)
GRID = [
    ((0.7, 0.3), (0.7, 0.3), 2_000, 0.05),
    ((0.6, 0.4), (0.6, 0.4), 2_000, 0.05),
    ((0.55, 0.45), (0.55, 0.45), 10_000, 0.05),
    ((0.525, 0.475), (0.525, 0.475), 10_000, 0.1),
    ((0.51, 0.49), (0.51, 0.49), 10_000, 0.05),
    ((0.45, 0.35), (0.45, 0.35), 20_000, 0.05),
    ((0.45, 0.35), (0.43, 0.37), 20_000, 0.1),
    ((0.3, 0.2), (0.3, 0.2), 5_000, 0.01),
    ((0.6, 0.4), (0.6, 0.4), 200_000, 0.05),
]


@pytest.mark.parametrize(("reported", "true", "N", "risk_limit"), GRID)
def test_with_replacement_quantile_is_not_below_without(reported, true, N, risk_limit) -> None:
    # the with-replacement quantile may exceed the simulated without-replacement one by any
    # amount, but never lie below the lower end of its 95% interval (2,000 replicates)
    wr = _with_replacement(reported, true, risk_limit)
    sim = _without_replacement(reported, true, N, risk_limit)
    assert float(sim.confirmed["alpha"].mean()) >= 0.95
    lo, _ = quantile_interval(sim.sample_sizes["alpha"], Q)
    assert wr >= lo, (wr, lo)


def test_bound_used_for_small_fractions_and_simulation_for_large() -> None:
    small = estimate_sample_size("alpha", audit="polling", risk_limit=0.05, margin=0.05,
                                 ballots=1_000_000)
    assert small.details["plan_basis"] == WOR_BOUND_BASIS
    assert small.details["sampling"] == "without replacement"
    assert small.details["computed"] == "exact"
    assert small.sample_size == _with_replacement((0.525, 0.475), (0.525, 0.475), 0.05)
    assert small.sample_size <= WOR_BOUND_FRACTION * 1_000_000
    # 1,205 ballots with replacement is 12% of 10,000: simulated without, and smaller
    large = estimate_sample_size("alpha", audit="polling", risk_limit=0.05, margin=0.1,
                                 ballots=10_000)
    assert "plan_basis" not in large.details and large.details["computed"] == "simulated"
    assert large.sample_size is not None
    assert large.sample_size < _with_replacement((0.55, 0.45), (0.55, 0.45), 0.05)


@pytest.mark.parametrize(("votes", "assumed", "N", "risk_limit"), [
    ({"A": 60_000, "B": 40_000}, None, 100_000, 0.05),
    ({"A": 45_000, "B": 35_000, "C": 20_000}, None, 100_000, 0.1),
    ({"A": 45_000, "B": 35_000, "C": 20_000}, {"A": 44_000, "B": 36_000, "C": 20_000},
     100_000, 0.1),
])
def test_audits_stop_by_the_bound_plan_with_probability_q(votes, assumed, N,
                                                          risk_limit) -> None:
    est = estimate_sample_size("alpha", audit="polling", risk_limit=risk_limit, votes=votes,
                               ballots=N, assumed_votes=assumed)
    assert est.details.get("plan_basis") == WOR_BOUND_BASIS and est.sample_size is not None
    truth = assumed or votes
    ranked = sorted(votes, key=votes.__getitem__, reverse=True)
    reported = (votes[ranked[0]] / N, votes[ranked[1]] / N)
    true = (truth[ranked[0]] / N, truth[ranked[1]] / N)
    sim = _without_replacement(reported, true, N, risk_limit, reps=2000, seed=77)
    stopped = sim.confirmed["alpha"] & (sim.sample_sizes["alpha"] <= est.sample_size)
    # P(stop by the plan) >= q, less 3 standard errors of 2,000 replicates (0.02)
    assert float(stopped.mean()) >= Q - 3 * math.sqrt(Q * (1 - Q) / 2000)


def test_plans_are_cached_within_the_process() -> None:
    args = dict(audit="polling", risk_limit=0.05, margin=0.0731, ballots=1_000_000)
    first = estimate_sample_size("alpha", **args)
    hits = _polling_quantile.cache_info().hits
    first.details["computed"] = "tampered"  # a caller's copy: the cache keeps its own
    again = estimate_sample_size("alpha", **args)
    assert _polling_quantile.cache_info().hits == hits + 1
    assert again.details["computed"] == "exact" and again.sample_size == first.sample_size

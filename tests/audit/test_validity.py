"""The risk limit holds: simulate many audits of elections whose reported winner actually
lost or tied (the null is true) and check how often each method wrongly confirms.

Each method must confirm at most alpha + 3 standard errors of the time (binomial standard
error at rate alpha). Every test simulates at least 2,000 audits per method, vectorised, on
a small population so that an audit that never confirms ends at a full hand count quickly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tallyproof.audit.simulate import (
    MethodSpec,
    Population,
    comparison_population,
    polling_population,
    simulate,
)

REPS = 2000
ALPHA = 0.1


def bound(alpha: float = ALPHA, reps: int = REPS) -> float:
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / reps)


def check(sim_rates: dict[str, float]) -> None:
    for name, rate in sim_rates.items():
        assert rate <= bound(), f"{name} confirmed a wrong outcome {rate:.3%} of the time"


def test_polling_tie_without_replacement() -> None:
    # reported 55% vs 45%, truly 300 : 300 (a tie) among 600 ballots; sampling w/o replacement
    pop = polling_population(0.5, 0.5, N=600)
    specs = [
        MethodSpec("alpha_default", "alpha", {"eta0": 0.55, "d": 1e12}),
        MethodSpec("alpha_adaptive", "alpha", {"eta0": 0.6, "d": 20}),
        MethodSpec("agrapa", "agrapa"),
    ]
    sim = simulate(pop, specs, risk_limit=ALPHA, reps=REPS)
    rates = {s.name: sim.rejection_rate(s.name) for s in specs}
    check(rates)
    # the test is not vacuous: the default method does sometimes (wrongly) confirm
    assert rates["alpha_default"] > 0


def test_polling_reported_winner_lost_with_replacement() -> None:
    # BRAVO as deployed (with replacement); the reported winner really has 49%
    pop = polling_population(0.49, 0.51)
    specs = [MethodSpec("bravo", "bravo", {"winner_share": 0.55}),
             MethodSpec("alpha", "alpha", {"eta0": 0.55, "d": 100}, use_N=False)]
    sim = simulate(pop, specs, risk_limit=ALPHA, reps=REPS, max_n=1500)
    check({s.name: sim.rejection_rate(s.name) for s in specs})


@pytest.mark.slow
def test_comparison_tie() -> None:
    # reported diluted margin 4%, but one-vote overstatements on 4% of ballots: a true tie
    v = 0.04
    pop = comparison_population(v, o1=v, N=500)
    assert pop.true_mean() == pytest.approx(0.5)
    specs = [
        MethodSpec("kelly", "kelly"),
        MethodSpec("alpha", "alpha", {"eta0": 0.9 * pop.upper + 0.05, "d": 1000}),
        MethodSpec("kaplan_markov", "kaplan-markov", {"margin": v}, use_N=False),
    ]
    sim = simulate(pop, specs, risk_limit=ALPHA, reps=REPS)
    check({s.name: sim.rejection_rate(s.name) for s in specs})


@pytest.mark.slow
def test_comparison_wrong_outcome_with_two_vote_errors_with_replacement() -> None:
    v = 0.05
    pop = comparison_population(v, o1=0.01, o2=0.022)  # true margin 0.05 - 0.01 - 0.044 < 0
    assert pop.true_mean() < 0.5
    specs = [MethodSpec("kelly", "kelly", use_N=False),
             MethodSpec("kaplan_markov", "kaplan-markov", {"margin": v}, use_N=False)]
    sim = simulate(pop, specs, risk_limit=ALPHA, reps=REPS, max_n=600)
    check({s.name: sim.rejection_rate(s.name) for s in specs})


@pytest.mark.slow
def test_batch_macro_wrong_outcome() -> None:
    # 40 batches drawn with probability proportional to their error bounds (PPEB). The
    # errors e_p add up to exactly 1: the reported margin is entirely overstated (a tie).
    rng = np.random.default_rng(11)
    bounds = rng.uniform(0.05, 0.2, size=40)
    total = float(bounds.sum())
    errors = np.zeros(40)
    errors[:8] = bounds[:8] * 0.6  # eight batches carry most of the error
    errors[8:] = (1 - errors[:8].sum()) * bounds[8:] / bounds[8:].sum()
    assert errors.sum() == pytest.approx(1.0) and np.all(errors <= bounds)
    taints = errors / bounds
    pop = Population(values=taints, upper=1.0, labels=tuple(f"b{i}" for i in range(40)),
                     probs=bounds / total)
    specs = [MethodSpec("macro", "macro", {"total_bound": total})]
    sim = simulate(pop, specs, risk_limit=ALPHA, reps=REPS, max_n=400)
    check({"macro": sim.rejection_rate("macro")})


@pytest.mark.slow
def test_batch_alpha_on_batch_assorters_wrong_outcome() -> None:
    # batch-level comparison: each batch's comparison-assorter value is continuous; 60
    # batches drawn uniformly with replacement, values averaging exactly 1/2 (a tie)
    z = np.random.default_rng(5).standard_normal(60)
    values = 0.5 + 0.4 * (z - z.mean()) / np.abs(z - z.mean()).max() - 1e-12
    upper = 2 / (2 - 0.05)
    pop = Population(values=values, upper=upper, labels=tuple(f"b{i}" for i in range(60)),
                     probs=np.full(60, 1 / 60))
    assert pop.true_mean() <= 0.5
    specs = [MethodSpec("alpha", "alpha", {"eta0": 0.6, "d": 50}, use_N=False),
             MethodSpec("agrapa", "agrapa", use_N=False),
             MethodSpec("kelly", "kelly", use_N=False)]
    sim = simulate(pop, specs, risk_limit=ALPHA, reps=REPS, max_n=400)
    check({s.name: sim.rejection_rate(s.name) for s in specs})


def test_bound_is_the_stated_one() -> None:
    assert bound(0.1, 2000) == pytest.approx(0.1 + 3 * math.sqrt(0.09 / 2000))

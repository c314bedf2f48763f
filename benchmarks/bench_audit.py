"""Benchmark: expected ballots examined by tallyproof's default audit methods, side by side
with BRAVO and Kaplan-Markov computed in the same run on the same simulated draws.

Two-candidate contests, population N = 1,000,000 ballot cards, diluted margins 0.5%, 1%,
2%, 5%, 10%, risk limits 5% and 10%.

* Comparison audits: no errors, and one-vote overstatement rates 0.1% and 1%. tallyproof's
  default (Kelly/COBRA bets, sampling without replacement) against Kaplan-Markov
  (gamma = 1.03905, with replacement). Target: no errors within 5% of the floor
  (``plan.no_error_floor`` without replacement from N cards); with errors fewer ballots
  than Kaplan-Markov.
  A setting where the errors overturn the outcome (true margin <= 0) has no "expected
  sample": every valid method must go to a full hand count; it is listed, not compared.
* Polling audits (no CVRs, so no discrepancy rates): tallyproof's default (ALPHA, eta fixed at
  the reported share, sampling without replacement) against BRAVO (with replacement).
  Target: fewer ballots than BRAVO.

Also times planning a 200-contest election (target < 2 s). Writes
``benchmarks/results/audit.json``. Run: ``python benchmarks/bench_audit.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tallyproof.audit.bravo import bravo_asn
from tallyproof.audit.plan import ALPHA_POLLING_D, estimate_sample_size, no_error_floor
from tallyproof.audit.simulate import (
    MethodSpec,
    SimulationResult,
    comparison_population,
    polling_population,
    simulate,
)
from tallyproof.fsutil import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "audit.json"
N = 1_000_000
MARGINS = (0.005, 0.01, 0.02, 0.05, 0.1)
RISK_LIMITS = (0.05, 0.10)
O1_RATES = (0.0, 0.001, 0.01)


def floor_size(v: float, alpha: float) -> int:
    """Fewest ballots any comparison audit of the N cards, sampled without replacement as
    tallyproof's default samples, needs with no errors (``plan.no_error_floor``; with
    replacement it would be ceil(ln(1/alpha) / ln(2/(2 - v))), which is not a floor here)."""
    floor = no_error_floor(v, alpha, N=N)
    if floor is None:
        raise RuntimeError(f"margin {v} cannot be confirmed from {N} clean cards")
    return floor


def _se(sim: SimulationResult, name: str) -> float:
    s = sim.sample_sizes[name]
    return float(s.std(ddof=1) / math.sqrt(s.size))


def comparison_rows(reps: int) -> list[dict[str, Any]]:
    rows = []
    for alpha in RISK_LIMITS:
        for v in MARGINS:
            for o1 in O1_RATES:
                pop = comparison_population(v, o1=o1, N=N)
                row: dict[str, Any] = {"audit": "comparison", "risk_limit": alpha, "margin": v,
                                       "o1_rate": o1, "floor": floor_size(v, alpha)}
                if pop.true_mean() <= 0.5:
                    row.update(outcome_wrong=True, tallyproof=None, kaplan_markov=None,
                               note="errors overturn the outcome: full hand count")
                    rows.append(row)
                    continue
                specs = [MethodSpec("tallyproof", "kelly"),
                         MethodSpec("kaplan_markov", "kaplan-markov", {"margin": v}, use_N=False)]
                sim = simulate(pop, specs, risk_limit=alpha, reps=reps)
                tp, km = sim.mean("tallyproof"), sim.mean("kaplan_markov")
                diff = sim.sample_sizes["tallyproof"] - sim.sample_sizes["kaplan_markov"]
                row.update(outcome_wrong=False, tallyproof=tp, kaplan_markov=km,
                           tallyproof_se=_se(sim, "tallyproof"),
                           paired_diff=float(diff.mean()),
                           paired_diff_se=float(diff.std(ddof=1) / math.sqrt(diff.size)),
                           ratio_to_floor=tp / row["floor"], ratio_to_km=tp / km)
                row["meets_target"] = (tp <= 1.05 * row["floor"]) if o1 == 0 else (tp < km)
                rows.append(row)
    return rows


def polling_rows(reps: int) -> list[dict[str, Any]]:
    rows = []
    for alpha in RISK_LIMITS:
        for v in MARGINS:
            share = (1 + v) / 2
            pop = polling_population(share, 1 - share, N=N)
            specs = [MethodSpec("tallyproof", "alpha", {"eta0": share, "d": ALPHA_POLLING_D}),
                     MethodSpec("bravo", "bravo", {"winner_share": share}, use_N=False)]
            sim = simulate(pop, specs, risk_limit=alpha, reps=reps)
            tp, br = sim.mean("tallyproof"), sim.mean("bravo")
            diff = sim.sample_sizes["tallyproof"] - sim.sample_sizes["bravo"]
            rows.append({
                "audit": "polling", "risk_limit": alpha, "margin": v, "tallyproof": tp,
                "bravo": br, "bravo_asn_formula": bravo_asn(v, alpha),
                "paired_diff": float(diff.mean()),
                "paired_diff_se": float(diff.std(ddof=1) / math.sqrt(diff.size)),
                "ratio_to_bravo": tp / br, "meets_target": tp < br,
                "full_count_fraction": float((sim.sample_sizes["tallyproof"] >= N).mean()),
            })
    return rows


def planning_time(contests: int = 200) -> dict[str, Any]:
    """Plan every contest of a 200-contest election (comparison, default method, assumed
    one-vote overstatement rate 0.1%, and polling for the same margins)."""
    rng = np.random.default_rng(7)
    margins = np.round(rng.uniform(0.01, 0.4, size=contests), 4)
    c0, t0 = time.process_time(), time.perf_counter()
    sizes = [estimate_sample_size("kelly", risk_limit=0.05, margin=float(m), ballots=N,
                                  o1=0.001).sample_size for m in margins]
    c1, t1 = time.process_time(), time.perf_counter()
    poll = [estimate_sample_size("alpha", audit="polling", risk_limit=0.05, margin=float(m),
                                 ballots=N).sample_size for m in margins]
    c2, t2 = time.process_time(), time.perf_counter()
    return {"contests": contests, "comparison_seconds": t1 - t0, "polling_seconds": t2 - t1,
            "comparison_cpu_seconds": c1 - c0, "polling_cpu_seconds": c2 - c1,
            "largest_comparison_plan": max(s or 0 for s in sizes),
            "largest_polling_plan": max(s or 0 for s in poll),
            "meets_target": (t1 - t0) < 2 and (t2 - t1) < 2}


def _fmt(x: float | None) -> str:
    return "full count" if x is None else f"{x:,.1f}"


def print_table(comp: list[dict[str, Any]], poll: list[dict[str, Any]],
                plan: dict[str, Any]) -> None:
    print("Comparison audits (N = 1,000,000): mean ballots examined")
    print(f"{'alpha':>6} {'margin':>7} {'o1':>6} {'floor':>7} {'tallyproof':>12} {'K-M':>12} "
          f"{'tp/floor':>9} {'tp/KM':>7} ok")
    for r in comp:
        if r["outcome_wrong"]:
            print(f"{r['risk_limit']:>6} {r['margin']:>7} {r['o1_rate']:>6} {r['floor']:>7} "
                  f"{'full count':>12} {'full count':>12} {'':>9} {'':>7} (outcome wrong)")
            continue
        print(f"{r['risk_limit']:>6} {r['margin']:>7} {r['o1_rate']:>6} {r['floor']:>7} "
              f"{_fmt(r['tallyproof']):>12} {_fmt(r['kaplan_markov']):>12} "
              f"{r['ratio_to_floor']:>9.3f} {r['ratio_to_km']:>7.3f} "
              f"{'yes' if r['meets_target'] else 'NO'}")
    print()
    print("Polling audits (N = 1,000,000): mean ballots examined")
    print(f"{'alpha':>6} {'margin':>7} {'tallyproof':>12} {'BRAVO':>12} {'BRAVO ASN':>10} "
          f"{'tp/BRAVO':>9} ok")
    for r in poll:
        print(f"{r['risk_limit']:>6} {r['margin']:>7} {_fmt(r['tallyproof']):>12} "
              f"{_fmt(r['bravo']):>12} {r['bravo_asn_formula']:>10.1f} "
              f"{r['ratio_to_bravo']:>9.4f} {'yes' if r['meets_target'] else 'NO'}")
    print()
    print(f"Planning {plan['contests']} contests: comparison {plan['comparison_seconds']:.3f} s "
          f"({plan['comparison_cpu_seconds']:.3f} s CPU), "
          f"polling {plan['polling_seconds']:.3f} s ({plan['polling_cpu_seconds']:.3f} s CPU) "
          f"({'meets' if plan['meets_target'] else 'MISSES'} the 2 s target)")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000, help="simulated audits per comparison cell")
    ap.add_argument("--polling-reps", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="fewer replicates (smoke run)")
    args = ap.parse_args(argv if argv is not None else [])
    reps, preps = (100, 40) if args.quick else (args.reps, args.polling_reps)
    t0 = time.perf_counter()
    comp = comparison_rows(reps)
    poll = polling_rows(preps)
    plan = planning_time()
    result = {
        "benchmark": "audit",
        "population": N,
        "comparison_reps": reps,
        "polling_reps": preps,
        "comparison": comp,
        "polling": poll,
        "planning": plan,
        "all_targets_met": all(r.get("meets_target", True) for r in comp + poll)
        and plan["meets_target"],
        "seconds": time.perf_counter() - t0,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    print_table(comp, poll, plan)
    atomic_write_json(RESULTS, result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

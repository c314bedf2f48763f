"""Benchmark: one call of the statewide audit's batch stage on a county with batch tallies only,
at two or more sizes, without building a whole state.

The state benchmark (``bench_state.py``) times the batch stage inside a full state run, where
the batch county is about 5.6 % of the cards and the stage runs once per round; this one
builds only that county (the state demo's own county task, :func:`tallyproof.demo.state.
county_demo_task`, so its batches are the demo's), at each ``--cards`` size, in a state that
declares the demo's 20 counties and statewide contests, and times:

* ``batch``: :func:`tallyproof.state.audit_tasks.batch_task` for every statewide contest (the
  county's reported tallies and hand counts, what the status of every round reads);
* ``draw``: :func:`tallyproof.state.audit_tasks.draw_task` (the county's frame of batches and
  its first draws).

Each is timed ``--repeat`` times after one untimed call; the least wall and CPU seconds are
kept. Target: each one's CPU seconds per card grow by at most ``--max-growth`` from one size
to the next (a quadratic stage grows by the size ratio). Figures are what this machine
measured in this run; on a shared machine, say so (the load average is printed).

Run: ``python benchmarks/bench_batch_stage.py [--cards 200000,1000000] [--work DIR]``; sizes of
1,000,000 cards and more under ``flock /work/wt/bigrun.lock`` on the shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "batch_stage.json"
COUNTY, INDEX, COUNTIES = "county-05", 5, 20  # the state demo's batch county, as it is named
SEED = "12345678901234567890"


def build(root: Path, cards: int, seed: int = 2026) -> Path:
    """A state of the demo's counties and contests whose batch county alone is built."""
    from tallyproof.demo.county import ELECTION_DATE, build_county
    from tallyproof.demo.state import (
        MIN_COUNTY_CARDS,
        _statewide_contests,
        county_demo_task,
        county_ids,
    )
    from tallyproof.state.workflow import add_contest, add_county, init_state

    init_state(root, "Synthetic State General Election", ELECTION_DATE, "SY")
    for c in county_ids(COUNTIES):  # the contests' aliases name every county
        add_county(root, c, c.replace("-", " ").title(),
                   "batch_tallies" if c == COUNTY else "cvrs")
    for sc in _statewide_contests(build_county(MIN_COUNTY_CARDS, seed)):
        add_contest(root, sc)
    county_demo_task(COUNTY, str(root), cards, seed * 1000 + INDEX, INDEX, (), True)
    return root


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Least wall and least CPU seconds of ``repeat`` calls after one untimed call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def measure(root: Path, repeat: int) -> dict[str, Any]:
    from tallyproof.state.audit_tasks import batch_task, draw_task
    from tallyproof.state.spec import load_spec

    spec = load_spec(root)
    contests = [sc.id for sc in spec.contests]
    sj = spec.to_json()
    result = batch_task(COUNTY, str(root), sj, contests)
    out: dict[str, Any] = {"batches": len(result.contests[0].keys) if result.contests else 0}
    out["batch"] = timed(lambda: batch_task(COUNTY, str(root), sj, contests), repeat)
    out["draw"] = timed(lambda: draw_task(COUNTY, str(root), sj, SEED, dict.fromkeys(
        contests, 50), "card", dict.fromkeys(contests, 30)), repeat)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cards", default="200000,1000000",
                    help="increasing sizes of the batch county, in cards, comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-growth", type=float, default=1.5)
    ap.add_argument("--work", type=Path, default=None, help="where the states go")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    sizes = [int(x.replace("_", "")) for x in args.cards.split(",") if x.strip()]
    if not sizes or sizes != sorted(set(sizes)):
        ap.error("--cards: increasing card counts, comma-separated")
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="tallyproof-batch-stage-", dir=args.work))
    rows = []
    try:
        for n in sizes:
            m = measure(build(work / f"state-{n}", n), args.repeat)
            rows.append({"cards": n, **m})
            print(f"{n:>11,} cards, {m['batches']:,} batches: "
                  + "; ".join(f"{st} {m[st][0]:.3f} s wall, {m[st][1]:.3f} s CPU "
                              f"({m[st][1] / n * 1e6:.3f} CPU µs/card)"
                              for st in ("batch", "draw")), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    growth: dict[str, dict[str, float]] = {}
    for a, b in zip(rows, rows[1:], strict=False):
        pair = f"{a['cards']}->{b['cards']}"
        growth[pair] = {st: round((b[st][1] / b["cards"]) / (a[st][1] / a["cards"]), 3)
                        if a[st][1] > 0 else float("inf") for st in ("batch", "draw")}
        bad = [f"{st} ×{g}" for st, g in growth[pair].items() if g > args.max_growth]
        print(f"target: CPU seconds per card of one call grow ≤ {args.max_growth}× from {pair}: "
              + ("MET" if not bad else "MISSED by " + ", ".join(bad)) + " ("
              + ", ".join(f"{st} ×{g}" for st, g in growth[pair].items()) + ")")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} cpus)")
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "date": time.strftime("%Y-%m-%d %H:%M %Z"),
                          "load_average_before": load_before,
                          "load_average_after": os.getloadavg()},
              "runs": rows, "growth": growth,
              "meets_linear_growth": all(g <= args.max_growth for p in growth.values()
                                         for g in p.values())}
    from tallyproof.fsutil import atomic_write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()

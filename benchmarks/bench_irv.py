"""Benchmark: IRV on 1,000,000 ranked ballots (10 candidates) against pyrankvote and votekit.

Ballots are drawn from a Plackett-Luce model (Gumbel-max trick, numpy only): 10 candidates
of unequal strength, each voter ranking 1 to 6 of them, no skipped ranks and no overvotes, so
that every implementation reads the same ballots the same way. tallyproof is timed from the
CVR-table column to the result (:func:`tallyproof.tabulate.ballots.from_table` +
:func:`tallyproof.tabulate.rcv.irv`, RCTab's default rules). The baselines get the ballots
already built in their own objects (that time is not counted).

The baselines are pure Python and far too slow for 1,000,000 ballots in a benchmark run, so
each is timed on the first ``--baseline-ballots`` ballots (default 50,000) and its time is
extrapolated linearly to the full size (IRV work grows linearly with ballots for a fixed
number of candidates); the output says so. tallyproof is also run on that subsample, and the
winners must be identical there. Target: tallyproof ≥ 20× faster than each baseline at full
size. A baseline that cannot be imported is reported as unavailable with the reason; votekit
(whose numba needs numpy < 2.4) can run in another interpreter given by ``--votekit-python``.

Run: ``python benchmarks/bench_irv.py [--ballots N] [--baseline-ballots M] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tallyproof.cvr_table import MARKS_TYPE
from tallyproof.fsutil import atomic_write_json
from tallyproof.model import Candidate, Contest, ContestKind

RESULTS = Path(__file__).resolve().parent / "results" / "irv.json"
TARGET_SPEEDUP = 20.0
CANDIDATES = 10
STRENGTH = np.array([1.2, 1.1, 0.9, 0.6, 0.4, 0.2, 0.0, -0.3, -0.6, -1.0])
LENGTH_P = np.array([0.25, 0.2, 0.2, 0.15, 0.1, 0.1])  # ranks filled: 1..6


def draw_rankings(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(order[n, 6] candidate codes by preference, length[n] ranks filled)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    noisy = STRENGTH[None, :] + rng.gumbel(size=(n, CANDIDATES))
    order = np.argsort(-noisy, axis=1)[:, : len(LENGTH_P)].astype(np.uint16)
    length = rng.choice(np.arange(1, len(LENGTH_P) + 1), size=n, p=LENGTH_P).astype(np.int32)
    return order, length


def to_column(order: np.ndarray, length: np.ndarray) -> pa.Array:
    """CVR-table column: one rank position per ranked choice, one code in each."""
    n = len(length)
    outer = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(length, out=outer[1:])
    keep = np.arange(order.shape[1])[None, :] < length[:, None]
    codes = order[keep]  # row-major: each ballot's ranks in order
    inner = pa.ListArray.from_arrays(
        pa.array(np.arange(len(codes) + 1, dtype=np.int32)), pa.array(codes, type=pa.uint16())
    )
    return pa.ListArray.from_arrays(pa.array(outer), inner).cast(MARKS_TYPE)


def contest() -> Contest:
    return Contest(
        id="mayor",
        name="Mayor",
        kind=ContestKind.IRV,
        seats=1,
        vote_for=1,
        max_rankings=len(LENGTH_P),
        candidates=tuple(Candidate(f"k{j}", f"Candidate {j}") for j in range(CANDIDATES)),
    )


def best_of(repeat: int, fn: Callable[[np.ndarray, np.ndarray], tuple[float, str]],
            order: np.ndarray, length: np.ndarray) -> tuple[float, str]:
    """The fastest of ``repeat`` timed runs (as timeit does: slower runs measure the load)."""
    runs = [fn(order, length) for _ in range(max(1, repeat))]
    if len({w for _, w in runs}) != 1:
        raise SystemExit(f"winner changed between runs: {sorted({w for _, w in runs})}")
    return min(r[0] for r in runs), runs[0][1]


def run_tallyproof(order: np.ndarray, length: np.ndarray) -> tuple[float, str]:
    from tallyproof.tabulate.ballots import from_table
    from tallyproof.tabulate.rcv import irv

    c = contest()
    table = pa.table({c.column: to_column(order, length)})
    gc.collect()
    t0 = time.perf_counter()
    result = irv(from_table(table, c.column, c.max_rankings), c)
    elapsed = time.perf_counter() - t0
    return elapsed, str(result.winner)


def run_pyrankvote(order: np.ndarray, length: np.ndarray) -> tuple[float, str]:
    import pyrankvote

    cands = [pyrankvote.Candidate(f"k{j}") for j in range(CANDIDATES)]
    ballots = [
        pyrankvote.Ballot([cands[c] for c in row[:m]])
        for row, m in zip(order.tolist(), length.tolist(), strict=True)
    ]
    gc.collect()
    t0 = time.perf_counter()
    result = pyrankvote.instant_runoff_voting(cands, ballots)
    elapsed = time.perf_counter() - t0
    return elapsed, str(result.get_winners()[0].name)


def run_votekit(order: np.ndarray, length: np.ndarray) -> tuple[float, str]:
    from votekit.ballot import Ballot
    from votekit.elections import IRV
    from votekit.pref_profile import PreferenceProfile

    names = [f"k{j}" for j in range(CANDIDATES)]
    ballots = [
        Ballot(ranking=tuple(frozenset({names[c]}) for c in row[:m]), weight=1)
        for row, m in zip(order.tolist(), length.tolist(), strict=True)
    ]
    profile = PreferenceProfile(ballots=tuple(ballots), candidates=tuple(names))
    gc.collect()
    t0 = time.perf_counter()
    election = IRV(profile)
    winners = election.get_elected()
    elapsed = time.perf_counter() - t0
    first = next(iter(winners[0]))
    return elapsed, str(first)


_VOTEKIT_CHILD = """
import json, sys, time, gc
import numpy as np
from votekit.ballot import Ballot
from votekit.elections import IRV
from votekit.pref_profile import PreferenceProfile
order, length = np.load(sys.argv[1]), np.load(sys.argv[2])
names = [f"k{j}" for j in range(int(sys.argv[3]))]
ballots = [Ballot(ranking=tuple(frozenset({names[c]}) for c in row[:m]), weight=1)
           for row, m in zip(order.tolist(), length.tolist())]
profile = PreferenceProfile(ballots=tuple(ballots), candidates=tuple(names))
gc.collect()
t0 = time.perf_counter()
winners = IRV(profile).get_elected()
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "winner": next(iter(winners[0]))}))
"""


def run_votekit_elsewhere(python: str, order: np.ndarray, length: np.ndarray) -> tuple[float, str]:
    """votekit in another interpreter (its numba needs numpy < 2.4, below the project's pin)."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        np.save(f"{d}/order.npy", order)
        np.save(f"{d}/length.npy", length)
        proc = subprocess.run(
            [python, "-c", _VOTEKIT_CHILD, f"{d}/order.npy", f"{d}/length.npy", str(CANDIDATES)],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise ImportError(f"votekit under {python} failed: {proc.stderr.strip().splitlines()[-1:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(out["seconds"]), str(out["winner"])


BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[float, str]]] = {
    "pyrankvote": run_pyrankvote,
    "votekit": run_votekit,
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ballots", type=int, default=1_000_000)
    ap.add_argument("--baseline-ballots", type=int, default=50_000)
    ap.add_argument(
        "--votekit-python",
        default=os.environ.get("VOTEKIT_PYTHON"),
        help="interpreter with votekit installed, used when it cannot be imported "
        "here (env VOTEKIT_PYTHON)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--repeat", type=int, default=3,
                    help="time each fast run this many times and keep the best (load noise)")
    args = ap.parse_args(argv if argv is not None else [])
    sub = min(args.baseline_ballots, args.ballots)

    order, length = draw_rankings(args.ballots)
    tp_full, winner_full = best_of(args.repeat, run_tallyproof, order, length)
    tp_sub, winner_sub = best_of(args.repeat, run_tallyproof, order[:sub], length[:sub])
    print(f"IRV benchmark: {args.ballots:,} ballots, {CANDIDATES} candidates; "
          f"tallyproof and pyrankvote: best of {args.repeat} runs, votekit: 1 run")
    print(f"  tallyproof          : {tp_full:8.3f} s  winner {winner_full}")
    baselines: dict[str, Any] = {}
    for name, fn in BASELINES.items():
        where = "in-process"
        try:
            try:
                repeat = 1 if name == "votekit" else args.repeat  # votekit: minutes per run
                secs, winner = best_of(repeat, fn, order[:sub], length[:sub])
            except ImportError:
                if name != "votekit" or not args.votekit_python:
                    raise
                secs, winner = run_votekit_elsewhere(args.votekit_python, order[:sub], length[:sub])
                where = args.votekit_python
        except ImportError as exc:
            baselines[name] = {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
            print(f"  {name:<20}: unavailable ({exc})")
            continue
        if winner != winner_sub:
            raise SystemExit(
                f"{name} elects {winner}, tallyproof {winner_sub} on the same {sub:,} ballots"
            )
        scale = args.ballots / sub
        full = secs * scale
        speedup = full / tp_full if tp_full > 0 else float("inf")
        baselines[name] = {
            "available": True,
            "interpreter": where,
            "measured_ballots": sub,
            "measured_seconds": round(secs, 3),
            "extrapolated": sub < args.ballots,
            "seconds_at_full_size": round(full, 3),
            "same_winner": True,
            "speedup": round(speedup, 1),
            "meets_target": speedup >= TARGET_SPEEDUP,
        }
        note = ""
        if sub < args.ballots:
            note = f" (timed on {sub:,}, ×{scale:g} linear extrapolation)"
        print(f"  {name:<20}: {full:8.3f} s{note}; tallyproof {speedup:,.1f}× faster, same winner")
    result: dict[str, Any] = {
        "benchmark": "irv",
        "ballots": args.ballots,
        "candidates": CANDIDATES,
        "tallyproof_seconds": round(tp_full, 3),
        "tallyproof_seconds_subsample": round(tp_sub, 4),
        "winner": winner_full,
        "baselines": baselines,
        "target_speedup": TARGET_SPEEDUP,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

"""Run every benchmark and print the figures and ratios in one table.

Each ``benchmarks/bench_<name>.py`` exposes ``main(argv: list[str] | None) -> dict`` that
measures tallyproof against a baseline timed in the same run, prints its own figures and writes
``benchmarks/results/<name>.json``. This script calls them in turn (a missing module is
reported, not fatal; a failing one is reported with its error and makes the exit code 1),
then prints a summary of every ratio and target it found and writes
``benchmarks/results/summary.json``.

``--quick`` runs smoke-sized inputs (seconds, not minutes) so the harness cannot rot; its
figures say nothing about performance, and are written under ``--results`` (default
``benchmarks/results/quick/``) so they never overwrite real ones. ``--only`` picks benchmarks.

Run: ``python benchmarks/run.py [--quick] [--only tabulate irv ...] [--results DIR]``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("tabulate", "irv", "ingest", "ledger", "audit", "sampler", "evidence", "voters",
              "ladder", "state", "server_load")

#: Smoke-sized arguments per benchmark for ``--quick``.
QUICK_ARGS: dict[str, list[str]] = {
    "tabulate": ["--cards", "20000", "--repeat", "1"],
    "irv": ["--ballots", "5000", "--baseline-ballots", "2000"],
    "ingest": ["--cards", "1000", "--repeat", "1"],
    "ledger": ["--cards", "5000"],
    "audit": ["--quick"],
    "sampler": ["--ids", "20000", "--size", "100", "--repeat", "1"],
    "evidence": ["--cards", "2000", "--contests", "3"],
    "voters": ["--scale", "0.0005"],
    "ladder": ["--sizes", "100,200"],  # the smallest sizes it takes: fixed costs anyway
    "state": ["--quick"],
    "server_load": ["--quick"],
}


def _accepts_out(main: Any) -> bool:
    """Whether a benchmark's argument parser takes ``--out`` (found by asking for --help text
    would print; inspecting the source is quieter)."""
    try:
        return "--out" in inspect.getsource(sys.modules[main.__module__])
    except (OSError, TypeError):
        return False


def run_one(name: str, quick: bool, results: Path) -> dict[str, Any]:
    """Import and run ``bench_<name>.main``; never raises (the summary reports what happened)."""
    mod_name = f"bench_{name}"
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name == mod_name:
            return {
                "name": name,
                "status": "missing",
                "detail": f"benchmarks/{mod_name}.py not found",
            }
        return {"name": name, "status": "error", "detail": f"import failed: {exc}"}
    except ImportError as exc:
        return {"name": name, "status": "error", "detail": f"import failed: {exc}"}
    main = getattr(mod, "main", None)
    if not callable(main):
        return {"name": name, "status": "missing", "detail": f"{mod_name}.py has no main()"}
    argv = list(QUICK_ARGS.get(name, [])) if quick else []
    target = results / f"{name}.json"
    if _accepts_out(main):
        argv += ["--out", str(target)]
    elif hasattr(mod, "RESULTS"):  # no --out option: point its results constant elsewhere
        mod.RESULTS = target
    elif results != HERE / "results":
        return {
            "name": name,
            "status": "skipped",
            "detail": f"{mod_name} cannot be told where to write; not run with --results",
        }
    print(f"\n=== {name} {' '.join(argv)}", flush=True)
    t0 = time.perf_counter()
    try:
        data = main(argv)
    except SystemExit as exc:  # a benchmark's own "results disagree" stop
        return {
            "name": name,
            "status": "error",
            "detail": f"exited: {exc}",
            "seconds": time.perf_counter() - t0,
        }
    except Exception as exc:  # noqa: BLE001 - reported (traceback + exit 1); others still run
        traceback.print_exc()
        return {
            "name": name,
            "status": "error",
            "detail": f"{type(exc).__name__}: {exc}",
            "seconds": time.perf_counter() - t0,
        }
    return {
        "name": name,
        "status": "ok",
        "seconds": time.perf_counter() - t0,
        "ratios": ratios_of(data),
        "targets": targets_of(data),
    }


def ratios_of(data: Any, prefix: str = "", inside: bool = False) -> dict[str, float]:
    """Every numeric field named like a ratio, speed-up or rate (or inside a ``ratios``
    object), with its path."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            path = f"{prefix}{k}"
            named = ("ratio" in k or "speedup" in k or "per_second" in k) and not k.startswith(
                "target"
            )
            if isinstance(v, dict | list):
                out.update(ratios_of(v, path + ".", inside or named))
            elif isinstance(v, int | float) and not isinstance(v, bool) and (named or inside):
                out[path] = float(v)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.update(ratios_of(v, f"{prefix}{i}.", inside))
    return out


def targets_of(data: Any, prefix: str = "") -> dict[str, bool]:
    """Every boolean ``meets_*`` / ``*_targets_met`` verdict, with its path."""
    out: dict[str, bool] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            path = f"{prefix}{k}"
            if isinstance(v, dict | list):
                out.update(targets_of(v, path + "."))
            elif isinstance(v, bool) and ("meets" in k or "targets_met" in k):
                out[path] = v
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.update(targets_of(v, f"{prefix}{i}."))
    return out


def print_summary(rows: list[dict[str, Any]], quick: bool) -> None:
    print("\n" + "=" * 78)
    print(
        "benchmark summary"
        + ("  (QUICK smoke run: sizes too small to mean anything)" if quick else "")
    )
    print("=" * 78)
    for r in rows:
        secs = f"{r['seconds']:.1f} s" if "seconds" in r else ""
        print(f"{r['name']:<10} {r['status']:<8} {secs:>9}  {r.get('detail', '')}")
        for k, v in sorted(r.get("ratios", {}).items()):
            print(f"    {k:<58} {v:>12,.2f}")
        targets = r.get("targets", {})
        if targets:
            met = sum(targets.values())
            print(
                f"    targets met: {met}/{len(targets)}"
                + (
                    ""
                    if met == len(targets)
                    else "  (missed: "
                    + ", ".join(k for k, v in sorted(targets.items()) if not v)
                    + ")"
                )
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke-sized run (harness check)")
    ap.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    ap.add_argument(
        "--results",
        type=Path,
        default=None,
        help="where result files go (default benchmarks/results, or .../quick)",
    )
    args = ap.parse_args(argv)
    results = args.results or (HERE / "results" / ("quick" if args.quick else ""))
    results = results.resolve()
    results.mkdir(parents=True, exist_ok=True)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    rows = [run_one(name, args.quick, results) for name in (args.only or BENCHMARKS)]
    print_summary(rows, args.quick)
    from tallyproof.fsutil import atomic_write_json

    atomic_write_json(results / "summary.json", {"quick": args.quick, "benchmarks": rows})
    return 1 if any(r["status"] == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: a synthetic state end to end (ingest → verified state bundle), on Dask and in-process.

Each run is the state demo (:func:`tallyproof.demo.state.run_state_demo`: 20 counties of
Zipf-skewed sizes, Dominion JSON and CSV exports) in a child process of its own, on an
executor wrapped so that every per-county stage is timed (:class:`tallyproof.state.observe.
Timeline`): ``demo`` (each county drawn, exported, ingested and committed in one task),
``commit`` (the checkpoints handed to the state log), ``tabulate``, ``ledger`` (each county's
log verified), ``reconcile``, ``bundle`` (each county's bundle), ``verify`` and ``tally``
(the bundle re-checked county by county). Between stages the driver works alone (the state
log, the merges, the statewide checks, the report, the zip): those gaps are timed too.

The ``demo`` stage's wall time is split in proportion to the seconds its tasks spent drawing
and writing the input, ingesting and committing (each county task measures them); the input
share is not part of the pipeline's time ("ingest to verified bundle"), and is printed apart.

Memory: every 0.1 s a sampler thread reads the resident set (psutil, each process with its
children) of the client and of every Dask worker, and keeps the peak per process per stage;
the ``demo`` stage's peak includes drawing the counties. CPU seconds (user + system, with
children) of the client and the workers are read before and after.

Runs: the state at each ``--cards`` size on a ``--workers``-worker LocalCluster (the largest
size is the issue's goal: < 5 minutes, ingest to verified bundle), then the ``--overhead-cards``
state in-process, beside the Dask run of the same size. Targets: no stage's seconds per card
grow by more than ``--max-growth`` from one size to the next, per call (an audit stage runs
once per round; stages under ``--min-seconds`` in all at the larger size not judged); the Dask run's pipeline time ≤ 1.15× the in-process one's.
Figures are what this machine measured in this run; nothing is hard-coded.

Run: ``python benchmarks/bench_state.py [--cards 1000000,5000000] [--work DIR]``; big runs
under ``flock /work/wt/bigrun.lock`` on the shared development machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "state.json"
GOAL_SECONDS = 300.0
OVERHEAD_TARGET = 1.15
SAMPLE_EVERY = 0.1
INPUT, DRIVER = "input", "driver"


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not sizes or sizes != sorted(set(sizes)):
        raise argparse.ArgumentTypeError("increasing card counts, comma-separated")
    return sizes


# ---------------------------------------------------------------------------- the child run
class Sampler:
    """Peak resident memory per process per stage, sampled. A process counts its children
    (the Dominion reader's decoding pool, in-process) except those in ``alone`` (the Dask
    client, whose children are the workers, counted as themselves)."""

    def __init__(self, pids: dict[str, int], alone: tuple[str, ...] = ()) -> None:
        import psutil

        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.alone = alone
        self.stage = "setup"
        self.peaks: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self, name: str, p: Any) -> int:
        import psutil

        try:
            kids = [] if name in self.alone else p.children(recursive=True)
            return int(p.memory_info().rss + sum(c.memory_info().rss for c in kids))
        except psutil.Error:  # a worker restarted or a child ended between the two reads
            return 0

    def sample(self) -> None:
        stage = self.peaks.setdefault(self.stage, {})
        for name, p in self.procs.items():
            stage[name] = max(stage.get(name, 0), self._rss(name, p))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.sample()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_seconds(self) -> float:
        total = 0.0
        for name, p in self.procs.items():
            t = p.cpu_times()
            total += t.user + t.system
            if name not in self.alone:
                total += t.children_user + t.children_system
        return total


def child(cards: int, counties: int, kind: str, workers: int, work: Path) -> dict[str, Any]:
    """One state run, measured (in this process: it is the benchmark's child)."""
    from tallyproof.demo.state import run_state_demo
    from tallyproof.state.executor import DaskExecutor, Executor, InProcess
    from tallyproof.state.observe import Observed, Timeline

    t0 = time.perf_counter()
    inner: Executor
    if kind == "dask":
        try:
            inner = DaskExecutor(workers=workers)
        except RuntimeError:  # worker start timed out on a loaded machine: once more
            inner = DaskExecutor(workers=workers)
        pids = {f"worker-{i + 1}": pid for i, pid in enumerate(
            sorted(inner.client.run(os.getpid).values()))}
    else:
        inner = InProcess()
        pids = {}
    startup = time.perf_counter() - t0
    pids = {"client": os.getpid(), **pids}
    with Sampler(pids, alone=("client",) if kind == "dask" else ()) as sampler:

        stage_cpu: list[float] = []  # CPU seconds of every process, per stage in order

        class Watch(Timeline):
            def stage_started(self, stage: str, c: Any) -> None:
                super().stage_started(stage, c)
                sampler.stage = stage
                stage_cpu.append(-sampler.cpu_seconds())

            def stage_finished(self, stage: str, seconds: float) -> None:
                super().stage_finished(stage, seconds)
                sampler.stage = DRIVER
                stage_cpu[-1] += sampler.cpu_seconds()

        timeline = Watch()
        cpu0 = sampler.cpu_seconds()
        result = run_state_demo(work / "state-demo", counties=counties, cards=cards,
                                ex=Observed(inner, timeline))
        wall = timeline.now()
        sampler.sample()
        cpu = sampler.cpu_seconds() - cpu0
    if isinstance(inner, DaskExecutor):
        inner.close()
    per_county = {c: d.seconds for c, d in result.counties.items()}
    return {
        "cards": sum(d.cards for d in result.counties.values()), "counties": counties,
        "executor": kind, "workers": workers if kind == "dask" else 1,
        "startup_seconds": startup, "wall_seconds": wall, "cpu_seconds": cpu,
        "ok": result.ok,
        "failed_checks": [c["name"] for c in result.checks if c["status"] != "pass"],
        "stages": [{"stage": s.stage, "start": s.start, "seconds": s.seconds, "cpu_seconds": c,
                    "counties": s.counties, "failed": s.failed}
                   for s, c in zip(timeline.stages, stage_cpu, strict=True)],
        "gaps": [{"between": g, "seconds": s} for g, s in timeline.gaps(end=wall)],
        "county_seconds": per_county,
        "memory_peaks_mb": {st: {p: round(v / 2**20, 1) for p, v in procs.items()}
                            for st, procs in sampler.peaks.items()},
    }


# ---------------------------------------------------------------------------- analysis
def breakdown(run: dict[str, Any], cpu: bool = False) -> dict[str, float]:
    """Seconds per stage, in pipeline order: the ``demo`` stage split into input / ingest /
    commit by its tasks' own seconds, every other stage as timed, driver gaps summed. With
    ``cpu``: CPU seconds of every process instead of wall time (what the shared machine's
    load does not inflate); the input's share is then its tasks' own CPU seconds."""
    field = "cpu_seconds" if cpu else "seconds"
    out: dict[str, float] = {}
    sums = {k: sum(s.get(k, 0.0) for s in run["county_seconds"].values())
            for k in (INPUT, "ingest", "commit")}
    input_cpu = sum(s.get("input_cpu", 0.0) for s in run["county_seconds"].values())
    for st in run["stages"]:
        if st["stage"] == "demo" and sum(sums.values()) > 0:
            if cpu:  # the input's own CPU; ingest and commit share the rest as in wall time
                rest, parts = st[field] - input_cpu, {k: sums[k] for k in ("ingest", "commit")}
                out[INPUT] = input_cpu
            else:
                rest, parts = st[field], sums
            total = sum(parts.values())
            for k, v in parts.items():
                key = "commit (county logs)" if k == "commit" else k
                out[key] = out.get(key, 0.0) + (rest * v / total if total > 0 else 0.0)
        else:
            out[st["stage"]] = out.get(st["stage"], 0.0) + st[field]
    out[DRIVER] = (run["cpu_seconds"] - sum(s[field] for s in run["stages"]) if cpu
                   else sum(g["seconds"] for g in run["gaps"]))
    return out


def pipeline_seconds(run: dict[str, Any]) -> float:
    """Ingest to verified bundle: the run's wall time less the input's share."""
    return run["wall_seconds"] - breakdown(run).get(INPUT, 0.0)


def pipeline_cpu(run: dict[str, Any]) -> float:
    """CPU seconds of the pipeline: every process's CPU less the input's."""
    return sum(v for k, v in breakdown(run, cpu=True).items() if k != INPUT)


def peak_by_process(run: dict[str, Any], exclude: tuple[str, ...] = ()) -> dict[str, float]:
    out: dict[str, float] = {}
    for st, procs in run["memory_peaks_mb"].items():
        if st in exclude:
            continue
        for p, v in procs.items():
            out[p] = max(out.get(p, 0.0), v)
    return out


def stage_calls(run: dict[str, Any]) -> dict[str, int]:
    """How many times each stage ran (a stage of the audit runs once per round or status);
    the ``demo`` stage's split (input, ingest, county logs) ran as often as ``demo``."""
    out: dict[str, int] = {}
    for st in run["stages"]:
        out[st["stage"]] = out.get(st["stage"], 0) + 1
    demo = out.get("demo", 0)
    for k in (INPUT, "ingest", "commit (county logs)"):
        if demo:
            out[k] = demo
    return out


def growth(runs: list[dict[str, Any]], max_growth: float, min_seconds: float
           ) -> dict[str, dict[str, Any]]:
    """Per consecutive pair of sizes, each stage's growth of CPU seconds per call per card
    (wall time on a shared machine grows with the others' load; the input is not the
    pipeline's). Per call, because an audit stage runs once per round and two sizes need not
    draw the same number of rounds: one call's work is what must grow no faster than the
    cards. A stage is judged when its total CPU seconds at the larger size reach
    ``min_seconds`` (below that, noise); the driver's gaps are judged as one call."""
    out: dict[str, dict[str, Any]] = {}
    for a, b in zip(runs, runs[1:], strict=False):
        ba, bb = breakdown(a, cpu=True), breakdown(b, cpu=True)
        ca, cb = stage_calls(a), stage_calls(b)
        pair: dict[str, Any] = {}
        for st in (k for k in bb if k != INPUT):  # a stage the smaller run lacks: growth ∞
            ta = ba.get(st, 0.0) / max(1, ca.get(st, 1))
            tb = bb[st] / max(1, cb.get(st, 1))
            g = (tb / b["cards"]) / (ta / a["cards"]) if ta > 0 else float("inf")
            judged = bb[st] >= min_seconds
            pair[st] = {"per_card_growth": round(g, 3), "judged": judged,
                        "calls": [ca.get(st, 0), cb.get(st, 0)],
                        "cpu_seconds_per_call": [round(ta, 4), round(tb, 4)],
                        "meets_linear": (g <= max_growth) if judged else True}
        out[f"{a['cards']}->{b['cards']}"] = pair
    return out


def projection(run: dict[str, Any], cards: float, largest: float, cores: int,
               machines: tuple[int, ...]) -> dict[str, Any]:
    """What ``cards`` cards (the largest county ``largest``) would take on ``machines``
    machines of ``cores`` cores each, from one measured run (docs/scale.md):

    T(N) = k · max(L, C / (N · cores)) + g · C

    k: the run's per-county stages' CPU seconds per card (every process, input excluded):
    the work a core does per card, whatever else shared the machine; a county's tasks run
    one after another on one core and every stage waits for its last county, so the largest
    county L bounds the parallel part from below. g: the driver's CPU seconds per card
    between stages (the state log, merges, the statewide report, the bundle's zip), taken as
    growing with the cards (the zip does; the rest grows with the counties).
    Assumed: CPU-bound tasks, one worker per core, inputs on storage every worker reads."""
    b = breakdown(run, cpu=True)
    g = b[DRIVER] / run["cards"]
    k = pipeline_cpu(run) / run["cards"] - g
    rows = []
    for n in machines:
        parallel = k * max(largest, cards / (n * cores))
        rows.append({"machines": n, "cores": n * cores, "parallel_seconds": parallel,
                     "serial_seconds": g * cards, "total_seconds": parallel + g * cards,
                     "bound_by_largest_county": largest >= cards / (n * cores)})
    return {"cards": cards, "largest_county_cards": largest, "cores_per_machine": cores,
            "cpu_seconds_per_card": k, "serial_seconds_per_card": g, "rows": rows}


# ---------------------------------------------------------------------------- the parent
def run_child(cards: int, counties: int, kind: str, workers: int, work: Path,
              keep: bool) -> dict[str, Any]:
    """One run in a child process; its peak RSS from ``wait4`` beside the sampled figures."""
    folder = Path(tempfile.mkdtemp(prefix=f"state-{kind}-{cards}-", dir=work))
    env = dict(os.environ)
    src = str(HERE.parent / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["TALLYPROOF_NO_PROGRESS"] = "1"
    report = folder / "run.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--cards", str(cards),
           "--counties", str(counties), "--workers", str(workers), "--work", str(folder),
           "--out", str(report)]
    print(f"state: {cards:,} cards, {counties} counties, {kind}"
          + (f" ({workers} workers)" if kind == "dask" else "") + " …", file=sys.stderr,
          flush=True)
    try:
        with tempfile.TemporaryFile() as se:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=se, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            code = proc.returncode = os.waitstatus_to_exitcode(status)
            se.seek(0)
            tail = se.read()[-3000:].decode(errors="replace")
        if code != 0:
            raise SystemExit(f"the state run ({kind}, {cards:,} cards) exited {code}: {tail}")
        run = orjson.loads(report.read_bytes())
        run["client_ru_maxrss_mb"] = round(usage.ru_maxrss / 1024, 1)
        return run
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def print_run(run: dict[str, Any]) -> None:
    b = breakdown(run)
    label = f"{run['cards']:,} cards, {run['executor']}" + (
        f" ({run['workers']} workers)" if run["executor"] == "dask" else "")
    print(f"\n{label}: ingest→verified {pipeline_seconds(run):.1f} s "
          f"(+ input {b.get(INPUT, 0.0):.1f} s, executor start {run['startup_seconds']:.1f} s); "
          f"CPU {pipeline_cpu(run):.1f} s; checks ok: {run['ok']}")
    bc = breakdown(run, cpu=True)
    calls = stage_calls(run)
    print(f"    {'stage':<22} {'wall s':>8}  {'µs/card':>8}  {'CPU s':>8}  {'CPU µs/card':>11}"
          f"  {'calls':>5}  {'wall s/call':>11}")
    for st, s in b.items():
        if st != INPUT:
            n = calls.get(st, 1)
            print(f"    {st:<22} {s:>8.1f}  {s / run['cards'] * 1e6:>8.2f}  {bc[st]:>8.1f}  "
                  f"{bc[st] / run['cards'] * 1e6:>11.2f}  "
                  + (f"{n:>5}  {s / n:>11.3f}" if st in calls else f"{'-':>5}  {'-':>11}"))
    for g in run["gaps"]:
        print(f"      driver {g['between']:<38} {g['seconds']:>6.1f} s")
    peaks = peak_by_process(run)
    print("    peak memory (MB, sampled; 'demo' stage includes drawing the input): "
          + ", ".join(f"{p} {v:,.0f}" for p, v in peaks.items())
          + f"; client ru_maxrss {run['client_ru_maxrss_mb']:,.0f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cards", type=_sizes, default=_sizes("1000000,5000000"),
                    help="increasing state sizes in cards (each run on Dask)")
    ap.add_argument("--counties", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    ap.add_argument("--overhead-cards", type=int, default=None,
                    help="size of the in-process run compared with Dask (default: the "
                         "smallest --cards; 0: skip)")
    ap.add_argument("--max-growth", type=float, default=1.5)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--quick", action="store_true",
                    help="smoke size: 2 counties (one of CVRs, one of batch tallies: both audit strata), "
                         "600 and 1,200 cards (figures mean nothing)")
    ap.add_argument("--national-cards", type=float, default=150e6,
                    help="the projection's total cards (docs/scale.md)")
    ap.add_argument("--largest-county", type=float, default=6e6,
                    help="the projection's largest county, in cards")
    ap.add_argument("--machine-cores", type=int, default=16)
    ap.add_argument("--work", type=Path, default=None, help="where the state folders go")
    ap.add_argument("--keep", action="store_true", help="keep the state folders")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--child", choices=("dask", "inprocess"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    if args.child:
        from tallyproof.fsutil import atomic_write_bytes

        run = child(args.cards[0], args.counties, args.child, args.workers, args.work)
        atomic_write_bytes(args.out, orjson.dumps(run))
        return run
    if args.quick:
        args.cards, args.counties = [600, 1_200], 2
    overhead_cards = args.cards[0] if args.overhead_cards is None else args.overhead_cards
    work = Path(tempfile.mkdtemp(prefix="tallyproof-state-", dir=args.work))
    load_before = os.getloadavg()
    partial = args.out.with_name(args.out.stem + ".partial.json")
    try:
        runs: list[dict[str, Any]] = []
        for n in args.cards:  # each run kept as it ends: a long session may be cut short
            runs.append(run_child(n, args.counties, "dask", args.workers, work, args.keep))
            _save(partial, {"runs": runs})
        inproc = (run_child(overhead_cards, args.counties, "inprocess", 1, work, args.keep)
                  if overhead_cards else None)
        _save(partial, {"runs": runs, "in_process": inproc})
        if inproc is not None and overhead_cards not in args.cards:
            dask_same = run_child(overhead_cards, args.counties, "dask", args.workers, work,
                                  args.keep)
        else:
            dask_same = next((r for r in runs if r["cards"] == overhead_cards), None)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for r in [*runs, *([inproc] if inproc else [])]:
        print_run(r)
    grow = growth(runs, args.max_growth, args.min_seconds)
    largest = runs[-1]
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "counties": args.counties, "workers": args.workers,
        "runs": runs, "in_process": inproc,
        "growth": grow,
        "meets_linear_growth": all(v["meets_linear"] for p in grow.values() for v in p.values()),
        "largest": {"cards": largest["cards"], "pipeline_seconds": pipeline_seconds(largest),
                    "cards_per_second": largest["cards"] / pipeline_seconds(largest),
                    "stages": breakdown(largest),
                    "peak_memory_mb": peak_by_process(largest)},
        "goal_seconds": GOAL_SECONDS,
        "meets_goal_time": pipeline_seconds(largest) < GOAL_SECONDS,
        "meets_checks": all(r["ok"] for r in runs),
    }
    print()
    for pair, stages in grow.items():
        bad = [f"{k} ×{v['per_card_growth']}" for k, v in stages.items() if not v["meets_linear"]]
        print(f"target: per-card CPU time of one call of every stage grows ≤ "
              f"{args.max_growth}× from {pair}: "
              + ("MET" if not bad else "MISSED by " + ", ".join(bad)) + "  ("
              + ", ".join(f"{k} ×{v['per_card_growth']}" for k, v in stages.items()) + ")")
        print("    stages run more than once, CPU s per call: " + "; ".join(
            f"{k} {v['cpu_seconds_per_call'][0]:.3f} ({v['calls'][0]} calls) → "
            f"{v['cpu_seconds_per_call'][1]:.3f} ({v['calls'][1]}), ×{v['per_card_growth']} "
            f"per card" + ("" if v["judged"] else " (not judged)")
            for k, v in stages.items() if max(v["calls"]) > 1))
    print(f"target: {largest['cards']:,} cards ingest→verified in < {GOAL_SECONDS:.0f} s: "
          f"{pipeline_seconds(largest):.1f} s "
          + ("MET" if result["meets_goal_time"] else "MISSED"))
    if inproc is not None and dask_same is not None:
        wall_ratio = pipeline_seconds(dask_same) / pipeline_seconds(inproc)
        cpu_ratio = pipeline_cpu(dask_same) / pipeline_cpu(inproc)
        result["dask_overhead"] = {
            "cards": overhead_cards, "dask_seconds": pipeline_seconds(dask_same),
            "in_process_seconds": pipeline_seconds(inproc),
            "dask_startup_seconds": dask_same["startup_seconds"],
            "wall_ratio": wall_ratio, "cpu_ratio": cpu_ratio,
            "meets_wall_target": wall_ratio <= OVERHEAD_TARGET,
            "meets_cpu_target": cpu_ratio <= OVERHEAD_TARGET}
        print(f"target: Dask ({args.workers} workers) / in-process at {overhead_cards:,} cards "
              f"≤ {OVERHEAD_TARGET}: wall {wall_ratio:.2f} "
              + ("MET" if wall_ratio <= OVERHEAD_TARGET else "MISSED")
              + f" ({pipeline_seconds(dask_same):.1f} s vs {pipeline_seconds(inproc):.1f} s, "
              f"cluster start {dask_same['startup_seconds']:.1f} s apart); CPU seconds "
              f"{cpu_ratio:.2f} " + ("MET" if cpu_ratio <= OVERHEAD_TARGET else "MISSED")
              + f" ({pipeline_cpu(dask_same):.1f} vs {pipeline_cpu(inproc):.1f})")
    proj = projection(largest, args.national_cards, args.largest_county, args.machine_cores,
                      (1, 10, 25, 50, 100, 200))
    result["projection"] = proj
    print(f"projection from the {largest['cards']:,}-card run: {proj['cards']:,.0f} cards, "
          f"largest county {proj['largest_county_cards']:,.0f}, {args.machine_cores} cores "
          f"per machine; {proj['cpu_seconds_per_card'] * 1e6:.1f} CPU µs/card, driver "
          f"{proj['serial_seconds_per_card'] * 1e6:.2f} µs/card")
    for r in proj["rows"]:
        print(f"    {r['machines']:>4} machines: {r['total_seconds'] / 60:>8.1f} min "
              f"(parallel {r['parallel_seconds'] / 60:.1f}, serial {r['serial_seconds'] / 60:.1f}"
              + (", bound by the largest county)" if r["bound_by_largest_county"] else ")"))
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} cpus)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from tallyproof.fsutil import atomic_write_json

    atomic_write_json(args.out, result)
    partial.unlink(missing_ok=True)
    return result


def _save(path: Path, data: dict[str, Any]) -> None:
    from tallyproof.fsutil import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, data)


if __name__ == "__main__":
    main()

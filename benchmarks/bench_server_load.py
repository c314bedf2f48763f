"""Benchmark: audit boards entering ballots at once against one control-room server, and a
``kill -9`` of the server in the middle (issue #14, "Load and faults").

A demo state (``run_state_demo``) gets a statewide polling audit and its first round; its
counties set up ``--boards`` audit boards between them (whole batches per board, at most 50
per county, as the county page allows) and issue their passphrases (the board layer, as the
county page does). Then the real server (``tallyproof serve`` in a subprocess on 127.0.0.1, a
free port) takes, per database (SQLite in the state folder; PostgreSQL at 127.0.0.1:5432,
database ``test``, a throw-away schema):

* **paced**: every board signs in through the JSON API, reads its list, then enters each
  card ``--passes`` times (earlier passes corrected by the last), pausing ``--think`` seconds
  on average between entries (a board reading the next ballot; 0.5 to 1.5 times, seeded);
  latency per entry (p50, p99, client side, acknowledged at the first try), entries per
  second. Goal: p99 under 200 ms, and not one acknowledged entry lost.
* **capacity**: the same with no pause (closed loop): the entries per second one server
  process sustains, and the latency when every board fires at once.
* **kill -9**: paced again; once half the entries are acknowledged, every county's
  administrator queues a commit job, the server is SIGKILLed and started again; clients send
  every unacknowledged entry again with the same key. Checked from the database: every
  acknowledged entry there (same id, same ballot), no key twice, every job open at the kill
  done or failed with a message.

Writes ``benchmarks/results/server_load.json``. The client runs on the same machine as the
server (its CPU counts against the server's). Run:
``python benchmarks/bench_server_load.py [--quick] [--boards 200] [--databases sqlite postgresql]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tallyproof.fsutil import atomic_write_json
from tallyproof.server import drill

RESULTS = Path(__file__).resolve().parent / "results" / "server_load.json"
P99_GOAL = 0.200  # seconds, issue #14
PG = "postgresql+psycopg://{user}@127.0.0.1:5432/test"
PG_USERS = ("postgres", "root")


def _postgres() -> tuple[str, str] | str:
    """(admin URL, user) of the first PostgreSQL role that connects, or why none did."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    why = []
    for user in PG_USERS:
        url = PG.format(user=user)
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect():
                return url, user
        except OperationalError as exc:
            why.append(f"{user}: {str(exc.orig).strip().splitlines()[0]}")
        finally:
            engine.dispose()
    return "; ".join(why)


class Database:
    """A fresh database per run: a SQLite file in the run's state folder, or a throw-away
    PostgreSQL schema (dropped at the end)."""

    def __init__(self, kind: str, root: Path, pg_admin: str | None) -> None:
        self.kind, self.admin, self.schema = kind, pg_admin, None
        if kind == "sqlite":
            self.url = f"sqlite:///{root.resolve() / 'control-room.sqlite'}"
            return
        from sqlalchemy import create_engine, text

        if pg_admin is None:
            raise drill.DrillError("no PostgreSQL to run on")
        self.schema = f"tp_load_{secrets.token_hex(5)}"
        engine = create_engine(pg_admin)
        with engine.begin() as c:
            c.execute(text(f"CREATE SCHEMA {self.schema}"))
        engine.dispose()
        self.url = f"{pg_admin}?options=-csearch_path%3D{self.schema}"

    def drop(self) -> None:
        if self.schema is not None:
            from sqlalchemy import create_engine, text

            engine = create_engine(self.admin)  # type: ignore[arg-type]
            with engine.begin() as c:
                c.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
            engine.dispose()


def _figures(res: drill.DrillResult, offered: float | None) -> dict[str, Any]:
    lat = np.array(res.tally.latencies) * 1000.0
    p50, p99 = (float(np.percentile(lat, q)) for q in (50, 99)) if lat.size else (0.0, 0.0)
    out = {"entries_acknowledged": len(res.tally.acked), "entries_in_database": res.check.entries,
           "seconds": round(res.tally.elapsed, 3),
           "entries_per_second": round(len(res.tally.acked) / res.tally.elapsed, 1),
           "latency_ms": {"p50": round(p50, 1), "p99": round(p99, 1),
                          "max": round(float(lat.max()), 1) if lat.size else 0.0,
                          "measured": int(lat.size)},
           "errors": res.tally.errors[:20], "lost": res.check.lost[:20],
           "duplicated": res.check.duplicated[:20],
           "meets_no_loss": res.check.ok and not res.tally.errors}
    if offered is not None:
        out["offered_entries_per_second"] = round(offered, 1)
    if res.killed:
        out.update({"retried_after_kill": res.tally.retried,
                    "saved_but_unacknowledged_before_kill": res.tally.saved_before_ack,
                    "restart_seconds": round(res.restart_seconds, 2),
                    "jobs_open_at_kill": {str(k): v for k, v in res.jobs_at_kill.items()},
                    "jobs_after_restart": {str(k): {"status": s, "message": m[:120]}
                                           for k, (s, m) in res.jobs_after.items()
                                           if k in res.jobs_at_kill},
                    "meets_jobs_ended": res.jobs_ok})
    else:
        out["meets_p99_target"] = bool(lat.size) and p99 < P99_GOAL * 1000.0
    return out


def _line(db: str, run: str, f: dict[str, Any]) -> str:
    lat = f["latency_ms"]
    s = (f"{db:<10} {run:<9} {f['entries_acknowledged']:>6} entries  "
         f"{f['entries_per_second']:>7.1f}/s  p50 {lat['p50']:>7.1f} ms  p99 {lat['p99']:>7.1f} ms"
         f"  lost {len(f['lost'])}  duplicated {len(f['duplicated'])}  errors {len(f['errors'])}")
    if "meets_p99_target" in f:
        s += f"  p99<{P99_GOAL * 1000:.0f} ms: {'met' if f['meets_p99_target'] else 'missed'}"
    if "meets_jobs_ended" in f:
        s += (f"  restart {f['restart_seconds']:.1f} s, retried {f['retried_after_kill']}, "
              f"jobs open at kill {len(f['jobs_open_at_kill'])}: "
              f"{'all ended' if f['meets_jobs_ended'] else 'NOT ALL ENDED'}")
    return s


def _base_state(args: argparse.Namespace, work: Path) -> Path:
    """The demo state with its audit's first round: built in ``work``, or reused from (else
    built into) ``--state-cache``, keyed by the parameters that shape it."""
    if args.state_cache is None:
        return drill.prepare_state(work / "base", args.counties, args.cards, args.risk_limit)
    out = args.state_cache / f"c{args.counties}-n{args.cards}-r{args.risk_limit}"
    done = out / "ready"
    if not done.exists():
        shutil.rmtree(out, ignore_errors=True)
        drill.prepare_state(out, args.counties, args.cards, args.risk_limit)
        done.write_text("built by bench_server_load\n")
    return out / "state"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", type=int, default=200)
    ap.add_argument("--counties", type=int, default=16)
    ap.add_argument("--cards", type=int, default=96_000, help="cards in the demo state")
    ap.add_argument("--risk-limit", type=float, default=0.001,
                    help="of the polling audit (smaller: more cards drawn per board)")
    ap.add_argument("--passes", type=int, default=3, help="entries per card (the last counts)")
    ap.add_argument("--think", type=float, default=10.0,
                    help="mean seconds a board takes between entries in the paced runs")
    ap.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"),
                    default=["sqlite", "postgresql"])
    ap.add_argument("--runs", nargs="+", choices=("paced", "capacity", "kill"),
                    default=["paced", "capacity", "kill"])
    ap.add_argument("--quick", action="store_true",
                    help="smoke size: 2 counties, 3 boards, SQLite, no capacity run (figures "
                         "mean nothing)")
    ap.add_argument("--work", type=Path, default=None, help="where the states go")
    ap.add_argument("--state-cache", type=Path, default=None,
                    help="build the demo state and its round here once, and reuse it on later "
                         "runs with the same --counties, --cards and --risk-limit")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.quick:
        args.boards, args.counties, args.cards, args.risk_limit = 3, 2, 600, 0.5
        args.passes, args.think, args.databases = 1, 0.01, ["sqlite"]
        args.runs = ["paced", "kill"]

    work = Path(tempfile.mkdtemp(prefix="tallyproof-serverload-", dir=args.work))
    load = os.getloadavg()
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in load],
                    "note": "shared by other jobs; the client runs on the same machine"},
        "parameters": {k: v for k, v in vars(args).items()
                       if k not in ("work", "out", "state_cache")},
        "goal": {"p99_ms": P99_GOAL * 1000.0, "acknowledged_entries_lost": 0},
        "runs": {}}
    try:
        t0 = time.perf_counter()
        print(f"server load: building a {args.counties}-county state of {args.cards:,} cards "
              "and its audit's first round …", file=sys.stderr, flush=True)
        base = _base_state(args, work)
        allocation = drill.allocate(base, args.boards)
        truth = {c: drill.paper(base, c) for c in allocation}
        result["setup"] = {"seconds": round(time.perf_counter() - t0, 1),
                           "boards_per_county": allocation}
        pg = _postgres() if "postgresql" in args.databases else None
        for db in args.databases:
            if db == "postgresql" and isinstance(pg, str):
                print(f"postgresql: unreachable, skipped ({pg})", flush=True)
                result["runs"]["postgresql"] = {"skipped": pg}
                continue
            for run in args.runs:
                root = work / f"{db}-{run}" / "state"
                shutil.copytree(base, root)
                database = Database(db, root, pg[0] if isinstance(pg, tuple) else None)
                try:
                    prepared = drill.set_up(root, database.url, allocation)
                    entries = prepared.cards * args.passes
                    think = 0.0 if run == "capacity" else args.think
                    server = drill.ServerProcess(root, database.url, root.parent / "server.log")
                    res = drill.run_drill(server, prepared, truth, args.passes, think,
                                          kill_after=entries // 2 if run == "kill" else None)
                finally:
                    database.drop()
                offered = len(prepared.boards) / think if think else None
                f = _figures(res, offered)
                f["boards"], f["cards"] = len(prepared.boards), prepared.cards
                result["runs"].setdefault(db, {})[run] = f
                print(_line(db, run, f), flush=True)
        result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(f"load average (1, 5, 15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at "
              f"start, {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} CPUs",
              flush=True)
        atomic_write_json(args.out, result)
    except BaseException:
        print(f"server load: failed; the states and server logs are kept in {work}",
              file=sys.stderr, flush=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()

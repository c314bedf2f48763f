"""One seam for per-county work: in-process, or on Dask (``dask.distributed``).

Every per-county task is a module-level function of small, picklable arguments (paths and
ids) that returns a small typed result; the caller merges results in county-id order, so the
outputs do not depend on where or in which order the tasks ran. A county whose task fails
with a tallyproof error gets an :class:`Outcome` naming the error; the other counties' tasks
run on and their results are kept. Anything else a task raises is a bug and propagates.

On Dask each task is submitted with ``retries`` (a worker killed mid-task is retried on
another worker; every county write is atomic, so a retried task finds the store as it was or
as the finished task left it) and ``pure=False`` (tasks have effects on disk).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..errors import TallyproofError

R = TypeVar("R")
RETRIES = 2


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """A county's result, or the error that stopped its task (then ``value`` is None)."""

    county: str
    value: R | None
    error: str | None = None
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def run_task(fn: Callable[..., R], county: str, *args: Any) -> Outcome[R]:
    """Run one county's task, turning a tallyproof error into a failed :class:`Outcome`."""
    try:
        return Outcome(county, fn(county, *args))
    except TallyproofError as exc:
        return Outcome(county, None, f"{type(exc).__name__}: {exc}", exc.exit_code)


Call = tuple[str, tuple[Any, ...]]  # (county, its own arguments after the county)


class Executor(Protocol):
    dashboard: str | None

    def map(self, fn: Callable[..., R], counties: Sequence[str], *args: Any,
            progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        """``fn(county, *args)`` for every county; outcomes in the order of ``counties``."""
        ...

    def map_each(self, fn: Callable[..., R], calls: Sequence[Call],
                 progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        """``fn(county, *its_args)`` per call (each county with its own arguments)."""
        ...


class InProcess:
    """Runs tasks one after another in this process: tests and small states."""

    dashboard: str | None = None

    def map(self, fn: Callable[..., R], counties: Sequence[str], *args: Any,
            progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        return self.map_each(fn, [(c, args) for c in counties], progress)

    def map_each(self, fn: Callable[..., R], calls: Sequence[Call],
                 progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        out = []
        for c, args in calls:
            o = run_task(fn, c, *args)
            if progress:
                progress(o)
            out.append(o)
        return out


NO_WORKERS_TIMEOUT = "120s"


class DaskExecutor:
    """Tasks on a ``dask.distributed`` cluster: a :class:`LocalCluster` sized to the machine
    (one single-threaded worker process per core) or an existing scheduler's address.

    A LocalCluster serves its dashboard (bokeh) on a free port chosen by the system, not
    Dask's 8787: several clusters on one machine (parallel tests, two state commands at
    once) must not fight for one port, and the link printed is the one that answers."""

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        from distributed import Client, LocalCluster

        if address is None:
            import dask

            n = workers or max(1, os.cpu_count() or 1)
            # A worker process killed mid-task is restarted by its nanny and the task retried;
            # should no worker come back, the tasks fail after this long instead of waiting
            # forever (Dask's default), so the command ends with an error naming them.
            with dask.config.set({"distributed.scheduler.no-workers-timeout":
                                  NO_WORKERS_TIMEOUT}):
                self._cluster: Any = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
            self._client = Client(self._cluster)
        else:
            self._cluster = None
            self._client = Client(address)
        self.dashboard = dashboard_link(self._client)

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (benchmarks ask it about the workers)."""
        return self._client

    def map(self, fn: Callable[..., R], counties: Sequence[str], *args: Any,
            progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        return self.map_each(fn, [(c, args) for c in counties], progress)

    def map_each(self, fn: Callable[..., R], calls: Sequence[Call],
                 progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        from uuid import uuid4

        from distributed import as_completed

        run = uuid4().hex[:8]  # task keys unique per call: a rerun is never served a cached one
        futures = {self._client.submit(run_task, fn, c, *args, key=f"{fn.__name__}-{c}-{run}",
                                       pure=False, retries=RETRIES): i
                   for i, (c, args) in enumerate(calls)}
        done: dict[int, Outcome[R]] = {}
        for fut in as_completed(futures):
            o = fut.result()  # a non-tallyproof exception (a bug) is raised here
            done[futures[fut]] = o
            if progress:
                progress(o)
        return [done[i] for i in range(len(calls))]

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def dashboard_link(client: Any) -> str | None:
    """The scheduler's dashboard URL when it serves one, else None (``Client.dashboard_link``
    raises KeyError for a scheduler without a dashboard, and formats a link from the
    configuration whether or not anything listens there)."""
    services = client.scheduler_info(n_workers=0).get("services", {})
    if "dashboard" not in services:
        return None
    return str(client.dashboard_link)


@contextmanager
def executor(kind: str = "local", address: str | None = None,
             workers: int | None = None) -> Iterator[Executor]:
    """``kind``: ``inprocess``, ``local`` (a LocalCluster on this machine) or ``dask`` (the
    scheduler at ``address``)."""
    if kind == "inprocess":
        yield InProcess()
        return
    ex = DaskExecutor(address if kind == "dask" else None, workers)
    try:
        yield ex
    finally:
        ex.close()

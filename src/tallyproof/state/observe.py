"""Watching per-county work as it happens: progress per county and time per stage.

:class:`Observed` wraps any executor of the seam (:mod:`.executor`) and tells a
:class:`Listener` when a stage (one ``map`` of one task over the counties) starts, each time
a county's task finishes (on Dask in the order the counties finish, through the executor's
``as_completed``) and when the stage ends. It changes nothing the tasks compute or return, so
the statewide workflow needs no progress arguments: whoever builds the executor decides what
is shown (the CLI: rich bars on a terminal; the benchmark: a timeline).

A stage is named after its task function (``commit_task`` → ``commit``,
``county_bundle_task`` → ``bundle``), so a new per-county task is shown without being
registered anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .executor import Call, Executor, Outcome

R = TypeVar("R")


def stage_of(fn: Callable[..., Any]) -> str:
    """A task function's stage name: ``county_`` and ``_task`` dropped, ``_`` as space."""
    name = getattr(fn, "__name__", type(fn).__name__)
    name = name.removeprefix("county_").removesuffix("_task")
    return name.replace("_", " ") or "task"


class Listener(Protocol):
    def stage_started(self, stage: str, counties: Sequence[str]) -> None: ...

    def county_done(self, stage: str, outcome: Outcome[Any]) -> None: ...

    def stage_finished(self, stage: str, seconds: float) -> None: ...


class Observed:
    """An executor that reports to a :class:`Listener`; tasks run on ``inner``."""

    def __init__(self, inner: Executor, listener: Listener) -> None:
        self.inner = inner
        self.listener = listener
        self.dashboard = inner.dashboard

    def map(self, fn: Callable[..., R], counties: Sequence[str], *args: Any,
            progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        return self.map_each(fn, [(c, args) for c in counties], progress)

    def map_each(self, fn: Callable[..., R], calls: Sequence[Call],
                 progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        stage = stage_of(fn)
        self.listener.stage_started(stage, [c for c, _ in calls])

        def done(o: Outcome[R]) -> None:
            self.listener.county_done(stage, o)
            if progress:
                progress(o)

        t0 = time.perf_counter()
        outs = self.inner.map_each(fn, calls, progress=done)
        self.listener.stage_finished(stage, time.perf_counter() - t0)
        return outs


@dataclass
class StageTime:
    """One stage as it ran: when (seconds since the timeline began) and each county's finish."""

    stage: str
    counties: int
    start: float
    end: float = 0.0
    finished: dict[str, float] = field(default_factory=dict)  # county -> seconds since start
    failed: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Timeline:
    """A listener that records every stage's wall time and every county's finish time.

    The gaps between stages are the driver's own serial work (merges, the state log, the
    statewide checks, the report): :meth:`gaps` names each by the stages around it.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.origin = clock()
        self.stages: list[StageTime] = []

    def now(self) -> float:
        return self._clock() - self.origin

    def stage_started(self, stage: str, counties: Sequence[str]) -> None:
        self.stages.append(StageTime(stage, len(counties), self.now()))

    def county_done(self, stage: str, outcome: Outcome[Any]) -> None:
        st = self.stages[-1]
        st.finished[outcome.county] = self.now() - st.start
        if not outcome.ok:
            st.failed.append(outcome.county)

    def stage_finished(self, stage: str, seconds: float) -> None:
        self.stages[-1].end = self.now()

    def gaps(self, end: float | None = None) -> list[tuple[str, float]]:
        """``("after A, before B", seconds)`` for the driver's time between stages (and after
        the last stage up to ``end``, when given)."""
        out = []
        for a, b in zip(self.stages, self.stages[1:], strict=False):
            out.append((f"after {a.stage}, before {b.stage}", b.start - a.end))
        if end is not None and self.stages:
            out.append((f"after {self.stages[-1].stage}", end - self.stages[-1].end))
        return out

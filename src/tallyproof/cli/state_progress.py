"""Per-county progress of statewide commands, on stderr.

On a terminal: one rich bar per stage (commit, tabulate, bundle, …) counting the counties
done out of all of them, with the county that finished last; a county that fails is printed
above the bars with its error. One bar per stage, not one row per county, so the display
stays a dozen lines for 159 counties. Not on a terminal (a log, CI) or with
``TALLYPROOF_NO_PROGRESS=1``: one line per county per stage, as a log reads best. With
``--json``: nothing (stdout carries the answer; stderr stays for errors).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .common import err

if TYPE_CHECKING:
    from ..state.executor import Executor, Outcome
    from ..state.observe import Listener


class Lines:
    """One line per county per stage (stderr is not a terminal)."""

    def stage_started(self, stage: str, counties: Sequence[str]) -> None:
        pass

    def county_done(self, stage: str, outcome: Outcome[Any]) -> None:
        status = "[green]done[/]" if outcome.ok else f"[bold red]failed[/]: {outcome.error}"
        err.print(f"{stage} {outcome.county}: {status}", highlight=False)

    def stage_finished(self, stage: str, seconds: float) -> None:
        pass


class Bars:
    """One rich progress bar per stage, advanced as each county's task finishes."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self._current = ""

    def stage_started(self, stage: str, counties: Sequence[str]) -> None:
        if stage in self.tasks:  # the same task run again (e.g. a second pass): a new bar
            stage = f"{stage} ({sum(s.startswith(stage) for s in self.tasks) + 1})"
        self.tasks[stage] = self.progress.add_task(stage, total=len(counties), last="")
        self._current = stage

    def county_done(self, stage: str, outcome: Outcome[Any]) -> None:
        task = self.tasks[self._current]
        self.progress.update(task, advance=1, last=outcome.county)
        if not outcome.ok:
            self.progress.console.print(f"[bold red]{stage} {outcome.county} failed[/]: "
                                        f"{outcome.error}", highlight=False)

    def stage_finished(self, stage: str, seconds: float) -> None:
        self.progress.update(self.tasks[self._current], last=f"{seconds:.1f} s")


@contextmanager
def county_progress(quiet: bool = False) -> Iterator[Listener | None]:
    """The listener for this run (None with ``quiet``), the bars live while it is open."""
    if quiet:
        yield None
        return
    if not err.is_terminal or os.environ.get("TALLYPROOF_NO_PROGRESS") == "1":
        yield Lines()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("[bold]{task.description:<14}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("counties  {task.fields[last]}"),
                  console=err, transient=False) as progress:
        yield Bars(progress)


@contextmanager
def shown(ex: Executor, quiet: bool = False) -> Iterator[Executor]:
    """``ex`` with per-county progress on stderr (and its Dask dashboard link, if any)."""
    from ..state.observe import Observed

    if ex.dashboard and not quiet:
        err.print(f"Dask dashboard: {ex.dashboard}", highlight=False)
    with county_progress(quiet) as listener:
        yield ex if listener is None else Observed(ex, listener)

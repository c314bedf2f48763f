"""Per-county progress through the executor seam: every county reported once per stage, and
the stage names and timeline the display and the benchmark read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from tallyproof.cli import main
from tallyproof.state.executor import InProcess, Outcome
from tallyproof.state.observe import Observed, Timeline, stage_of
from tallyproof.state.tasks import commit_task, tabulate_task
from tallyproof.state.workflow import commit_all, tabulate_state


class Recorder:
    """Every call the listener gets, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def stage_started(self, stage: str, counties: Sequence[str]) -> None:
        self.calls.append(("start", stage, tuple(counties)))

    def county_done(self, stage: str, outcome: Outcome[Any]) -> None:
        self.calls.append(("done", stage, (outcome.county, outcome.ok)))

    def stage_finished(self, stage: str, seconds: float) -> None:
        self.calls.append(("end", stage, seconds))


def check_once_per_county(rec: Recorder, counties: list[str], stages: list[str]) -> None:
    assert [c[1] for c in rec.calls if c[0] == "start"] == stages
    for stage in stages:
        done = Counter(c[2][0] for c in rec.calls if c[0] == "done" and c[1] == stage)
        assert done == Counter(counties), stage
    # each stage's county reports lie between its start and its end
    inside = None
    for kind, stage, _ in rec.calls:
        if kind == "start":
            assert inside is None
            inside = stage
        elif kind == "done":
            assert inside == stage
        else:
            assert inside == stage and _ >= 0
            inside = None
    assert inside is None


def test_stage_names_come_from_the_task() -> None:
    assert stage_of(commit_task) == "commit"
    assert stage_of(tabulate_task) == "tabulate"

    def county_bundle_task() -> None: ...

    assert stage_of(county_bundle_task) == "bundle"


def test_every_county_is_reported_once_per_stage_in_process(state: Path) -> None:
    rec = Recorder()
    seen: list[str] = []
    ex = Observed(InProcess(), rec)
    commit_all(state, ex, progress=lambda o: seen.append(o.county))  # the caller's own too
    tabulate_state(state, ex)
    check_once_per_county(rec, ["north", "south"], ["commit", "tabulate"])
    assert seen == ["north", "south"]


def test_a_failed_county_is_reported_as_failed(state: Path) -> None:
    (state / "counties" / "south" / "store" / "store.json").unlink()
    timeline = Timeline()
    outs = commit_all(state, Observed(InProcess(), timeline))
    assert [o.ok for o in outs] == [True, False]
    (stage,) = timeline.stages
    assert stage.stage == "commit" and stage.failed == ["south"]
    assert set(stage.finished) == {"north", "south"} and stage.seconds >= 0


def test_timeline_names_the_driver_gaps(state: Path) -> None:
    timeline = Timeline()
    ex = Observed(InProcess(), timeline)
    commit_all(state, ex)
    tabulate_state(state, ex)
    gaps = timeline.gaps(end=timeline.now())
    assert [g for g, _ in gaps] == ["after commit, before tabulate", "after tabulate"]
    assert all(s >= 0 for _, s in gaps)
    assert timeline.stages[1].start >= timeline.stages[0].end


def test_cli_prints_one_line_per_county_off_a_terminal_and_none_with_json(
        state: Path, capsys) -> None:  # noqa: ANN001
    assert main(["state", "tabulate", str(state), "--in-process"]) == 0
    err = capsys.readouterr().err
    assert err.count("tabulate north: done") == 1 and err.count("tabulate south: done") == 1
    assert main(["state", "tabulate", str(state), "--in-process", "--json"]) == 0
    captured = capsys.readouterr()
    assert "north" not in captured.err
    assert orjson.loads(captured.out)["contests"]


def test_bars_count_every_county(state: Path) -> None:
    from io import StringIO

    from rich.console import Console
    from rich.progress import Progress

    from tallyproof.cli.state_progress import Bars

    console = Console(file=StringIO(), force_terminal=True, width=100)
    with Progress(console=console) as progress:
        bars = Bars(progress)
        ex = Observed(InProcess(), bars)
        tabulate_state(state, ex)
        tabulate_state(state, ex)  # the same stage again: a second bar
        tasks = {t.description: t for t in progress.tasks}
    assert set(tasks) == {"tabulate", "tabulate (2)"}
    assert all(t.completed == t.total == 2 for t in tasks.values())

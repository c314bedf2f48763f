"""``tallyproof demo``: the whole pipeline on a synthetic county, with optional faults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..demo.choices import (
    DEFAULT_CARDS,
    DEFAULT_STATE_CARDS,
    DEFAULT_STATE_COUNTIES,
    FAULTS,
    check_fault_names,
)
from ..errors import Failure, VerificationError
from .common import emit_json, err, out

if TYPE_CHECKING:
    from ..demo.pipeline import DemoResult

_FAULT_HELP = "; ".join(
    f"{f.name}: {f.description} (caught by {f.caught_by})" for f in FAULTS.values()
)

_EPILOG = (
    "Exit code: 0 when every check passes. With --fault, 0 when every injected fault was "
    "caught by the check meant to catch it (the other checks may fail too: that is the fault "
    "showing), 1 when a fault went unnoticed or a clean run has a failing or unbuilt check. "
    "Determinism: the same seed gives the same export, side files, CVR table, results and audit "
    "sample; the commitment log salts every leaf with secret random bytes, so the log, its "
    "signed checkpoint and files that quote them differ between runs. "
    "Example: tallyproof demo --cards 2000 --fault results-mismatch --json"
)


def register(app: typer.Typer) -> None:
    @app.command("demo", epilog=_EPILOG)
    def demo_cmd(
        out_dir: Annotated[
            Path,
            typer.Option(
                "--out", help="output folder (created; a previous demo's folder is replaced)"
            ),
        ] = Path("demo-out"),
        cards: Annotated[
            int | None, typer.Option("--cards", min=100, help=f"ballot cards to draw "
                                     f"(default {DEFAULT_CARDS:,}; with --state "
                                     f"{DEFAULT_STATE_CARDS:,} across the counties)")
        ] = None,
        seed: Annotated[
            int, typer.Option("--seed", help="random seed (same seed, same county and export)")
        ] = 2026,
        fault: Annotated[
            list[str] | None,
            typer.Option("--fault", help=f"inject a fault (repeatable): {_FAULT_HELP}"),
        ] = None,
        json: Annotated[
            bool, typer.Option("--json", help="machine-readable summary on stdout")
        ] = False,
        state: Annotated[bool, typer.Option(
            "--state", help="a synthetic state of many counties instead of one county; faults "
                            "name their county: --fault delete-batch@county-07")] = False,
        counties: Annotated[int, typer.Option(
            "--counties", min=1, help="counties in the --state demo")] = DEFAULT_STATE_COUNTIES,
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="--state: a dask.distributed scheduler address (default: a "
                                "local cluster sized to this machine)")] = None,
        in_process: Annotated[bool, typer.Option(
            "--in-process", help="--state: run the county tasks in this process (no Dask)")
        ] = False,
    ) -> None:
        """Build a synthetic county election, write it as a Dominion export and run every
        stage: ingest, commit, tabulate, reconcile, audit, report, bundle, verify. With
        --state: a synthetic state of counties (Dominion JSON and CSV exports, county
        spellings) through ingest, commit, the state log, statewide tabulation and accounting,
        per-county work on Dask."""
        if state:
            _state_demo(out_dir, cards or DEFAULT_STATE_CARDS, counties, seed, fault or [],
                        scheduler, in_process, json)
            return
        faults = check_fault_names(fault or [])
        result = _run(out_dir, cards or DEFAULT_CARDS, seed, faults)
        if json:
            emit_json(result.to_json())
        else:
            _print_summary(result)
        if not result.ok:
            raise VerificationError(_failures(result))


def _state_demo(out_dir: Path, cards: int, counties: int, seed: int, faults: list[str],
                scheduler: str | None, in_process: bool, json: bool) -> None:
    from ..demo.state import run_state_demo
    from .state import _executor

    with _executor(scheduler, in_process, quiet=json) as ex:
        result = run_state_demo(out_dir, counties=counties, cards=cards, seed=seed,
                                faults=faults, ex=ex)
    if json:
        emit_json(result.to_json())
    else:
        table = Table(title=f"tallyproof state demo — {len(result.counties)} counties, "
                            f"{sum(c.cards for c in result.counties.values()):,} cards")
        table.add_column("check")
        table.add_column("status")
        table.add_column("summary", overflow="fold")
        colour = {"pass": "green", "fail": "red", "not_run": "yellow"}
        for c in result.checks:
            if c["status"] != "pass" or ":" not in c["name"]:
                table.add_row(c["name"], f"[{colour.get(c['status'], 'white')}]{c['status']}[/]",
                              c["summary"])
        out.print(table)
        passed = sum(c["status"] == "pass" for c in result.checks if ":" in c["name"])
        out.print(f"{passed} per-county checks passed (failures, if any, are listed above)")
        for note_text in result.notes:
            out.print(f"• {note_text}", highlight=False)
        for f, o in result.fault_outcomes().items():
            out.print(f"fault {f}: " + (f"[green]caught[/] by {', '.join(o['caught_by'])}"
                                        if o["caught_by"] else "[red]NOT caught[/]"))
        out.print(f"state folder: {result.out / 'state'}", highlight=False)
    if not result.ok:
        raise VerificationError(
            [Failure("demo", f"fault {f} was not caught by {o['expected_check']}")
             for f, o in result.fault_outcomes().items() if not o["caught_by"]]
            or [Failure(c["name"], c["summary"]) for c in result.checks
                if c["status"] != "pass"])


def _run(out_dir: Path, cards: int, seed: int, faults: tuple[str, ...]) -> DemoResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..demo.pipeline import run_demo

    if not err.is_terminal or os.environ.get("TALLYPROOF_NO_PROGRESS") == "1":

        def note(stage: str, _frac: float) -> None:
            if stage != "done":
                err.print(f"demo: {stage}…", highlight=False)

        return run_demo(out_dir, cards=cards, seed=seed, faults=faults, progress=note)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task("demo", total=1.0)

        def step(stage: str, frac: float) -> None:
            bar.update(task, completed=frac, description=f"demo: {stage}")

        return run_demo(out_dir, cards=cards, seed=seed, faults=faults, progress=step)


def _failures(result: DemoResult) -> list[Failure]:
    """Why the demo exits 1: faults nobody caught, or (clean run) checks that did not pass."""
    if result.faults:
        return [
            Failure("demo", f"fault {f} was not caught by {o['expected_check']}")
            for f, o in result.fault_outcomes().items()
            if not o["caught_by"]
        ]
    return [
        Failure(c["name"], f"{c['status']}: {c['summary']}")
        for c in result.checks
        if c["status"] != "pass"
    ]


def _print_summary(result: DemoResult) -> None:
    table = Table(title=f"tallyproof demo — {result.cards:,} cards, seed {result.seed}")
    table.add_column("check")
    table.add_column("status")
    table.add_column("summary", overflow="fold")
    colour = {"pass": "green", "fail": "red", "not_run": "yellow"}
    for c in result.checks:
        table.add_row(
            c["name"], f"[{colour.get(c['status'], 'white')}]{c['status']}[/]", c["summary"]
        )
    out.print(table)
    for note in result.notes:
        out.print(f"• {note}", highlight=False)
    outcomes: dict[str, Any] = result.fault_outcomes()
    for f, o in outcomes.items():
        if o["caught_by"]:
            out.print(
                f"[green]fault {f} was caught[/] by {', '.join(o['caught_by'])} "
                f"(expected: {o['expected_check']})"
            )
        else:
            out.print(f"[red]fault {f} was NOT caught[/] (expected: {o['expected_check']})")
    out.print(f"store:  {result.store}", highlight=False)
    if result.report_html:
        out.print(f"report: {result.report_html}", highlight=False)
    if result.bundle:
        out.print(f"bundle: {result.bundle}", highlight=False)
    verdict = (
        "[green]all checks passed[/]"
        if result.ok and not result.faults
        else (
            "[green]every injected fault was caught[/]"
            if result.ok
            else "[red]not everything passed[/]"
        )
    )
    out.print(verdict)

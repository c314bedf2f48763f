"""``tallyproof results add | history``: published results snapshots over time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import emit_json, err, out


def register(app: typer.Typer) -> None:
    results = typer.Typer(help="Published results snapshots and how they changed.",
                          no_args_is_help=True)
    app.add_typer(results, name="results")

    @results.command("add")
    def add_cmd(
        files: Annotated[list[Path], typer.Argument(help="results files in the order published: Clarity XML, "
                              "NIST SP 1500-100 JSON or results CSV")],
        store: Annotated[Path, typer.Option("--store",
                         help="election store folder")],
        timestamp: Annotated[str | None, typer.Option(
            "--timestamp",
            help="when the file was published (CSV and SP 1500-100 files without "
                 "GeneratedDate); with a zone, e.g. 2020-11-04T02:15:00-05:00")] = None,
    ) -> None:
        """Append results snapshots to the store's history (append-only; commit logs them)."""
        from ..errors import UsageError
        from ..results_history import add_snapshot
        from ..store import Store

        if timestamp is not None and len(files) > 1:
            raise UsageError("--timestamp names one publication: add one file at a time")
        st = Store.open(store)
        for f in files:
            entry = add_snapshot(st, f, timestamp)
            if entry is None:
                err.print(f"{f}: already in the history")
            else:
                err.print(f"{f}: snapshot {entry.seq} at {entry.timestamp} "
                          f"(sha256 {entry.sha256[:16]}…)", highlight=False)

    @results.command("history")
    def history_cmd(
        store: Annotated[Path, typer.Option("--store",
                         help="election store folder")],
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """How the published results changed from snapshot to snapshot, and of what kind.

        Exit 1 when a count went down or votes moved between choices with no new ballots:
        each such correction needs an explanation from the election office.
        """
        from ..errors import Failure, VerificationError
        from ..evidence.results_changes import results_history_check
        from ..results_history import load_snapshots
        from ..store import Store

        snaps = load_snapshots(Store.open(store))
        check = results_history_check([(e.seq, s) for e, s in snaps])
        if json:
            emit_json(check.to_json())
        else:
            _print(check)
        if check.status == "fail":
            raise VerificationError([Failure(check=check.name, message=check.summary)])


def _print(check) -> None:  # noqa: ANN001 - a Check
    from rich.table import Table

    changes = check.details.get("changes", [])
    if changes:
        t = Table(title="changes between published results")
        for col in ("from", "to", "kind", "votes added", "votes removed"):
            t.add_column(col, justify="right" if col.startswith("votes") else "left")
        for c in changes:
            t.add_row(c["from_time"], c["to_time"], ", ".join(c["kinds"]) or "no change",
                      f"{c['votes_added']:,}", f"{c['votes_removed']:,}")
        out.print(t)
    out.print(check.summary, highlight=False)

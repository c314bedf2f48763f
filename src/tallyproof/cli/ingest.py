"""``tallyproof ingest`` and ``tallyproof contest list | set`` (the rules of the contests read)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ..errors import TallyproofError, UsageError
from ..model import ContestKind
from .common import emit_json, err, open_store, out

if TYPE_CHECKING:
    from ..model import Contest


CONTEST_SET_EXAMPLE = "Example: tallyproof contest set --store county 13 --rule approval --seats 1"


def parse_pairs(pairs: list[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` strings → a mapping (a pair without ``=`` or key is a usage error)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def parse_options(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs → reader options; integers become ints (column indices, seats)."""
    return {key: int(value) if value.lstrip("-").isdigit() else value
            for key, value in parse_pairs(pairs, "--option").items()}


def _contest_json(c: Contest) -> dict[str, object]:
    from ..contest_rules import rule_text

    return {"id": c.id, "name": c.name, "rule": c.kind.value, "seats": c.seats,
            "vote_for": c.vote_for, "ranks": c.max_rankings, "rule_declared": c.rule_declared,
            "rcv_options": dict(c.rcv_options), "description": rule_text(c)}


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_cmd(
        sources: Annotated[list[Path], typer.Argument(help="CVR export files or folders")],
        store: Annotated[Path, typer.Option("--store", help="election store folder")],
        fmt: Annotated[str, typer.Option("--format", help="reader name, or auto")] = "auto",
        manifest: Annotated[Path | None, typer.Option("--manifest", help="ballot manifest CSV")] = None,
        option: Annotated[
            list[str] | None,
            typer.Option("--option", help="reader option KEY=VALUE (RCTab cvrFileSources keys)"),
        ] = None,
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Read voting-system exports into an election store, all in one transaction: every
        source and the manifest land, or nothing does. Appends to an existing store (a second
        part of an export is added; its definition files must be identical to the first's);
        refuses duplicate ballot ids, naming their sources."""
        from ..ingest import ingest

        try:
            res = ingest(sources, store, fmt=fmt, options=parse_options(option or []),
                         manifest=manifest)
        except TallyproofError:
            err.print(f"ingest failed: nothing was written to {store} (one command is one "
                      "transaction)", highlight=False)
            raise
        if json:
            emit_json(
                {
                    "store": str(res.store),
                    "format": res.format,
                    "cards_added": res.cards_added,
                    "cards_total": res.cards_total,
                    "sources": [s.to_json() for s in res.sources],
                    "shared_definition_files": list(res.shared),
                }
            )
        else:
            out.print(
                f"ingested {res.cards_added:,} cards ({res.format}) into {res.store}; "
                f"{res.cards_total:,} in total"
            )
            if res.shared:
                out.print(f"definition files identical to those already in the store: "
                          f"{', '.join(res.shared)}")


    contest_app = typer.Typer(
        help="The contests read into a store, and how each is decided.", no_args_is_help=True)
    app.add_typer(contest_app, name="contest")

    @contest_app.command("list")
    def contest_list_cmd(
        store: Annotated[Path, typer.Option("--store", help="election store folder")],
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Every contest with its id, name and rule (kind, seats, RCV options)."""
        from ..contest_rules import rule_text

        contests = open_store(store).election.contests
        if json:
            emit_json({"contests": [_contest_json(c) for c in contests]})
            return
        table = Table(title=f"contests in {store}")
        for col in ("id", "name", "rule"):
            table.add_column(col)
        for c in contests:
            table.add_row(c.id, c.name, rule_text(c))
        out.print(table)

    @contest_app.command(
        "set",
        epilog=CONTEST_SET_EXAMPLE,
    )
    def contest_set_cmd(
        contest: Annotated[str, typer.Argument(help="contest id or name")],
        store: Annotated[Path, typer.Option("--store", help="election store folder")],
        rule: Annotated[ContestKind, typer.Option("--rule", help="how the contest is decided")],
        seats: Annotated[int | None, typer.Option(
            "--seats", help="number of winners (default: as read; 1 for irv)")] = None,
        rcv_option: Annotated[list[str] | None, typer.Option(
            "--rcv-option", help="RCTab rule option KEY=VALUE (irv and stv), e.g. "
            "overvoteRule=alwaysSkipToNextRank")] = None,
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Declare how a contest is decided when the export cannot say it (a Dominion manifest
        has only "vote for N"). Recorded in the store (election.json), committed with the
        election definition, used by tabulate and shown in the report. Each declaration
        replaces the contest's whole rule; refused once an audit has started."""
        from ..contest_rules import declare_rule, rule_text

        change = declare_rule(open_store(store), contest, kind=rule, seats=seats,
                              rcv_options=parse_pairs(rcv_option or [], "--rcv-option"))
        if json:
            emit_json({"contest": _contest_json(change.contest), "changed": change.changed,
                       "previous": _contest_json(change.previous),
                       "next_steps": list(change.next_steps)})
            return
        what = "declared" if change.changed else "unchanged"
        out.print(f"contest {change.contest.id} ({change.contest.name}): {what}: "
                  f"{rule_text(change.contest)}")
        for step in change.next_steps:
            err.print(f"now run {step}")

"""``tallyproof ingest``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from .common import emit_json, out


def parse_options(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs → reader options; integers become ints (column indices, seats)."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--option expects KEY=VALUE, got {pair!r}")
        options[key] = int(value) if value.lstrip("-").isdigit() else value
    return options


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
        """Read voting-system exports into an election store (appends; refuses duplicate ids)."""
        from ..ingest import ingest

        res = ingest(sources, store, fmt=fmt, options=parse_options(option or []), manifest=manifest)
        if json:
            emit_json(
                {
                    "store": str(res.store),
                    "format": res.format,
                    "cards_added": res.cards_added,
                    "cards_total": res.cards_total,
                    "sources": [s.to_json() for s in res.sources],
                }
            )
        else:
            out.print(
                f"ingested {res.cards_added:,} cards ({res.format}) into {res.store}; "
                f"{res.cards_total:,} in total"
            )

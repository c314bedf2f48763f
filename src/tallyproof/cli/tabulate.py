"""``tallyproof tabulate``: the outcome of every contest of a store, or an RCTab configuration
tabulated into RCTab's detailed report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import UsageError
from ..tabulate.rctab import run_config
from ..tabulate.store_results import StoreResults, tabulate_store
from .common import emit_json, out


def _show(results: StoreResults, written: Path) -> None:
    table = Table(title=f"{results.election} — {results.cvr_count:,} cards")
    for col in ("contest", "kind", "winner(s)", "detail"):
        table.add_column(col)
    for c in results.contests:
        if c.tally is not None:
            top = sorted(c.tally.votes.items(), key=lambda kv: -kv[1])[: max(c.vote_for, 1) + 1]
            detail = ", ".join(f"{k} {v:,}" for k, v in top)
            detail += f"; {c.tally.overvotes:,} overvoted, {c.tally.undervotes:,} undervotes"
        elif c.rcv is not None:
            detail = f"{len(c.rcv.rounds)} rounds, threshold {c.rcv.threshold}"
        else:
            detail = ""
        winners = ", ".join(c.winners) + (" (tie)" if c.tied else "")
        table.add_row(c.name, c.kind, winners, detail)
    out.print(table)
    out.print(f"CVR table SHA-256 {results.cvr_table_sha256}; results written to {written}")


def register(app: typer.Typer) -> None:
    @app.command("tabulate")
    def tabulate_cmd(
        store: Annotated[Path | None, typer.Option("--store", help="election store folder")] = None,
        rctab_config: Annotated[
            Path | None, typer.Option("--rctab-config", help="RCTab contest config JSON")] = None,
        out_dir: Annotated[
            Path | None, typer.Option("--out", help="folder for the RCTab-style report")] = None,
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Tabulate every contest of a store (writes results/tabulation.json), or an RCTab
        configuration into RCTab's detailed report (summary.json, summary.csv)."""
        if (store is None) == (rctab_config is None):
            raise UsageError("give exactly one of --store or --rctab-config")
        if rctab_config is not None:
            if out_dir is None:
                raise UsageError("--rctab-config needs --out DIR")
            run = run_config(rctab_config, out_dir)
            if json:
                emit_json({"winners": list(run.result.winners), "rounds": len(run.result.rounds),
                           "threshold": str(run.result.threshold),
                           "files": [str(f) for f in run.files]})
            else:
                out.print(f"winner(s): {', '.join(run.result.winners)} after "
                          f"{len(run.result.rounds)} rounds; report in {out_dir}")
            return
        if out_dir is not None:
            raise UsageError("--out goes with --rctab-config; a store's results go to its results/")
        if store is None:  # unreachable after the check above; narrows the type
            raise UsageError("give --store")
        results = tabulate_store(store, write=True)
        if json:
            emit_json(results.to_json())
        else:
            _show(results, Path(store) / "results" / "tabulation.json")

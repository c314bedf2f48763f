"""``tallyproof tabulate``: the outcome of every contest of a store, or an RCTab configuration
tabulated into RCTab's detailed report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ..errors import UsageError
from .common import candidate_names, emit_json, open_store, out

if TYPE_CHECKING:
    from ..model import Election
    from ..tabulate.store_results import StoreResults


def _show(results: StoreResults, election: Election, written: Path) -> None:
    """The outcome for people: candidates and choices by name (``--json`` keeps the ids)."""
    table = Table(title=f"{results.election} — {results.cvr_count:,} cards")
    for col in ("contest", "kind", "winner(s)", "detail"):
        table.add_column(col)
    for c in results.contests:
        names = candidate_names(election.contest(c.contest_id))
        if c.tally is not None:
            top = sorted(c.tally.votes.items(), key=lambda kv: -kv[1])[: max(c.vote_for, 1) + 1]
            detail = ", ".join(f"{names[k]} {v:,}" for k, v in top)
            detail += f"; {c.tally.overvotes:,} overvoted, {c.tally.undervotes:,} undervotes"
        elif c.rcv is not None:
            detail = f"{len(c.rcv.rounds)} rounds, threshold {c.rcv.threshold}"
        else:
            detail = ""
        winners = ", ".join(names[w] for w in c.winners) + (" (tie)" if c.tied else "")
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
            from ..tabulate.rctab import run_config

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
        from ..tabulate.store_results import tabulate_store

        st = open_store(store)
        results = tabulate_store(st, write=True)
        if json:
            emit_json(results.to_json())
        else:
            _show(results, st.election, Path(store) / "results" / "tabulation.json")

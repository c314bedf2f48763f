"""``tallyproof reconcile``, ``report``, ``bundle`` and ``verify``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ..errors import Failure, InputError, UsageError, VerificationError
from .common import emit_json, err, out, open_store

if TYPE_CHECKING:
    from ..evidence.checks import Check

STATUS_STYLE = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "not_run": "not run"}


def _print_checks(title: str, checks: list[Check]) -> None:
    table = Table(title=title)
    table.add_column("check")
    table.add_column("status")
    table.add_column("found")
    for c in checks:
        table.add_row(c.name, STATUS_STYLE[c.status], c.summary)
    out.print(table)


def _fail_if(checks: list[Check]) -> None:
    failures = [Failure(check=c.name, message=c.summary) for c in checks if c.status == "fail"]
    if failures:
        raise VerificationError(failures)


def register(app: typer.Typer) -> None:
    @app.command("reconcile")
    def reconcile_cmd(
        store: Annotated[Path, typer.Option("--store", help="election store folder")],
        pollbooks: Annotated[Path | None, typer.Option("--pollbooks",
                             help="pollbook counts CSV (docs/evidence.md)")] = None,
        results: Annotated[Path | None, typer.Option("--results",
                           help="certified results: NIST SP 1500-100 JSON or CSV")] = None,
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Ballot accounting and the certified-results check; exit 1 if anything differs.

        Writes DIR/results/reconciliation.json before exiting.
        """
        from ..reconcile import reconcile_store

        rep = reconcile_store(open_store(store), pollbooks=pollbooks, results=results)
        if json:
            emit_json(rep.to_json())
        else:
            _print_checks(f"reconciliation of {rep.cards:,} CVRs", rep.checks)
        _fail_if(rep.checks)

    @app.command("report")
    def report_cmd(
        store: Annotated[Path, typer.Option("--store", help="election store folder")],
        out_dir: Annotated[Path, typer.Option("--out", help="folder for report.html/.pdf")],
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Write the evidence report (HTML and PDF, reproducible byte for byte)."""
        from ..evidence.claims import build_claims
        from ..evidence.report import build_report

        st = open_store(store)
        paths = build_report(st, out_dir)
        if json:
            emit_json({"html": str(paths.html), "pdf": str(paths.pdf),
                       "claims": [c.to_json() for c in build_claims(st)]})
        else:
            out.print(f"report: {paths.html}\n        {paths.pdf}")

    @app.command("bundle")
    def bundle_cmd(
        store: Annotated[Path, typer.Option("--store", help="election store folder")],
        out_dir: Annotated[Path, typer.Option("--out", help="bundle folder (a .zip is made too)")],
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Build the verification bundle: a folder and a .zip with a SHA-256 manifest."""
        from ..evidence.bundle import build_bundle

        paths = build_bundle(open_store(store), out_dir)
        if json:
            emit_json({"folder": str(paths.folder), "zip": str(paths.zip)})
        else:
            out.print(f"bundle: {paths.folder}\n        {paths.zip}")

    @app.command("verify")
    def verify_cmd(
        bundle: Annotated[Path | None, typer.Argument(help="bundle folder or .zip")] = None,
        store: Annotated[Path | None, typer.Option("--store",
                         help="verify a store in place instead of a bundle")] = None,
        key: Annotated[list[Path] | None, typer.Option(
            "--key", help="public key file (KEY.pub) of the log key you trust, e.g. the one the "
            "election office published; repeatable. Without it the key inside the bundle is "
            "trusted, which shows integrity only relative to that key")] = None,
        require: Annotated[list[str] | None, typer.Option(
            "--require", help="a check that must have run and finished, else exit 1 "
            "(repeatable): audit, reconciliation, official_results, or any check name")] = None,
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="a state bundle: re-check the counties on this "
                                "dask.distributed scheduler (tcp://HOST:8786)")] = None,
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Re-check everything from a bundle alone (or a store).

        Exit 0 when every check that ran holds and the essentials (the commitment log and the
        recount of the CVRs) were verified; the verdict names what was not checked (no
        reconciliation, no audit, an audit still in progress). Exit 1 naming each failure,
        when nothing was verified, or when a --require'd check did not run or finish.
        """
        from ..memory import lean_arrow_pool
        from ..verify import verify_bundle, verify_store_dir

        if (bundle is None) == (store is None):
            raise UsageError("give a BUNDLE or --store DIR (exactly one)")
        lean_arrow_pool()  # a verifier's laptop: 5M cards peaked at 3.3 GB with it, 4.0 without
        keys = [_read_vkey(k) for k in key] if key else None
        if scheduler is not None and bundle is None:
            raise UsageError("--scheduler goes with a state BUNDLE")
        if bundle is not None and scheduler is not None:
            from ..state.executor import executor
            from .state_progress import shown

            with executor("dask", scheduler) as dask, shown(dask, quiet=json) as ex:
                rep = verify_bundle(bundle, keys, require or [], ex)
        elif bundle is not None:
            rep = verify_bundle(bundle, keys, require or [])
        else:
            rep = verify_store_dir(store, keys, require or [])  # type: ignore[arg-type]
        if json:
            emit_json(rep.to_json())
        else:
            _print_checks("verification", rep.checks)
            if rep.verdict is not None:
                colour = "green" if rep.ok else "bold red"
                err.print(f"[{colour}]{rep.verdict.text}[/]", highlight=False)
        if rep.failures:
            raise VerificationError(rep.failures)


def _read_vkey(path: Path) -> str:
    """The verifier key (one C2SP vkey line) in a ``KEY.pub`` file."""
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the public key: {exc}", file=path) from exc
    if len(lines) != 1:
        raise InputError("expected one verifier key line", file=path)
    return lines[0]

"""``tallyproof state …``: a statewide election of many county stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import emit_json, err, out

SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler",
    help="a dask.distributed scheduler (tcp://host:8786); default: a local cluster sized to "
         "this machine")]
InProcessOpt = Annotated[bool, typer.Option(
    "--in-process", help="run the county tasks one by one in this process (no Dask)")]


@contextmanager
def _executor(scheduler: str | None, in_process: bool, quiet: bool = False
              ) -> Iterator[Any]:
    """The executor the options ask for, showing per-county progress on stderr (not with
    ``quiet``, i.e. ``--json``)."""
    from ..errors import UsageError
    from ..state.executor import executor
    from .state_progress import shown

    if scheduler and in_process:
        raise UsageError("--scheduler and --in-process exclude each other")
    with executor("inprocess" if in_process else "dask" if scheduler else "local",
                  scheduler) as ex, shown(ex, quiet) as watched:
        yield watched


def _control_room(folder: Path) -> bool:
    """Whether the state has a control room whose activity log a publication must commit:
    ``TALLYPROOF_DATABASE_URL`` is set, or its SQLite file is in the state folder."""
    import os

    from ..server.config import DATABASE_ENV, SQLITE_FILE

    return bool(os.environ.get(DATABASE_ENV)) or (Path(folder) / SQLITE_FILE).exists()


def register(app: typer.Typer) -> None:
    state = typer.Typer(help="A statewide election: many counties, one body of evidence.",
                        no_args_is_help=True)
    app.add_typer(state, name="state")
    from .state_audit import register as register_audit

    register_audit(state)

    @state.command("init")
    def init_cmd(
        folder: Annotated[Path, typer.Argument(help="the new state folder")],
        name: Annotated[str, typer.Option("--name", help="the election's name")],
        date: Annotated[str, typer.Option("--date")] = "",
        state_code: Annotated[str, typer.Option("--state",
                              help="the state's postal code")] = "",
    ) -> None:
        """Create a state election folder (state.json)."""
        from ..state.workflow import init_state

        init_state(folder, name, date, state_code)
        err.print(f"state election created in {folder}")

    @state.command("add-county")
    def add_county_cmd(
        folder: Annotated[Path, typer.Argument()],
        county: Annotated[str, typer.Argument(help="lower-case id, e.g. fulton")],
        name: Annotated[str, typer.Option("--name", help="the county's name")],
        batch_tallies: Annotated[bool, typer.Option(
            "--batch-tallies",
            help="the county has no CVRs: it reports a ballot manifest and batch tallies "
                 "(DIR/counties/ID/tallies)")] = False,
    ) -> None:
        """Add a county (its store will be DIR/counties/ID/store)."""
        from ..state.workflow import add_county

        add_county(folder, county, name, "batch_tallies" if batch_tallies else "cvrs")

    @state.command("add-contest")
    def add_contest_cmd(
        folder: Annotated[Path, typer.Argument()],
        contest: Annotated[str, typer.Argument()],
        name: Annotated[str, typer.Option("--name")],
        candidate: Annotated[list[str], typer.Option(
            "--candidate", help="a statewide candidate (repeat)")],
        kind: Annotated[str, typer.Option("--kind",
                        help="plurality, approval, irv or stv")] = "plurality",
        seats: Annotated[int, typer.Option("--seats")] = 1,
        vote_for: Annotated[int, typer.Option("--vote-for")] = 1,
        alias: Annotated[list[str] | None, typer.Option(
            "--alias",
            help="a county's own name for this contest (repeat); candidates are matched by "
                 "name, ignoring case and spacing, or by --candidate-alias")] = None,
        candidate_alias: Annotated[list[str] | None, typer.Option(
            "--candidate-alias",
            help="a county's own name for a statewide candidate (repeat)")] = None,
    ) -> None:
        """Declare a statewide contest and how counties name it."""
        from ..state.workflow import add_contest, contest_from_options, parse_aliases

        aliases = parse_aliases(alias or [], candidate_alias or [], name, "--alias ",
                                "--candidate-alias ")
        add_contest(folder, contest_from_options(contest, name, candidate, kind, seats,
                                                 vote_for, aliases))

    @state.command("ingest")
    def ingest_cmd(
        folder: Annotated[Path, typer.Argument()],
        county: Annotated[str, typer.Argument()],
        sources: Annotated[list[Path], typer.Argument()],
        fmt: Annotated[str, typer.Option("--format")] = "auto",
        manifest: Annotated[Path | None, typer.Option("--manifest")] = None,
    ) -> None:
        """Ingest one county's exports into its store (one transaction, as `ingest`); a
        county with batch tallies only: its batch tallies CSV and --manifest."""
        from ..errors import TallyproofError
        from ..state.spec import load_spec
        from ..state.tasks import ingest_task

        load_spec(folder).county(county)
        try:
            res = ingest_task(county, str(folder), [str(s) for s in sources], fmt,
                              str(manifest) if manifest else None)
        except TallyproofError:
            err.print(f"county {county}: nothing was ingested; the other counties are "
                      "unchanged")
            raise
        if res.format == "batch_tallies":
            err.print(f"county {county}: batch tallies of {res.cards_total:,} ballots")
        else:
            err.print(f"county {county}: {res.cards_added:,} cards added "
                      f"({res.cards_total:,} in all)")

    @state.command("commit")
    def commit_cmd(
        folder: Annotated[Path, typer.Argument()],
        key: Annotated[Path, typer.Option("--key",
                       help="the state's private key: signs the state checkpoint")],
        scheduler: SchedulerOpt = None,
        in_process: InProcessOpt = False,
        json: Annotated[bool, typer.Option("--json")] = False,
        database_url: Annotated[str | None, typer.Option(
            "--database-url",
            help="the control room's database, whose activity log the state checkpoint "
                 "commits (default: $TALLYPROOF_DATABASE_URL, else the SQLite file in the "
                 "state folder if there is one, else no activity log)")] = None,
    ) -> None:
        """Commit every county's log (with its key in DIR/keys/COUNTY), then publish the
        counties' checkpoints in the state log, signed by the state's key, with the control
        room's activity log when the state has one (docs/commitment.md §9.7)."""
        from ..state.statelog import publish
        from ..state.workflow import CountyFailures, commit_all

        activity = None
        if database_url is not None or _control_room(folder):
            from ..server.activity import control_room_log

            activity = control_room_log(folder, database_url)
        with _executor(scheduler, in_process, json) as ex:
            outs = commit_all(folder, ex)
        failed = [o for o in outs if not o.ok]
        pub = publish(folder, key, {o.county: o.value for o in outs if o.value is not None},
                      activity)
        if json:
            emit_json({"published": pub.published, "counties_added": list(pub.counties_added),
                       "tree_size": pub.tree_size, "root": pub.root,
                       "activity_entries": pub.activity_entries,
                       "activity_added": pub.activity_added,
                       "failed": {o.county: o.error for o in failed}})
        else:
            out.print(f"state log: {pub.tree_size} county checkpoint(s), root {pub.root}; "
                      f"published now: {', '.join(pub.counties_added) or 'nothing new'}"
                      + ("" if pub.activity_entries is None else
                         f"; activity log: {pub.activity_entries:,} entries committed "
                         f"({pub.activity_added:,} new)"), highlight=False)
        if failed:
            raise CountyFailures("commit", failed)

    @state.command("tabulate")
    def tabulate_cmd(
        folder: Annotated[Path, typer.Argument()],
        results_file: Annotated[Path | None, typer.Option(
            "--results",
            help="certified statewide totals (CSV contest,candidate,votes) to compare with; "
                 "exit 1 on any difference")] = None,
        scheduler: SchedulerOpt = None,
        in_process: InProcessOpt = False,
        json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Tabulate every county and merge the statewide contests exactly."""

        from ..errors import Failure, VerificationError
        from ..state.accounting import check_statewide_results
        from ..state.workflow import tabulate_state

        with _executor(scheduler, in_process, json) as ex:
            results = tabulate_state(folder, ex)
        check = check_statewide_results(folder, results_file) if results_file else None
        if json:
            emit_json({"contests": [r.to_json() for r in results],
                       "official_results": check.to_json() if check else None})
        else:
            _print_state_results(folder, results)
            if check:
                out.print(check.summary, highlight=False)
        if check and check.status == "fail":
            raise VerificationError([Failure(check.name, check.summary)])

    @state.command("reconcile")
    def reconcile_cmd(
        folder: Annotated[Path, typer.Argument()],
        scheduler: SchedulerOpt = None,
        in_process: InProcessOpt = False,
        json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Reconcile every county (pollbooks and certified results from
        DIR/counties/ID/inputs/) and sum the accounts; exit 1 naming each county that differs."""
        from rich.table import Table

        from ..errors import Failure, VerificationError
        from ..state.accounting import reconcile_state

        with _executor(scheduler, in_process, json) as ex:
            acc = reconcile_state(folder, ex)
        if json:
            emit_json(acc.to_json())
        else:
            t = Table(title="ballot accounting by county")
            for col in ("county", "CVRs", "manifest", "check-ins", "differences"):
                t.add_column(col, justify="left" if col in ("county", "differences") else "right")
            for c, a in sorted(acc.counties.items()):
                t.add_row(c, f"{a.cvrs:,}", "-" if a.manifest_ballots is None
                          else f"{a.manifest_ballots:,}", "-" if a.checkins is None
                          else f"{a.checkins:,}",
                          ", ".join(n for n, st, _ in a.checks if st == "fail") or "none")
            out.print(t)
            out.print(acc.check.summary, highlight=False)
        if acc.check.status == "fail":
            raise VerificationError([Failure(acc.check.name, acc.check.summary)])


    @state.command("bundle")
    def bundle_cmd(
        folder: Annotated[Path, typer.Argument()],
        out_dir: Annotated[Path, typer.Option("--out", help="the state bundle folder (and "
                                                            "FOLDER.zip)")],
        scheduler: SchedulerOpt = None,
        in_process: InProcessOpt = False,
    ) -> None:
        """The statewide report and verification bundle: every county's own bundle (built on
        the executor), the state log, statewide results and accounting, the statewide report.
        `tallyproof verify BUNDLE` re-checks it county by county."""
        from ..state.evidence import build_state_bundle

        with _executor(scheduler, in_process) as ex:
            out_path = build_state_bundle(folder, out_dir, ex)
        err.print(f"state bundle: {out_path} (and {out_path}.zip); report: "
                  f"{out_path / 'report' / 'report.html'}", highlight=False)

    @state.command("prove")
    def prove_cmd(
        folder: Annotated[Path, typer.Argument()],
        county: Annotated[str, typer.Argument()],
        ballot: Annotated[str, typer.Argument()],
        with_data: Annotated[bool, typer.Option(
            "--with-data", help="also print the CVR leaf's salt and bytes (secret until "
                                "publication), which hash to the proof's leaf hash")] = False,
    ) -> None:
        """A ballot's proof through its county checkpoint to the state checkpoint (JSON); in a
        county with batch tallies only, a batch's (BALLOT = TABULATOR/BATCH; its leaf bytes
        are always included)."""
        from ..state.statelog import prove_ballot

        emit_json(prove_ballot(folder, county, ballot, with_data))

    @state.command("verify")
    def verify_cmd(
        folder: Annotated[Path, typer.Argument()],
        key: Annotated[Path | None, typer.Option(
            "--key", help="the state's published public key")] = None,
    ) -> None:
        """Check the state log: signatures, consistency, every county checkpoint's signature."""
        from ..errors import Failure, VerificationError
        from ..ledger.keys import load_verifier
        from ..state.statelog import verify_state_log

        failures = verify_state_log(folder, load_verifier(key) if key else None)
        if failures:
            raise VerificationError([Failure("state-log", f) for f in failures])
        out.print("the state log verifies: every state checkpoint is signed and consistent "
                  "with the next, and every county checkpoint in it is signed by its county")


def _print_state_results(folder: Path, results: list[Any]) -> None:
    from rich.table import Table

    from ..state.spec import load_spec

    spec = load_spec(folder)
    names = {sc.id: {c.id: c.name for c in sc.candidates} for sc in spec.contests}
    for r in results:
        t = Table(title=f"{r.name}: {len(r.by_county)} county(ies), {r.cards:,} cards")
        t.add_column("candidate")
        t.add_column("first-round votes" if r.rcv else "votes", justify="right")
        for cid, v in r.votes.items():  # a ranked count's "(write-ins)" has no statewide name
            t.add_row(names[r.contest].get(cid, cid)
                      + (" (winner)" if cid in r.winners else ""), f"{v:,}")
        out.print(t)

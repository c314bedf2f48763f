"""``tallyproof voters check | demo``: claims answered from the voter files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from .common import emit_json, err, open_store, out

_EPILOG = (
    "Exit code: 0 when every check that ran found nothing, 1 when a check found a problem, "
    "2 on bad input. Reports carry counts only; --match-list writes the personal match list "
    "to a separate CONFIDENTIAL file (owner-only permissions). "
    "Example: tallyproof voters demo --out voters-demo && tallyproof voters check "
    "--roll voters-demo/roll.csv --history voters-demo/history.csv --deaths "
    "voters-demo/deaths.csv --mail voters-demo/mail.csv --election 2020-11-03 "
    "--deadline 2020-11-03"
)


def _date(text: str | None, option: str) -> dt.date | None:
    from ..errors import UsageError

    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: not a date {text!r} (expected YYYY-MM-DD)") from None


def register(app: typer.Typer) -> None:
    voters = typer.Typer(help="Claims answered from the voter roll, voter history, mail-ballot "
                              "file and death records.", no_args_is_help=True)
    app.add_typer(voters, name="voters")

    @voters.command("check", epilog=_EPILOG)
    def check_cmd(
        election: Annotated[str, typer.Option("--election", metavar="YYYY-MM-DD",
                            help="election day")],
        roll: Annotated[Path | None, typer.Option("--roll", help="voter registration list")
                        ] = None,
        history: Annotated[Path | None, typer.Option("--history", help="voter history file")
                           ] = None,
        layout: Annotated[str, typer.Option("--history-layout",
                          help="history file layout: tallyproof, nc or ga")] = "tallyproof",
        roll_layout: Annotated[str, typer.Option("--roll-layout",
                               help="roll file layout: tallyproof, nc or ga")] = "tallyproof",
        mail: Annotated[Path | None, typer.Option("--mail", help="mail-ballot file")] = None,
        deaths: Annotated[Path | None, typer.Option("--deaths", help="death records")] = None,
        ballots: Annotated[Path | None, typer.Option(
            "--ballots", help="ballots counted per precinct (county,precinct,ballots)")] = None,
        deadline: Annotated[str | None, typer.Option(
            "--deadline", metavar="YYYY-MM-DD", help="mail ballots must be received by")] = None,
        uocava_days: Annotated[int, typer.Option(
            "--uocava-days", min=0, help="extra days for overseas and military ballots")] = 0,
        postmark_days: Annotated[int, typer.Option(
            "--postmark-days", min=0, help="days after the deadline a ballot postmarked by "
                                           "election day may arrive")] = 0,
        died_after_voting: Annotated[str, typer.Option(
            "--died-after-voting", help="rule for a ballot cast before the voter died: "
                                        "counts or rejected")] = "counts",
        snapshot: Annotated[str | None, typer.Option(
            "--snapshot", metavar="YYYY-MM-DD",
            help="registration snapshot date (default: election day)")] = None,
        match_list: Annotated[Path | None, typer.Option(
            "--match-list", help="write the CONFIDENTIAL personal match list here")] = None,
        truth: Annotated[Path | None, typer.Option(
            "--truth", help="planted truth (synthetic data): report precision and recall")
        ] = None,
        report: Annotated[Path | None, typer.Option(
            "--report", help="write the evidence (counts only) as JSON here")] = None,
        store: Annotated[Path | None, typer.Option(
            "--store", help="record the evidence (counts only) in this election store, for "
                            "its report and bundle; without --ballots, the ballots counted "
                            "per precinct are its CVRs")] = None,
        county: Annotated[str | None, typer.Option(
            "--county", help="--store: the county of its CVRs as the voter files spell it "
                             "(default: the store's jurisdiction)")] = None,
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Answer the dead-voter, double-voting, late-ballot and more-votes-than-voters claims
        from the files given; a check whose files were not given is 'not answered'."""
        from ..errors import UsageError
        from ..fsutil import atomic_write_json
        from ..voters.checks import Rules
        from ..voters.report import VoterFiles, voter_evidence

        if died_after_voting not in ("counts", "rejected"):
            raise UsageError("--died-after-voting: counts or rejected")
        rules = Rules(election=_date(election, "--election"),  # type: ignore[arg-type]
                      deadline=_date(deadline, "--deadline"), uocava_days=uocava_days,
                      postmark_days=postmark_days,
                      died_after_voting_counts=died_after_voting == "counts",
                      snapshot=_date(snapshot, "--snapshot"))
        counted, target = None, None
        if store is not None:
            from ..voters import store_evidence

            target = open_store(store)
            if ballots is None:
                counted = store_evidence.ballots_per_precinct(target, county)
        doc = voter_evidence(VoterFiles(roll, history, mail, deaths, ballots, layout,
                                        roll_layout, truth), rules, match_list, counted)
        if target is not None:
            if counted is not None:
                doc["ballots_source"] = store_evidence.FROM_STORE
                doc["ballots_county"] = (target.election.jurisdiction if county is None
                                         else county)
            store_evidence.record(target, doc)
        if report is not None:
            atomic_write_json(report, doc)
        if match_list is not None:
            err.print(f"CONFIDENTIAL match list written to {match_list}", highlight=False)
        if json:
            emit_json(doc)
        else:
            for c in doc["checks"]:
                out.print(f"[bold]{c['name']}[/] {c['status']}: {c['summary']}",
                          highlight=False)
            for c in doc["claims"]:
                out.print(f"[bold]{c['claim']}[/] {c['finding']}", highlight=False)
            for kind, pr in doc.get("precision_recall", {}).items():
                out.print(f"matching {kind}: precision {pr['precision']}, recall "
                          f"{pr['recall']} ({pr['true_found']} of {pr['planted']} planted)",
                          highlight=False)
        if any(c["status"] == "fail" for c in doc["checks"]):
            raise typer.Exit(1)

    @voters.command("demo")
    def demo_cmd(
        out_dir: Annotated[Path, typer.Option("--out", help="output folder")],
        voters_n: Annotated[int, typer.Option("--voters", min=100, help="registered voters")
                            ] = 20000,
        deaths_n: Annotated[int, typer.Option("--deaths", min=10,
                            help="death records of people not on the roll")] = 4000,
        seed: Annotated[int, typer.Option("--seed")] = 2020,
        fault: Annotated[list[str] | None, typer.Option(
            "--fault", help="plant more cases (repeatable): dead-voter, double-vote, "
                            "late-ballot")] = None,
        birth_year_only: Annotated[bool, typer.Option(
            "--birth-year-only", help="leave the roll's full date of birth empty")] = False,
        clean: Annotated[bool, typer.Option(
            "--clean", help="plant no case of a kind unless its --fault is given")] = False,
    ) -> None:
        """Write synthetic voter files with planted truth (roll, history, mail, deaths,
        ballots per precinct, truth.json) in the documented CSV layout."""
        from ..voters.synth import generate

        t = generate(out_dir, voters=voters_n, deaths=deaths_n, seed=seed,
                     faults=tuple(fault or ()), full_birth_date=not birth_year_only,
                     baseline_cases=not clean)
        err.print(f"wrote {out_dir}: planted {len(t['dead_voter'])} dead voters, "
                  f"{len(t['died_after'])} who died after voting, {len(t['double_vote'])} "
                  f"double votes, {len(t['late_ballot'])} late ballots", highlight=False)

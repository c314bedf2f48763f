"""``tallyproof compare hand-count``: a full hand count against the machine count."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import emit_json, err, out


def register(app: typer.Typer) -> None:
    compare = typer.Typer(help="Compare two counts of the same ballots.", no_args_is_help=True)
    app.add_typer(compare, name="compare")

    @compare.command("hand-count")
    def hand_count_cmd(
        machine: Annotated[Path, typer.Option("--machine",
                           help="the machine count: Clarity results XML (per county)")],
        hand: Annotated[Path, typer.Option("--hand",
                        help="the hand count: Arlo audit report CSV with BATCH RESULTS")],
        contest: Annotated[str | None, typer.Option("--contest",
                           help="the contest, when the files hold several")] = None,
        top: Annotated[int, typer.Option("--top",
                       help="counties to list, largest change to the margin first")] = 15,
        out_dir: Annotated[Path | None, typer.Option("--out",
                           help="also write comparison.json and the county and vote-type "
                                "tables as CSV")] = None,
        bundle: Annotated[Path | None, typer.Option(
            "--bundle",
            help="also write the evidence report (HTML, PDF) and a verification bundle "
                 "(DIR and DIR.zip) that `tallyproof verify DIR` re-checks")] = None,
        history: Annotated[list[Path] | None, typer.Option(
            "--history",
            help="a published results snapshot (repeat, any order) for the report's "
                 "'results changed after election night' claim")] = None,
        json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Line up a hand count with the machine count, county by county and by vote type.

        Exit 0 when the hand count elects the same winner(s) as the machine count, 1 when it
        does not (the evidence contradicts the reported outcome), 2 for bad input.
        """
        from ..errors import Failure, VerificationError
        from ..evidence.hand_count import compare_hand_count, write_comparison
        from ..formats.arlo_report import read_arlo_report
        from ..formats.clarity import read_clarity

        cmp = compare_hand_count(read_clarity(machine), read_arlo_report(hand), contest)
        if out_dir is not None:
            write_comparison(cmp, out_dir)
        if bundle is not None:
            from ..evidence.handcount_report import build_handcount_bundle

            build_handcount_bundle(machine, hand, bundle, history or [], contest)
            err.print(f"report and bundle written to {bundle} (and {bundle}.zip)")
        if json:
            emit_json(cmp.to_json())
        else:
            _print(cmp, top)
        if not cmp.outcome_confirmed:
            raise VerificationError([Failure(
                check="hand_count",
                message=f"the hand count elects {', '.join(cmp.hand_winners)}; the machine "
                        f"count {', '.join(cmp.machine_winners)}")])


def _print(cmp, top: int) -> None:  # noqa: ANN001 - HandCountComparison, imported lazily
    from rich.table import Table

    s = cmp.statewide
    t = Table(title=f"{cmp.contest}: statewide")
    for col in ("choice", "machine", "hand", "difference"):
        t.add_column(col, justify="left" if col == "choice" else "right")
    for c in cmp.candidates:
        t.add_row(c, f"{s.machine[c]:,}", f"{s.hand[c]:,}", f"{s.difference[c]:+,}")
    for c, n in s.hand_other.items():
        t.add_row(f"[dim]{c}[/]", "", f"{n:,}", "")
    out.print(t)
    t = Table(title=f"counties, largest change to the margin first (of {len(cmp.counties)})")
    for col in ("county", "hand ballots", "votes differing", "share of its ballots",
                "change to margin"):
        t.add_column(col, justify="left" if col == "county" else "right")
    for r in cmp.counties[:top]:
        t.add_row(r.county, f"{r.hand_ballots:,}", f"{r.abs_difference:,}",
                  f"{r.share_of_ballots:.3%}", f"{r.margin_change:+,}")
    out.print(t)
    verdict = ("[green]the hand count confirms the reported winner[/]" if cmp.outcome_confirmed
               else "[bold red]the hand count elects a different winner[/]")
    out.print(f"margin: machine {s.margin_machine:,}, hand {s.margin_hand:,} "
              f"({s.margin_change:+,}); {verdict}: {', '.join(cmp.hand_winners)}")

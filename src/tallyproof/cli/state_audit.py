"""``tallyproof state audit start | round | record | status``: the statewide audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import emit_json, out
from .state import InProcessOpt, SchedulerOpt
from .state import _executor as executor

DirArg = Annotated[Path, typer.Argument(help="the state folder")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def register(state: typer.Typer) -> None:
    audit = typer.Typer(help="The statewide audit: one risk limit and seed, a statewide "
                             "sample split into county retrieval lists.", no_args_is_help=True)
    state.add_typer(audit, name="audit")

    @audit.command("start")
    def start_cmd(
        folder: DirArg,
        risk_limit: Annotated[float, typer.Option("--risk-limit", help="e.g. 0.05")],
        seed: Annotated[str, typer.Option("--seed", help="the state's public random seed: "
                                                        "digits, e.g. 20 dice rolls")],
        kind: Annotated[str, typer.Option(
            "--kind", help="polling | comparison | batch | stratified | handcount")] = "comparison",
        contest: Annotated[list[str] | None, typer.Option(
            "--contest", help="statewide contest id (repeatable; default: all)")] = None,
        method: Annotated[str | None, typer.Option(
            "--method", help="risk-measuring function (alpha, kelly, betting, agrapa)")] = None,
        polling_county: Annotated[list[str] | None, typer.Option(
            "--polling-county",
            help="stratified: a county audited by ballot polling (repeat)")] = None,
        scheduler: SchedulerOpt = None,
        in_process: InProcessOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Fix the statewide audit's risk limit, seed, contests and assertions."""
        from ..state.audit import start_state_audit

        with executor(scheduler, in_process, json) as ex:
            params = start_state_audit(folder, ex, risk_limit=risk_limit, seed=seed, kind=kind,
                                       contests=contest, method=method,
                                       polling_counties=polling_county or ())
        if json:
            emit_json({"audit": params.to_json()})
            return
        out.print(f"statewide {params.kind} audit started at risk limit "
                  f"{params.risk_limit:g}, seed {params.seed}; {len(params.contests)} "
                  f"contest(s), {len(params.assertions)} assertion(s)", highlight=False)
        for a in params.assertions:
            out.print(f"  {a.contest_id}: margin {params.margins[a.id]:.4%}  {a.id}",
                      highlight=False)

    @audit.command("round")
    def round_cmd(folder: DirArg, scheduler: SchedulerOpt = None,
                  in_process: InProcessOpt = False, json: JsonOpt = False) -> None:
        """Size and draw the next round statewide; write each county's retrieval list."""
        from ..state.audit import next_state_round

        with executor(scheduler, in_process, json) as ex:
            info = next_state_round(folder, ex)
        if json:
            emit_json({**info.to_json(), "retrieval_lists": info.retrieval})
            return
        out.print(f"round {info.number}: {sum(info.new_cards.values()):,} new card(s) to "
                  "retrieve", highlight=False)
        for county, path in info.retrieval.items():
            out.print(f"  county {county}: {info.new_cards[county]:,} card(s), list in {path}",
                      highlight=False)
        for cid, n in info.targets.items():
            out.print(f"  {cid}: {n:,} card(s) in the statewide sample so far", highlight=False)

    @audit.command("record")
    def record_cmd(
        folder: DirArg,
        county: Annotated[str, typer.Argument()],
        file: Annotated[Path, typer.Argument(
            help="the county's audit-board CSV, in the county audit's form with the county's "
                 "own ids: ballot_id,contest_id,marks,not_found,correction,reason (a hand "
                 "count: batch_id,contest_id,tallies,...)")],
        json: JsonOpt = False,
    ) -> None:
        """Append a county's audit-board readings (a repeat entry must be a correction)."""
        from ..state.audit import record_county

        stored = record_county(folder, county, file)
        if json:
            emit_json({"county": county, "recorded": len(stored)})
            return
        out.print(f"county {county}: recorded {len(stored):,} reading(s) from {file}",
                  highlight=False)

    @audit.command("status")
    def status_cmd(folder: DirArg, scheduler: SchedulerOpt = None,
                   in_process: InProcessOpt = False, json: JsonOpt = False) -> None:
        """Statewide measured risk per contest (or the hand count against the CVRs); exit 1
        when a full hand count is needed or the hand count gives other winners."""
        from ..errors import Failure, VerificationError
        from ..state.audit import load_state_audit
        from ..state.audit_status import hand_count_status, state_audit_status
        from ..audit.workflow import FULL_HAND_COUNT

        params = load_state_audit(folder)
        with executor(scheduler, in_process, json) as ex:
            if params.kind == "handcount":
                hand = hand_count_status(folder, ex)
            else:
                status = state_audit_status(folder, ex)
        if params.kind == "handcount":
            if json:
                emit_json({"kind": "handcount", "contests": [c.to_json() for c in hand]})
            for c in hand:
                if not json:
                    out.print(f"{c.contest_id}: {c.status}; {c.counted:,} of {c.batches:,} "
                              f"batch(es) counted; hand {c.hand_votes}, CVRs {c.cvr_votes}",
                              highlight=False)
                    for county, d in c.by_county.items():
                        if d["differing_batches"]:
                            out.print(f"  county {county}: {len(d['differing_batches'])} "
                                      f"batch(es) differ or are uncounted; votes hand - CVR "
                                      f"{d['difference']}", highlight=False)
            bad = [c for c in hand if c.status == "outcome_differs"]
            if bad:
                raise VerificationError([Failure("state-audit", f"contest {c.contest_id}: the "
                                                 f"hand count's winners {list(c.hand_winners)} "
                                                 f"are not the reported {list(c.reported_winners)}")
                                         for c in bad])
            return
        if json:
            emit_json(status.to_json())
        else:
            out.print(f"statewide audit: {status.status} after {status.rounds} round(s) "
                      f"(risk limit {status.risk_limit:g})", highlight=False)
            for county, n in status.waiting.items():
                out.print(f"  waiting for {n:,} card(s) in county {county}", highlight=False)
            for c in status.contests:
                out.print(f"  {c.contest_id}: {c.status}, {c.examined:,} of {c.frame_size:,} "
                          f"card(s) examined, measured risk {c.measured_risk:.4g}"
                          + (f", next round {c.next_target:,}"
                             if c.status == "another_round" and not c.waiting else ""),
                          highlight=False)
                for a in c.assertions:
                    found = ", ".join(f"{county} o1={d.o1} o2={d.o2} u1={d.u1} u2={d.u2}"
                                      for county, d in a.by_county.items()
                                      if d.o1 or d.o2 or d.u1 or d.u2)
                    out.print(f"    {a.description}: risk {a.risk.p_value:.4g}, {a.status}"
                              + (f"; discrepancies: {found}" if found else ""), highlight=False)
                if c.overstating_counties:
                    out.print(f"    overstatements found in: {', '.join(c.overstating_counties)}",
                              highlight=False)
        if status.status == FULL_HAND_COUNT:
            raise VerificationError([
                Failure("state-audit", f"contest {c.contest_id}: risk {c.measured_risk:.4g} "
                                       "above the limit and a full hand count is needed"
                                       + (f" (overstatements in {', '.join(c.overstating_counties)})"
                                          if c.overstating_counties else ""))
                for c in status.contests if c.status == FULL_HAND_COUNT])

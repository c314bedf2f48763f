"""``tallyproof audit start | round | record | status``: the audit workflow on a store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..audit.options import KINDS
from ..errors import Failure, UsageError, VerificationError
from .common import contest_names, emit_json, open_store, out

if TYPE_CHECKING:
    from ..audit.workflow import AuditStatus

StoreOpt = Annotated[Path, typer.Option("--store", help="election store folder")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def register(app: typer.Typer, audit_app: typer.Typer) -> None:
    @audit_app.command("start")
    def start_cmd(
        store: StoreOpt,
        risk_limit: Annotated[float, typer.Option("--risk-limit", help="e.g. 0.05")],
        seed: Annotated[str, typer.Option("--seed", help="public random seed: digits, e.g. "
                                                        "20 dice rolls")],
        kind: Annotated[str, typer.Option("--kind", help=" | ".join(KINDS))] = "comparison",
        contest: Annotated[list[str] | None, typer.Option("--contest", help="contest id "
                                                          "(repeatable; default: all)")] = None,
        method: Annotated[str | None, typer.Option("--method", help="risk-measuring function "
                                                   "(alpha, kelly, betting, agrapa)")] = None,
        winner: Annotated[list[str] | None, typer.Option(
            "--winner", help="reported winner(s) CONTEST=CANDIDATE[,CANDIDATE] (repeatable; "
                             "default: the CVRs' winners)")] = None,
        json: JsonOpt = False,
    ) -> None:
        """Fix the audit's risk limit, seed, contests and assertions (before any draw)."""
        from ..audit.workflow import start_audit

        st = open_store(store)
        params = start_audit(st, risk_limit=risk_limit, seed=seed, kind=kind,
                             contests=contest, method=method, winners=_winners(winner or []))
        if json:
            emit_json({"audit": params.to_json()})
            return
        out.print(f"{params.kind} audit started at risk limit {params.risk_limit:g}, seed "
                  f"{params.seed}; {len(params.contests)} contest(s), "
                  f"{len(params.assertions)} assertion(s)")
        names = contest_names(st.election)
        for a in params.assertions:
            out.print(f"  {names[a.contest_id]}: margin {params.margins[a.id]:.4%}  "
                      f"{a.describe(st.election.contest(a.contest_id))}", highlight=False)

    @audit_app.command("round")
    def round_cmd(
        store: StoreOpt,
        boards: Annotated[int, typer.Option(
            "--boards", min=1, help="number of audit boards to split the cards among (each "
                                    "gets a worksheet CSV and PDF)")] = 1,
        json: JsonOpt = False,
    ) -> None:
        """Size and draw the next round; write its retrieval list and the boards' worksheets."""
        from ..audit.workflow import next_round

        st = open_store(store)
        info = next_round(st, boards=boards)
        if json:
            emit_json({**info.to_json(), "retrieval_list": str(info.retrieval_path),
                       "round_file": str(info.json_path),
                       "worksheets": [str(p) for p in info.worksheets]})
            return
        out.print(f"round {info.number}: {len(info.new_ballots):,} new card(s) to retrieve; "
                  f"list in {info.retrieval_path}")
        names = contest_names(st.election)
        for cid, n in info.targets.items():
            out.print(f"  {names[cid]}: {n:,} card(s) in the sample so far", highlight=False)
        if info.worksheets:
            out.print(f"worksheets for {info.boards} audit board(s) (fill in the CSV, then "
                      "`tallyproof audit record --store DIR FILE.csv`):")
            for p in info.worksheets:
                out.print(f"  {p}", highlight=False)

    @audit_app.command("record")
    def record_cmd(
        store: StoreOpt,
        file: Annotated[Path, typer.Argument(help="a filled-in board worksheet "
                                                  "(audit/worksheets/round-N-board-B.csv), or "
                                                  "a CSV ballot_id,contest_id,marks,not_found,"
                                                  "correction,reason (batch audits: batch_id,"
                                                  "contest_id,tallies,...)")],
        json: JsonOpt = False,
    ) -> None:
        """Append audit-board readings (choices by name or id; a changed reading must be a
        correction with a reason). The whole file is checked before anything is stored."""
        from ..audit.workflow import record_file

        got = record_file(open_store(store), file)
        stored = got.stored
        if json:
            emit_json({"recorded": len(stored), "unchanged": got.unchanged,
                       "not_filled": list(got.not_filled),
                       "records": [r.to_json() for r in stored]})
            return
        cards = len({r.ballot_id for r in stored})
        out.print(f"recorded {len(stored):,} reading(s) of {cards:,} card(s) from {file}")
        if got.unchanged:
            out.print(f"  {got.unchanged:,} reading(s) were already recorded as they are")
        if got.not_filled:
            out.print(f"  {len(got.not_filled):,} card(s) on the worksheet are not filled in "
                      f"yet (e.g. {got.not_filled[0]})")

    @audit_app.command("status")
    def status_cmd(store: StoreOpt, json: JsonOpt = False) -> None:
        """Measured risk per contest and assertion; exit 1 if a full hand count is needed."""
        from ..audit.workflow import FULL_HAND_COUNT, audit_status

        st = open_store(store)
        status = audit_status(st)
        names = contest_names(st.election)
        if json:
            emit_json(status.to_json())
        else:
            _print_status(status, names)
        if status.status == FULL_HAND_COUNT:  # exit 1: the paper contradicts the reported outcome
            raise VerificationError([
                Failure("audit", f"{names[c.contest_id]}: risk {c.measured_risk:.4g} above the "
                                 f"limit and a full hand count is needed")
                for c in status.contests if c.status == FULL_HAND_COUNT
            ])


def _print_status(status: AuditStatus, names: dict[str, str]) -> None:
    """``audit status`` for people: while a round's cards are not all in, what it waits for."""
    from ..audit.workflow import WAITING

    if status.status == WAITING:
        out.print(f"audit: round {status.rounds} is waiting for {len(status.unrecorded):,} "
                  f"card(s) to be recorded (risk limit {status.risk_limit:g})")
    else:
        out.print(f"audit: {status.status} after {status.rounds} round(s) "
                  f"(risk limit {status.risk_limit:g})")
    for c in status.contests:
        so_far = " so far" if c.status == WAITING else ""
        head = f"waiting for {c.waiting_for:,} card(s)" if c.status == WAITING else c.status
        out.print(f"  {names.get(c.contest_id, c.contest_id)}: {head}; {c.examined:,} "
                  f"of {c.frame_size:,} card(s) examined{so_far}, measured risk{so_far} "
                  f"{c.measured_risk:.4g}", markup=False)
        for a in c.assertions:
            d = a.risk.discrepancies
            out.print(f"    {a.description}: risk {a.risk.p_value:.4g}, "
                      f"o1={d.o1} o2={d.o2} u1={d.u1} u2={d.u2}"
                      + ("" if a.status == WAITING else f", {a.status}"), markup=False)


def _winners(specs: list[str]) -> dict[str, list[str]]:
    """``["mayor=ALICE", "council=DAN,ERIN"]`` → ``{"mayor": ["ALICE"], ...}``."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        contest, sep, names = spec.partition("=")
        cands = [n.strip() for n in names.split(",") if n.strip()]
        if not sep or not contest.strip() or not cands:
            raise UsageError(f"--winner {spec!r}: expected CONTEST=CANDIDATE[,CANDIDATE]")
        if contest.strip() in out:
            raise UsageError(f"--winner given twice for contest {contest.strip()!r}")
        out[contest.strip()] = cands
    return out

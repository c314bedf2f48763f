"""The statewide audit, for state administrators: start it (risk limit, public seed, kind),
launch and close rounds, see every county's boards and the risk the library measured."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import TallyproofError
from ...state.audit import KINDS, load_state_rounds
from .. import activity, audit_control, boards, risk_plot
from ..deps import CSRF, DB, StateAdmin, settings
from ..pages import render

router = APIRouter(include_in_schema=False)


def client(request: Request) -> str | None:
    return request.client.host if request.client else None


def refused(exc: TallyproofError) -> HTTPException:
    """A refused audit action: 409 with the library's or the board layer's own words."""
    return HTTPException(409, str(exc))


@router.get("/state/audit")
def audit_page(request: Request, s: DB, who: StateAdmin) -> Response:
    root = settings(request).state_dir
    rounds = load_state_rounds(root) if audit_control.params_or_none(root) else []
    return render(request, "state_audit.html", who, params=audit_control.params_or_none(root),
                  rounds=[(r, boards.is_closed(s, r.number), boards.round_boards(s, r.number))
                          for r in rounds],
                  measured=audit_control.last_status(root), kinds=KINDS,
                  default_kind=audit_control.default_kind(root),
                  risk=risk_plot.risk_history(root))


@router.post("/state/audit/start", dependencies=[CSRF])
def start(request: Request, s: DB, who: StateAdmin,
          risk_limit: Annotated[float, Form(gt=0, lt=1)],
          seed: Annotated[str, Form(min_length=1, max_length=200)],
          kind: Annotated[str, Form(max_length=32)] = "comparison") -> Response:
    cfg = settings(request)
    try:
        p = audit_control.start(cfg.state_dir, risk_limit, seed, kind)
    except TallyproofError as exc:
        raise refused(exc) from exc
    activity.record(s, cfg.now(), who.username, "audit_started",
                    detail=f"{p.kind}, risk limit {p.risk_limit:g}, seed {p.seed}",
                    client=client(request))
    return RedirectResponse("/state/audit", status_code=303)


@router.post("/state/audit/round", dependencies=[CSRF])
def launch(request: Request, s: DB, who: StateAdmin) -> Response:
    cfg = settings(request)
    try:
        r = audit_control.launch_round(s, cfg.state_dir)
    except TallyproofError as exc:
        raise refused(exc) from exc
    activity.record(s, cfg.now(), who.username, "audit_round_launched",
                    detail=f"round {r.number}: {sum(r.new_cards.values())} card(s) in "
                           f"{len(r.new_cards)} county(ies)", client=client(request))
    return RedirectResponse("/state/audit", status_code=303)


@router.post("/state/audit/close", dependencies=[CSRF])
def close(request: Request, s: DB, who: StateAdmin) -> Response:
    cfg = settings(request)
    try:
        summary = audit_control.close_round(s, cfg.state_dir, who.user_id, cfg.now())
    except TallyproofError as exc:
        raise refused(exc) from exc
    activity.record(s, cfg.now(), who.username, "audit_round_closed", detail=summary,
                    client=client(request))
    return RedirectResponse("/state/audit", status_code=303)

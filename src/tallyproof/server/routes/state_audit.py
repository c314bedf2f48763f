"""The statewide audit, for state administrators: start it (risk limit, public seed, kind),
launch and close rounds, see every county's boards and the risk the library measured.
Starting, drawing a round and closing one (which measures the risk) run as jobs
(:mod:`..audit_jobs`): the request checks, queues and answers at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...errors import TallyproofError
from ...state.audit import KINDS, load_state_rounds
from .. import audit_control, audit_jobs, boards, risk_plot
from ..activity import CountyBusy
from ..db import OPEN_JOBS, STATE_LOCK, Job
from ..deps import CSRF, DB, Current, StateAdmin, settings
from ..pages import render

router = APIRouter(include_in_schema=False)


def client(request: Request) -> str | None:
    return request.client.host if request.client else None


def refused(exc: TallyproofError) -> HTTPException:
    """A refused audit action: 409 with the library's or the board layer's own words."""
    return HTTPException(409, str(exc))


def _queue(request: Request, s: Session, who: Current, kind: str, params: dict[str, Any],
           background: BackgroundTasks) -> Response:
    """Queue a statewide job and answer at once: the audit page shows it running."""
    cfg = settings(request)
    try:
        job = audit_jobs.queue(s, kind, params, who.user_id, who.username, cfg.now(),
                               client(request))
    except CountyBusy as exc:
        raise refused(exc) from exc
    background.add_task(request.app.state.jobs.submit, job.id)  # after this commit
    return RedirectResponse(f"/state/audit#job-{job.id}", status_code=303)


@router.get("/state/audit")
def audit_page(request: Request, s: DB, who: StateAdmin) -> Response:
    root = settings(request).state_dir
    rounds = load_state_rounds(root) if audit_control.params_or_none(root) else []
    audit_work = list(s.scalars(select(Job).where(Job.county == STATE_LOCK)
                                .order_by(Job.id.desc()).limit(20)))
    return render(request, "state_audit.html", who, params=audit_control.params_or_none(root),
                  rounds=[(r, boards.is_closed(s, r.number), boards.round_boards(s, r.number))
                          for r in rounds],
                  measured=audit_control.last_status(root), kinds=KINDS,
                  default_kind=audit_control.default_kind(root),
                  polling_choices=audit_control.polling_choices(root),
                  risk=risk_plot.risk_history(root), jobs=audit_work,
                  working=any(j.status in OPEN_JOBS for j in audit_work))


@router.post("/state/audit/start", dependencies=[CSRF])
def start(request: Request, s: DB, who: StateAdmin, background: BackgroundTasks,
          risk_limit: Annotated[float, Form(gt=0, lt=1)],
          seed: Annotated[str, Form(min_length=1, max_length=200)],
          kind: Annotated[str, Form(max_length=32)] = "comparison",
          polling_county: Annotated[list[str] | None, Form()] = None) -> Response:
    """Queue the start; ``polling_county`` (repeated): a stratified audit's counties audited
    by ballot polling, as ``state audit start --polling-county``."""
    polling = sorted({c.strip() for c in polling_county or () if c.strip()})
    try:
        audit_control.check_start(settings(request).state_dir, kind, polling)
    except TallyproofError as exc:
        raise refused(exc) from exc
    params: dict[str, Any] = {"risk_limit": risk_limit, "seed": seed.strip(), "kind": kind}
    if polling:  # a start without them keeps the row's parameters as they always were
        params["polling_counties"] = polling
    return _queue(request, s, who, audit_jobs.AUDIT_START, params, background)


@router.post("/state/audit/round", dependencies=[CSRF])
def launch(request: Request, s: DB, who: StateAdmin, background: BackgroundTasks) -> Response:
    try:
        n = audit_control.check_round(s, settings(request).state_dir)
    except TallyproofError as exc:
        raise refused(exc) from exc
    return _queue(request, s, who, audit_jobs.AUDIT_ROUND, {"round": n}, background)


@router.post("/state/audit/close", dependencies=[CSRF])
def close(request: Request, s: DB, who: StateAdmin, background: BackgroundTasks) -> Response:
    try:
        n = audit_control.check_close(s, settings(request).state_dir)
    except TallyproofError as exc:
        raise refused(exc) from exc
    return _queue(request, s, who, audit_jobs.AUDIT_CLOSE, {"round": n}, background)

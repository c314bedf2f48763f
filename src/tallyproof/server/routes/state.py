"""State administrators' pages: the overview of every county with its alerts (county jobs
that finished or failed, acknowledged here), the activity log, and the users (whose sessions
a state admin can revoke)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from .. import activity, alerts, county_table, fragments, live, sessions, view
from ..db import User
from ..deps import CSRF, DB, StateAdmin, settings
from ..pages import render

router = APIRouter(include_in_schema=False)


@router.get("/state")
def overview(request: Request, s: DB, who: StateAdmin) -> Response:
    root = settings(request).state_dir
    version = live.page_version(root, lambda: county_table.version(s))
    summary = view.state_summary(root)
    ctx = fragments.state_context(s, root, who.csrf, summary["counties"])
    del ctx["counties"]  # the page shows them as summary.counties
    return render(request, "state.html", who, live_version=version, summary=summary, **ctx)


@router.post("/state/alerts/{job_id}/ack", dependencies=[CSRF])
def acknowledge_alert(request: Request, job_id: int, s: DB, who: StateAdmin) -> Response:
    """Acknowledge (dismiss) one alert; logged in the activity log."""
    try:
        alerts.acknowledge(s, job_id, who.username, settings(request).now())
    except alerts.AlertError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return RedirectResponse("/state#alerts", status_code=303)


@router.get("/activity")
def activity_page(request: Request, s: DB, who: StateAdmin) -> Response:
    return render(request, "activity.html", who, entries=activity.recent(s),
                  committed=view.activity_committed(settings(request).state_dir))


@router.get("/users")
def users_page(request: Request, s: DB, who: StateAdmin) -> Response:
    return render(request, "users.html", who,
                  users=list(s.scalars(select(User).order_by(User.username))))


@router.post("/users/{user_id}/revoke", dependencies=[CSRF])
def revoke_sessions(request: Request, user_id: int, s: DB, who: StateAdmin) -> Response:
    user = s.get(User, user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    now = settings(request).now()
    n = sessions.revoke_user(s, user.id, now)
    activity.record(s, now, who.username, "revoke_sessions", county=user.county,
                    detail=f"{user.username}: {n} session(s)",
                    client=request.client.host if request.client else None)
    return RedirectResponse("/users", status_code=303)

"""The parts of a page that live updates send again (:mod:`.live`), rendered by the same
templates the whole page includes, from the same reads of the state folder (and, for the state
overview's county table, jobs and alerts, of the database), so a swapped part is byte for byte what a reload would
show."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..state.audit import KINDS, load_state_rounds
from . import alerts, audit_control, boards, county_table, jobs, public_view, risk_plot, view
from .db import OPEN_JOBS, STATE_LOCK, Job
from .pages import TEMPLATES


def part(name: str, **context: Any) -> str:
    return TEMPLATES.get_template(name).render(**context)


def public(root: Path) -> dict[str, str]:
    """The public page's checkpoint, counties and statewide results."""
    summary = view.state_summary(root)
    return {"checkpoint": part("_state_checkpoint.html", checkpoint=summary["checkpoint"]),
            "counties": part("_counties.html", counties=summary["counties"], link=False),
            "results": part("_results.html", results=summary["results"])}


def state_context(db: Session, root: Path, csrf: str,
                  counties: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the state overview's live parts show: the county table (the library's files,
    ``counties`` when the caller read them already, with each county's uploads, open job and
    audit progress from :mod:`.county_table`), the alerts, the jobs and the statewide risk."""
    if counties is None:
        counties = [asdict(r) for r in view.counties(root)]
    return {"counties": counties,
            "extras": county_table.extras(db, root, [c["id"] for c in counties]),
            "jobs": jobs.for_county(db, None),
            "audit": public_view.audit_progress(root), "risk": risk_plot.risk_history(root),
            "alerts": alerts.pending(db), "alerts_total": alerts.count(db), "csrf": csrf}


def state(db: Session, root: Path, csrf: str) -> dict[str, str]:
    """The state overview's county table, statewide risk, jobs and alerts."""
    ctx = state_context(db, root, csrf)
    return {"counties": part("_counties.html", link=True, **ctx),
            "risk": part("_state_risk.html", **ctx),
            "jobs": part("_jobs.html", show_county=True, **ctx),
            "alerts": part("_alerts.html", **ctx)}


def state_audit_context(db: Session, root: Path, csrf: str) -> dict[str, Any]:
    """What the statewide audit page shows: the audit's parameters (None before it starts),
    each round with whether it is closed and its boards, the last measurement, the risk over
    rounds, and the audit's latest jobs (``working`` while one is open)."""
    params = audit_control.params_or_none(root)
    rounds = load_state_rounds(root) if params else []
    audit_work = list(db.scalars(select(Job).where(Job.county == STATE_LOCK)
                                 .order_by(Job.id.desc()).limit(20)))
    return {"params": params,
            "rounds": [(r, boards.is_closed(db, r.number), boards.round_boards(db, r.number))
                       for r in rounds],
            "measured": audit_control.last_status(root), "kinds": KINDS,
            "default_kind": audit_control.default_kind(root),
            "polling_choices": audit_control.polling_choices(root),
            "risk": risk_plot.risk_history(root), "jobs": audit_work,
            "working": any(j.status in OPEN_JOBS for j in audit_work), "csrf": csrf}


def state_audit(db: Session, root: Path, csrf: str) -> dict[str, str]:
    """The statewide audit page's two live parts: the audit (start form, rounds, risk) and
    its jobs."""
    ctx = state_audit_context(db, root, csrf)
    return {"audit": part("_state_audit.html", **ctx), "jobs": part("_audit_jobs.html", **ctx)}


def present_state_context(root: Path) -> dict[str, Any]:
    return {"summary": view.state_summary(root), "audit": public_view.audit_progress(root),
            "risk": risk_plot.risk_history(root), "board": public_view.state_claims(root), "downloads": public_view.downloads(root)}


def present_county_context(root: Path, county: str) -> dict[str, Any]:
    """One county's presentation; :class:`~tallyproof.errors.UsageError` for an unknown
    county."""
    row = view.county(root, county)
    return {"county": row, "results": view.county_results(root, county), "audit": public_view.audit_progress(root),
            "board": public_view.county_claims(root, county),
            "downloads": public_view.downloads(root, county),
            "checkpoint": view.state_checkpoint(root)}


def present_state(root: Path) -> dict[str, str]:
    return {"present": part("_present_state.html", **present_state_context(root))}


def present_county(root: Path, county: str) -> dict[str, str]:
    return {"present": part("_present_county.html", **present_county_context(root, county))}

"""The parts of a page that live updates send again (:mod:`.live`), rendered by the same
templates the whole page includes, from the same reads of the state folder (and, for the state
overview's alerts, of the database), so a swapped part is byte for byte what a reload would
show."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import public_view, risk_plot, view
from .pages import TEMPLATES


def part(name: str, **context: Any) -> str:
    return TEMPLATES.get_template(name).render(**context)


def public(root: Path) -> dict[str, str]:
    """The public page's checkpoint, counties and statewide results."""
    summary = view.state_summary(root)
    return {"checkpoint": part("_state_checkpoint.html", checkpoint=summary["checkpoint"]),
            "counties": part("_counties.html", counties=summary["counties"], link=False),
            "results": part("_results.html", results=summary["results"])}


def state(root: Path, alerts: dict[str, Any]) -> dict[str, str]:
    """The state overview's county table and its alerts (``alerts``: the context of
    ``_alerts.html``, read from the database by the caller)."""
    return {"counties": part("_counties.html", counties=[asdict(r) for r in view.counties(root)],
                             link=True),
            "alerts": part("_alerts.html", **alerts)}


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

"""The public presentation mode: a read-only page of the state and of each county (progress,
risk measured, the claims board, downloads, the in-browser proof check) that updates live.
No login; it changes nothing."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from .. import fragments, live, public_view, risk_plot
from ..deps import KnownCounty, Viewer, settings
from ..pages import render

router = APIRouter(include_in_schema=False)


@router.get("/present")
def present_state(request: Request, who: Viewer) -> Response:
    root = settings(request).state_dir
    version = live.version(root)  # before the reads: a change after it is sent live
    return render(request, "present.html", who, live_version=version,
                  **fragments.present_state_context(root))


@router.get("/audit/risk.svg")
def risk_svg(request: Request) -> Response:
    """The statewide risk per contest over rounds (:mod:`..risk_plot`)."""
    h = risk_plot.risk_history(settings(request).state_dir)
    if h is None:
        raise HTTPException(404, "no risk measured yet")
    return Response(risk_plot.svg(h), media_type="image/svg+xml")


@router.get("/present/{county}")
def present_county(request: Request, county: KnownCounty, who: Viewer) -> Response:
    root = settings(request).state_dir
    version = live.version(root)
    return render(request, "present_county.html", who, live_version=version,
                  state_key=public_view.state_key_text(root),
                  **fragments.present_county_context(root, county))

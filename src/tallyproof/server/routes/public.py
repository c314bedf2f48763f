"""The public read-only page: counties, statewide results, the state checkpoint, and a form
that checks a ballot's inclusion proof. No login; it changes nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import TallyproofError
from .. import live, public_view, view
from ..messages import public_message
from ..deps import CSRF, Viewer, settings
from ..pages import render

router = APIRouter()


@router.get("/", include_in_schema=False)
def home() -> Response:
    return RedirectResponse("/public", status_code=303)


def _page(request: Request, who: Viewer, **extra: object) -> Response:
    root = settings(request).state_dir
    version = live.version(root)  # before the reads: a change after it is sent live
    return render(request, "public.html", who, live_version=version,
                  summary=view.state_summary(root),
                  state_key=public_view.state_key_text(root), **extra)


@router.get("/public", include_in_schema=False)
def public(request: Request, who: Viewer) -> Response:
    return _page(request, who)


@router.post("/public/proof", include_in_schema=False, dependencies=[CSRF])
def proof(request: Request, who: Viewer, county: Annotated[str, Form()],
          ballot: Annotated[str, Form()]) -> Response:
    """Prove a ballot into the state checkpoint and verify the proof (server-side for now)."""
    root = settings(request).state_dir
    try:
        p, failures = view.ballot_proof(root, county, ballot)
    except TallyproofError as exc:
        return _page(request, who, status=404,
                     proof={"county": county, "ballot": ballot,
                            "error": public_message(settings(request), str(exc),
                                                    county=county)})
    return _page(request, who, proof={"county": county, "ballot": ballot, "failures": failures,
                                      "leaf_index": p["county_proof"]["leaf_index"],
                                      "state_root": p["state_root"]})

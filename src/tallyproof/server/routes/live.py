"""Server-sent event streams of the live pages (:mod:`..live`): each sends the parts of its
page again when the state folder's files change. The state overview's stream is for state
admins only, like the page; the public ones for anyone."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from ...errors import UsageError
from ...state.spec import load_spec
from .. import fragments, live
from ..deps import StateAdmin, settings

router = APIRouter(prefix="/live", include_in_schema=False)


@router.get("/public")
def public(request: Request) -> Response:
    root = settings(request).state_dir
    return live.stream(request, root, lambda: fragments.public(root))


@router.get("/state")
def state(request: Request, who: StateAdmin) -> Response:
    root = settings(request).state_dir
    return live.stream(request, root, lambda: fragments.state(root))


@router.get("/present")
def present(request: Request) -> Response:
    root = settings(request).state_dir
    return live.stream(request, root, lambda: fragments.present_state(root))


@router.get("/present/{county}")
def present_county(request: Request, county: str) -> Response:
    root = settings(request).state_dir
    try:
        load_spec(root).county(county)
    except UsageError as exc:
        raise HTTPException(404, str(exc)) from exc
    return live.stream(request, root, lambda: fragments.present_county(root, county))

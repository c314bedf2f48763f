"""Server-sent event streams of the live pages (:mod:`..live`): each sends the parts of its
page again when the state folder's files change. The state overview's stream is for state
admins only, like the page; the public ones for anyone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import fragments, live
from ..deps import KnownCounty, StateAdmin, settings

router = APIRouter(prefix="/live", include_in_schema=False)


def _stream(request: Request, parts: Callable[[Path], dict[str, str]]) -> Response:
    root = settings(request).state_dir
    return live.stream(request, root, lambda: parts(root))


@router.get("/public")
def public(request: Request) -> Response:
    return _stream(request, fragments.public)


@router.get("/state")
def state(request: Request, who: StateAdmin) -> Response:
    return _stream(request, fragments.state)


@router.get("/present")
def present(request: Request) -> Response:
    return _stream(request, fragments.present_state)


@router.get("/present/{county}")
def present_county(request: Request, county: KnownCounty) -> Response:
    return _stream(request, lambda root: fragments.present_county(root, county))

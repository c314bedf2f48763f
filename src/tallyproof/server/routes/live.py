"""Server-sent event streams of the live pages (:mod:`..live`): each sends the parts of its
page again when the state folder's files change (the state overview's also when its alerts
do). The state overview's stream is for state admins only, like the page; the public ones
for anyone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import alerts, fragments, live
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
    """The county table, and the alerts (read from the database at each look)."""
    from .state import alerts_context

    sessions = request.app.state.sessionmaker
    root = settings(request).state_dir

    def alerts_version() -> str:
        with sessions() as db:
            return alerts.version(db)

    def parts() -> dict[str, str]:
        with sessions() as db:
            return fragments.state(root, alerts_context(db, who.csrf))

    return live.stream(request, root, parts, alerts_version)


@router.get("/present")
def present(request: Request) -> Response:
    return _stream(request, fragments.present_state)


@router.get("/present/{county}")
def present_county(request: Request, county: KnownCounty) -> Response:
    return _stream(request, lambda root: fragments.present_county(root, county))

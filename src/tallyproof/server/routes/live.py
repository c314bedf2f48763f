"""Server-sent event streams of the live pages (:mod:`..live`): each sends the parts of its
page again when the state folder's files change (the state overview's also when the database
rows it shows do). The state overview's and the statewide audit page's streams are for state admins only, like
the pages; the public ones for anyone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from .. import county_table, fragments, live
from ..db import Role
from ..deps import KnownCounty, Watching, settings
from ..sessions import Current

router = APIRouter(prefix="/live", include_in_schema=False)


def _stream(request: Request, parts: Callable[[Path], dict[str, str]]) -> Response:
    root = settings(request).state_dir
    return live.stream(request, root, lambda: parts(root))


@router.get("/public")
def public(request: Request) -> Response:
    return _stream(request, fragments.public)


@router.get("/state")
def state(request: Request, who: Watching) -> Response:
    """The county table, the statewide risk, the jobs and the alerts; besides the state
    folder's files, the database's rows they show move it (:func:`..county_table.version`:
    uploads, jobs and their progress, board entries and sign-offs)."""
    return _db_stream(request, who, lambda db, root: fragments.state(db, root, who.csrf))


@router.get("/state/audit")
def state_audit(request: Request, who: Watching) -> Response:
    """The statewide audit page's audit part (start form, rounds, risk) and its jobs, moved
    by the same files and rows as the state overview's (the audit's jobs and their progress,
    boards' sign-offs and closed rounds are among them)."""
    return _db_stream(request, who, lambda db, root: fragments.state_audit(db, root, who.csrf))


def _db_stream(request: Request, who: Current,
               parts: Callable[[Session, Path], dict[str, str]]) -> Response:
    """A state administrator's stream of a page that shows database rows too: its version
    adds :func:`..county_table.version`'s, and each render reads in a short session of its
    own. The session is checked without restarting its idle clock, and the stream ends when
    the session would (:func:`..deps.watching`)."""
    if who.role != Role.STATE_ADMIN:
        raise HTTPException(403, "state administrators only")
    sessions = request.app.state.sessionmaker
    root = settings(request).state_dir

    def db_version() -> str:
        with sessions() as db:
            return county_table.version(db)

    def render() -> dict[str, str]:
        with sessions() as db:
            return parts(db, root)

    return live.stream(request, root, render, db_version, ends_at=who.expires_at)


@router.get("/present")
def present(request: Request) -> Response:
    return _stream(request, fragments.present_state)


@router.get("/present/{county}")
def present_county(request: Request, county: KnownCounty) -> Response:
    return _stream(request, lambda root: fragments.present_county(root, county))

"""Request dependencies: the database session, the signed-in user, role checks and the CSRF
check of every form."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request
from sqlalchemy.orm import Session

from .config import Settings
from .db import Role
from .security import CSRF_COOKIE, anonymous_csrf
from .sessions import Current, current

SESSION_COOKIE = "tp_session"


class LoginRequired(Exception):
    """No live session: pages answer with a redirect to ``location``."""
    location = "/login"


def settings(request: Request) -> Settings:
    return request.app.state.settings


def db(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    with request.app.state.sessionmaker() as s, s.begin():
        yield s


DB = Annotated[Session, Depends(db, scope="function")]


def viewer(request: Request, s: DB) -> Current | None:
    return current(s, request.cookies.get(SESSION_COOKIE), settings(request))


Viewer = Annotated[Current | None, Depends(viewer)]


def signed_in(who: Viewer) -> Current:
    if who is None:
        raise LoginRequired
    return who


SignedIn = Annotated[Current, Depends(signed_in)]


def state_admin(who: SignedIn) -> Current:
    if who.role != Role.STATE_ADMIN:
        raise HTTPException(403, "state administrators only")
    return who


StateAdmin = Annotated[Current, Depends(state_admin)]


def may_see_county(who: Current, county: str) -> bool:
    return who.role == Role.STATE_ADMIN or (who.role == Role.COUNTY_ADMIN
                                            and who.county == county)


def csrf_expected(request: Request, who: Current | None) -> str:
    """The token a form must carry: the session's, else the visitor's CSRF cookie."""
    return who.csrf if who is not None else anonymous_csrf(request)


def check_csrf(request: Request, who: Viewer, csrf: Annotated[str, Form()] = "") -> None:
    expected = request.cookies.get(CSRF_COOKIE) if who is None else who.csrf
    if not expected or not secrets.compare_digest(csrf, expected):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")


CSRF = Depends(check_csrf)


def known_county(request: Request, county: str) -> str:
    """A path's county id, once the state knows it (404 naming the counties otherwise)."""
    from ..errors import UsageError
    from ..state.spec import load_spec

    try:
        return load_spec(settings(request).state_dir).county(county).id
    except UsageError as exc:
        raise HTTPException(404, str(exc)) from exc


KnownCounty = Annotated[str, Depends(known_county)]

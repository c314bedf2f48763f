"""Request dependencies: the database session, the signed-in user, role checks and the CSRF
check of every form."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from anyio import Semaphore
from anyio.lowlevel import RunVar
from fastapi import Depends, Form, HTTPException, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from .config import Settings
from .db import Role
from .security import CSRF_COOKIE, anonymous_csrf
from .sessions import Current, current

SESSION_COOKIE = "tp_session"


class LoginRequired(Exception):
    """No live session: pages answer with a redirect to ``location``."""
    location = "/login"


class TotpRequired(LoginRequired):
    """A live session of an administrator who has not enrolled the TOTP second factor: the
    second factor is mandatory for every administrator, so pages send them to enrolment and
    the API refuses (403) until they enrol."""
    location = "/account/totp"


def settings(request: Request) -> Settings:
    return request.app.state.settings


#: requests holding a database session at once (the rest wait in the event loop)
DB_REQUESTS = 12
_gates: RunVar[dict[int, Semaphore]] = RunVar("tallyproof_db_gates")


async def db_slot(request: Request) -> AsyncIterator[None]:
    """One of :data:`DB_REQUESTS` places for a request with a database session, waited for
    in the event loop, never in a worker thread.

    A sync request holds its session across several worker-thread steps (dependencies, the
    endpoint); between two steps it may hold a pooled connection, or SQLite's one write
    lock. Were more requests than worker threads (40) waiting for a connection or that lock,
    each in a thread, the holders could never get a thread for their next step: every
    request would wait out the timeouts and fail (seen with 200 boards at once). With fewer
    places than threads and than pooled connections, a holder always gets its thread."""
    try:
        gates = _gates.get()
    except LookupError:
        gates = {}
        _gates.set(gates)
    gate = gates.setdefault(id(request.app), Semaphore(DB_REQUESTS))
    async with gate:
        yield


def db(request: Request, _slot: Annotated[None, Depends(db_slot, scope="function")]
       ) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent."""
    with request.app.state.sessionmaker() as s, s.begin():
        yield s


DB = Annotated[Session, Depends(db, scope="function")]


def viewer(request: Request, s: DB) -> Current | None:
    return current(s, request.cookies.get(SESSION_COOKIE), settings(request))


def _viewer_briefly(request: Request, touch: bool) -> Current | None:
    with request.app.state.sessionmaker.begin() as s:
        return current(s, request.cookies.get(SESSION_COOKIE), settings(request), touch=touch)


def _enrolled(who: Current | None) -> Current:
    if who is None:
        raise LoginRequired
    if not who.totp_enrolled:
        raise TotpRequired
    return who


async def signed_in_briefly(request: Request) -> Current:
    """:func:`signed_in` for routes that must hold no database session while they run (a
    file transfer, an event stream): the session is checked in a short transaction of its
    own, in a worker thread, and no place of :func:`db_slot` is taken. An upload that
    streams for minutes thus holds neither a pooled connection nor SQLite's write lock, and
    its database steps never run on the event loop."""
    return _enrolled(await run_in_threadpool(_viewer_briefly, request, True))


async def watching(request: Request) -> Current:
    """A signed-in user's live event stream (``/live/*``): checked like :func:`signed_in`,
    but without restarting the idle clock. A stream reconnects by itself every
    ``live_lifetime`` seconds; were each reconnect a request of the user's, an open page
    would keep its session alive for ever and the idle limit would never apply."""
    return _enrolled(await run_in_threadpool(_viewer_briefly, request, False))


SignedInBriefly = Annotated[Current, Depends(signed_in_briefly)]
Watching = Annotated[Current, Depends(watching)]


def check_header_csrf(sent: str, expected: str) -> None:
    """The API's CSRF check: a write carries the session's token in ``X-CSRF-Token``."""
    if not secrets.compare_digest(sent, expected):
        raise HTTPException(403, "the X-CSRF-Token header is missing or wrong")


def api_csrf_briefly(who: SignedInBriefly, x_csrf_token: Annotated[str, Header()] = "") -> None:
    """The API's CSRF check (``X-CSRF-Token``) for :data:`SignedInBriefly` routes."""
    check_header_csrf(x_csrf_token, who.csrf)


Viewer = Annotated[Current | None, Depends(viewer)]


def enrolling(who: Viewer) -> Current:
    """Any live session, enrolled or not: only the enrolment pages and sign-out use this."""
    if who is None:
        raise LoginRequired
    return who


Enrolling = Annotated[Current, Depends(enrolling)]


def signed_in(who: Enrolling) -> Current:
    """A live session whose administrator has enrolled the second factor."""
    if not who.totp_enrolled:
        raise TotpRequired
    return who


SignedIn = Annotated[Current, Depends(signed_in)]


def api_csrf(who: SignedIn, x_csrf_token: Annotated[str, Header()] = "") -> None:
    """The API's CSRF check (``X-CSRF-Token``, from ``GET /api/session``) for
    :data:`SignedIn` routes."""
    check_header_csrf(x_csrf_token, who.csrf)


#: Route dependencies: an API write's CSRF header, checked against the session's token.
ApiCSRF = Depends(api_csrf)
ApiCSRFBriefly = Depends(api_csrf_briefly)


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

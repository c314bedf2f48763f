"""Sign in and out. The TOTP second factor is mandatory for every administrator: an enrolled
one gives a code with the password; one not yet enrolled (a new account, or after a state
admin's reset) signs in with the password and is sent to enrolment, and reaches nothing else
until enrolled (:func:`..deps.signed_in`). Failed logins are rate-limited per client address
and per user name; a blocked user name still lets in its right password with a valid unused
TOTP code (a blocked address lets in nothing). Every sign-in, failure and sign-out goes to
the activity log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from .. import activity, sessions, totp
from ..accounts import authenticate
from ..deps import CSRF, DB, SESSION_COOKIE, Enrolling, Viewer, settings
from ..pages import render
from ..security import set_session_cookie

router = APIRouter(include_in_schema=False)


def landing(county: str | None) -> str:
    """Where a user lands after signing in: the state overview, or their county."""
    return "/state" if county is None else f"/county/{county}"


@router.get("/login")
def login_page(request: Request, who: Viewer) -> Response:
    return render(request, "login.html", who)


@router.post("/login", dependencies=[CSRF])
def login(request: Request, s: DB, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=1024)],
          code: Annotated[str, Form(max_length=16)] = "") -> Response:
    cfg = settings(request)
    now = cfg.now()
    client = request.client.host if request.client else "unknown"
    by_ip, by_name = f"ip:{client}", f"user:{username.casefold()}"
    keys = (by_ip, by_name)
    limiter = request.app.state.limiter

    def refused() -> Response:
        activity.record(s, now, username, "login_refused", detail="rate limit", client=client)
        return render(request, "login.html", None, status=429,
                      error="Too many failed sign-ins: wait a few minutes and try again.")

    if limiter.blocked((by_ip,), now):
        return refused()
    user = authenticate(s, request.app.state.hasher, username, password)
    enrolled = user is not None and totp.enrolled(s, user.id)
    if user is not None and enrolled and not totp.check(s, user.id, code, now):
        user = None  # an enrolled second factor is required; refused like a wrong password
    if limiter.blocked((by_name,), now) and not (user is not None and enrolled):
        # the user name is blocked (failures from anywhere): only its right password with a
        # valid, unused code gets through, so strangers' guesses cannot lock an official
        # out, while a stolen password alone still gets nowhere
        if user is None:
            limiter.failed((by_ip,), now)
        return refused()
    if user is None:
        limiter.failed(keys, now)
        activity.record(s, now, username, "login_failed", client=client)
        return render(request, "login.html", None, status=401,
                      error="Wrong user name, password or code.")
    limiter.succeeded(keys)
    token, _ = sessions.open_session(s, user, now)
    activity.record(s, now, user.username, "login", county=user.county, client=client)
    resp = RedirectResponse(landing(user.county) if enrolled else "/account/totp",
                            status_code=303)
    set_session_cookie(resp, request, SESSION_COOKIE, token,
                       int(cfg.session_absolute.total_seconds()))
    return resp


@router.post("/logout", dependencies=[CSRF])
def logout(request: Request, s: DB, who: Enrolling) -> Response:
    now = settings(request).now()
    sessions.revoke(s, who.session_id, now)
    activity.record(s, now, who.username, "logout", county=who.county,
                    client=request.client.host if request.client else None)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp

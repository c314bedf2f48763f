"""Accounts: the state administrator creates administrators (a random password shown once),
resets a password or a second factor, and disables an account; every administrator must
enrol a TOTP second factor at /account/totp (QR code of its otpauth URI) before reaching
any other page (:func:`..deps.signed_in`)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...errors import TallyproofError
from ...state.spec import load_spec
from .. import activity, sessions, totp
from ..accounts import create_user
from ..db import Role, User
from ..deps import CSRF, DB, Enrolling, StateAdmin, settings
from ..pages import render
from ..qr import qr_svg
from .login import landing
from .state_audit import client

router = APIRouter(include_in_schema=False)


def _user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    return user


def _password_page(request: Request, who: object, user: User, password: str) -> Response:
    return render(request, "account_password.html", who, user=user, password=password)


@router.post("/users/new", dependencies=[CSRF])
def create(request: Request, s: DB, who: StateAdmin,
           username: Annotated[str, Form(min_length=2, max_length=64, pattern=r"^[\w.-]+$")],
           county: Annotated[str, Form(max_length=64)] = "") -> Response:
    """A county administrator (or, with no county, a state administrator)."""
    cfg = settings(request)
    if s.scalar(select(User).where(User.username == username)) is not None:
        raise HTTPException(409, f"user {username!r} exists")
    try:
        if county:
            load_spec(cfg.state_dir).county(county)
        password = secrets.token_urlsafe(15)
        role = Role.COUNTY_ADMIN if county else Role.STATE_ADMIN
        user = create_user(s, request.app.state.hasher, username, password, role,
                           county or None, cfg.now())
    except TallyproofError as exc:
        raise HTTPException(422, str(exc)) from exc
    activity.record(s, cfg.now(), who.username, "user_created", county=user.county,
                    detail=f"{username} ({role.value})", client=client(request))
    return _password_page(request, who, user, password)


@router.post("/users/{user_id}/password", dependencies=[CSRF])
def reset_password(request: Request, user_id: int, s: DB, who: StateAdmin) -> Response:
    """A new random password (shown once); the user's sessions end."""
    cfg = settings(request)
    user = _user(s, user_id)
    password = secrets.token_urlsafe(15)
    user.password_hash = request.app.state.hasher.hash(password)
    sessions.revoke_user(s, user.id, cfg.now())
    activity.record(s, cfg.now(), who.username, "password_reset", county=user.county,
                    detail=user.username, client=client(request))
    return _password_page(request, who, user, password)


@router.post("/users/{user_id}/totp-reset", dependencies=[CSRF])
def reset_totp(request: Request, user_id: int, s: DB, who: StateAdmin) -> Response:
    cfg = settings(request)
    user = _user(s, user_id)
    removed = totp.reset(s, user.id)
    activity.record(s, cfg.now(), who.username, "totp_reset", county=user.county,
                    detail=f"{user.username}: {'removed' if removed else 'none enrolled'}",
                    client=client(request))
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/disable", dependencies=[CSRF])
def disable(request: Request, user_id: int, s: DB, who: StateAdmin) -> Response:
    """Revoke an account: it can no longer sign in and its sessions end."""
    cfg = settings(request)
    user = _user(s, user_id)
    if user.id == who.user_id:
        raise HTTPException(409, "you cannot disable your own account")
    if user.disabled_at is None:
        user.disabled_at = cfg.now()
        n = sessions.revoke_user(s, user.id, cfg.now())
        activity.record(s, cfg.now(), who.username, "user_disabled", county=user.county,
                        detail=f"{user.username}: {n} session(s) ended", client=client(request))
    return RedirectResponse("/users", status_code=303)


# ------------------------------------------------------------------ TOTP enrolment
@router.get("/account/totp")
def totp_page(request: Request, s: DB, who: Enrolling) -> Response:
    f = totp.factor(s, who.user_id)
    secret = None if totp.enrolled(s, who.user_id) else totp.pending_secret(s, who.user_id)
    return render(request, "totp.html", who, enrolled=f is not None and f.secret is not None,
                  secret=secret)


@router.get("/account/totp/qr.svg")
def totp_qr(s: DB, who: Enrolling) -> Response:
    if totp.enrolled(s, who.user_id):
        raise HTTPException(404, "already enrolled; a state administrator can reset it")
    return qr_svg(totp.uri(totp.pending_secret(s, who.user_id), who.username))


@router.post("/account/totp", dependencies=[CSRF])
def totp_confirm(request: Request, s: DB, who: Enrolling,
                 code: Annotated[str, Form(max_length=16)]) -> Response:
    cfg = settings(request)
    if totp.enrolled(s, who.user_id):
        raise HTTPException(409, "already enrolled; a state administrator can reset it")
    if not totp.confirm(s, who.user_id, code, cfg.now()):
        activity.record(s, cfg.now(), who.username, "totp_enrol_failed", county=who.county,
                        client=client(request))
        return render(request, "totp.html", who, status=422, enrolled=False,
                      secret=totp.pending_secret(s, who.user_id),
                      error="That code does not match; check the phone's clock and try again.")
    activity.record(s, cfg.now(), who.username, "totp_enrolled", county=who.county,
                    client=client(request))
    return RedirectResponse(landing(who.county), status_code=303)

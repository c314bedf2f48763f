"""Login sessions: 8 hours at most from sign-in, 1 hour at most between requests, revocable
(one session at logout, every session of a user by a state admin). The browser holds a random
token; the database holds its SHA-256, so a copy of the database opens no session."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .board_db import TotpFactor
from .config import Settings
from .db import LoginSession, User


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(t: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Current:
    """The signed-in user of a request and their session's CSRF token."""
    user_id: int
    username: str
    role: str
    county: str | None
    session_id: int
    csrf: str
    #: whether the user's TOTP second factor is enrolled: administrators without one reach
    #: only the enrolment page and sign-out (:func:`.deps.signed_in`)
    totp_enrolled: bool
    #: when the session ends unless it is used again (the idle limit, or the absolute one if
    #: sooner): a live event stream ends there (:func:`.live.stream`)
    expires_at: datetime | None = None


def open_session(db: Session, user: User, now: datetime) -> tuple[str, LoginSession]:
    """A new session for ``user``: returns the cookie's token and the row."""
    token = secrets.token_urlsafe(32)
    row = LoginSession(token_hash=_digest(token), user_id=user.id,
                       csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now)
    db.add(row)
    db.flush()
    return token, row


def live(row: LoginSession | Any, settings: Settings, now: datetime) -> bool:
    """A session row (a user's or an audit board's) neither revoked nor past either limit."""
    return (row.revoked_at is None
            and now - _aware(row.created_at) <= settings.session_absolute
            and now - _aware(row.last_seen_at) <= settings.session_idle)


def current(db: Session, token: str | None, settings: Settings,
            touch: bool = True) -> Current | None:
    """The session this token opens, if it is neither revoked nor past either limit; a live
    session's idle clock restarts, unless ``touch`` is false (a live page's event stream
    reconnecting by itself is no sign that someone is at the keyboard)."""
    if not token:
        return None
    now = settings.now()
    row = db.scalar(select(LoginSession).where(LoginSession.token_hash == _digest(token)))
    if row is None or not live(row, settings, now):
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    factor = db.get(TotpFactor, user.id)  # before the write below: a read flushes writes
    if touch:
        row.last_seen_at = now
    expires = min(_aware(row.last_seen_at) + settings.session_idle,
                  _aware(row.created_at) + settings.session_absolute)
    return Current(user.id, user.username, user.role, user.county, row.id, row.csrf_token,
                   factor is not None and factor.secret is not None, expires)


def revoke(db: Session, session_id: int, now: datetime) -> None:
    db.execute(update(LoginSession).where(LoginSession.id == session_id,
                                          LoginSession.revoked_at.is_(None))
               .values(revoked_at=now))


def revoke_user(db: Session, user_id: int, now: datetime) -> int:
    """Revoke every live session of a user; returns how many."""
    res = db.execute(update(LoginSession).where(LoginSession.user_id == user_id,
                                                LoginSession.revoked_at.is_(None))
                     .values(revoked_at=now))
    return int(res.rowcount or 0)

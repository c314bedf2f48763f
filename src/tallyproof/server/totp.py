"""The administrators' second factor: TOTP (RFC 6238; 30-second steps, 6 digits, SHA-1, as
every authenticator app reads an ``otpauth://`` URI), with pyotp.

Enrolment makes a pending secret, shows it as a QR code, and enables it once the user types
a code it produced. At sign-in an enrolled user must give a current code (one step of clock
drift either way is accepted); a code is accepted once only (RFC 6238 §5.2), the step it
belonged to is kept in ``last_step``. The secret is stored as is: the server must compute the
codes (a TOTP secret cannot be hashed like a password)."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from .board_db import TotpFactor

ISSUER = "tallyproof"
#: steps of clock drift accepted either side of now
DRIFT = 1


def factor(db: Session, user_id: int) -> TotpFactor | None:
    return db.get(TotpFactor, user_id)


def enrolled(db: Session, user_id: int) -> bool:
    f = factor(db, user_id)
    return f is not None and f.secret is not None


def enrol_with(db: Session, user_id: int, secret: str, now: datetime) -> None:
    """Enrol ``secret`` directly, without a first code: only for accounts whose secret is
    handed over with their password (``serve --demo`` prints both)."""
    pyotp.TOTP(secret).now()  # a ValueError here if it is no base32 secret
    db.add(TotpFactor(user_id=user_id, secret=secret, enabled_at=now, last_step=0))
    db.flush()


def pending_secret(db: Session, user_id: int) -> str:
    """The secret waiting for its first code (made on the first call)."""
    f = factor(db, user_id)
    if f is None:
        f = TotpFactor(user_id=user_id, last_step=0)
        db.add(f)
    if f.pending_secret is None:
        f.pending_secret = pyotp.random_base32()
    db.flush()
    return f.pending_secret


def uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def _step(secret: str, code: str, now: datetime, after: int) -> int | None:
    """The time step (later than ``after``) whose code ``code`` is, or None."""
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    t = totp.timecode(now)
    for step in range(t - DRIFT, t + DRIFT + 1):
        if step > after and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def confirm(db: Session, user_id: int, code: str, now: datetime) -> bool:
    """Enable the pending secret if ``code`` is one of its current codes."""
    f = factor(db, user_id)
    if f is None or f.pending_secret is None:
        return False
    step = _step(f.pending_secret, code, now, 0)
    if step is None:
        return False
    f.secret, f.pending_secret, f.enabled_at, f.last_step = f.pending_secret, None, now, step
    return True


def check(db: Session, user_id: int, code: str, now: datetime) -> bool:
    """Whether ``code`` is a current, unused code of the user's enrolled secret."""
    f = factor(db, user_id)
    if f is None or f.secret is None:
        return False
    step = _step(f.secret, code, now, f.last_step)
    if step is None:
        return False
    f.last_step = step
    return True


def reset(db: Session, user_id: int) -> bool:
    """Remove the user's factor (a state admin's reset; the user enrols again)."""
    f = factor(db, user_id)
    if f is None:
        return False
    db.delete(f)
    return True

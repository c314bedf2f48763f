"""User accounts: argon2id password hashes, roles, and signing in by name and password."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import UsageError
from .config import PasswordCost
from .db import Role, User


def hasher(cost: PasswordCost) -> PasswordHasher:
    return PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_cost,
                          parallelism=cost.parallelism)


def create_user(db: Session, ph: PasswordHasher, username: str, password: str, role: Role,
                county: str | None, now: datetime) -> User:
    """Add a user. A county_admin names its county; a state_admin names none."""
    if (role == Role.COUNTY_ADMIN) != (county is not None):
        raise UsageError(f"user {username!r}: a county_admin needs a county and a state_admin "
                         "has none")
    if len(password) < 12:
        raise UsageError(f"user {username!r}: a password needs at least 12 characters")
    user = User(username=username, password_hash=ph.hash(password), role=role.value,
                county=county, created_at=now)
    db.add(user)
    db.flush()
    return user


def authenticate(db: Session, ph: PasswordHasher, username: str, password: str) -> User | None:
    """The user whose name and password these are, or None. An unknown name still costs one
    hash, so the answer's timing does not tell which names exist."""
    user = db.scalar(select(User).where(User.username == username, User.disabled_at.is_(None)))
    if user is None:
        ph.hash(password)
        return None
    try:
        ph.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if ph.check_needs_rehash(user.password_hash):
        user.password_hash = ph.hash(password)
    return user

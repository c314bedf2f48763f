"""Accounts made by the server's own commands: a state admin named on the command line, and
the demo's accounts (one state admin, one admin per county), each with a random password
that is shown once and stored only as its argon2 hash.

The second factor is mandatory for administrators. A state admin made by ``--add-admin``
enrols it at the first sign-in (the login sends them to /account/totp). The demo's accounts
are made already enrolled, each with a random TOTP secret printed with its password, so a
demo has no exemption from the second factor: type the secret into an authenticator app."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pyotp
from fastapi import FastAPI

from ..state.spec import load_spec
from . import activity, totp
from .accounts import create_user
from .db import Role


@dataclass(frozen=True)
class NewAccount:
    username: str
    password: str
    role: str
    county: str | None
    #: the enrolled TOTP secret (base32), or None: the account enrols at its first sign-in
    totp_secret: str | None = None


def add_account(app: FastAPI, username: str, role: Role, county: str | None = None,
                enrolled: bool = False) -> NewAccount:
    settings = app.state.settings
    if county is not None:
        load_spec(settings.state_dir).county(county)  # a UsageError naming the counties
    password = secrets.token_urlsafe(15)
    secret = pyotp.random_base32() if enrolled else None
    with app.state.sessionmaker.begin() as db:
        now = settings.now()
        user = create_user(db, app.state.hasher, username, password, role, county, now)
        if secret is not None:
            totp.enrol_with(db, user.id, secret, now)
        activity.record(db, now, None, "user_created", county=county,
                        detail=f"{username} ({role.value})", client="command line")
    return NewAccount(username, password, role.value, county, secret)


def seed_demo(app: FastAPI) -> list[NewAccount]:
    """A state admin ``state-admin`` and ``admin-<county>`` for every county, each with its
    second factor enrolled (the secret is in the result, to print)."""
    spec = load_spec(app.state.settings.state_dir)
    return [add_account(app, "state-admin", Role.STATE_ADMIN, enrolled=True)] + [
        add_account(app, f"admin-{c.id}", Role.COUNTY_ADMIN, c.id, enrolled=True)
        for c in spec.counties]

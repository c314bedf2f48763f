"""Accounts made by the server's own commands: a state admin named on the command line, and
the demo's accounts (one state admin, one admin per county), each with a random password
that is shown once and stored only as its argon2 hash."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import FastAPI

from ..state.spec import load_spec
from . import activity
from .accounts import create_user
from .db import Role


@dataclass(frozen=True)
class NewAccount:
    username: str
    password: str
    role: str
    county: str | None


def add_account(app: FastAPI, username: str, role: Role,
                county: str | None = None) -> NewAccount:
    settings = app.state.settings
    if county is not None:
        load_spec(settings.state_dir).county(county)  # a UsageError naming the counties
    password = secrets.token_urlsafe(15)
    with app.state.sessionmaker.begin() as db:
        now = settings.now()
        create_user(db, app.state.hasher, username, password, role, county, now)
        activity.record(db, now, None, "user_created", county=county,
                        detail=f"{username} ({role.value})", client="command line")
    return NewAccount(username, password, role.value, county)


def seed_demo(app: FastAPI) -> list[NewAccount]:
    """A state admin ``state-admin`` and ``admin-<county>`` for every county."""
    spec = load_spec(app.state.settings.state_dir)
    return [add_account(app, "state-admin", Role.STATE_ADMIN)] + [
        add_account(app, f"admin-{c.id}", Role.COUNTY_ADMIN, c.id) for c in spec.counties]

"""Fixtures of the control-room tests: one small synthetic state for the whole module set, a
database per test on SQLite and on PostgreSQL (a throw-away schema in database ``test`` at
127.0.0.1:5432, dropped after the test), and signed-in clients for every role.

PostgreSQL tests skip with a message when no server answers, except under CI (CI=true), where
an unreachable PostgreSQL is a failure."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from tallyproof.server import totp
from tallyproof.server.accounts import create_user
from tallyproof.server.app import create_app
from tallyproof.server.config import PasswordCost, Settings
from tallyproof.server.db import Role, make_engine

PG_HOST = "127.0.0.1:5432"
PG_USERS = ("postgres", "root")
PASSWORD = "a long test password"
#: argon2's smallest cost: the tests check the flow, not the hash's strength
CHEAP = PasswordCost(time_cost=1, memory_cost=8, parallelism=1)
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def unavailable(message: str, need: str = "PostgreSQL must be reachable") -> None:
    """Skip, or under CI (where PostgreSQL and Chromium are always there) fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: {need})")
    pytest.skip(message)


def postgres_url() -> str:
    """The URL of the first PostgreSQL role that connects, or :func:`unavailable`."""
    errors = []
    for user in PG_USERS:
        url = f"postgresql+psycopg://{user}@{PG_HOST}/test"
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect():
                return url
        except OperationalError as exc:
            errors.append(f"{user}: {str(exc.orig).strip().splitlines()[0]}")
        finally:
            engine.dispose()
    unavailable(f"PostgreSQL unreachable at {PG_HOST}/test ({'; '.join(errors)})")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def state_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tallyproof.demo.state import run_state_demo

    out = tmp_path_factory.mktemp("serverstate")
    run_state_demo(out, counties=2, cards=600, in_process=True, batch=False, audit=False)
    return out / "state"


@pytest.fixture(scope="session")
def batch_state_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small state with a county that reports batch tallies only (county-03), as
    ``tallyproof serve --demo`` builds: its audit work is by batch. Only the state folder
    is used, so the demo's report, bundle and verify (nine tenths of its time, and nothing
    in the state folder) are left out."""
    from tallyproof.demo.state import run_state_demo

    out = tmp_path_factory.mktemp("batchstate")
    run_state_demo(out, counties=3, cards=900, in_process=True, batch=True, audit=False,
                   evidence=False)
    return out / "state"


@pytest.fixture(scope="session")
def a_ballot(state_root: Path) -> str:
    from tallyproof.demo.state import _first_ballot

    return _first_ballot(state_root, "county-01")


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with every migration applied, made once per worker: the tests'
    databases start as copies of it (a fresh migration costs ~0.3 s, a copy almost nothing;
    the app's start still runs the upgrade, which finds the copy at head). Fresh databases
    are migrated from nothing by the tests that make their own (test_db, test_cli_serve,
    test_present, the drills)."""
    from tallyproof.server.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "control-room.sqlite"
    e = make_engine(f"sqlite:///{path}")
    try:
        upgrade(e)
        with e.connect() as c:  # everything into the main file: the copy takes that alone
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        e.dispose()
    assert not path.with_name(path.name + "-wal").exists() or not path.with_name(
        path.name + "-wal").stat().st_size
    return path


@pytest.fixture(scope="session")
def pg_migration() -> list[tuple[str, Any]]:
    """The statements (with their parameters) that migrating an empty PostgreSQL schema
    runs, recorded once per worker and replayed into each test's schema in one transaction
    (exactly what the migration did, in ~1/10 of its time). Only statements that write:
    the migration's reads of the catalogue decide nothing on replay into an empty schema.
    Unqualified names: each engine's search_path puts them in its own schema."""
    from sqlalchemy import event

    from tallyproof.server.migrate import upgrade

    statements: list[tuple[str, Any]] = []
    with pg_schema("tp_record") as (url, schema):
        e = make_engine(url, schema)

        @event.listens_for(e, "before_cursor_execute")
        def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
            assert not executemany, statement
            if not statement.lstrip().upper().startswith(("SELECT", "SHOW")):
                statements.append((statement, dict(parameters) or None))

        try:
            upgrade(e)
        finally:
            e.dispose()
    assert any("CREATE TABLE users" in s for s, _ in statements), "nothing recorded"
    return statements


def replay(engine: Engine, statements: list[tuple[str, Any]]) -> None:
    """Run :func:`pg_migration`'s recorded statements into ``engine``'s schema, in one
    transaction."""
    with engine.begin() as c:
        for statement, params in statements:
            c.exec_driver_sql(statement, params)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    fresh = request.node.get_closest_marker("fresh_database") is not None
    if request.param == "sqlite":
        import shutil

        db = tmp_path / "control-room.sqlite"
        if not fresh:
            shutil.copyfile(request.getfixturevalue("sqlite_migrated"), db)
        e = make_engine(f"sqlite:///{db}")
        yield e
        e.dispose()
        return
    with pg_schema("tp_test") as (url, schema):
        e = make_engine(url, schema)
        if not fresh:
            replay(e, request.getfixturevalue("pg_migration"))
        try:
            yield e
        finally:
            e.dispose()


@contextmanager
def pg_schema(prefix: str) -> Iterator[tuple[str, str]]:
    """A throw-away schema in PostgreSQL's ``test`` database (or :func:`unavailable`): the
    server's URL and the schema's name; dropped with everything in it at the end."""
    url = postgres_url()
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(url)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield url, schema
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@dataclass
class Clock:
    """The app's clock, moved by the tests."""
    t: datetime = field(default_factory=lambda: datetime(2026, 11, 3, 20, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class Server:
    app: FastAPI
    users: dict[str, int]  # username -> id
    clock: Clock
    #: username -> enrolled TOTP secret (every account of ACCOUNTS, unless made without)
    totp: dict[str, str] = field(default_factory=dict)

    def client(self) -> TestClient:
        return TestClient(self.app)

    def code(self, username: str) -> str:
        """A code of the user's enrolled secret the server will take now: the step after the
        last one used, within the accepted drift (the clock moves on a step when all of now's
        are used, as a person waits for the next code)."""
        with self.app.state.sessionmaker() as db:
            used = totp.factor(db, self.users[username]).last_step  # type: ignore[union-attr]
        t = pyotp.TOTP(self.totp[username])
        step = max(used + 1, t.timecode(self.clock()) - totp.DRIFT)
        ahead = step - (t.timecode(self.clock()) + totp.DRIFT)
        if ahead > 0:
            self.clock.advance(seconds=30 * ahead)
        return t.generate_otp(step)

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        c = self.client()
        code = self.code(username) if username in self.totp else ""
        r = c.post("/login", data={"csrf": csrf_of(c), "username": username,
                                   "password": password, "code": code}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return c


def csrf_of(c: TestClient, page: str = "/public") -> str:
    """The CSRF token the client's forms carry (its session's, else its visitor cookie's)."""
    m = CSRF_FIELD.search(c.get(page).text)
    assert m is not None
    return m.group(1)


#: username -> (role, county)
ACCOUNTS = {"sa": (Role.STATE_ADMIN, None), "ca": (Role.COUNTY_ADMIN, "county-01"),
            "cb": (Role.COUNTY_ADMIN, "county-02"), "victim": (Role.COUNTY_ADMIN, "county-01")}


def make_server(root: Path, engine: Engine, clock: Clock, enrolled: bool = True,
                **settings: object) -> Server:
    """The app over the state folder ``root`` with one account per entry of ACCOUNTS, each
    with its TOTP second factor enrolled (``enrolled=False``: none enrolled)."""
    app = create_app(Settings(root, str(engine.url), password_cost=CHEAP, now=clock,
                              **settings), engine)  # type: ignore[arg-type]
    users, secrets_ = {}, {}
    with app.state.sessionmaker.begin() as db:
        for name, (role, county) in ACCOUNTS.items():
            users[name] = create_user(db, app.state.hasher, name, PASSWORD, role, county,
                                      clock()).id
            if enrolled:
                secrets_[name] = pyotp.random_base32()
                totp.enrol_with(db, users[name], secrets_[name], clock())
    return Server(app, users, clock, secrets_)


@pytest.fixture
def server(state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> Server:
    """The app over the shared test state (uploads go to the test's own folder)."""
    return make_server(state_root, engine, clock, upload_dir=tmp_path / "uploads")


#: the public seed of the statewide audit the presentation tests start
AUDIT_SEED = "31415926535897932384"


def published_state(state_root: Path, out: Path, audit_round: bool = False) -> Path:
    """A copy of the session state with the statewide audit started (and with
    ``audit_round`` its first round drawn and its status measured) and the demo's state
    bundle published as ``published/demo-1``."""
    import shutil

    from tallyproof.server.public_view import publish
    from tallyproof.state.audit import next_state_round, start_state_audit
    from tallyproof.state.audit_status import state_audit_status
    from tallyproof.state.executor import InProcess

    root = out / "state"
    shutil.copytree(state_root, root)
    ex = InProcess()
    start_state_audit(root, ex, risk_limit=0.05, seed=AUDIT_SEED, kind="comparison")
    if audit_round:
        next_state_round(root, ex)
        state_audit_status(root, ex)
    publish(root, state_root.parent / "bundle", "demo-1")
    return root


@pytest.fixture(scope="session")
def audit_round_template(state_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`published_state` with round 1 drawn and measured, built once per worker (each
    build starts the audit, draws a round with its worksheets and publishes the bundle).
    Never served or altered itself: its users take a :func:`copy_of` it."""
    return published_state(state_root, tmp_path_factory.mktemp("auditround"), audit_round=True)


def copy_of(template: Path, out: Path) -> Path:
    """A copy of a state folder ``template`` as ``out/state`` (much cheaper than a rebuild)."""
    import shutil

    root = out / "state"
    shutil.copytree(template, root)
    return root

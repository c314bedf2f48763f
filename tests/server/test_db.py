"""The database: the Alembic migration the app applies at start, the append-only activity
log, the county lock of jobs, the users' role rule. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, inspect, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from tallyproof.errors import UsageError
from tallyproof.server import activity
from tallyproof.server.accounts import create_user
from tallyproof.server.db import Activity, Role, User
from tallyproof.server.migrate import upgrade

from .conftest import Server

#: the migrations themselves are under test: every database here starts empty
pytestmark = pytest.mark.fresh_database

NOW = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)


def _head() -> str:
    """The newest migration (the one head of ``migrations/``)."""
    from alembic.script import ScriptDirectory

    from tallyproof.server.migrate import MIGRATIONS

    (head,) = ScriptDirectory(str(MIGRATIONS)).get_heads()
    return head


def test_the_app_applies_the_initial_migration(server: Server) -> None:
    engine: Engine = server.app.state.engine
    assert {"users", "sessions", "activity", "jobs", "uploads", "alembic_version"} <= set(
        inspect(engine).get_table_names())
    with engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
    upgrade(engine)  # applying again at the next start is a no-op
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_the_migration_downgrades_to_nothing(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    from tallyproof.server.migrate import MIGRATIONS

    upgrade(engine)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_the_activity_log_is_append_only(server: Server) -> None:
    sm = server.app.state.sessionmaker
    with sm.begin() as db:
        activity.record(db, NOW, "sa", "login")
    for stmt in (update(Activity).values(action="nothing"), delete(Activity)):
        with pytest.raises(DBAPIError, match="append-only"), sm.begin() as db:
            db.execute(stmt)
    with sm() as db:
        assert [a.action for a in activity.recent(db)] == ["login"]


def test_one_open_job_per_county(server: Server) -> None:
    sm = server.app.state.sessionmaker
    with sm.begin() as db:
        job = activity.start_job(db, "county-01", "ingest", server.users["ca"], NOW)
        with pytest.raises(activity.CountyBusy, match="county-01 is busy"):
            activity.start_job(db, "county-01", "commit", server.users["sa"], NOW)
        other = activity.start_job(db, "county-02", "ingest", server.users["cb"], NOW)
        activity.finish_job(db, job, True, NOW)
        again = activity.start_job(db, "county-01", "commit", server.users["sa"], NOW)
    assert (job.status, other.status, again.status) == ("done", "queued", "queued")


def test_users_roles_and_counties_go_together(server: Server) -> None:
    sm = server.app.state.sessionmaker
    ph = server.app.state.hasher
    with sm() as db:
        with pytest.raises(UsageError, match="needs a county"):
            create_user(db, ph, "x", "a long password!", Role.COUNTY_ADMIN, None, NOW)
        with pytest.raises(UsageError, match="12 characters"):
            create_user(db, ph, "x", "short", Role.STATE_ADMIN, None, NOW)
    with pytest.raises(IntegrityError), sm.begin() as db:  # the database's own rule
        db.add(User(username="y", password_hash="h", role="state_admin", county="county-01",
                    created_at=NOW))
    with pytest.raises(IntegrityError), sm.begin() as db:
        db.add(User(username="sa", password_hash="h", role="state_admin", created_at=NOW))


def _schema(engine: Engine) -> dict[str, object]:
    """Every table's columns, keys, constraints and indexes, as the inspector reads them."""
    import json

    def text_of(items: list[Any]) -> list[str]:  # a partial index's WHERE is a TextClause
        return sorted(json.dumps(x, default=str, sort_keys=True) for x in items)

    i = inspect(engine)
    return {t: (text_of(i.get_columns(t)), text_of([i.get_pk_constraint(t)]),
                text_of(i.get_foreign_keys(t)), text_of(i.get_check_constraints(t)),
                text_of(i.get_indexes(t)), text_of(i.get_unique_constraints(t)))
            for t in sorted(i.get_table_names())}


def test_the_tests_shortcut_databases_equal_a_migrated_one(
        engine: Engine, request: pytest.FixtureRequest, tmp_path) -> None:  # noqa: ANN001
    """The other tests' databases are a copy (SQLite) or a replay of the recorded statements
    (PostgreSQL) of one migration (tests/server/conftest.py): the same schema as migrating."""
    from .conftest import make_engine, pg_schema, replay

    upgrade(engine)
    if engine.dialect.name == "sqlite":
        import shutil

        shutil.copyfile(request.getfixturevalue("sqlite_migrated"), tmp_path / "copy.sqlite")
        short = make_engine(f"sqlite:///{tmp_path / 'copy.sqlite'}")
        try:
            assert _schema(short) == _schema(engine)
        finally:
            short.dispose()
        return
    with pg_schema("tp_replay") as (url, schema):
        short = make_engine(url, schema)
        try:
            replay(short, request.getfixturevalue("pg_migration"))
            assert _schema(short) == _schema(engine)
            with short.connect() as c:
                assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
        finally:
            short.dispose()

"""Apply the Alembic migrations (``migrations/``) to the database: the server does it at start,
so a new database gets the schema and an old one is brought up to date."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to ``revision``.

    SQLite changes a constraint by rebuilding the table (copy, drop, rename), and dropping a
    table that other rows point at breaks their foreign keys for a moment, which SQLite
    refuses (even deferred: the drop's violations are never taken back). So, as SQLite's
    documented procedure for such changes does, the migrations run with its foreign keys
    off (a setting that can only change outside a transaction), every foreign key is checked
    before the commit (a violation fails the upgrade), and they are on again
    after."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                conn.commit()

"""The server's settings: where the state folder and the database are, and the session and
login limits. One frozen value, made once at start and kept on ``app.state.settings``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: The environment variable naming the database (``--database-url`` wins over it).
DATABASE_ENV = "TALLYPROOF_DATABASE_URL"
#: The SQLite file made in the state folder when no database is named.
SQLITE_FILE = "control-room.sqlite"


def utcnow() -> datetime:
    return datetime.now(UTC)


def database_url(state_dir: Path, explicit: str | None = None) -> str:
    """``--database-url``, else ``TALLYPROOF_DATABASE_URL``, else SQLite in the state folder.
    A ``postgresql://`` URL is given the psycopg 3 driver."""
    url = explicit or os.environ.get(DATABASE_ENV) or f"sqlite:///{Path(state_dir) / SQLITE_FILE}"
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@dataclass(frozen=True)
class PasswordCost:
    """Argon2id parameters (argon2-cffi's defaults, RFC 9106's second recommendation)."""
    time_cost: int = 3
    memory_cost: int = 65536  # KiB
    parallelism: int = 4


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    database_url: str
    session_absolute: timedelta = timedelta(hours=8)
    session_idle: timedelta = timedelta(hours=1)
    #: failed logins allowed per client address (and per user name) within the window
    login_attempts: int = 5
    login_window: timedelta = timedelta(minutes=15)
    password_cost: PasswordCost = PasswordCost()
    #: the clock (tests move it to expire sessions)
    now: Callable[[], datetime] = field(default=utcnow)
    # -- uploads and jobs (docs/server.md, "Uploads" and "Jobs") --
    #: where county uploads are kept (default: STATE/uploads); the server names every file
    upload_dir: Path | None = None
    #: the largest file a county may upload (declared size, and bytes actually received)
    max_upload: int = 32 << 30
    #: jobs run at once (across counties: each county runs one job at a time)
    job_workers: int = 2
    #: a dask.distributed scheduler for the jobs' county tasks (None: in this process)
    job_scheduler: str | None = None
    #: live pages (server-sent events): seconds between looks at the state folder's files,
    #: and how long one event stream lasts before the browser reconnects (and its session
    #: is checked again)
    live_interval: float = 1.0
    live_lifetime: float = 120.0

    @property
    def uploads_root(self) -> Path:
        return self.upload_dir or Path(self.state_dir) / "uploads"

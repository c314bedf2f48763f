"""The control room's own data, in SQLAlchemy 2 models: users and their roles, sessions, the
append-only activity log, and jobs (whose open rows are the county locks).

Election facts (ballots, checkpoints, results, accounting) are never stored here: they live in
the state folder and its county stores, which the pages read through the library. The schema
is made by the Alembic migrations in ``migrations/`` (:mod:`.migrate`), not by ``create_all``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (BigInteger, DateTime, ForeignKey, Index, Integer, String, Text,
                        create_engine, event, text)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class Role(StrEnum):
    STATE_ADMIN = "state_admin"
    COUNTY_ADMIN = "county_admin"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


#: A job in one of these states holds its county's lock.
OPEN_JOBS = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
#: the ``county`` of a statewide audit job: no county id can be spelled so (county ids begin
#: with a lower-case letter or a digit, :data:`tallyproof.state.spec.COUNTY_ID`)
STATE_LOCK = "(state)"


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    #: the county a county_admin administers (None for a state_admin)
    county: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoginSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Activity(Base):
    """Who did what, when. Append-only: triggers in the migration refuse UPDATE and DELETE."""
    __tablename__ = "activity"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    county: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Job(Base):
    """Work on one county, or on the statewide audit (``county`` is then
    :data:`STATE_LOCK`). At most one queued or running job per county (a partial unique
    index): that open row is the county's lock; the statewide audit's open row is the state's
    lock, and it excludes every county's (:func:`.activity.start_job`)."""
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    # added by migration 0002 (uploads and jobs)
    #: the upload an ingest job reads
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id"), nullable=True)
    #: what the job is doing now, in words ("extracting the archive")
    progress: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # added by migration 0005 (alerts): a closed job is an alert until acknowledged
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    #: the state administrator who acknowledged it
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # added by migration 0006 (job parameters)
    #: JSON: what a statewide audit job was asked (:mod:`.audit_jobs`); None for county jobs
    params: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("jobs_one_open_per_county", "county", unique=True,
              sqlite_where=text("status IN ('queued', 'running')"),
              postgresql_where=text("status IN ('queued', 'running')")),
    )


# ------------------------------------------------------------ uploads (migration 0002)
class UploadKind(StrEnum):
    CVR_EXPORT = "cvr_export"
    MANIFEST = "manifest"
    POLLBOOKS = "pollbooks"
    OFFICIAL_RESULTS = "official_results"
    #: a county with batch tallies only: its batch tallies CSV (migration 0007)
    BATCH_TALLIES = "batch_tallies"


class UploadStatus(StrEnum):
    RECEIVING = "receiving"  # bytes still arriving (resumable from ``received``)
    VERIFIED = "verified"  # every byte arrived, the SHA-256 matched: ready to ingest
    REJECTED = "rejected"  # checksum mismatch or a refused archive: the file is deleted
    INGESTED = "ingested"  # an ingest job put it into the county's store or inputs
    FAILED = "failed"  # the reader refused it; the county's store is unchanged


class Upload(Base):
    """A file a county administrator sent. The bytes live in the upload folder under a name
    the server chose (:func:`tallyproof.server.uploads.data_path`); ``filename`` is the
    client's name, shown and never used as a path."""
    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    #: the file's extension as the server stores it (from a fixed list, or "")
    suffix: Mapped[str] = mapped_column(String(8))
    #: the size the client declared (None for a browser form: known when it ends)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the SHA-256 the county typed, and the one the server computed from the bytes
    declared_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


#: pooled connections: one per request allowed a session at once (``deps.DB_REQUESTS``),
#: and more for the job runner and the uploads' short sessions of their own
POOL_SIZE, POOL_OVERFLOW = 12, 12
#: how long a SQLite write waits for the one writer before failing (pysqlite's ``timeout``)
SQLITE_BUSY_SECONDS = 30.0


def make_engine(url: str, schema: str | None = None) -> Engine:
    """An engine for ``url``. ``schema`` (PostgreSQL only) puts every table in that schema
    (the tests' throw-away schemas).

    SQLite gets foreign keys on, the write-ahead log (readers never block the writer nor
    the writer the readers, so a request's read is never refused for a write in flight) and
    a busy timeout of :data:`SQLITE_BUSY_SECONDS`: SQLite has one writer at a time, and a
    request that must wait for it waits instead of failing with "database is locked"
    (docs/server.md, "Load and faults", has the measurements). ``synchronous`` stays FULL:
    a commit is on disk before the answer, so an acknowledged entry survives a power cut,
    not only a killed process."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": SQLITE_BUSY_SECONDS},
                               pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            dbapi_conn.execute("PRAGMA foreign_keys = ON")
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                dbapi_conn.execute("PRAGMA journal_mode = WAL")
            dbapi_conn.execute("PRAGMA synchronous = FULL")
        return engine
    args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(url, connect_args=args, pool_pre_ping=True, pool_size=POOL_SIZE,
                         max_overflow=POOL_OVERFLOW)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)

"""The activity log (who did what, when: append-only) and jobs, whose open rows are the
county locks.

:func:`export` gives the log as the state log commits it at each publication
(:mod:`tallyproof.state.activity_log`): what an official did, when, and in which county.
It leaves out what stays in the control room: the client address, and the name typed at a
refused sign-in (not an account's name, and possibly a password typed in the wrong box)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import TallyproofError
from .db import OPEN_JOBS, STATE_LOCK, Activity, Job, JobStatus


class CountyBusy(TallyproofError):
    """Another job holds the county's lock."""


def record(db: Session, now: datetime, username: str | None, action: str,
           county: str | None = None, detail: str = "", client: str | None = None) -> None:
    db.add(Activity(at=now, username=username, action=action, county=county, detail=detail,
                    client=client))


def recent(db: Session, limit: int = 200, county: str | None = None) -> list[Activity]:
    q = select(Activity).order_by(Activity.id.desc()).limit(limit)
    if county is not None:
        q = q.where(Activity.county == county)
    return list(db.scalars(q))


#: actions whose ``username`` is what a visitor typed, not an account that acted
TYPED_NAMES = frozenset({"login_failed", "login_refused"})


def utc_text(at: datetime) -> str:
    """``at`` in UTC with microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (SQLite hands the
    stored time back without its zone: it was written in UTC)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def export_entry(a: Activity) -> dict[str, Any]:
    return {"id": a.id, "at": utc_text(a.at), "action": a.action, "county": a.county,
            "detail": a.detail or "",
            "user": None if a.action in TYPED_NAMES else a.username}


def export(db: Session) -> list[dict[str, Any]]:
    """The whole log, in order of id, as the state log commits it."""
    return [export_entry(a) for a in db.scalars(select(Activity).order_by(Activity.id))]


#: the PostgreSQL advisory lock every job's queuing takes for its transaction (any number:
#: one lock, held by one queuing at a time)
QUEUE_LOCK = 0x7A11_9F00F


def _serialise(db: Session) -> None:
    """Queue one job at a time, so the check of the other locks below sees every job queued
    before it. SQLite has one writer: the job's INSERT waits for any other queuing to commit
    and reads after it. PostgreSQL reads what was committed when each statement starts, so two
    queuings would each miss the other's uncommitted row: an advisory lock, held until the
    transaction ends, puts them one after the other."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": QUEUE_LOCK})


def start_job(db: Session, county: str, kind: str, user_id: int | None, now: datetime) -> Job:
    """Queue a job on ``county`` (or on the statewide audit, ``county`` =
    :data:`.db.STATE_LOCK`), taking its lock; :class:`CountyBusy` if a queued or running job
    holds it (the database's unique index decides, so two servers cannot both win). The
    statewide audit's work reads every county's store, so its lock and the counties' exclude
    each other: a statewide job waits for no county job to be open, and a county job for no
    statewide one."""
    _serialise(db)
    job = Job(county=county, kind=kind, status=JobStatus.QUEUED.value, user_id=user_id,
              created_at=now, message="")
    try:
        with db.begin_nested():
            db.add(job)
            db.flush()
            others = select(Job).where(Job.status.in_(OPEN_JOBS), Job.id != job.id)
            others = others.where((Job.county != STATE_LOCK) if county == STATE_LOCK
                                  else (Job.county == STATE_LOCK))
            other = db.scalars(others.order_by(Job.id).limit(1)).first()
            if other is not None:
                raise CountyBusy(
                    f"county {other.county} is busy with job {other.id} ({other.kind}): the "
                    "statewide audit's work waits until no county job is open"
                    if county == STATE_LOCK else
                    f"county {county} is busy: the statewide audit's job {other.id} "
                    f"({other.kind}) reads every county; county jobs wait until it ends")
    except IntegrityError as exc:
        raise CountyBusy("the statewide audit is busy: another of its jobs is queued or "
                         "running" if county == STATE_LOCK else
                         f"county {county} is busy: another job holds its lock") from exc
    return job


def finish_job(db: Session, job: Job, ok: bool, now: datetime, message: str = "") -> None:
    """Close a job, releasing its county's lock."""
    job.status = (JobStatus.DONE if ok else JobStatus.FAILED).value
    job.finished_at, job.message = now, message
    db.flush()


def control_room_log(state_dir: Path, explicit: str | None = None) -> list[dict[str, Any]] | None:
    """The exported log of the state's control room, for ``tallyproof state commit``: its
    database is the one ``tallyproof serve`` would use (``explicit``, else
    ``TALLYPROOF_DATABASE_URL``, else the SQLite file in the state folder); None when none is
    named and the state folder has no SQLite file (the state runs without a control room).
    A named database without the control room's tables is :class:`UsageError`."""
    import os

    from sqlalchemy import inspect

    from ..errors import UsageError
    from .config import DATABASE_ENV, SQLITE_FILE, database_url
    from .db import make_engine, session_factory

    if explicit is None and not os.environ.get(DATABASE_ENV) \
            and not (Path(state_dir) / SQLITE_FILE).exists():
        return None
    url = database_url(Path(state_dir), explicit)
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table(Activity.__tablename__):
            raise UsageError(f"{engine.url.render_as_string(hide_password=True)} holds no "
                             "control room activity log (was tallyproof serve run on it?)")
        with session_factory(engine)() as db:
            return export(db)
    finally:
        engine.dispose()

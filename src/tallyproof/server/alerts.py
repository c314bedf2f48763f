"""Alerts: every county job that finished or failed is an alert for the state administrators
until one of them acknowledges it; so is a county finishing its entry of an audit round (its
last audit board of the round signing off, :func:`round_entered`).

An alert is not a row of its own: it is a closed job (``done`` or ``failed``) whose
``acknowledged_at`` is empty. Deriving it from the job keeps one fact in one place: a job
closed by any path (the runner, or :func:`.jobs.recover` after a crash) is an alert at the
moment it closes, in the same transaction, with no second write to forget. Acknowledging
sets who and when on the row, once, and records ``alert_acknowledged`` in the activity log.
A county administrator sees only the alerts of their own county (the JSON API); the public
sees none.

A county's finished round is a job row too, of kind :data:`ROUND_ENTERED`, closed ``done``
the moment it is made (it is never queued nor run, so it takes no county lock): written in
the transaction of the last sign-off, it is shown, acknowledged and logged like any job's
alert, with no table of its own.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from .activity import record
from .board_db import AuditBoard, BoardStatus
from .db import Job, JobStatus

CLOSED = (JobStatus.DONE.value, JobStatus.FAILED.value)
#: the most alerts a page or the API lists at once (the count says how many there are)
SHOWN = 100


class AlertError(Exception):
    """An alert that cannot be acknowledged: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _pending(county: str | None) -> Select[tuple[Job]]:
    q = select(Job).where(Job.status.in_(CLOSED), Job.acknowledged_at.is_(None))
    return q if county is None else q.where(Job.county == county)


def pending(db: Session, county: str | None = None, limit: int = SHOWN) -> list[Job]:
    """The alerts not yet acknowledged (of ``county`` only, if given), newest first."""
    return list(db.scalars(_pending(county).order_by(Job.id.desc()).limit(limit)))


def count(db: Session, county: str | None = None) -> int:
    return db.scalar(select(func.count()).select_from(_pending(county).subquery())) or 0


def acknowledge(db: Session, job_id: int, username: str, now: datetime) -> Job:
    """Acknowledge (dismiss) the alert of job ``job_id``, in the activity log;
    :class:`AlertError` 404 for no such closed job, 409 if already acknowledged. One
    conditional UPDATE decides, so of two administrators acknowledging at once exactly one
    succeeds (on SQLite and PostgreSQL alike)."""
    done = db.execute(update(Job).where(Job.id == job_id, Job.status.in_(CLOSED),
                                        Job.acknowledged_at.is_(None))
                      .values(acknowledged_at=now, acknowledged_by=username)
                      .execution_options(synchronize_session=False))
    job = db.get(Job, job_id)
    if job is not None:
        db.refresh(job)
    if job is None or job.status not in CLOSED:
        raise AlertError(404, f"no alert for job {job_id}: no such job has finished")
    if done.rowcount != 1:
        raise AlertError(409, f"the alert of job {job_id} was already acknowledged by "
                              f"{job.acknowledged_by}")
    record(db, now, username, "alert_acknowledged", job.county,
           f"job {job.id}: {job.kind} {job.status}")
    db.flush()
    return job


#: the kind of a county's "finished its entry of the round" alert
ROUND_ENTERED = "round_entered"


def lock_round(db: Session, county: str, round_number: int) -> None:
    """Lock the county's boards of the round (PostgreSQL; SQLite has one writer) before a
    sign-off, so of two boards signing off at once the second sees the first's sign-off and
    exactly one of them finds the round entered."""
    db.execute(select(AuditBoard.id).where(AuditBoard.county == county,
                                           AuditBoard.round_number == round_number)
               .order_by(AuditBoard.id).with_for_update())


def round_entered(db: Session, county: str, round_number: int, now: datetime) -> Job | None:
    """After a sign-off: if every audit board of ``county`` in round ``round_number`` has
    signed off, the alert that the county finished its entry of the round (logged as
    ``county_round_entered``); None while a board is still open."""
    boards = list(db.scalars(select(AuditBoard).where(
        AuditBoard.county == county, AuditBoard.round_number == round_number)))
    if not boards or any(b.status != BoardStatus.SIGNED_OFF for b in boards):
        return None
    message = (f"round {round_number}: all {len(boards)} audit board(s) signed off; the "
               "county's entry of the round is finished")
    job = Job(county=county, kind=ROUND_ENTERED, status=JobStatus.DONE.value, user_id=None,
              created_at=now, started_at=now, finished_at=now, message=message,
              progress="done")
    db.add(job)
    db.flush()
    record(db, now, None, "county_round_entered", county, f"job {job.id}: {message}")
    return job


def version(db: Session) -> str:
    """Moves whenever an alert comes or goes (closed jobs and acknowledgments only grow)."""
    closed, last, acked = db.execute(
        select(func.count(), func.max(Job.id), func.count(Job.acknowledged_at))
        .where(Job.status.in_(CLOSED))).one()
    return hashlib.sha256(f"{closed}/{last}/{acked}".encode()).hexdigest()[:16]


def to_json(job: Job) -> dict[str, Any]:
    return {"job": job.id, "county": job.county, "kind": job.kind,
            "outcome": job.status, "at": (job.finished_at or job.created_at).isoformat(),
            "message": job.message}

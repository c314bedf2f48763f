"""The activity log (who did what, when: append-only) and jobs, whose open rows are the
county locks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import TallyproofError
from .db import Activity, Job, JobStatus


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


def start_job(db: Session, county: str, kind: str, user_id: int | None, now: datetime) -> Job:
    """Queue a job on ``county``, taking its lock; :class:`CountyBusy` if a queued or running
    job holds it (the database's unique index decides, so two servers cannot both win)."""
    job = Job(county=county, kind=kind, status=JobStatus.QUEUED.value, user_id=user_id,
              created_at=now, message="")
    try:
        with db.begin_nested():
            db.add(job)
    except IntegrityError as exc:
        raise CountyBusy(f"county {county} is busy: another job holds its lock") from exc
    return job


def finish_job(db: Session, job: Job, ok: bool, now: datetime, message: str = "") -> None:
    """Close a job, releasing its county's lock."""
    job.status = (JobStatus.DONE if ok else JobStatus.FAILED).value
    job.finished_at, job.message = now, message
    db.flush()

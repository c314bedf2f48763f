"""The state overview's county table beyond the library's files (:func:`.view.counties`): each
county's uploads and open job (from the control room's database) and its part of the
statewide audit (drawn, retrieved, recorded, discrepancies), and the database's change
counter that makes the table live (:func:`version`).

The audit's numbers, per county, in units (cards; batches where the county's part is by
batch; docs/server.md, "State overview"):

- **drawn**: distinct units drawn in the county so far (the latest round's draws, which are
  cumulative), as :func:`tallyproof.state.audit_report.county_progress` counts them for the
  statewide report;
- **retrieved**: distinct drawn units for which one of the county's audit boards has saved an
  entry in the database, a reading or "not found" after looking, in any round, counted once
  however often corrected. Boards save entries one by one before they sign off, so this
  moves while they work;
- **recorded**: distinct units in the county's audit records (``audit/counties/<id>/
  records.jsonl``), which a board's sign-off writes through the library (or ``state audit
  record`` at the command line);
- **discrepancies**: o1/o2/u1/u2 its sample shows in the last measurement (``audit/
  status.json``, :func:`tallyproof.state.audit_status.discrepancies_by_county`), summed over
  contests. The risk itself is statewide, per contest: shown beside the table, not per county.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, cast, distinct, func, literal_column, select, union_all
from sqlalchemy.orm import Session

from ..state.audit_report import county_progress
from ..state.audit_tasks import audit_dir
from .board_db import (AuditBoard, BatchEntry, BoardEntry, BoardReopening, BoardSignoff,
                       ClosedRound)
from .db import OPEN_JOBS, Job, Upload


@dataclass(frozen=True)
class Uploads:
    """A county's uploads: how many, by status, the latest, and the county's open job."""

    total: int
    by_status: dict[str, int]
    last: Upload | None
    job: Job | None


@dataclass(frozen=True)
class AuditPart:
    drawn: int
    retrieved: int
    recorded: int
    #: o1/o2/u1/u2 summed over contests; None before a measurement (or in a full hand count)
    discrepancies: dict[str, int] | None
    #: drawn units the last measurement found without a record
    waiting: int
    measured: bool


def uploads(db: Session, counties: list[str]) -> dict[str, Uploads]:
    """Every county's :class:`Uploads`, in three queries whatever the number of counties."""
    by: dict[str, dict[str, int]] = {c: {} for c in counties}
    for county, status, n in db.execute(select(Upload.county, Upload.status, func.count())
                                        .group_by(Upload.county, Upload.status)):
        by.setdefault(county, {})[status] = n
    latest = select(func.max(Upload.id)).group_by(Upload.county).scalar_subquery()
    last = {u.county: u for u in db.scalars(select(Upload).where(Upload.id.in_(latest)))}
    jobs = {j.county: j for j in db.scalars(select(Job).where(Job.status.in_(OPEN_JOBS)))}
    return {c: Uploads(sum(by[c].values()), dict(sorted(by[c].items())), last.get(c),
                       jobs.get(c)) for c in counties}


def retrieved(db: Session) -> dict[str, int]:
    """county -> distinct units its boards have entered (module docstring), cards and
    batches."""
    out: dict[str, int] = {}
    for entry, unit in ((BoardEntry, BoardEntry.ballot_id), (BatchEntry, BatchEntry.batch_id)):
        q = (select(AuditBoard.county, func.count(distinct(unit)))
             .join(entry, entry.board_id == AuditBoard.id).group_by(AuditBoard.county))
        for county, n in db.execute(q):
            out[county] = out.get(county, 0) + n
    return out


def audit_parts(db: Session, root: Path, counties: list[str]) -> dict[str, AuditPart] | None:
    """Every county's :class:`AuditPart`; None before the statewide audit starts."""
    progress = county_progress(audit_dir(root), counties)
    if progress is None:
        return None
    got = retrieved(db)
    return {c: AuditPart(p["drawn"], got.get(c, 0), p["recorded"], p["discrepancies"],
                         p["waiting"], p["measured"]) for c, p in progress.items()}


def extras(db: Session, root: Path, counties: list[str]) -> dict[str, dict[str, Any]]:
    """What the county table shows of each county besides :class:`.view.CountyRow`:
    ``uploads`` and ``audit`` (None before the audit starts)."""
    ups, parts = uploads(db, counties), audit_parts(db, root, counties)
    return {c: {"uploads": ups[c], "audit": parts[c] if parts else None} for c in counties}


def version(db: Session) -> str:
    """A short hash of what the database feeds the state page (the county table, its alerts
    and the jobs), in one query: the largest id of the tables whose rows are only ever added
    (board entries and batch counts, sign-offs, reopenings, closed rounds: an index look-up,
    no scan), a count and the largest id per status for the rows whose status moves
    (uploads with the bytes received, jobs with their acknowledgments, boards: tables of a
    few rows per county and round), and the open jobs' progress in words. It changes when an upload arrives or moves on, a job
    is queued, reports progress, ends or is acknowledged, a board enters a ballot, signs off
    or is reopened, a round is closed."""
    def tag(name: str) -> Any:
        return literal_column(f"'{name}'")

    zero = literal_column("0")
    parts = [
        select(tag("uploads"), Upload.status, func.count(), func.max(Upload.id),
               cast(func.coalesce(func.sum(Upload.received), 0), BigInteger))
        .group_by(Upload.status),
        select(tag("jobs"), Job.status, func.count(), func.max(Job.id),
               cast(func.count(Job.acknowledged_at), BigInteger)).group_by(Job.status),
        select(tag("progress"), Job.progress, Job.id, zero, zero)
        .where(Job.status.in_(OPEN_JOBS)),
        select(tag("boards"), AuditBoard.status, func.count(), func.max(AuditBoard.id), zero)
        .group_by(AuditBoard.status),
    ]
    for name, table, key in (("entries", BoardEntry, BoardEntry.id),
                             ("batch_entries", BatchEntry, BatchEntry.id),
                             ("signoffs", BoardSignoff, BoardSignoff.id),
                             ("reopenings", BoardReopening, BoardReopening.id),
                             ("closed", ClosedRound, ClosedRound.round_number)):
        parts.append(select(tag(name), literal_column("''"), zero, func.max(key), zero)
                     .select_from(table))
    rows = sorted(tuple("" if v is None else str(v) for v in r)
                  for r in db.execute(union_all(*parts)))
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]

"""Audit boards that hand count whole batches, on the web: a batch board's list, its counts
(saved batch by batch, idempotent by the form's entry key, as a card board's readings) and its
sign-off through the library into the county's audit records.

A county's boards count batches when its part of the statewide audit is by batch (the batch
stratum of a stratified audit, a batch comparison, a full hand count;
:func:`tallyproof.state.audit_batch_boards.unit_of`); the board row says so (``unit``). Set-up,
credentials, sessions and reopening are the card boards' own (:mod:`.boards`). A batch board
sees where each batch is, how many cards it holds per the manifest and the contests and
choices to tally, never the reported tallies; it enters, per contest, the votes it counted for
every choice (or that the batch was not found). The library's batch records hold votes per
choice only (no blanks nor overvotes), so the entry holds those.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.records import current_readings, load_records
from ..errors import TallyproofError
from ..model import Contest
from ..state.audit_batch_boards import BatchRow, BoardBatch, record_board_batches
from ..state.audit_tasks import county_records_path
from .board_db import AuditBoard, BatchEntry, BoardSignoff
from .boards import (BoardError, batches_of, close_signoff, contests_of, next_signoff,
                     signers, store_row)

#: the most votes one choice may get in an entry (a batch is a few thousand cards at most)
MAX_VOTES = 10_000_000


def latest_batch_entries(db: Session, board_id: int) -> dict[str, BatchEntry]:
    """The entry that counts for each batch of the board: its latest."""
    rows = db.scalars(select(BatchEntry).where(BatchEntry.board_id == board_id)
                      .order_by(BatchEntry.id))
    return {e.batch_id: e for e in rows}


def counts_of(entry: BatchEntry) -> dict[str, Any]:
    return orjson.loads(entry.counts)


def validate_counts(batch: BoardBatch, contests: dict[str, Contest],
                    counts: dict[str, Any]) -> dict[str, Any]:
    """The counts in their stored form (``{"not_found": bool, "contests": {contest id:
    {choice id: votes}}}``), checked: every contest tallied in the batch, every choice of it a
    whole number (0 when it got none), no more votes than the batch's cards allow."""
    if counts.get("not_found"):
        return {"not_found": True, "contests": {}}
    given = counts.get("contests", {})
    extra = sorted(set(given) - set(batch.contests))
    if extra:
        raise BoardError(f"contest {extra[0]!r} is not tallied in this batch")
    out: dict[str, dict[str, int]] = {}
    for cid in batch.contests:
        c = contests[cid]
        got = given.get(cid)
        if not isinstance(got, dict):
            raise BoardError(f"{c.name}: enter the votes counted for every choice (0 for none)")
        ids = [k.id for k in c.candidates]
        unknown = sorted(set(got) - set(ids))
        if unknown:
            raise BoardError(f"{c.name}: {unknown[0]!r} is not a choice in this contest")
        votes: dict[str, int] = {}
        for k in c.candidates:
            v = got.get(k.id)
            if isinstance(v, str) and v.strip().isdigit():
                v = int(v.strip())
            if v is None or (isinstance(v, str) and not v.strip()):
                raise BoardError(f"{c.name}: no count for {k.name}; enter 0 if it got none")
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_VOTES:
                raise BoardError(f"{c.name}: the count for {k.name} must be a whole number, "
                                 f"not {v!r}")
            votes[k.id] = v
        allowed = batch.cards * c.vote_for
        if sum(votes.values()) > allowed:
            raise BoardError(f"{c.name}: {sum(votes.values())} votes counted, more than the "
                             f"batch's {batch.cards} card(s) allow (vote for {c.vote_for}); "
                             "count the batch again")
        out[cid] = votes
    return {"not_found": False, "contests": out}


def stored_counts(root: Path, board: AuditBoard, entry_key: str, batch: BoardBatch,
                  counts: dict[str, Any]) -> str:
    """The counts as they are stored (sorted JSON), checked against the batch's contests: the
    part of an entry that needs no database, done in the request before the write
    (:func:`store_batch_entry`, through the app's writer)."""
    if not 8 <= len(entry_key) <= 64:
        raise BoardError("the form's entry key is missing; reload the page")
    return orjson.dumps(validate_counts(batch, contests_of(root, board.county), counts),
                        option=orjson.OPT_SORT_KEYS).decode()


def store_batch_entry(db: Session, board_id: int, entry_key: str, batch_id: str, stored: str,
                      now: datetime) -> tuple[BatchEntry, bool]:
    """Save counts checked by :func:`stored_counts`; returns the entry and whether it is new.
    A retry with the same key returns the entry already saved (never a second one); the same
    key with another batch or counts is an :class:`~.boards.EntryConflict`
    (:func:`.boards.store_row`, as a card's reading)."""
    return store_row(db, BatchEntry, board_id, entry_key, now,
                     "this form was already saved with other counts; reload the batch's page "
                     "to correct it", batch_id=batch_id, counts=stored)


def _nonzero(tallies: dict[str, int] | tuple[tuple[str, int], ...] | None
             ) -> dict[str, int] | None:
    """Tallies without their zeros (a record lists only the choices that got votes)."""
    if tallies is None:
        return None
    return {k: v for k, v in dict(tallies).items() if v}


def batch_signoff_rows(root: Path, board: AuditBoard, entries: dict[str, BatchEntry],
                       reason: str | None) -> list[BatchRow]:
    """The record rows a sign-off writes: every count of the board's batches that differs
    from the county's current record (a count equal to the one recorded is skipped, so a
    repeated sign-off adds nothing); one that replaces another is a correction with
    ``reason`` (the county's reopening)."""
    readings = current_readings(load_records(county_records_path(root, board.county)))
    why = reason or f"counted again by {board.label}"
    rows: list[BatchRow] = []
    for b in batches_of(root, board):
        got = counts_of(entries[b.batch_id])
        for cid in b.contests:
            tallies = None if got["not_found"] else got["contests"][cid]
            rec = readings.get((b.batch_id, cid))
            if rec is not None and rec.not_found == (tallies is None) \
                    and _nonzero(rec.tallies) == _nonzero(tallies):
                continue
            corr = rec is not None
            rows.append(BatchRow(b.batch_id, cid, tallies, corr, why if corr else None))
    return rows


def sign_off_batches(db: Session, root: Path, board: AuditBoard, members: list[str],
                     now: datetime) -> BoardSignoff:
    """Sign a batch board off: every batch has a count; the counts go through the library
    into the county's records (:func:`~tallyproof.state.audit_batch_boards.record_board_batches`,
    the hand-count CSV ``state audit record`` takes), then the board is closed to changes."""
    names = signers(db, board, members)
    entries = latest_batch_entries(db, board.id)
    missing = [b.batch_id for b in batches_of(root, board) if b.batch_id not in entries]
    if missing:
        raise BoardError(f"{len(missing)} batch(es) have no count yet, first {missing[0]}")
    number, reason = next_signoff(db, board)
    rows = batch_signoff_rows(root, board, entries, reason)
    try:
        stored = record_board_batches(root, board.county, board.round_number, board.number,
                                      number, rows)
    except TallyproofError as exc:
        raise BoardError(f"the county's audit records refused the sign-off: {exc}") from exc
    return close_signoff(db, root, board, number, names, max(e.id for e in entries.values()),
                         bool(rows), len(stored), now)

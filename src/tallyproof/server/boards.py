"""Audit boards of the statewide audit, on the web: set-up by a county, credentials, board
sessions, entries (saved one by one, idempotent by the form's entry key), sign-off (through
the library into the county's audit records) and reopening.

A board's list is not stored: it is the county's retrieval list of the round split among the
county's boards by :func:`tallyproof.state.audit_boards.board_lists`, recomputed from the
state folder (cached: a round's list and the CVRs it was drawn from do not change; the audit
refuses to go on if the CVRs did). The board sees the cards' locations and the contests to
read, never the CVRs' votes.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..audit.choices import OVERVOTE, OVERVOTE_MARK
from ..audit.records import ALL_CONTESTS, Record, current_readings, load_records
from ..audit.workflow import reading_for
from ..errors import TallyproofError
from ..model import Contest
from ..state.audit import audited_contests, load_state_rounds
from ..state.audit_batch_boards import BATCH, CARD, BoardBatch, board_batch_lists, unit_of
from ..state.audit_boards import BoardCard, BoardRow, board_lists, record_board, signoff_path
from ..state.audit_tasks import county_records_path
from .board_db import (AuditBoard, BatchEntry, BoardEntry, BoardReopening, BoardSession,
                       BoardSignoff, BoardStatus, ClosedRound)
from .config import Settings
from .sessions import _digest, live

#: passphrase alphabet: no 0/O, 1/I/L, U (read aloud and typed from paper)
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
PASSPHRASE_GROUPS, GROUP = 5, 4  # 20 characters of 30: 98 bits
MIN_MEMBERS = 2


class BoardError(TallyproofError):
    """A board action refused (closed round, signed-off board, a ballot not on the list...);
    the message says why, in words a board member can act on."""


class EntryConflict(BoardError):
    """An entry key already used for a different ballot or reading."""


class WrongUnit(BoardError):
    """A card page or route asked of a board that counts whole batches, or the reverse."""


class BoardClosed(BoardError):
    """The board signed off (until its county reopens it), or its round is closed."""


# ------------------------------------------------------------------ rounds
def rounds_drawn(root: Path) -> int:
    return len(load_state_rounds(root))


def is_closed(db: Session, round_number: int) -> bool:
    return db.get(ClosedRound, round_number) is not None


def county_boards(db: Session, county: str, round_number: int) -> list[AuditBoard]:
    return list(db.scalars(select(AuditBoard).where(
        AuditBoard.county == county, AuditBoard.round_number == round_number)
        .order_by(AuditBoard.number)))


def round_boards(db: Session, round_number: int) -> list[AuditBoard]:
    return list(db.scalars(select(AuditBoard).where(AuditBoard.round_number == round_number)
                           .order_by(AuditBoard.county, AuditBoard.number)))


# ------------------------------------------------------------------ set-up and credentials
@lru_cache(maxsize=256)
def _lists(root: Path, county: str, round_number: int, of: int
           ) -> tuple[tuple[BoardCard, ...], ...]:
    return tuple(tuple(x) for x in board_lists(root, county, round_number, of))


@lru_cache(maxsize=256)
def _batch_lists(root: Path, county: str, round_number: int, of: int
                 ) -> tuple[tuple[BoardBatch, ...], ...]:
    return tuple(tuple(x) for x in board_batch_lists(root, county, round_number, of))


@lru_cache(maxsize=256)
def _contests(root: Path, county: str) -> dict[str, Contest]:
    return audited_contests(root, county)


#: one filling of the caches at a time: each opens the county's store, whose lock refuses a
#: second opener (two boards' first requests at once would fail)
_FILLING = threading.Lock()


def contests_of(root: Path, county: str) -> dict[str, Contest]:
    """The county's audited contests, what its boards read (cached as the lists are: the
    audit's contests are fixed at its start, and the county's election with its CVRs). Every
    entry needs them; reading them opens the county's store, which a commit job may hold."""
    with _FILLING:
        return _contests(Path(root), county)


def cards_of(root: Path, board: AuditBoard) -> tuple[BoardCard, ...]:
    """The board's list of cards (its share of the county's retrieval list)."""
    if board.unit != CARD:
        raise WrongUnit("this board counts whole batches, not single cards")
    with _FILLING:
        lists = _lists(Path(root), board.county, board.round_number, board.of)
    return lists[board.number - 1]


def batches_of(root: Path, board: AuditBoard) -> tuple[BoardBatch, ...]:
    """A batch board's list of batches (its share of the county's retrieval list)."""
    if board.unit != BATCH:
        raise WrongUnit("this board reads single cards, not whole batches")
    with _FILLING:
        lists = _batch_lists(Path(root), board.county, board.round_number, board.of)
    return lists[board.number - 1]


def setup_boards(db: Session, root: Path, county: str, count: int,
                 now: datetime) -> list[AuditBoard]:
    """Set up ``count`` boards for the county in the latest round (once per round)."""
    n = rounds_drawn(root)
    if n == 0:
        raise BoardError("no round has been drawn yet")
    if is_closed(db, n):
        raise BoardError(f"round {n} is closed")
    if county_boards(db, county, n):
        raise BoardError(f"county {county} already set up its boards for round {n}")
    if not 1 <= count <= 50:
        raise BoardError("between 1 and 50 boards")
    unit = unit_of(Path(root), county)
    with _FILLING:
        lists = (_lists if unit == CARD else _batch_lists)(Path(root), county, n, count)
    noun = "card" if unit == CARD else "batch"
    if not any(lists):
        raise BoardError(f"round {n} drew no {noun} in county {county}")
    if not all(lists):
        raise BoardError(f"round {n} has too few batches in county {county} for {count} "
                         "boards (whole batches go to one board); set up fewer")
    boards = [AuditBoard(county=county, round_number=n, number=k, of=count,
                         slug=secrets.token_urlsafe(12), status=BoardStatus.OPEN,
                         created_at=now, unit=unit) for k in range(1, count + 1)]
    db.add_all(boards)
    db.flush()
    return boards


def normalise(passphrase: str) -> str:
    return "".join(ch for ch in passphrase.upper() if ch.isalnum())


def _passphrase_hash(passphrase: str) -> str:
    return hashlib.sha256(normalise(passphrase).encode()).hexdigest()


def issue_passphrase(db: Session, board: AuditBoard, now: datetime) -> str:
    """A new random passphrase for the board (shown once; only its hash is kept). The old
    one stops working and the board's open sessions end."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(PASSPHRASE_GROUPS * GROUP))
    board.passphrase_hash = _passphrase_hash(raw)
    board.passphrase_issued_at = now
    db.execute(update(BoardSession).where(BoardSession.board_id == board.id,
                                          BoardSession.revoked_at.is_(None))
               .values(revoked_at=now))
    db.flush()
    return "-".join(raw[i:i + GROUP] for i in range(0, len(raw), GROUP))


# ------------------------------------------------------------------ board sessions
@dataclass(frozen=True)
class CurrentBoard:
    board: AuditBoard
    session_id: int
    csrf: str


def sign_in(db: Session, passphrase: str, slug: str | None,
            now: datetime) -> tuple[str, AuditBoard] | None:
    """A session token for the board whose passphrase this is (and, from a board's link,
    whose link it is: the slug names one board of one county in one round), or None. A board
    of a closed round signs in no more: its link and passphrase were for that round only."""
    if not normalise(passphrase):
        return None
    board = db.scalar(select(AuditBoard).where(
        AuditBoard.passphrase_hash == _passphrase_hash(passphrase)))
    if board is None or (slug is not None and board.slug != slug):
        return None
    if is_closed(db, board.round_number):
        return None
    token = secrets.token_urlsafe(32)
    db.add(BoardSession(board_id=board.id, token_hash=_digest(token),
                        csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now))
    db.flush()
    return token, board


def current_board(db: Session, token: str | None, settings: Settings,
                  touch: bool = True) -> CurrentBoard | None:
    """The board a cookie signs in, under the users' session limits (8 h, 1 h idle). With
    ``touch`` the session's idle clock restarts in ``db``'s transaction; an entry passes
    False and restarts it in its own write (:func:`touch_session`), so its request writes
    nothing else."""
    if not token:
        return None
    now = settings.now()
    row = db.scalar(select(BoardSession).where(BoardSession.token_hash == _digest(token)))
    if row is None or not live(row, settings, now):
        return None
    if touch:
        row.last_seen_at = now
    return CurrentBoard(db.get(AuditBoard, row.board_id), row.id, row.csrf_token)


def touch_session(db: Session, session_id: int, now: datetime) -> None:
    """Restart a board session's idle clock (what :func:`current_board` does unless told
    not to: an entry does it in its own write)."""
    db.execute(update(BoardSession).where(BoardSession.id == session_id)
               .values(last_seen_at=now))


def sign_out(db: Session, session_id: int, now: datetime) -> None:
    db.execute(update(BoardSession).where(BoardSession.id == session_id)
               .values(revoked_at=now))


# ------------------------------------------------------------------ entries
def latest_entries(db: Session, board_id: int) -> dict[str, BoardEntry]:
    """The entry that counts for each ballot of the board: its latest."""
    rows = db.scalars(select(BoardEntry).where(BoardEntry.board_id == board_id)
                      .order_by(BoardEntry.id))
    return {e.ballot_id: e for e in rows}


def reading_of(entry: BoardEntry) -> dict[str, Any]:
    return orjson.loads(entry.reading)


def validate_reading(card: BoardCard, contests: dict[str, Contest],
                     reading: dict[str, Any]) -> dict[str, Any]:
    """The reading in its stored form, checked against the card's contests and choices."""
    if reading.get("not_found"):
        return {"not_found": True, "contests": {}}
    out: dict[str, Any] = {}
    given = reading.get("contests", {})
    for cid in card.contests:
        r = given.get(cid)
        name = contests[cid].name
        if r is None:
            raise BoardError(f"{name}: say what the ballot shows (choices, blank, overvote, "
                             "or that you cannot agree)")
        if "cant_agree" in r:
            note = str(r["cant_agree"]).strip()
            if not note:
                raise BoardError(f"{name}: a note is needed when the board cannot agree")
            out[cid] = {"cant_agree": note[:500]}
        elif r.get("overvote"):
            out[cid] = {"overvote": True}
        else:
            ids = {c.id for c in contests[cid].candidates}
            marks = list(r.get("marks", []))
            bad = [m for m in marks if m not in ids]
            if bad:
                raise BoardError(f"{name}: {bad[0]!r} is not a choice in this contest")
            order = [c.id for c in contests[cid].candidates]
            out[cid] = {"marks": sorted(set(marks), key=order.index)}
    extra = sorted(set(given) - set(card.contests))
    if extra:
        raise BoardError(f"contest {extra[0]!r} is not read on this ballot")
    return {"not_found": False, "contests": out}


def writable(db: Session, board: AuditBoard) -> None:
    if board.status != BoardStatus.OPEN:
        raise BoardClosed("this board has signed off; the county administrator must reopen it "
                         "before any change")
    if is_closed(db, board.round_number):
        raise BoardClosed(f"round {board.round_number} is closed")


def stored_reading(root: Path, board: AuditBoard, entry_key: str, ballot_id: str,
                   reading: dict[str, Any]) -> str:
    """The reading as it is stored (sorted JSON), checked against the card's contests: the
    part of an entry that needs no database, done before the write (:func:`store_entry`)."""
    if not 8 <= len(entry_key) <= 64:
        raise BoardError("the form's entry key is missing; reload the page")
    card = next((c for c in cards_of(root, board) if c.ballot_id == ballot_id), None)
    if card is None:
        raise BoardError(f"ballot {ballot_id!r} is not on this board's list")
    return orjson.dumps(validate_reading(card, contests_of(root, board.county), reading),
                        option=orjson.OPT_SORT_KEYS).decode()


def store_entry(db: Session, board_id: int, entry_key: str, ballot_id: str, stored: str,
                now: datetime) -> tuple[BoardEntry, bool]:
    """Save a reading checked by :func:`stored_reading`; returns the entry and whether it is
    new (:func:`store_row`)."""
    return store_row(db, BoardEntry, board_id, entry_key, now,
                     "this form was already saved with another reading; reload the ballot's "
                     "page to correct it", ballot_id=ballot_id, reading=stored)


E = TypeVar("E", BoardEntry, BatchEntry)


def store_row(db: Session, model: type[E], board_id: int, entry_key: str, now: datetime,
              conflict: str, **fields: str) -> tuple[E, bool]:
    """Save one entry of a board (a card's reading, a batch's counts: ``fields``, already
    checked); returns the entry and whether it is new. A retry with the same key returns the
    entry already saved (never a second one); the same key with other ``fields`` is an
    :class:`EntryConflict` saying ``conflict``. The board's status is read here, in the
    writing transaction, so a sign-off committed since the request read the board is seen."""
    key = (model.board_id == board_id, model.entry_key == entry_key)
    old = db.scalar(select(model).where(*key))
    if old is None:
        board = db.get(AuditBoard, board_id, populate_existing=True)
        if board is None:
            raise BoardError("this board no longer exists")
        writable(db, board)
        entry = model(board_id=board_id, entry_key=entry_key, created_at=now, **fields)
        try:
            with db.begin_nested():
                db.add(entry)
            return entry, True
        except IntegrityError:  # the same key, saved meanwhile by a concurrent retry
            old = db.scalar(select(model).where(*key))
            if old is None:
                raise
    if any(getattr(old, k) != v for k, v in fields.items()):
        raise EntryConflict(conflict)
    return old, False


# ------------------------------------------------------------------ sign-off
def _cell(r: dict[str, Any]) -> tuple[str, bool]:
    """A contest's stored reading as a record CSV cell and its not-found flag."""
    if "cant_agree" in r:
        return "", True
    if r.get("overvote"):
        return OVERVOTE, False
    return ";".join(r["marks"]), False


def _same(rec: Record | None, r: dict[str, Any]) -> bool:
    if rec is None:
        return False
    cell, not_found = _cell(r)
    if not_found or rec.not_found:
        return not_found and rec.not_found and rec.contest_id != ALL_CONTESTS
    want = ((OVERVOTE_MARK,),) if cell == OVERVOTE else (tuple(r["marks"]),)
    return tuple(tuple(sorted(x)) for x in (rec.marks or ())) == \
        tuple(tuple(sorted(x)) for x in want)


def signoff_rows(root: Path, board: AuditBoard, entries: dict[str, BoardEntry],
                 reason: str | None) -> list[BoardRow]:
    """The record rows a sign-off writes: every reading of the board's cards that differs from
    the county's current record (a reading equal to the one recorded is skipped, so a repeated
    sign-off adds nothing). A reading that replaces another is a correction with ``reason``
    (the county's reopening); "cannot agree" is recorded as not found for that contest (the
    worst case for every assertion, as SHANGRLA treats a card it cannot read) with the note."""
    readings = current_readings(load_records(county_records_path(root, board.county)))
    why = reason or f"read again by {board.label}"
    rows: list[BoardRow] = []
    for card in cards_of(root, board):
        got = reading_of(entries[card.ballot_id])
        b = card.ballot_id
        if got["not_found"]:
            recs = [reading_for(readings, b, c) for c in card.contests]
            if not all(x is not None and x.contest_id == ALL_CONTESTS for x in recs):
                corr = any(x is not None for x in recs)
                rows.append(BoardRow(b, ALL_CONTESTS, "", True, corr, why if corr else None))
            continue
        for cid in card.contests:
            r = got["contests"][cid]
            rec = reading_for(readings, b, cid)
            if _same(rec, r):
                continue
            cell, not_found = _cell(r)
            corr = rec is not None
            notes = [why] if corr else []
            if "cant_agree" in r:
                notes.append(f"the board could not agree: {r['cant_agree']}")
            rows.append(BoardRow(b, cid, cell, not_found, corr, "; ".join(notes) or None))
    return rows


def sign_off(db: Session, root: Path, board: AuditBoard, members: list[str],
             now: datetime) -> BoardSignoff:
    """Sign the board off: every card has a reading; the readings go through the library into
    the county's records (:func:`~tallyproof.state.audit_boards.record_board`), then the board
    is closed to changes."""
    names = signers(db, board, members)
    entries = latest_entries(db, board.id)
    missing = [c.ballot_id for c in cards_of(root, board) if c.ballot_id not in entries]
    if missing:
        raise BoardError(f"{len(missing)} ballot(s) have no entry yet, first {missing[0]}")
    number, reason = next_signoff(db, board)
    rows = signoff_rows(root, board, entries, reason)
    try:
        stored = record_board(root, board.county, board.round_number, board.number, number,
                              rows)
    except TallyproofError as exc:
        raise BoardError(f"the county's audit records refused the sign-off: {exc}") from exc
    return close_signoff(db, root, board, number, names,
                         max(e.id for e in entries.values()), bool(rows), len(stored), now)


def signers(db: Session, board: AuditBoard, members: list[str]) -> list[str]:
    """The members' names, once the board may sign off (open, its round open, two or more
    different names): what every sign-off, of cards or of batches, checks first."""
    writable(db, board)
    names = [m.strip() for m in members if m.strip()]
    if len(names) < MIN_MEMBERS or len({n.casefold() for n in names}) < len(names):
        raise BoardError(f"at least {MIN_MEMBERS} different members sign off, each by name")
    return names


def next_signoff(db: Session, board: AuditBoard) -> tuple[int, str | None]:
    """The number of the board's next sign-off, and the reason its corrections carry (the
    county's latest reopening), if any."""
    reopened = db.scalar(select(BoardReopening).where(BoardReopening.board_id == board.id)
                         .order_by(BoardReopening.id.desc()))
    number = 1 + len(list(db.scalars(select(BoardSignoff.id).where(
        BoardSignoff.board_id == board.id))))
    return number, f"reopened by the county: {reopened.reason}" if reopened else None


def close_signoff(db: Session, root: Path, board: AuditBoard, number: int, names: list[str],
                  last_entry_id: int, wrote: bool, written: int, now: datetime) -> BoardSignoff:
    """Keep the sign-off (the library has written its records) and close the board."""
    so = BoardSignoff(board_id=board.id, number=number, members=orjson.dumps(names).decode(),
                      last_entry_id=last_entry_id,
                      records_file=signoff_path(root, board.county, board.round_number,
                                                board.number, number).name if wrote else "",
                      records_written=written, signed_at=now)
    db.add(so)
    board.status = BoardStatus.SIGNED_OFF
    db.flush()
    return so


def reopen(db: Session, board: AuditBoard, user_id: int, reason: str, now: datetime) -> None:
    if board.status != BoardStatus.SIGNED_OFF:
        raise BoardError("the board has not signed off; nothing to reopen")
    if is_closed(db, board.round_number):
        raise BoardError(f"round {board.round_number} is closed")
    if not reason.strip():
        raise BoardError("say why the board is reopened")
    db.add(BoardReopening(board_id=board.id, user_id=user_id, reason=reason.strip()[:500],
                          at=now))
    board.status = BoardStatus.OPEN
    db.flush()

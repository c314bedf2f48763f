"""The control room's tables for the statewide audit's boards and the administrators' second
factor (migration ``0002``), kept apart from :mod:`.db`'s accounts, sessions and jobs.

Which round is drawn, what a county pulls and what counts as a reading are facts of the state
folder (``audit/``); the rows here are the web's own: a board's credentials and sessions, the
entries it typed before signing off, its sign-offs and reopenings, and which rounds the state
administrator closed. Entries are never updated or deleted: a correction is a new entry for
the same ballot, and the latest one counts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

TZ = DateTime(timezone=True)


class BoardStatus:
    OPEN = "open"
    SIGNED_OFF = "signed_off"


class AuditBoard(Base):
    """Board ``number`` of a county for one round. ``slug`` names its sign-in link;
    ``passphrase_hash`` (SHA-256 of a 100-bit random passphrase) is its secret."""
    __tablename__ = "audit_boards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county: Mapped[str] = mapped_column(String(64))
    round_number: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    #: how many boards the county set up for the round (the split of its list depends on it)
    of: Mapped[int] = mapped_column(Integer)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    passphrase_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    passphrase_issued_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TZ)
    #: what the board works on: single cards or whole batches (migration 0004;
    #: :data:`tallyproof.state.audit_batch_boards.CARD` / ``BATCH``)
    unit: Mapped[str] = mapped_column(String(8), default="card", server_default="card")

    __table_args__ = (UniqueConstraint("county", "round_number", "number",
                                       name="audit_boards_one_number"),)

    @property
    def label(self) -> str:
        """How the activity log names the board (it has no account)."""
        return f"board {self.county}/round-{self.round_number}/{self.number}"


class BoardSession(Base):
    """A signed-in audit board (a tablet). Only the cookie token's SHA-256 is stored."""
    __tablename__ = "board_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("audit_boards.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TZ)
    last_seen_at: Mapped[datetime] = mapped_column(TZ)
    revoked_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)


class BoardEntry(Base):
    """What a board typed for one ballot. ``entry_key`` comes from the form (a retried POST
    carries the same key, and the unique constraint makes it one entry). ``reading`` is JSON:
    ``{"not_found": bool, "contests": {contest_id: {"marks": [...]} | {"overvote": true} |
    {"cant_agree": "note"}}}``."""
    __tablename__ = "board_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("audit_boards.id"))
    entry_key: Mapped[str] = mapped_column(String(64))
    ballot_id: Mapped[str] = mapped_column(String(128))
    reading: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)

    __table_args__ = (UniqueConstraint("board_id", "entry_key", name="board_entries_key"),)


class BatchEntry(Base):
    """A batch board's count of one batch (migration 0004): per contest, the hand-counted
    votes of every choice, or the batch not found. Never updated: a correction is a new entry
    for the same batch, and the latest one counts."""
    __tablename__ = "batch_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("audit_boards.id"))
    entry_key: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str] = mapped_column(String(256))
    counts: Mapped[str] = mapped_column(Text)  # JSON, :func:`..batch_boards.validate_counts`
    created_at: Mapped[datetime] = mapped_column(TZ)

    __table_args__ = (UniqueConstraint("board_id", "entry_key", name="batch_entries_key"),)


class BoardSignoff(Base):
    """A board's sign-off: its members, the entries it covered (ids up to ``last_entry_id``,
    of ``board_entries`` or, for a batch board, of ``batch_entries``) and the record CSV it
    wrote into the county's audit records."""
    __tablename__ = "board_signoffs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("audit_boards.id"))
    number: Mapped[int] = mapped_column(Integer)
    members: Mapped[str] = mapped_column(Text)  # JSON list of names
    last_entry_id: Mapped[int] = mapped_column(Integer)
    records_file: Mapped[str] = mapped_column(String(255))
    records_written: Mapped[int] = mapped_column(Integer)
    signed_at: Mapped[datetime] = mapped_column(TZ)

    __table_args__ = (UniqueConstraint("board_id", "number", name="board_signoffs_number"),)


class BoardReopening(Base):
    """A county administrator reopened a signed-off board, with a reason."""
    __tablename__ = "board_reopenings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("audit_boards.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(TZ)


class ClosedRound(Base):
    """A round of the statewide audit the state administrator closed (its boards take no more
    entries; the risk was measured by the library into ``audit/status.json``)."""
    __tablename__ = "audit_closed_rounds"
    round_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime] = mapped_column(TZ)


class TotpFactor(Base):
    """A user's TOTP second factor (RFC 6238). ``pending_secret`` waits for the first code;
    ``secret`` is the enrolled one; ``last_step`` refuses a code used once already."""
    __tablename__ = "totp_factors"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True,
                                         autoincrement=False)
    secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pending_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enabled_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    last_step: Mapped[int] = mapped_column(Integer, default=0)

"""Audit-board records: what the people looking at the paper saw, kept append-only.

The audit boards hand in a CSV (one row per sampled card and contest)::

    ballot_id,contest_id,marks,not_found,correction,reason
    T1-B3-17,mayor,ALICE,,,
    T1-B3-17,council,BOB;CAROL,,,
    T1-B3-17,rcv-seat,DAN>ERIN>>FAY,,,
    T2-B1-4,*,,yes,,
    T1-B3-17,mayor,,,yes,board 2 re-read: no mark for mayor

``marks`` holds candidate ids or names as on the ballot definition (matched without regard
to case or spacing, :mod:`.choices`): ``;`` separates the candidates marked at one rank (two
or more = an overvote), ``>`` separates ranks (an empty rank = a skipped rank), an empty
field (or ``blank``) = no mark in the contest, ``overvote`` = an overvote whose candidates are
not listed. ``contest_id`` may be the contest's id or its name. The filled-in board
worksheets (:mod:`.worksheets`) are read by :func:`tallyproof.audit.worksheets.read_worksheet`. ``not_found`` (yes/true/1) says the
card could not be found; ``contest_id`` may then be ``*`` (every audited contest on the card).
Batch comparison audits hand in hand counts instead
(``batch_id,contest_id,tallies,not_found,correction,reason`` with tallies such as
``ALICE=120;BOB=80``; :func:`read_batch_records_csv`).
A second row for a (ballot, contest) already recorded is refused unless ``correction`` is set
and ``reason`` says why; the latest entry then counts, and both stay in the record.

Entries are appended to ``audit/records.jsonl`` as one JSON object a line, flushed and fsynced
before the command returns, under a lock; the file is never rewritten. The whole CSV is
validated first, so a bad file adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..clock import utc_timestamp
from ..errors import AuditError, InputError
from ..formats.detect import read_text
from ..fsutil import exclusive_lock, fsync_dir
from ..model import Contest
from .choices import Cell, ChoiceError, contest_for, parse_cell

RECORD_COLUMNS = ("ballot_id", "contest_id", "marks", "not_found", "correction", "reason")
ALL_CONTESTS = "*"
_TRUE = {"yes", "y", "true", "1", "x"}
_FALSE = {"", "no", "n", "false", "0"}


@dataclass(frozen=True)
class Record:
    """One audit-board reading of one contest on one card (``marks`` in candidate ids)."""

    ballot_id: str
    contest_id: str
    marks: tuple[tuple[str, ...], ...] | None  # None when not found
    not_found: bool = False
    correction: bool = False
    reason: str | None = None
    seq: int = 0
    source_file: str | None = None
    source_sha256: str | None = None
    recorded_at: str | None = None
    tallies: tuple[tuple[str, int], ...] | None = None  # batch audits: hand-count votes

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ballot_id": self.ballot_id,
            "contest_id": self.contest_id,
            "marks": None if self.marks is None else [list(r) for r in self.marks],
            "not_found": self.not_found,
            "correction": self.correction,
            "reason": self.reason,
            "source_file": self.source_file,
            "source_sha256": self.source_sha256,
            "recorded_at": self.recorded_at,
            "tallies": None if self.tallies is None else dict(self.tallies),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Record:
        marks = d.get("marks")
        return cls(
            ballot_id=str(d["ballot_id"]),
            contest_id=str(d["contest_id"]),
            marks=None if marks is None else tuple(tuple(str(c) for c in r) for r in marks),
            not_found=bool(d.get("not_found", False)),
            correction=bool(d.get("correction", False)),
            reason=d.get("reason"),
            seq=int(d.get("seq", 0)),
            source_file=d.get("source_file"),
            source_sha256=d.get("source_sha256"),
            recorded_at=d.get("recorded_at"),
            tallies=None if d.get("tallies") is None
            else tuple(sorted((str(k), int(v)) for k, v in d["tallies"].items())),
        )


def format_marks(marks: tuple[tuple[str, ...], ...] | list[list[str]]) -> str:
    """``(("A", "B"), ("C",), (), ("D",))`` → ``"A;B>C>>D"`` (ids, as a board CSV takes them)."""
    return ">".join(";".join(rank) for rank in marks)


def codes_to_marks(contest: Contest, codes: list[list[int]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(contest.candidates[c].id for c in rank) for rank in codes)


def flag(value: str | None, *, path: Path, row: int | str, field: str) -> bool:
    """A yes/no cell (``yes``, ``x``, ``1``... or ``no``, empty...); else InputError."""
    v = (value or "").strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InputError(f"expected yes/no, found {value!r}", file=path, record=row, field=field)


def read_records_csv(
    path: Path,
    *,
    contests: dict[str, Contest],
    sampled: set[str],
) -> list[Record]:
    """Parse and validate an audit-board CSV (see module docstring); nothing is stored."""
    digest, rows = _entries(path, RECORD_COLUMNS, unit="ballot", sampled=sampled,
                            contests=contests)
    out: list[Record] = []
    for e in rows:
        row_no, row, contest_id = e.number, e.row, e.contest_id
        marks: tuple[tuple[str, ...], ...] | None = None
        not_found = e.not_found
        text = (row.get("marks") or "").strip()
        if not not_found:
            try:
                cell = parse_cell(contests[contest_id], text) if text else Cell(((),))
            except ChoiceError as exc:
                raise InputError(str(exc), file=path, record=row_no, field="marks") from exc
            marks, not_found = cell.marks, cell.not_found
        elif text:
            raise InputError("a card that was not found has no marks", file=path,
                             record=row_no, field="marks")
        out.append(Record(e.unit_id, contest_id, marks, not_found, e.correction, e.reason,
                          source_file=Path(path).name, source_sha256=digest))
    return out


@dataclass(frozen=True)
class _Entry:
    """The columns every audit-board row has, validated (see :func:`_entries`)."""

    number: int  # line in the file
    row: dict[str, str]
    unit_id: str  # ballot or batch id
    contest_id: str
    not_found: bool
    correction: bool
    reason: str | None


def _entries(path: Path, columns: tuple[str, ...], *, unit: str, sampled: set[str],
             contests: dict[str, Contest]) -> tuple[str, list[_Entry]]:
    """The file's SHA-256 and its rows with the shared checks done: required columns (the
    first three of ``columns``), a drawn unit, a contest under audit (``*`` only for units
    not found), yes/no flags, a reason for every correction, no repeat without correction."""
    raw, text = read_text(Path(path))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in columns[:3] if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; expected "
                         f"{','.join(columns)}", file=path, record=1)
    id_col = columns[0]
    out: list[_Entry] = []
    seen: set[tuple[str, str]] = set()
    for row_no, row in enumerate(reader, start=2):
        unit_id = (row.get(id_col) or "").strip()
        contest_id = (row.get("contest_id") or "").strip()
        if not unit_id:
            raise InputError(f"empty {unit} id", file=path, record=row_no, field=id_col)
        if unit_id not in sampled:
            raise InputError(f"{unit} {unit_id!r} was not drawn in any round of this audit",
                             file=path, record=row_no, field=id_col)
        not_found = flag(row.get("not_found"), path=path, row=row_no, field="not_found")
        correction = flag(row.get("correction"), path=path, row=row_no, field="correction")
        reason = (row.get("reason") or "").strip() or None
        if correction and not reason:
            raise InputError("a correction needs a reason", file=path, record=row_no,
                             field="reason")
        if contest_id == ALL_CONTESTS and not not_found:
            noun = "cards" if unit == "ballot" else f"{unit}es"
            raise InputError(f"contest '*' is only for {noun} that were not found", file=path,
                             record=row_no, field="contest_id")
        if contest_id != ALL_CONTESTS:
            try:
                contest_id = contest_for(contests, contest_id).id
            except ChoiceError as exc:
                raise InputError(str(exc), file=path, record=row_no,
                                 field="contest_id") from exc
        key = (unit_id, contest_id)
        if key in seen and not correction:
            raise InputError(f"{unit} {unit_id!r} contest {contest_id!r} appears twice in the "
                             "file", file=path, record=row_no)
        seen.add(key)
        out.append(_Entry(row_no, row, unit_id, contest_id, not_found, correction, reason))
    return hashlib.sha256(raw).hexdigest(), out


BATCH_COLUMNS = ("batch_id", "contest_id", "tallies", "not_found", "correction", "reason")


def parse_tallies(text: str) -> dict[str, int]:
    """``"ALICE=120;BOB=80"`` → ``{"ALICE": 120, "BOB": 80}`` (raises ValueError)."""
    out: dict[str, int] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, num = part.partition("=")
        if not sep or not num.strip().isdigit():
            raise ValueError(f"{part!r} is not CANDIDATE=VOTES")
        if name.strip() in out:
            raise ValueError(f"candidate {name.strip()!r} appears twice")
        out[name.strip()] = int(num)
    return out


def read_batch_records_csv(
    path: Path,
    *,
    contests: dict[str, Contest],
    sampled: set[str],
) -> list[Record]:
    """Parse a batch audit's hand-count CSV (``batch_id,contest_id,tallies,...``; tallies
    ``CANDIDATE=VOTES`` separated by ``;``, candidates not listed had no votes)."""
    digest, rows = _entries(path, BATCH_COLUMNS, unit="batch", sampled=sampled,
                            contests=contests)
    out: list[Record] = []
    for e in rows:
        row_no, row, contest_id = e.number, e.row, e.contest_id
        tallies: tuple[tuple[str, int], ...] | None = None
        if not e.not_found:
            try:
                counted = parse_tallies(row.get("tallies") or "")
            except ValueError as exc:
                raise InputError(str(exc), file=path, record=row_no, field="tallies") from exc
            known = {c.id for c in contests[contest_id].candidates}
            unknown = sorted(set(counted) - known)
            if unknown:
                raise InputError(f"unknown candidate {unknown[0]!r} in contest {contest_id!r}",
                                 file=path, record=row_no, field="tallies")
            tallies = tuple(sorted(counted.items()))
        out.append(Record(e.unit_id, contest_id, None, e.not_found, e.correction, e.reason,
                          source_file=Path(path).name, source_sha256=digest, tallies=tallies))
    return out


def write_batch_records_csv(path: Path, rows: list[tuple[str, str, dict[str, int], bool]]) -> None:
    """Write a batch hand-count CSV (``batch_id, contest_id, tallies, not_found``) atomically."""
    from ..fsutil import atomic_write_bytes

    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(BATCH_COLUMNS)
    for batch, contest_id, tallies, not_found in rows:
        text = ";".join(f"{k}={v}" for k, v in tallies.items())
        w.writerow([batch, contest_id, text, "yes" if not_found else "", "", ""])
    atomic_write_bytes(path, buf.getvalue().encode())


def load_records(path: Path) -> list[Record]:
    """Every entry of ``records.jsonl`` in order (an absent file is no records)."""
    if not path.exists():
        return []
    out = []
    for line_no, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Record.from_json(orjson.loads(line)))
        except (orjson.JSONDecodeError, KeyError) as exc:
            raise AuditError(f"{path}: line {line_no} is not a valid audit record: {exc}") from exc
    return out


def current_readings(records: list[Record]) -> dict[tuple[str, str], Record]:
    """The reading that counts for each (ballot, contest): the latest entry."""
    return {(r.ballot_id, r.contest_id): r for r in records}


def _lock(folder: Path) -> AbstractContextManager[None]:
    return exclusive_lock(
        folder / ".records.lock",
        lambda: AuditError(f"{folder}: records are being written by another process"),
    )


def append_records(path: Path, new: list[Record], *, now: str | None = None) -> list[Record]:
    """Append ``new`` after checking none repeats a recorded (ballot, contest) without being a
    correction; returns the entries as stored (with sequence numbers and time)."""
    stamp = now or utc_timestamp()
    with _lock(path.parent):
        existing = load_records(path)
        done = {(r.ballot_id, r.contest_id) for r in existing}
        cards = {r.ballot_id for r in existing}
        for r in new:
            clash = (
                (r.ballot_id, r.contest_id) in done
                or (r.ballot_id, ALL_CONTESTS) in done
                or (r.contest_id == ALL_CONTESTS and r.ballot_id in cards)
            )
            if clash and not r.correction:
                raise AuditError(
                    f"ballot {r.ballot_id!r} contest {r.contest_id!r} is already recorded; "
                    "a second entry must be marked as a correction with a reason"
                )
        seq = len(existing)
        stored = []
        for r in new:
            seq += 1
            stored.append(Record(r.ballot_id, r.contest_id, r.marks, r.not_found, r.correction,
                                 r.reason, seq, r.source_file, r.source_sha256, stamp,
                                 r.tallies))
        data = b"".join(orjson.dumps(r.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n"
                        for r in stored)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
    return stored


def write_records_csv(path: Path, rows: list[tuple[str, str, str, bool]]) -> None:
    """Write an audit-board CSV (``ballot_id, contest_id, marks, not_found``) atomically."""
    from ..fsutil import atomic_write_bytes

    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RECORD_COLUMNS)
    for ballot, contest_id, marks, not_found in rows:
        w.writerow([ballot, contest_id, marks, "yes" if not_found else "", "", ""])
    atomic_write_bytes(path, buf.getvalue().encode())

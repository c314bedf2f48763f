"""Batch tallies CSV: the vote counts of a county without CVR-capable equipment, per batch.

Such a county (many small counties still scan ballots into totals, or count them by hand)
publishes a ballot manifest (:mod:`.manifest`) and, per batch of paper, the votes for each
choice of each contest: what a batch comparison audit (SHANGRLA §3.3) compares the hand
counts with. One row per batch, contest and choice; columns matched case-insensitively, with
surrounding and repeated spaces ignored, in any order:

``Tabulator`` (optional, as in the manifest), ``Batch Name``, ``Contest``, ``Choice``,
``Votes`` (whole numbers ≥ 0; thousands separators accepted), and ``Vote For`` (optional, the
most choices a voter may mark in the contest; 1 when absent, and the same on every row of a
contest). Contests and choices are named as the county names them; the statewide mapping
(``state.json``) matches them as it matches a CVR county's. A (tabulator, batch, contest,
choice) may appear once. Every error names the file, the line and the column, as the other
readers' do.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .detect import read_text

REQUIRED = ("batch name", "contest", "choice", "votes")
OPTIONAL = ("tabulator", "vote for")
_COUNT = re.compile(r"\d{1,3}(,\d{3})+|\d+")


@dataclass(frozen=True)
class TallyRow:
    line: int
    tabulator: str
    batch: str
    contest: str
    choice: str
    votes: int


@dataclass(frozen=True)
class BatchTallyFile:
    """The rows in file order, and each contest's vote-for (contests in order of appearance)."""

    rows: tuple[TallyRow, ...]
    vote_for: dict[str, int]
    sha256: str


def _norm(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).lower()


def _count(path: Path, line: int, field: str, raw: str, least: int = 0) -> int:
    text = raw.strip()
    if not _COUNT.fullmatch(text) or int(text.replace(",", "")) < least:
        raise InputError(f"{field} must be a whole number ≥ {least}, not {raw!r}", file=path,
                         record=f"line {line}", field=field)
    return int(text.replace(",", ""))


def read_batch_tallies(path: Path) -> BatchTallyFile:
    """Read and validate a batch tallies CSV (see the module docstring)."""
    path = Path(path)
    raw, text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InputError("the file is empty", file=path)
        names = [_norm(h) for h in header]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise InputError(f"missing column(s) {', '.join(repr(m) for m in missing)}",
                             file=path, record="line 1")
        col = {c: names.index(c) for c in (*REQUIRED, *OPTIONAL) if c in names}
        rows: list[TallyRow] = []
        vote_for: dict[str, int] = {}
        seen: set[tuple[str, str, str, str]] = set()
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(f"{len(row)} fields, the header has {len(header)}", file=path,
                                 record=f"line {line}")

            def get(name: str, _row: list[str] = row) -> str:
                return _row[col[name]].strip() if name in col else ""

            for name in ("batch name", "contest", "choice"):
                if not get(name):
                    raise InputError(f"{name} is empty", file=path, record=f"line {line}",
                                     field=name)
            contest = get("contest")
            vf = _count(path, line, "vote for", get("vote for"), 1) if get("vote for") else 1
            if vote_for.setdefault(contest, vf) != vf:
                raise InputError(f"contest {contest!r} has vote for {vote_for[contest]} on an "
                                 f"earlier line and {vf} here", file=path,
                                 record=f"line {line}", field="vote for")
            r = TallyRow(line, get("tabulator"), get("batch name"), contest, get("choice"),
                         _count(path, line, "votes", get("votes")))
            key = (r.tabulator, r.batch, r.contest, r.choice)
            if key in seen:
                raise InputError(f"batch {r.tabulator}/{r.batch}, contest {contest!r}, choice "
                                 f"{r.choice!r} appears twice", file=path,
                                 record=f"line {line}")
            seen.add(key)
            rows.append(r)
    except csv.Error as exc:
        raise InputError(f"not a valid CSV: {exc}", file=path,
                         record=f"line {reader.line_num}") from exc
    if not rows:
        raise InputError("no tallies in the file", file=path)
    return BatchTallyFile(tuple(rows), vote_for, hashlib.sha256(raw).hexdigest())

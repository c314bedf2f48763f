"""Pollbook counts CSV (documented in docs/evidence.md).

Header ``precinct,checkins`` plus any of ``ballots_issued,mail_received,mail_counted,
mail_rejected,vote_type``. A precinct appears once, or once per ``vote_type`` (then every row
of that precinct names one); empty optional cells mean "not reported". Every error names the
file, the line and the column, because the person fixing it is looking at a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .formats.detect import read_text
from .model import VoteType

REQUIRED = ("precinct", "checkins")
OPTIONAL = ("ballots_issued", "mail_received", "mail_counted", "mail_rejected", "vote_type")
COUNT_COLUMNS = ("checkins", "ballots_issued", "mail_received", "mail_counted", "mail_rejected")


@dataclass(frozen=True)
class PollbookRow:
    """One line of the pollbook CSV (``line`` is the 1-based line in the file)."""

    line: int
    precinct: str
    vote_type: str | None
    checkins: int
    ballots_issued: int | None
    mail_received: int | None
    mail_counted: int | None
    mail_rejected: int | None


def read_pollbooks(path: Path) -> list[PollbookRow]:
    """Read and validate a pollbook CSV; rows come back in file order."""
    path = Path(path)
    _, text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise InputError("empty file: expected a header precinct,checkins", file=path, record=1)
    header = [h.strip().lower() for h in header]
    for col in REQUIRED:
        if col not in header:
            raise InputError(f"missing column {col!r} in the header", file=path, record=1, field=col)
    for col in header:
        if col not in REQUIRED + OPTIONAL:
            raise InputError(
                f"unknown column {col!r}; allowed: {', '.join(REQUIRED + OPTIONAL)}",
                file=path, record=1, field=col,
            )
    if len(set(header)) != len(header):
        raise InputError("a column appears twice in the header", file=path, record=1)
    rows: list[PollbookRow] = []
    seen: dict[tuple[str, str | None], int] = {}
    for line_no, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) != len(header):
            raise InputError(
                f"{len(raw)} cells but the header has {len(header)}", file=path, record=line_no
            )
        cells = dict(zip(header, (c.strip() for c in raw), strict=True))
        precinct = cells["precinct"]
        if not precinct:
            raise InputError("empty precinct", file=path, record=line_no, field="precinct")
        vote_type = cells.get("vote_type") or None
        if vote_type is not None and vote_type not in {v.value for v in VoteType}:
            raise InputError(
                f"unknown vote_type {vote_type!r}; one of {', '.join(v.value for v in VoteType)}",
                file=path, record=line_no, field="vote_type",
            )
        counts: dict[str, int | None] = {}
        for col in COUNT_COLUMNS:
            value = cells.get(col, "")
            if value == "":
                if col == "checkins":
                    raise InputError("empty count", file=path, record=line_no, field=col)
                counts[col] = None
                continue
            if not value.isdigit():
                raise InputError(
                    f"{value!r} is not a whole number", file=path, record=line_no, field=col
                )
            counts[col] = int(value)
        key = (precinct, vote_type)
        if key in seen:
            raise InputError(
                f"precinct {precinct!r}{' / ' + vote_type if vote_type else ''} already on line "
                f"{seen[key]}", file=path, record=line_no, field="precinct",
            )
        if (precinct, None) in seen and vote_type is not None or (
            vote_type is None and any(p == precinct for p, _ in seen)
        ):
            raise InputError(
                f"precinct {precinct!r} has rows with and without a vote_type; use one or the "
                "other", file=path, record=line_no, field="vote_type",
            )
        seen[key] = line_no
        checkins = counts["checkins"]
        if checkins is None:  # unreachable: checked above; keeps the type exact
            raise InputError("empty count", file=path, record=line_no, field="checkins")
        rows.append(
            PollbookRow(
                line=line_no,
                precinct=precinct,
                vote_type=vote_type,
                checkins=checkins,
                ballots_issued=counts["ballots_issued"],
                mail_received=counts["mail_received"],
                mail_counted=counts["mail_counted"],
                mail_rejected=counts["mail_rejected"],
            )
        )
    return rows

"""What the audit boards get for a round, and how their filled-in worksheets are read back.

For round N, ``audit round --boards K`` writes::

    rounds/round-N-retrieval.csv     every card to pull, with its board and the contests to read
    worksheets/round-N-board-B.csv   board B's cards, one row a card, a blank column per contest
    worksheets/round-N-board-B.pdf   the same as a printable sheet: check boxes, signatures

The cards are sorted for retrieval (container, tabulator, batch, position) and split among
the boards as Arlo does: whole batches go to one board (so no two boards open the same box
for the same batch), in contiguous runs that balance the number of cards. As in Arlo and
ColoradoRLA, a pulled card is read for every audited contest it carries (by its CVR's card
style; a card without a CVR, for every audited contest) that has no reading yet, not only
for those it was drawn for: the paper is read once, and a later round that draws the card
for another contest finds its reading already there. The other contest cells hold ``-``.

The audit stays blind: a worksheet is made from the cards' locations and the contests to
read, never from the CVRs' votes (:func:`sheet_cards` does not read them).

A filled-in worksheet (:func:`read_worksheet`) gives, per contest cell, the choices by name
or id, ``blank``, ``overvote`` or ``not found`` (grammar in :mod:`.choices`); a row left
empty is a card not read yet, a row filled only in part is an error that names the row and
the column. Re-reading a worksheet is allowed: a reading equal to the one already recorded
is skipped; a different one must be a correction with a reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..formats.detect import read_text
from ..model import Contest
from ..store import Store
from .choices import ChoiceError, contest_for, norm, parse_cell
from .frames import Cards
from .records import Record, flag

RETRIEVAL_COLUMNS = ("board", "container", "tabulator", "batch", "position", "imprinted_id",
                     "ticket", "contests")
SHEET_ID_COLUMNS = ("round", "board", "card", "container", "tabulator", "batch", "position",
                    "ballot_id")
SHEET_TAIL_COLUMNS = ("not_found", "correction", "reason")
NOT_TO_READ = "-"


def worksheets_dir(store: Store) -> Path:
    return store.audit_dir / "worksheets"


def worksheet_paths(store: Store, round_number: int, board: int) -> tuple[Path, Path]:
    """(CSV, PDF) of a board's worksheet for a round."""
    stem = worksheets_dir(store) / f"round-{round_number}-board-{board}"
    return stem.with_suffix(".csv"), stem.with_suffix(".pdf")


# ------------------------------------------------------------------ cards and boards
@dataclass(frozen=True)
class SheetCard:
    """One card (or batch) to pull: where it is, which board reads it, and for what."""

    board: int
    number: int  # its place on the board's list, 1-based
    container: str
    tabulator: str
    batch: str
    position: int  # place in its batch, 1-based; 0 for a whole batch
    ballot_id: str  # its id in the audit: the imprinted id, or tabulator/batch/position
    imprinted_id: str
    ticket: str
    contests: tuple[str, ...]  # contest ids to read, in the audit's order


def _containers(store: Store) -> dict[tuple[str, str], str]:
    m = store.manifest()
    if m is None:
        return {}
    return {(r["tabulator"] or "", r["batch"] or ""): r["container"] or "" for r in m.to_pylist()}


def carried(cards: Cards, contests: Sequence[Contest], ids: Sequence[str]
            ) -> dict[str, tuple[str, ...]]:
    """The audited contests each card carries, in the audit's order: those its CVR contains
    (card style; the marks are not looked at), or all of them for a card without a CVR."""
    rows = cards.find(ids).tolist()
    known = [r for r in rows if r >= 0]
    present = {c.id: dict(zip(known, pc.is_valid(cards.table.column(c.column).take(
        pa.array(known, type=pa.int64()))).to_pylist(), strict=True)) for c in contests}
    return {i: tuple(c.id for c in contests if r < 0 or present[c.id][r])
            for i, r in zip(ids, rows, strict=True)}


def sheet_cards(store: Store, kind: str, cards: Cards, tickets: dict[str, str],
                to_read: dict[str, Sequence[str]], boards: int) -> list[SheetCard]:
    """The round's cards located, sorted for retrieval and split among ``boards`` boards.

    ``tickets``: sample id → ticket of the cards to pull; ``to_read``: sample id → contest ids
    to read on it; ``boards`` ≥ 1. Only the location columns of the CVR table are read (the audit is blind).
    """
    containers = _containers(store)
    # the location columns of only the round's cards (-1: not a CVR's id)
    at = cards.find(list(tickets)) if kind != "batch" else np.zeros(0, dtype=np.int64)
    where = cards.table.select(["tabulator", "batch", "record"]).take(
        pa.array(np.maximum(at, 0), type=pa.int64()))
    tab, bat, rec = (where.column(k).to_pylist() for k in ("tabulator", "batch", "record"))
    rows: list[tuple[str, str, str, int, str, str, str]] = []
    for j, (bid, ticket) in enumerate(tickets.items()):
        if kind == "batch":  # a whole batch: no position, no imprinted id
            t, b = bid.split("/", 1)
            rows.append((containers.get((t, b), ""), t, b, 0, "", bid, ticket))
        elif at[j] >= 0:
            t, b = tab[j] or "", bat[j] or ""
            rows.append((containers.get((t, b), ""), t, b, int(rec[j] or 0), bid, bid, ticket))
        else:  # a manifest slot of a polling audit: tabulator/batch/position
            t, b, p = bid.rsplit("/", 2)
            rows.append((containers.get((t, b), ""), t, b, int(p), "", bid, ticket))
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3], r[5]))
    board_of = _split(rows, boards)
    out: list[SheetCard] = []
    count = dict.fromkeys(range(1, boards + 1), 0)
    for r, board in zip(rows, board_of, strict=True):
        count[board] += 1
        out.append(SheetCard(board, count[board], r[0], r[1], r[2], r[3], r[5], r[4], r[6],
                             tuple(to_read.get(r[5], ()))))
    return out


def _split(rows: Sequence[tuple[str, str, str, int, str, str, str]], boards: int) -> list[int]:
    """Board of each row: whole batches, contiguous runs, balanced by card count (a batch
    goes to the board whose share of the list holds the batch's middle card)."""
    total = len(rows)
    out: list[int] = []
    i = 0
    while i < total:
        j = i
        while j < total and rows[j][:3] == rows[i][:3]:
            j += 1
        middle = (i + j) / 2
        board = min(boards, int(middle * boards / total) + 1)
        out.extend([board] * (j - i))
        i = j
    return out


def retrieval_csv(sheet: Sequence[SheetCard], contests: dict[str, Contest],
                  kind: str) -> bytes:
    """The round's retrieval list: every card, its board, and the names of its contests."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RETRIEVAL_COLUMNS)
    for c in sheet:
        w.writerow((c.board, c.container, c.tabulator, c.batch,
                    "" if kind == "batch" else c.position, c.imprinted_id, c.ticket,
                    "; ".join(contests[k].name for k in c.contests)))
    return buf.getvalue().encode()


# ------------------------------------------------------------------ worksheet CSV
def contest_headers(contests: Sequence[Contest]) -> dict[str, str]:
    """Column header of each contest: its name, or ``Name [id]`` where names alone would be
    ambiguous (two contests called alike, or a name that is another contest's id)."""
    names = [norm(c.name) for c in contests]
    ids = {norm(c.id) for c in contests}
    return {c.id: c.name if names.count(norm(c.name)) == 1 and (norm(c.name) not in ids
                                                                 or norm(c.name) == norm(c.id))
            else f"{c.name} [{c.id}]" for c in contests}


def sheet_contests(cards: Sequence[SheetCard], contests: Sequence[Contest]) -> list[Contest]:
    """The audited contests read on at least one of ``cards``, in the audit's order."""
    used = {k for c in cards for k in c.contests}
    return [c for c in contests if c.id in used]


def worksheet_csv(round_number: int, cards: Sequence[SheetCard],
                  contests: Sequence[Contest]) -> bytes:
    """A board's worksheet: a row per card, a blank cell per contest to read, ``-`` else."""
    shown = sheet_contests(cards, contests)
    headers = contest_headers(contests)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*SHEET_ID_COLUMNS, *(headers[c.id] for c in shown), *SHEET_TAIL_COLUMNS])
    for c in cards:
        w.writerow([round_number, c.board, c.number, c.container, c.tabulator, c.batch,
                    c.position, c.ballot_id,
                    *("" if k.id in c.contests else NOT_TO_READ for k in shown),
                    "", "", ""])
    return buf.getvalue().encode()


def is_worksheet(header: Sequence[str]) -> bool:
    """Whether a CSV header is a board worksheet's (else the one-row-per-contest format)."""
    return "ballot_id" in header and "card" in header and "contest_id" not in header


def csv_header(path: Path) -> list[str]:
    _, text = read_text(Path(path))
    return next(csv.reader(io.StringIO(text, newline="")), [])


# ------------------------------------------------------------------ reading a worksheet
@dataclass(frozen=True)
class SheetReading:
    """What a filled-in worksheet says: new readings, and what it left out."""

    records: list[Record]
    unchanged: int  # readings equal to ones already recorded (skipped)
    not_filled: tuple[str, ...]  # cards whose row is still empty


def read_worksheet(path: Path, *, contests: dict[str, Contest],
                   carries: dict[str, tuple[str, ...]],
                   readings: dict[tuple[str, str], Record]) -> SheetReading:
    """Parse and check a filled-in worksheet; nothing is stored.

    ``carries``: drawn sample id → the audited contests it carries (:func:`carried`);
    ``readings``: the reading that counts for each of those (card, contest) so far. Every
    error names the line, the card and the column; a bad value's error lists the contest's
    valid choices. ``not found`` in one contest cell (or ``not_found`` = yes) marks the whole
    card not found.
    """
    raw, text = read_text(Path(path))
    digest = hashlib.sha256(raw).hexdigest()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    columns: dict[str, Contest] = {}
    for col in header:
        if col in SHEET_ID_COLUMNS or col in SHEET_TAIL_COLUMNS:
            continue
        try:
            contest = contest_for(contests, col)
        except ChoiceError as exc:
            raise InputError(str(exc), file=path, record="header", field=col) from exc
        if contest.id in {c.id for c in columns.values()}:
            raise InputError(f"contest {contest.name!r} has two columns", file=path,
                             record="header", field=col)
        columns[col] = contest
    out: list[Record] = []
    unchanged = 0
    not_filled: list[str] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        ballot = (row.get("ballot_id") or "").strip()
        where = f"line {line}, card {(row.get('card') or '?').strip()} ({ballot or 'no id'})"
        if not ballot:
            raise InputError("empty ballot_id", file=path, record=where, field="ballot_id")
        if ballot not in carries:
            raise InputError(f"card {ballot!r} was not drawn in any round of this audit",
                             file=path, record=where, field="ballot_id")
        correction = flag(row.get("correction"), path=path, row=where, field="correction")
        reason = (row.get("reason") or "").strip() or None
        if correction and not reason:
            raise InputError("a correction needs a reason", file=path, record=where,
                             field="reason")
        if ballot in seen and not correction:
            raise InputError(f"card {ballot!r} appears twice in the worksheet", file=path,
                             record=where, field="ballot_id")
        seen.add(ballot)
        card_missing = flag(row.get("not_found"), path=path, row=where, field="not_found")
        entries: dict[str, tuple[tuple[tuple[str, ...], ...] | None, bool, str]] = {}
        for col, contest in columns.items():
            value = (row.get(col) or "").strip()
            if value in ("", NOT_TO_READ):
                continue
            if contest.id not in carries[ballot]:
                raise InputError(f"card {ballot!r} does not carry contest {contest.name!r}; "
                                 f"leave the cell as {NOT_TO_READ!r}",
                                 file=path, record=where, field=col)
            try:
                cell = parse_cell(contest, value)
            except ChoiceError as exc:
                raise InputError(str(exc), file=path, record=where, field=col) from exc
            if card_missing and not cell.not_found:
                raise InputError("the card is marked not found, yet this contest has a "
                                 "reading", file=path, record=where, field=col)
            entries[contest.id] = (cell.marks, cell.not_found, col)
        pending = [k for k in carries[ballot] if (ballot, k) not in readings]
        if card_missing or any(e[1] for e in entries.values()):  # the card is not there
            for k in pending:
                entries.setdefault(k, (None, True, "not_found"))
        found = [k for k, e in entries.items() if not e[1]]
        if found and any(e[1] for e in entries.values()):
            k = next(k for k, e in entries.items() if e[1])
            raise InputError("the card is 'not found' in one contest but read in another "
                             f"({contests[found[0]].name!r})", file=path, record=where,
                             field=entries[k][2])
        if not entries:
            if pending:
                not_filled.append(ballot)
            continue
        for col, contest in columns.items():
            if contest.id in pending and contest.id not in entries:
                raise InputError(f"no reading for contest {contest.name!r}; write the "
                                 "choice(s) marked, or 'blank' if there is no mark",
                                 file=path, record=where, field=col)
        for k, (marks, missing, col) in entries.items():
            before = readings.get((ballot, k))
            if before is not None and not correction:
                if before.marks == marks and before.not_found == missing:
                    unchanged += 1
                    continue
                raise InputError(f"contest {contests[k].name!r} of this card is already "
                                 "recorded with another reading; to change it, set "
                                 "correction to yes and give a reason", file=path,
                                 record=where, field=col)
            out.append(Record(ballot, k, marks, missing, correction, reason,
                              source_file=Path(path).name, source_sha256=digest))
    return SheetReading(out, unchanged, tuple(not_filled))

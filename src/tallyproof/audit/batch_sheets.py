"""Tally sheets of a batch comparison audit: the boards count whole batches by hand.

``worksheets/round-N-board-B.csv`` has one row per batch, contest and choice, with the
``votes`` cell blank for the board to fill in (the reported tallies are never shown)::

    round,board,item,container,tabulator,batch,batch_id,contest,choice,votes,correction,reason
    1,1,1,box-1,T1,B3,T1/B3,Mayor,Alice,120,,
    1,1,1,box-1,T1,B3,T1/B3,Mayor,Bob,80,,

``votes`` is a whole number, or ``not found`` for a batch that cannot be found (every row of
that batch and contest). Contests and choices are matched by name or id (:mod:`.choices`).
A batch and contest whose rows are all empty is not counted yet; one filled only in part is
an error naming the line and the choice. As for card worksheets, a count equal to the one
already recorded is skipped, a different one must be a correction with a reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import InputError
from ..formats.detect import read_text
from ..model import Contest
from .choices import NOT_FOUND, ChoiceError, candidate_id, contest_for, norm
from .frames import Cards, batch_keys, contest_rows
from .records import Record, flag
from .worksheets import SheetCard, SheetReading, contest_headers

T = TypeVar("T")
BATCH_SHEET_COLUMNS = ("round", "board", "item", "container", "tabulator", "batch", "batch_id",
                       "contest", "choice", "votes", "correction", "reason")


def carried_batches(cards: Cards, contests: Sequence[Contest], keys: Sequence[str]
                    ) -> dict[str, tuple[str, ...]]:
    """The audited contests on at least one card of each batch, in the audit's order."""
    all_keys = batch_keys(cards)
    having = {c.id: set(all_keys[contest_rows(cards, c)].tolist()) for c in contests}
    return {k: tuple(c.id for c in contests if k in having[c.id]) for k in keys}


def is_batch_sheet(header: Sequence[str]) -> bool:
    return {"batch_id", "contest", "choice", "votes"} <= set(header)


def batch_sheet_csv(round_number: int, batches: Sequence[SheetCard],
                    contests: Sequence[Contest]) -> bytes:
    """A board's tally sheet: a row per batch, contest and choice, ``votes`` left blank."""
    by_id = {c.id: c for c in contests}
    headers = contest_headers(contests)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(BATCH_SHEET_COLUMNS)
    for b in batches:
        for k in b.contests:
            for cand in by_id[k].candidates:
                w.writerow([round_number, b.board, b.number, b.container, b.tabulator, b.batch,
                            b.ballot_id, headers[k], cand.name, "", "", ""])
    return buf.getvalue().encode()


@dataclass
class _Group:
    """The rows of one batch and contest."""

    first_line: int
    tallies: dict[str, int]
    missing: list[tuple[int, str]]  # (line, choice) left empty
    not_found: list[int]
    correction: bool = False
    reason: str | None = None


def _named(find: Callable[[Any, str], T], within: Any, value: str | None, path: Path,
           where: str, field: str) -> T:
    """``find(within, value)``, its :class:`ChoiceError` made an InputError for the cell."""
    try:
        return find(within, value or "")
    except ChoiceError as exc:
        raise InputError(str(exc), file=path, record=where, field=field) from exc


def read_batch_sheet(path: Path, *, contests: dict[str, Contest],
                     carries: dict[str, tuple[str, ...]],
                     readings: dict[tuple[str, str], Record]) -> SheetReading:
    """Parse and check a filled-in tally sheet (module docstring); nothing is stored."""
    raw, text = read_text(Path(path))
    digest = hashlib.sha256(raw).hexdigest()
    groups: dict[tuple[str, str], _Group] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
        batch = (row.get("batch_id") or "").strip()
        where = f"line {line}, batch {batch or '?'}"
        if batch not in carries:
            raise InputError(f"batch {batch!r} was not drawn in any round of this audit",
                             file=path, record=where, field="batch_id")
        contest = _named(contest_for, contests, row.get("contest"), path, where, "contest")
        if contest.id not in carries[batch]:
            raise InputError(f"batch {batch!r} has no card with contest {contest.name!r}",
                             file=path, record=where, field="contest")
        cand = _named(candidate_id, contest, row.get("choice"), path, where, "choice")
        g = groups.setdefault((batch, contest.id), _Group(line, {}, [], []))
        if flag(row.get("correction"), path=path, row=where, field="correction"):
            g.correction = True
        g.reason = g.reason or (row.get("reason") or "").strip() or None
        votes = (row.get("votes") or "").strip()
        if cand in g.tallies:
            raise InputError(f"choice {row.get('choice')!r} appears twice for this batch and "
                             "contest", file=path, record=where, field="choice")
        if not votes:
            g.missing.append((line, str(row.get("choice"))))
        elif norm(votes) == NOT_FOUND:
            g.not_found.append(line)
        elif votes.isdigit():
            g.tallies[cand] = int(votes)
        else:
            raise InputError(f"votes must be a whole number or 'not found', not {votes!r}",
                             file=path, record=where, field="votes")
    out: list[Record] = []
    unchanged = 0
    not_filled: list[str] = []
    for (batch, k), g in groups.items():
        where = f"line {g.first_line}, batch {batch}"
        if g.correction and not g.reason:
            raise InputError("a correction needs a reason", file=path, record=where,
                             field="reason")
        if not g.tallies and not g.not_found:
            if (batch, k) not in readings:
                not_filled.append(batch)
            continue
        if g.not_found and (g.tallies or g.missing):
            raise InputError(f"contest {contests[k].name!r}: 'not found' on some rows of the "
                             "batch but not on all", file=path, record=where, field="votes")
        if g.missing:
            line, choice = g.missing[0]
            raise InputError(f"no count for {choice!r} in contest {contests[k].name!r}; write "
                             "0 if it had no votes", file=path,
                             record=f"line {line}, batch {batch}", field="votes")
        tallies = None if g.not_found else tuple(sorted(g.tallies.items()))
        before = readings.get((batch, k))
        if before is not None and not g.correction:
            if before.tallies == tallies and before.not_found == bool(g.not_found):
                unchanged += 1
                continue
            raise InputError(f"contest {contests[k].name!r} of this batch is already recorded "
                             "with another count; to change it, set correction to yes and give "
                             "a reason", file=path, record=where, field="votes")
        out.append(Record(batch, k, None, bool(g.not_found), g.correction, g.reason,
                          source_file=Path(path).name, source_sha256=digest, tallies=tallies))
    return SheetReading(out, unchanged, tuple(dict.fromkeys(not_filled)))

"""Audit boards of the statewide audit: a county's retrieval list for a round split among its
boards, and a board's signed-off readings written into the county's audit records.

The control room (``tallyproof serve``) keeps a board's entries in its database while the
board works; at sign-off it hands them here, and they become a CSV in the county audit's
record form (:data:`tallyproof.audit.records.RECORD_COLUMNS`) kept beside the records::

    audit/counties/<county>/boards/round-N-board-B-signoff-K.csv

which :func:`tallyproof.state.audit.record_county` validates and appends to
``audit/counties/<county>/records.jsonl``, the file ``state audit status`` and ``verify``
read. The records name each CSV and its SHA-256, so every reading traces back to the sign-off
that made it.

The split follows the county audit's worksheets (:func:`tallyproof.audit.worksheets.sheet_cards`):
the list sorted for retrieval, whole batches to one board, contiguous runs balanced by card
count; each card is read for every audited contest it carries (its CVR's card style, never its
votes: the boards stay blind).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..audit.records import RECORD_COLUMNS, Record
from ..errors import AuditError, UsageError
from ..fsutil import atomic_write_bytes
from ..store import Store
from .audit import CARD_KINDS, audited_contests, load_state_audit, load_state_rounds
from .audit_tasks import audit_dir
from .tasks import county_store_dir


@dataclass(frozen=True)
class BoardCard:
    """One card on a board's list: where to find it and the contests to read on it."""

    number: int  # its place on the board's list, 1-based
    ballot_id: str  # the county's ballot id (imprinted id)
    container: str
    tabulator: str
    batch: str
    position: int
    contests: tuple[str, ...]  # the county's contest ids, in the audit's order


@dataclass(frozen=True)
class BoardRow:
    """One reading a board hands in: a contest of a card, or a whole card not found
    (``contest_id`` ``*``). ``marks`` in the record CSV's grammar (ids; ``;`` between marks,
    empty = blank, ``overvote``)."""

    ballot_id: str
    contest_id: str
    marks: str
    not_found: bool = False
    correction: bool = False
    reason: str | None = None


def round_tickets(root: Path, county: str, round_no: int) -> dict[str, str]:
    """The county's cards to pull in round ``round_no`` (ballot id -> ticket), from the
    retrieval list the round wrote; empty when the round drew none of its cards."""
    rounds = load_state_rounds(root)
    if not 1 <= round_no <= len(rounds):
        raise UsageError(f"no round {round_no} has been drawn (rounds so far: {len(rounds)})")
    path = rounds[round_no - 1].retrieval.get(county)
    if path is None:
        return {}
    rows = csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"), newline=""))
    return {r["imprinted_id"]: r["ticket"] for r in rows}


def board_lists(root: Path, county: str, round_no: int, boards: int) -> list[list[BoardCard]]:
    """The county's round-``round_no`` cards split among ``boards`` boards (list ``b - 1`` is
    board ``b``'s), each card with the audited contests it carries."""
    from ..audit.frames import load_cards
    from ..audit.worksheets import carried, sheet_cards

    if boards < 1:
        raise UsageError("a county needs at least one audit board")
    params = load_state_audit(root)
    if params.kind not in CARD_KINDS:
        raise UsageError(f"a {params.kind} audit counts whole batches; boards enter "
                         "single cards only in " + ", ".join(CARD_KINDS) + " audits")
    tickets = round_tickets(root, county, round_no)
    contests = list(audited_contests(root, county).values())
    out: list[list[BoardCard]] = [[] for _ in range(boards)]
    # read-only: the boards' lists are read while a job may write the county's store
    with Store.open_readonly(county_store_dir(root, county)) as store:
        cards = load_cards(store, contests)
        to_read = carried(cards, contests, list(tickets))
        for c in sheet_cards(store, "comparison", cards, tickets, to_read, boards):
            out[c.board - 1].append(BoardCard(c.number, c.ballot_id, c.container, c.tabulator,
                                              c.batch, c.position, c.contests))
    return out


def signoff_path(root: Path, county: str, round_no: int, board: int, signoff: int) -> Path:
    return (audit_dir(root) / "counties" / county / "boards"
            / f"round-{round_no}-board-{board}-signoff-{signoff}.csv")


def record_board(root: Path, county: str, round_no: int, board: int, signoff: int,
                 rows: Sequence[BoardRow]) -> list[Record]:
    """Write a board's signed-off readings as a record CSV and append them to the county's
    records through :func:`~tallyproof.state.audit.record_county` (which validates every row:
    drawn cards, audited contests, valid choices, corrections with reasons)."""
    return write_signoff(root, county, round_no, board, signoff, RECORD_COLUMNS, [
        [r.ballot_id, r.contest_id, r.marks, "yes" if r.not_found else "",
         "yes" if r.correction else "", r.reason or ""] for r in rows])


def write_signoff(root: Path, county: str, round_no: int, board: int, signoff: int,
                  header: Sequence[str], cells: Sequence[Sequence[str]]) -> list[Record]:
    """Write one sign-off's rows as the CSV ``tallyproof state audit record`` takes (card
    readings or batch counts alike) and append them to the county's records through
    :func:`~tallyproof.state.audit.record_county`; a refused file is removed again, so a
    sign-off either happened whole or left nothing."""
    from .audit import record_county

    if not cells:
        return []
    path = signoff_path(root, county, round_no, board, signoff)
    if path.exists():
        raise AuditError(f"{path} exists: this sign-off was already written")
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue().encode())
    try:
        return record_county(root, county, path)
    except Exception:
        path.unlink()  # nothing was appended: the sign-off did not happen, leave no file
        raise

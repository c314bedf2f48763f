"""Simulated audit boards: the records CSV boards would hand in, for demos and tests.

Paper = CVR unless a ``paper`` function says otherwise, so a demo can inject a fault (one
tabulator's CVRs disagreeing with its paper) and watch the audit escalate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import orjson

from ..cvr_table import Marks
from ..errors import AuditError
from ..model import OVERVOTE_UNKNOWN, Contest
from ..store import Store
from .assorters import votes_from_marks
from .frames import Cards, batch_keys, load_cards
from .records import (
    codes_to_marks,
    current_readings,
    format_marks,
    load_records,
    write_batch_records_csv,
    write_records_csv,
)
from .workflow import AuditParams, RoundInfo, load_audit, load_rounds, reading_for, records_path

PaperFn = Callable[[str], "dict[str, Marks] | None"]


def simulate_audit_boards(
    store: Store,
    round_path_or_draws: Path | RoundInfo | Sequence[str],
    paper: PaperFn | None = None,
) -> Path:
    """Write the records CSV simulated audit boards would hand in for a round.

    Every (card, contest) pair drawn in any round and not yet recorded is written (a card
    drawn earlier may be drawn again for another contest). Paper = CVR, except
    where ``paper(ballot_id)`` says otherwise: it returns a dict of
    contest id → marks (candidate codes, as in the CVR table) overriding the CVR for those
    contests, or ``None`` when the card cannot be found. For a polling audit over manifest
    slots, a slot's card is the CVR with the same tabulator, batch and record number. Returns
    the path of the CSV (``audit/boards/round-N-simulated.csv``), ready for
    :func:`record_interpretations`.
    """
    params = load_audit(store)
    election = store.election
    contests = [election.contest(c) for c in params.contests]
    if isinstance(round_path_or_draws, RoundInfo):
        ballots, number = round_path_or_draws.new_ballots, round_path_or_draws.number
    elif isinstance(round_path_or_draws, Path):
        d = orjson.loads(round_path_or_draws.read_bytes())
        ballots, number = list(d["new_ballots"]), int(d["round"])
    else:
        ballots, number = list(round_path_or_draws), len(load_rounds(store))
    rounds = load_rounds(store)
    readings = current_readings(load_records(records_path(store)))
    drawn_for: dict[str, set[str]] = {}  # contests each card was drawn for, not yet recorded
    for r in rounds:
        for cid, ds in r.draws.items():
            for dr in ds:
                if reading_for(readings, dr["id"], cid) is None:
                    drawn_for.setdefault(dr["id"], set()).add(cid)
    # A card drawn in an earlier round for one contest and now drawn for another is read
    # again: every drawn, unrecorded (card, contest) pair is handed to the boards.
    ballots = list(dict.fromkeys([*ballots, *sorted(drawn_for)]))
    cards = load_cards(store, contests)
    if params.kind == "batch":
        return _simulate_batches(store, params, cards, contests, ballots, drawn_for, number,
                                 paper)
    rows: list[tuple[str, str, str, bool]] = []
    read = _PaperReader(cards, paper)
    cards.find(ballots)  # every card's row in one lookup, not one lookup per card
    for bid in ballots:
        if not drawn_for.get(bid):
            continue
        for c in contests:
            if c.id not in drawn_for[bid]:
                continue
            codes = read(bid, c)
            rows.append((bid, c.id, "" if codes is None else
                         format_marks(codes_to_marks(c, codes)), codes is None))
    path = store.audit_dir / "boards" / f"round-{number}-simulated.csv"
    write_records_csv(path, rows)
    return path


class _PaperReader:
    """What simulated boards see on a card: the CVR, unless ``paper`` says otherwise (``None``
    = the card is not found). A polling audit's manifest slot is the CVR with the same
    tabulator, batch and record number."""

    def __init__(self, cards: Cards, paper: PaperFn | None) -> None:
        self.cards, self.paper = cards, paper

    @cached_property
    def by_slot(self) -> dict[tuple[str, str, int], int]:
        """(tabulator, batch, record) → table row: only a polling audit's manifest slots need
        it, so it is built on the first slot looked up."""
        t = self.cards.table
        return {(tb or "", bt or "", int(rc or 0)): i for i, (tb, bt, rc) in enumerate(
            zip(t.column("tabulator").to_pylist(), t.column("batch").to_pylist(),
                t.column("record").to_pylist(), strict=True))}

    def __call__(self, bid: str, contest: Contest) -> Marks | None:
        override = self.paper(bid) if self.paper is not None else {}
        if override is None:
            return None
        if contest.id in override:
            return override[contest.id]
        row: int | None = int(self.cards.find([bid])[0])
        if row == -1:
            tb, bt, pos = bid.rsplit("/", 2)
            row = self.by_slot.get((tb, bt, int(pos)))
        if row is None:
            raise AuditError(f"no CVR for sampled card {bid!r}; the simulation needs "
                             "`paper` to say what it shows")
        codes = self.cards.table.column(contest.column)[row].as_py()
        if codes is None:
            return [[]]
        # an overvote the export did not itemise: the paper shows two marks there
        return [[0, 1] if OVERVOTE_UNKNOWN in rank else rank for rank in codes]


def fill_worksheet(store: Store, worksheet: Path, paper: PaperFn | None = None,
                   out: Path | None = None) -> Path:
    """A board worksheet filled in as simulated boards would: every empty contest cell gets
    the paper's choices by candidate name (``blank`` for no mark, ranks joined by ``>``), a
    card ``paper`` says is missing gets ``not_found = yes``. Written to ``out`` (default: the
    worksheet's name with ``-filled``, beside it); for demos and tests."""
    import csv
    import io

    from ..fsutil import atomic_write_bytes
    from .choices import BLANK, OVERVOTE, contest_for
    from .worksheets import SHEET_ID_COLUMNS, SHEET_TAIL_COLUMNS

    params = load_audit(store)
    contests = {c: store.election.contest(c) for c in params.contests}
    read = _PaperReader(load_cards(store, list(contests.values())), paper)
    with Path(worksheet).open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    columns = {h: contest_for(contests, h) for h in header
               if h not in SHEET_ID_COLUMNS and h not in SHEET_TAIL_COLUMNS}

    def name(c: Contest, code: int) -> str:
        return OVERVOTE if code == OVERVOTE_UNKNOWN else c.candidates[code].name

    read.cards.find([row["ballot_id"] for row in rows])  # one lookup for the sheet's cards
    for row in rows:
        for col, c in columns.items():
            if row[col].strip():  # already filled in, or NOT_TO_READ
                continue
            codes = read(row["ballot_id"], c)
            if codes is None:
                row["not_found"] = "yes"
                continue
            while len(codes) > 1 and not codes[-1]:  # trailing unused ranks
                codes = codes[:-1]
            row[col] = (" > ".join("; ".join(name(c, k) for k in r) or BLANK for r in codes)
                        if any(codes) else BLANK)
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    target = out or Path(worksheet).with_name(Path(worksheet).stem + "-filled.csv")
    atomic_write_bytes(target, buf.getvalue().encode())
    return target


def _simulate_batches(store: Store, params: AuditParams, cards: Cards, contests: list[Contest],
                      batches: Sequence[str], drawn_for: dict[str, set[str]], number: int,
                      paper: PaperFn | None) -> Path:
    """Hand counts of whole batches: each card's paper (CVR unless ``paper`` overrides it;
    a card ``paper`` says is missing is not in the count)."""
    keys = batch_keys(cards)
    rows: list[tuple[str, str, dict[str, int], bool]] = []
    for key in batches:
        members = np.flatnonzero(keys == key)
        overrides = [paper(str(cards.ids[i])) if paper is not None else {} for i in members]
        for c in contests:
            if c.id not in drawn_for.get(key, set()):
                continue
            col = cards.table.column(c.column)
            marks: list[Marks | None] = []
            for i, ov in zip(members, overrides, strict=True):
                if ov is None:
                    continue
                m = ov[c.id] if c.id in ov else col[int(i)].as_py()
                marks.append(None if m is None else
                             [[0, 1] if OVERVOTE_UNKNOWN in rank else rank for rank in m])
            votes = votes_from_marks(c, marks)
            counts = votes.marks.sum(axis=0)
            rows.append((key, c.id, {c.candidates[k].id: int(v) for k, v in enumerate(counts)},
                         False))
    path = store.audit_dir / "boards" / f"round-{number}-simulated.csv"
    write_batch_records_csv(path, rows)
    return path

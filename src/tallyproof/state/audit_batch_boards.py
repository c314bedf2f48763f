"""Audit boards that hand count whole batches: a county's batches of a round split among its
boards, and a board's signed-off counts written into the county's audit records.

A county's audit work is by batch when the statewide audit is a batch comparison
(``batch``), a full hand count (``handcount``: every batch of every county, Georgia 2020), or
a stratified audit in which the county reports batch tallies only (the batch stratum,
:mod:`.audit_batch_county`). Its round's list is the retrieval list the round wrote (whole
batches, :func:`.audit_tasks.retrieval_task`); each batch is shown with where it is stored,
its number of cards per the ballot manifest and the audited contests tallied in it, never its
reported tallies (the boards count blind, as Arlo's batch tally entry).

A board's signed-off counts become a CSV in the batch hand-count form the CLI's
``tallyproof state audit record`` takes (:data:`tallyproof.audit.records.BATCH_COLUMNS`),
kept beside the records as the card boards' sign-offs are::

    audit/counties/<county>/boards/round-N-board-B-signoff-K.csv

and :func:`tallyproof.state.audit.record_county` validates it and appends it to
``audit/counties/<county>/records.jsonl``, which ``state audit status`` and ``verify`` read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audit.records import BATCH_COLUMNS, Record
from ..errors import AuditError, UsageError
from .audit import StateAuditParams, audited_contests, load_state_audit, load_state_rounds
from .audit_boards import write_signoff
from .batch_county import BATCH_TALLIES

#: what a board's work is made of
CARD, BATCH = "card", "batch"


@dataclass(frozen=True)
class BoardBatch:
    """One batch on a board's list: where it is, how many cards it holds, what to tally."""

    number: int  # its place on the board's list, 1-based
    batch_id: str  # the county's batch id in the audit: ``tabulator/batch``
    container: str
    tabulator: str
    batch: str
    cards: int  # cards in the batch, per the ballot manifest (per the CVRs without one)
    cards_source: str  # "manifest" or "cvrs": where ``cards`` comes from
    contests: tuple[str, ...]  # the county's audited contest ids tallied in it, audit order


@dataclass(frozen=True)
class BatchRow:
    """One count a board hands in: a contest of a batch, its votes per choice (county
    candidate ids; every choice, zeros included), or ``tallies`` None when the batch was not
    found."""

    batch_id: str
    contest_id: str
    tallies: dict[str, int] | None
    correction: bool = False
    reason: str | None = None


def unit_of(root: Path, county: str, params: StateAuditParams | None = None) -> str:
    """:data:`BATCH` when the county's boards hand count whole batches, else :data:`CARD`."""
    from .spec import load_spec

    params = params or load_state_audit(root)
    by_batch = (params.kind in ("batch", "handcount")
                or load_spec(root).county(county).kind == BATCH_TALLIES)
    return BATCH if by_batch else CARD


def round_batches(root: Path, county: str, round_no: int) -> list[tuple[str, str, str]]:
    """The county's batches to pull in round ``round_no`` as (container, tabulator, batch),
    in the retrieval list's order; empty when the round drew none of its batches."""
    rounds = load_state_rounds(root)
    if not 1 <= round_no <= len(rounds):
        raise UsageError(f"no round {round_no} has been drawn (rounds so far: {len(rounds)})")
    path = rounds[round_no - 1].retrieval.get(county)
    if path is None:
        return []
    rows = csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"), newline=""))
    return [(r["container"], r["tabulator"], r["batch"]) for r in rows]


def _batch_facts(root: Path, county: str, keys: Sequence[str]
                 ) -> tuple[dict[str, int], str, dict[str, tuple[str, ...]]]:
    """Cards per batch, where that count comes from, and the audited contests in each."""
    from ..store import Store
    from .batch_county import load_batch_county, tallies_dir
    from .spec import load_spec
    from .tasks import county_store_dir

    contests = audited_contests(root, county)
    if load_spec(root).county(county).kind == BATCH_TALLIES:
        bc = load_batch_county(tallies_dir(root, county))
        row = {k: i for i, k in enumerate(bc.keys)}
        unknown = [k for k in keys if k not in row]
        if unknown:
            raise AuditError(f"county {county}: batch {unknown[0]!r} is not in its tallies")
        return ({k: int(bc.ballots[row[k]]) for k in keys}, "manifest",
                {k: tuple(c for c in contests if bc.on_batch[c][row[k]]) for k in keys})
    from ..audit.batch_sheets import carried_batches
    from ..audit.frames import batch_keys, load_cards

    store = Store.open(county_store_dir(root, county))
    cards = load_cards(store, list(contests.values()))
    carries = carried_batches(cards, list(contests.values()), keys)
    manifest = store.manifest()
    if manifest is not None:
        by_key = {f"{t or ''}/{b or ''}": int(n) for t, b, n in zip(
            *(manifest.column(c).to_pylist() for c in ("tabulator", "batch", "ballots")),
            strict=True)}
        missing = [k for k in keys if k not in by_key]
        if missing:
            raise AuditError(f"county {county}: batch {missing[0]!r} is not in its ballot "
                             "manifest")
        return {k: by_key[k] for k in keys}, "manifest", carries
    names, counts = np.unique(batch_keys(cards).astype(str), return_counts=True)
    counted = dict(zip(names.tolist(), counts.tolist(), strict=True))
    return {k: counted.get(k, 0) for k in keys}, "cvrs", carries


def board_batch_lists(root: Path, county: str, round_no: int, boards: int
                      ) -> list[list[BoardBatch]]:
    """The county's round-``round_no`` batches split among ``boards`` boards (list ``b - 1``
    is board ``b``'s): contiguous runs of the retrieval order, balanced by card count (a batch
    goes to the board whose share of the cards holds the batch's middle card, as the card
    worksheets split, :func:`tallyproof.audit.worksheets.sheet_cards`)."""
    if boards < 1:
        raise UsageError("a county needs at least one audit board")
    if unit_of(root, county) != BATCH:
        raise UsageError(f"county {county}'s boards read single cards in this audit")
    located = round_batches(root, county, round_no)
    keys = [f"{t}/{b}" for _, t, b in located]
    cards, source, carries = _batch_facts(root, county, keys)
    # weights: cards, or one per batch if the list holds no card at all
    weight = cards if sum(cards.values()) else dict.fromkeys(keys, 1)
    total = sum(weight.values())
    out: list[list[BoardBatch]] = [[] for _ in range(boards)]
    before = 0
    for k, (container, tab, bat) in zip(keys, located, strict=True):
        middle = before + weight[k] / 2
        before += weight[k]
        mine = out[min(boards, int(middle * boards / total) + 1) - 1]
        mine.append(BoardBatch(len(mine) + 1, k, container, tab, bat, cards[k], source,
                               carries[k]))
    return out


def _cell(tallies: dict[str, int]) -> str:
    bad = next((c for c in tallies if ";" in c or "=" in c), None)
    if bad is not None:
        raise AuditError(f"candidate id {bad!r} cannot be written in a hand-count CSV "
                         "(it holds ';' or '=')")
    return ";".join(f"{c}={n}" for c, n in tallies.items())


def record_board_batches(root: Path, county: str, round_no: int, board: int, signoff: int,
                         rows: Sequence[BatchRow]) -> list[Record]:
    """Write a board's signed-off batch counts as a hand-count CSV and append them to the
    county's records through :func:`~tallyproof.state.audit.record_county` (which validates
    every row: drawn batches, audited contests, known choices, corrections with reasons)."""
    return write_signoff(root, county, round_no, board, signoff, BATCH_COLUMNS, [
        [r.batch_id, r.contest_id, "" if r.tallies is None else _cell(r.tallies),
         "yes" if r.tallies is None else "", "yes" if r.correction else "", r.reason or ""]
        for r in rows])

"""Sample frames of the audit workflow: which cards (or batches) each contest samples from.

* comparison (and polling without a manifest): the ballot ids of the cards whose CVR contains
  the contest (card-style sampling, SHANGRLA §4);
* polling with a manifest: every manifest slot ``tabulator/batch/position``;
* batch comparison: the batches ``tabulator/batch`` holding at least one card with the
  contest, with the tallies their CVRs report;
* stratified: the comparison frame followed by the manifest slots of the batches without
  CVRs (the no-CVR stratum).

The evidence verifier re-draws samples over exactly these frames, so the order of ids is
fixed (CVR-table order, manifest order, sorted batch keys).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import Contest
from ..store import Store, file_key
from .assorters import contest_votes
from .batch import BatchFrame


@dataclass
class Cards:
    """The CVR table columns the workflow needs (ids, location, the audited contests).

    Frames are built from the Arrow columns; the Python views ``ids`` and ``index`` are built
    only when a caller asks for them (looking up the cards of a round: worksheets, boards,
    :meth:`rows`), so building a frame never makes a Python object per ballot.
    """

    table: pa.Table
    _found: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    @property
    def n(self) -> int:
        """Cards in the table."""
        return int(self.table.num_rows)

    @cached_property
    def ballot_ids(self) -> pa.Array:
        """The ``ballot_id`` column as one Arrow array."""
        return self.table.column("ballot_id").combine_chunks()

    @cached_property
    def ids(self) -> np.ndarray:
        """Object array of ballot ids (table order)."""
        return np.asarray(self.ballot_ids.to_numpy(zero_copy_only=False), dtype=object)

    @cached_property
    def index(self) -> dict[str, int]:
        """Ballot id → table row, for every card (a Python object per ballot: for callers
        that need all of them; to look up a few, :meth:`find`)."""
        return {b: i for i, b in enumerate(self.ids.tolist())}

    def find(self, ids: Sequence[str]) -> np.ndarray:
        """Table row of each of ``ids`` (in their order), -1 for an id not in the table.

        Ids not looked up before are found in one Arrow ``index_in`` over the id column and
        remembered, so the cards of a round cost one pass whichever contest asks; no Python
        object is made per ballot of the table."""
        found = self._found
        new = [i for i in dict.fromkeys(ids) if i not in found]
        if new:
            # the few ids asked for are the hashed set and the column is scanned once (hashing
            # the whole column for every round's ids cost a table build per call)
            at = pc.index_in(self.ballot_ids, value_set=pa.array(new, type=self.ballot_ids.type))
            hit = np.flatnonzero(at.is_valid().to_numpy(zero_copy_only=False))
            which = at.filter(at.is_valid()).to_numpy(zero_copy_only=False).astype(np.int64)
            rows = np.full(len(new), -1, dtype=np.int64)
            # the first row holding each id (np.unique gives each value's first position)
            _, first = np.unique(which, return_index=True)
            rows[which[first]] = hit[first]
            found.update(zip(new, rows.tolist(), strict=True))
        return np.fromiter((found[i] for i in ids), dtype=np.int64, count=len(ids))

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Table rows of ``ids`` (in their order); ``KeyError`` names an id not in the table."""
        rows = self.find(ids)
        if (rows < 0).any():
            raise KeyError(ids[int(np.flatnonzero(rows < 0)[0])])
        return rows


#: Inside :func:`shared_cards`: the one table read so far, and the CVR file it came from.
_SHARED: ContextVar[dict[str, tuple[tuple[int, int, int], Cards]] | None] = ContextVar(
    "tallyproof_shared_cards", default=None)


@contextmanager
def shared_cards() -> Iterator[None]:
    """Within the block, the audit steps (start, round, boards, status) read the CVR table
    once: :func:`load_cards` keeps the table it read and hands it (its columns selected) to
    the next step that asks for no more columns, while the CVR file is unchanged (same inode,
    size and modification time). The table is dropped when the block ends, so nothing stays
    in memory after it (a long-running server reads per request, as before)."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def load_cards(store: Store, contests: Sequence[Contest]) -> Cards:
    """The CVR columns the workflow reads (ids, tabulator, batch, record, the contests)."""
    cols = ["ballot_id", "tabulator", "batch", "record", *(c.column for c in contests)]
    shared = _SHARED.get()
    if shared is None or not store.cvrs_path.exists():
        return Cards(store.cvrs(columns=cols))
    where = str(store.cvrs_path.resolve())
    key = file_key(store.cvrs_path)
    held = shared.get(where)
    if held is not None and held[0] == key and set(cols) <= set(held[1].table.column_names):
        if held[1].table.column_names == cols:
            return held[1]  # the same object: rows found by :meth:`Cards.find` are kept too
        return Cards(held[1].table.select(cols))
    cards = Cards(store.cvrs(columns=cols))
    shared.clear()  # one table at a time
    shared[where] = (key, cards)
    return cards


def contest_mask(cards: Cards, contest: Contest) -> np.ndarray:
    """Per table row: the card's CVR contains the contest."""
    present = pc.is_valid(cards.table.column(contest.column))
    return np.asarray(present.to_numpy(zero_copy_only=False), dtype=bool)


def contest_rows(cards: Cards, contest: Contest) -> np.ndarray:
    return np.flatnonzero(contest_mask(cards, contest))


def _slot_ids(manifest: pa.Table, keep: np.ndarray | None = None) -> pa.Array:
    """``tabulator/batch/position`` of every card of the manifest's rows (``keep``: only those
    rows), in manifest order, built column-wise."""
    counts = np.maximum(np.asarray(manifest.column("ballots").to_numpy(zero_copy_only=False),
                                   dtype=np.int64), 0)
    if keep is not None:
        counts = np.where(keep, counts, 0)
    total = int(counts.sum())
    row = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    position = np.arange(total, dtype=np.int64) - starts[row] + 1
    take = pa.array(row, type=pa.int64())
    tab = pc.fill_null(manifest.column("tabulator").combine_chunks().take(take), "")
    bat = pc.fill_null(manifest.column("batch").combine_chunks().take(take), "")
    return pc.binary_join_element_wise(pc.cast(tab, pa.string()), pc.cast(bat, pa.string()),
                                       pc.cast(pa.array(position), pa.string()), "/")


def _manifest_slots(store: Store) -> pa.Array | None:
    """The slot id (:func:`slot_id`) of every card the manifest lists, in manifest order."""
    m = store.manifest()
    return None if m is None else _slot_ids(m)


def slot_id(tabulator: str, batch: str, position: int) -> str:
    """Id of a manifest slot in a polling audit's frame: ``tabulator/batch/position``."""
    return f"{tabulator}/{batch}/{position}"


def _batch_key_array(cards: Cards) -> pa.Array:
    """:func:`.batch.batch_key` of every card, column-wise."""
    t = cards.table
    tab = pc.fill_null(t.column("tabulator").combine_chunks(), "")
    bat = pc.fill_null(t.column("batch").combine_chunks(), "")
    return pc.binary_join_element_wise(pc.cast(tab, pa.string()), pc.cast(bat, pa.string()), "/")


def batch_keys(cards: Cards) -> np.ndarray:
    """Object array of every card's batch key (:func:`.batch.batch_key`), table order."""
    return np.asarray(_batch_key_array(cards).to_numpy(zero_copy_only=False), dtype=object)


def _batch_rows(cards: Cards, contest: Contest) -> np.ndarray:
    """Rows of the cards in batches holding at least one card with the contest."""
    keys = _batch_key_array(cards)
    with_contest = pc.unique(keys.filter(pa.array(contest_mask(cards, contest))))
    inside = pc.is_in(keys, value_set=with_contest)
    return np.flatnonzero(np.asarray(inside.to_numpy(zero_copy_only=False), dtype=bool))


def contest_batch_frame(cards: Cards, contest: Contest) -> BatchFrame:
    """Reported tallies of the batches that contain the contest (all their cards count)."""
    rows = pa.array(_batch_rows(cards, contest), type=pa.int64())
    votes = contest_votes(contest, cards.table.column(contest.column).take(rows))
    # the group-by of :func:`.batch.batch_frame`, column-wise: batches in sorted key order
    # (UTF-8 byte order is code-point order, as numpy's), each card's batch number
    enc = pc.dictionary_encode(_batch_key_array(cards).take(rows))
    names = enc.dictionary
    order = np.asarray(pc.sort_indices(names).to_numpy(), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    inv = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    n_batches = len(order)
    marks = votes.marks
    tallies = np.zeros((n_batches, marks.shape[1]), dtype=np.int64)
    for c in range(marks.shape[1]):
        tallies[:, c] = np.bincount(inv, weights=marks[:, c], minlength=n_batches)
    counts = np.bincount(inv, minlength=n_batches).astype(np.int64)
    return BatchFrame(tuple(names.take(pa.array(order)).to_pylist()), counts, tallies)


def _no_cvr_slot_ids(store: Store, cards: Cards) -> pa.Array:
    m = store.manifest()
    if m is None:
        return pa.array([], type=pa.string())
    pairs = cards.table.select(["tabulator", "batch"]).group_by(["tabulator", "batch"]) \
        .aggregate([]).to_pylist()
    with_cvrs = {(p["tabulator"], p["batch"]) for p in pairs}
    # one test per manifest row (a batch), as before: its (tabulator, batch), blanks as ""
    # or as missing
    keep = np.array([(t, b) not in with_cvrs and (t or None, b or None) not in with_cvrs
                     for t, b in zip((x or "" for x in m.column("tabulator").to_pylist()),
                                     (x or "" for x in m.column("batch").to_pylist()),
                                     strict=True)], dtype=bool)
    return _slot_ids(m, keep)


def no_cvr_slots(store: Store, cards: Cards) -> list[str]:
    """Manifest slots of the batches that have no CVR at all (a stratified audit's no-CVR
    stratum), in manifest order."""
    return _no_cvr_slot_ids(store, cards).to_pylist()


def card_frame_mask(store: Store, params_kind: str, cards: Cards,
                    contest: Contest) -> np.ndarray | None:
    """The frame as a mask over the CVR table's rows when it is card-style (comparison, and
    polling without a manifest), else ``None`` (its ids are not all CVR ballot ids)."""
    if params_kind == "comparison" or (params_kind == "polling"
                                       and not store.manifest_path.exists()):
        return contest_mask(cards, contest)
    return None


def frame_id_array(store: Store, params_kind: str, cards: Cards, contest: Contest) -> pa.Array:
    """A contest's sample frame for an audit of kind ``params_kind`` (module docstring), as
    one Arrow string array."""
    if params_kind == "batch":
        return pa.array(contest_batch_frame(cards, contest).keys, type=pa.string())
    if params_kind == "polling":
        slots = _manifest_slots(store)
        if slots is not None:
            return slots
    card_ids = cards.ballot_ids.filter(pa.array(contest_mask(cards, contest)))
    if params_kind == "stratified":  # CVR stratum (card style), then the no-CVR stratum
        return pa.concat_arrays([pc.cast(card_ids, pa.string()),
                                 pc.cast(_no_cvr_slot_ids(store, cards), pa.string())])
    return card_ids


def frame_ids(store: Store, params_kind: str, cards: Cards, contest: Contest) -> list[str]:
    """A contest's sample frame for an audit of kind ``params_kind`` (module docstring)."""
    return frame_id_array(store, params_kind, cards, contest).to_pylist()


def frame_size(store: Store, params_kind: str, cards: Cards, contest: Contest) -> int:
    """``len(frame_ids(...))`` without building the ids."""
    if params_kind == "batch":
        return len(contest_batch_frame(cards, contest).keys)
    m = store.manifest()
    if params_kind == "polling" and m is not None:
        return int(np.maximum(np.asarray(m.column("ballots").to_numpy(zero_copy_only=False),
                                         dtype=np.int64), 0).sum())
    n = int(contest_mask(cards, contest).sum())
    if params_kind == "stratified":
        n += len(_no_cvr_slot_ids(store, cards))
    return n

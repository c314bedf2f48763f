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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import Contest
from ..store import Store
from .assorters import contest_votes
from .batch import BatchFrame, batch_frame, batch_key


@dataclass
class Cards:
    """The CVR table columns the workflow needs, indexed by ballot id."""

    ids: np.ndarray  # object array of ballot ids
    index: dict[str, int]
    table: pa.Table

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.index[i] for i in ids), dtype=np.int64, count=len(ids))


def load_cards(store: Store, contests: Sequence[Contest]) -> Cards:
    """The CVR columns the workflow reads (ids, tabulator, batch, record, the contests)."""
    cols = ["ballot_id", "tabulator", "batch", "record", *(c.column for c in contests)]
    t = store.cvrs(columns=cols)
    ids = np.asarray(t.column("ballot_id").to_pylist(), dtype=object)
    return Cards(ids, {b: i for i, b in enumerate(ids)}, t)


def contest_rows(cards: Cards, contest: Contest) -> np.ndarray:
    present = pc.is_valid(cards.table.column(contest.column))
    return np.flatnonzero(np.asarray(present.to_numpy(zero_copy_only=False), dtype=bool))


def _manifest_slots(store: Store) -> list[tuple[str, str, str, int]] | None:
    """(container, tabulator, batch, position) of every card the manifest lists."""
    m = store.manifest()
    if m is None:
        return None
    out = []
    for row in m.to_pylist():
        for pos in range(1, int(row["ballots"]) + 1):
            out.append((row["container"] or "", row["tabulator"] or "", row["batch"] or "", pos))
    return out


def slot_id(tabulator: str, batch: str, position: int) -> str:
    """Id of a manifest slot in a polling audit's frame: ``tabulator/batch/position``."""
    return f"{tabulator}/{batch}/{position}"


def batch_keys(cards: Cards) -> np.ndarray:
    return np.array([batch_key(t, b) for t, b in zip(cards.table.column("tabulator").to_pylist(),
                                                      cards.table.column("batch").to_pylist(),
                                                      strict=True)], dtype=object)


def contest_batch_frame(cards: Cards, contest: Contest) -> BatchFrame:
    """Reported tallies of the batches that contain the contest (all their cards count)."""
    keys = batch_keys(cards)
    with_contest = set(keys[contest_rows(cards, contest)].tolist())
    rows = np.flatnonzero(np.fromiter((k in with_contest for k in keys), dtype=bool,
                                      count=len(keys)))
    votes = contest_votes(contest, cards.table.column(contest.column).take(pa.array(rows)))
    t = cards.table.take(pa.array(rows))
    return batch_frame(votes, t.column("tabulator").to_pylist(), t.column("batch").to_pylist())


def no_cvr_slots(store: Store, cards: Cards) -> list[str]:
    """Manifest slots of the batches that have no CVR at all (a stratified audit's no-CVR
    stratum), in manifest order."""
    slots = _manifest_slots(store) or []
    with_cvrs = set(zip(cards.table.column("tabulator").to_pylist(),
                        cards.table.column("batch").to_pylist(), strict=True))
    return [slot_id(t, b, p) for _, t, b, p in slots
            if (t, b) not in with_cvrs and (t or None, b or None) not in with_cvrs]


def frame_ids(store: Store, params_kind: str, cards: Cards, contest: Contest) -> list[str]:
    """A contest's sample frame for an audit of kind ``params_kind`` (module docstring)."""
    if params_kind == "batch":
        return list(contest_batch_frame(cards, contest).keys)
    if params_kind == "stratified":  # CVR stratum (card style), then the no-CVR stratum
        return [str(cards.ids[i]) for i in contest_rows(cards, contest)] + \
            no_cvr_slots(store, cards)
    if params_kind == "polling":
        slots = _manifest_slots(store)
        if slots is not None:
            return [slot_id(t, b, p) for _, t, b, p in slots]
    return [str(cards.ids[i]) for i in contest_rows(cards, contest)]

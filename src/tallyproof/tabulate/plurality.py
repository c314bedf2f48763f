"""Vote-for-N (plurality) and approval contests, counted column-wise.

A contest's CVR column is ``list<list<uint16>>``; for these contests the marks of a card are all
the codes in it (normally a single rank position). The column is flattened once with Arrow and
everything is a ``numpy.bincount``: marks per card, overvoted cards, votes per candidate, and —
with ``by`` — the same per precinct (or any metadata column) in one 2-D bincount. No Python loop
runs per ballot.

Counting rules: a card with more marks than ``vote_for`` (or an unnamed overvote,
:data:`~tallyproof.model.OVERVOTE_UNKNOWN`) is an overvote and none of its marks count; on a
valid card each unused slot is an undervote. The N highest win (N = ``vote_for`` for vote-for-N,
``seats`` for approval); ``tied`` says the last winning seat is shared by a tie, in which case
the listed winners take candidate order among the tied and the tie must be resolved by law.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import UsageError
from ..model import OVERVOTE_UNKNOWN, Contest, ContestKind

ALL = "ALL"


@dataclass(frozen=True)
class ContestTally:
    """Totals of one vote-for-N or approval contest over a set of cards."""

    contest_id: str
    cards: int  # cards on which the contest appears
    votes: dict[str, int]  # candidate id -> votes, every candidate, in contest order
    overvotes: int  # cards with more marks than allowed (nothing counted from them)
    undervotes: int  # unused vote slots on valid cards
    winners: tuple[str, ...]
    tied: bool  # the last winning seat is tied

    def to_json(self) -> dict[str, Any]:
        return {
            "contest_id": self.contest_id,
            "cards": self.cards,
            "votes": dict(self.votes),
            "overvotes": self.overvotes,
            "undervotes": self.undervotes,
            "winners": list(self.winners),
            "tied": self.tied,
        }


def seats_to_fill(contest: Contest) -> int:
    """How many candidates win: ``vote_for`` for vote-for-N, ``seats`` for approval."""
    return contest.seats if contest.kind == ContestKind.APPROVAL else contest.vote_for


def decide(votes: np.ndarray, n: int) -> tuple[list[int], bool]:
    """Indices of the ``n`` highest (stable: candidate order among equals) and whether the last
    winning seat is tied with a loser."""
    order = np.argsort(-votes.astype(np.int64), kind="stable")
    if n <= 0 or len(votes) == 0:
        return [], False
    winners = [int(i) for i in order[:n]]
    tied = len(votes) > n and int(votes[order[n - 1]]) == int(votes[order[n]])
    return winners, tied


@dataclass(frozen=True)
class _Column:
    """A contest column as flat arrays: validity, marks per card, all codes in card order
    (card ``r``'s codes are ``codes[start[r] : start[r] + lengths[r]]``)."""

    valid: np.ndarray | None  # None when no card is null
    lengths: np.ndarray
    start: np.ndarray
    codes: np.ndarray


def _column(col: pa.ChunkedArray | pa.Array) -> _Column:
    """Read the two list levels through their absolute offsets: no per-mark parent index and no
    copy of the codes."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    valid = (np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
             if arr.null_count else None)
    if len(arr) == 0:
        z = np.zeros(0, np.int64)
        return _Column(valid, z, z, np.zeros(0, np.uint16))
    outer_off = arr.offsets.to_numpy(zero_copy_only=False)
    inner = arr.values
    inner_off = inner.offsets.to_numpy(zero_copy_only=False)
    bounds = inner_off[outer_off]
    codes = inner.values.to_numpy(zero_copy_only=False)[bounds[0]:bounds[-1]]
    return _Column(valid, np.diff(bounds), bounds[:-1] - bounds[0], codes)


def _codes_of_rows(c: _Column, rows: np.ndarray) -> np.ndarray:
    """Positions in ``c.codes`` of the marks of the given cards."""
    lens = c.lengths[rows].astype(np.int64)
    if not len(lens) or not lens.sum():
        return np.zeros(0, np.int64)
    firsts = np.repeat(c.start[rows].astype(np.int64) - np.cumsum(lens) + lens, lens)
    return firsts + np.arange(int(lens.sum()), dtype=np.int64)


def _group_index(table: pa.Table, by: str) -> tuple[np.ndarray, list[str]]:
    col = table.column(by).cast(pa.string()).fill_null("")
    enc = pc.dictionary_encode(col).combine_chunks()
    labels = [str(x) for x in enc.dictionary.to_pylist()]
    order = sorted(range(len(labels)), key=lambda i: labels[i])
    remap = np.empty(len(labels), np.int64)
    remap[order] = np.arange(len(labels))
    idx = remap[np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)]
    return idx, [labels[i] for i in order]


def group_index(table: pa.Table, by: str) -> tuple[np.ndarray, list[str]]:
    """Each card's group under column ``by`` and the groups' labels, for :func:`tally_table`'s
    ``groups`` (a caller tallying many contests by the same column encodes it once)."""
    if by not in table.column_names:
        raise UsageError(f"the CVR table has no column {by!r}")
    return _group_index(table, by)


#: Cards counted per pass: a column is counted slice by slice and the counts added, so the
#: arrays of a pass stay a few megabytes (in cache) whatever the table's size, and no pass
#: copies the whole column; counted whole, 5,000,000 cards took 25-30% longer per card than
#: 1,000,000 did.
ROWS_PER_PASS = 1 << 20


def tally_table(table: pa.Table, contest: Contest, by: str | None = None,
                groups: tuple[np.ndarray, list[str]] | None = None
                ) -> dict[str, ContestTally]:
    """Tally a vote-for-N/approval contest over a CVR table: key ``"ALL"`` for every card and,
    with ``by`` (a metadata column such as ``"precinct"``), one key per value (null → ``""``).
    ``groups``: :func:`group_index` of the same table rows and ``by``, when already made."""
    if contest.ranked:
        raise UsageError(f"contest {contest.id!r} is {contest.kind.value}; use the RCV tabulator")
    if contest.column not in table.column_names:
        raise UsageError(f"the CVR table has no column for contest {contest.id!r}")
    column = table.column(contest.column)
    k, n = len(contest.candidates), len(column)
    if by is None:
        total = _Counts.zero(1, k)
        for lo in range(0, n, ROWS_PER_PASS):
            total.add(_count_all(contest, _column(column.slice(lo, ROWS_PER_PASS))))
        return {ALL: total.tally(contest, 0)}
    if by not in table.column_names:
        raise UsageError(f"the CVR table has no column {by!r}")
    group, labels = groups if groups is not None else _group_index(table, by)
    if len(group) != n:
        raise ValueError(f"groups cover {len(group)} cards, the table {n}")
    per_group = _Counts.zero(len(labels), k)
    for lo in range(0, n, ROWS_PER_PASS):
        per_group.add(_count_grouped(contest, _column(column.slice(lo, ROWS_PER_PASS)),
                                     group[lo:lo + ROWS_PER_PASS], len(labels)))
    results = {ALL: per_group.total().tally(contest, 0)}
    for gi, label in enumerate(labels):
        results[label] = per_group.tally(contest, gi)
    return results


def remembered_tally(memo: dict[Any, Any] | None, table: pa.Table, contest: Contest,
                     by: str | None = None, groups: tuple[np.ndarray, list[str]] | None = None
                     ) -> dict[str, ContestTally]:
    """:func:`tally_table` of the store's whole CVR table, kept in ``memo``
    (:meth:`~tallyproof.store.Store.derived_memo`, ``None``: nothing kept) so that two checks
    of one command count a contest once: the verifier's comparison with the certified results
    counts by precinct, and its recount takes that count's ``ALL`` entry (the same passes
    added by precinct first; equal, as the pass-size property test checks)."""
    if memo is None:
        return tally_table(table, contest, by=by, groups=groups)
    key = ("plurality_tally", contest, by)
    if key not in memo:
        memo[key] = tally_table(table, contest, by=by, groups=groups)
        if by is not None:  # its ALL entry is the whole-table count too
            memo.setdefault(("plurality_tally", contest, None), {ALL: memo[key][ALL]})
    return memo[key]  # type: ignore[no-any-return]


@dataclass
class _Counts:
    """Counts of one pass, per group (row ``g``): votes per candidate, valid cards, overvoted
    cards. They add up across passes; undervotes follow from the totals."""

    votes: np.ndarray  # (groups, candidates)
    cards: np.ndarray
    over: np.ndarray

    @classmethod
    def zero(cls, groups: int, k: int) -> _Counts:
        z = np.zeros(groups, np.int64)
        return cls(np.zeros((groups, k), np.int64), z, z.copy())

    def add(self, other: _Counts) -> None:
        self.votes += other.votes
        self.cards += other.cards
        self.over += other.over

    def total(self) -> _Counts:
        return _Counts(self.votes.sum(axis=0, keepdims=True),
                       self.cards.sum(keepdims=True), self.over.sum(keepdims=True))

    def tally(self, contest: Contest, g: int) -> ContestTally:
        # counted cards (valid, not overvoted) leave vote_for - marks slots unused; their
        # marks are exactly the counted ones
        cards, over = int(self.cards[g]), int(self.over[g])
        under = contest.vote_for * (cards - over) - int(self.votes[g].sum())
        return _make(contest, cards, self.votes[g], over, under)


def _make(contest: Contest, cards: int, votes: np.ndarray, overvotes: int,
          undervotes: int) -> ContestTally:
    winners, tied = decide(votes, seats_to_fill(contest))
    return ContestTally(
        contest_id=contest.id,
        cards=cards,
        votes={c.id: int(v) for c, v in zip(contest.candidates, votes, strict=True)},
        overvotes=overvotes,
        undervotes=undervotes,
        winners=tuple(contest.candidates[i].id for i in winners),
        tied=tied,
    )


def _excluded(contest: Contest, col: _Column) -> tuple[np.ndarray, np.ndarray]:
    """(overvoted cards, cards whose marks do not count: overvoted or null)."""
    k = len(contest.candidates)
    over = col.lengths > contest.vote_for
    if len(col.codes) and int(col.codes.max()) >= k:
        unknown = col.codes == OVERVOTE_UNKNOWN
        bad = (col.codes >= k) & ~unknown
        if bad.any():
            raise UsageError(f"contest {contest.id!r}: candidate code {int(col.codes[bad][0])} "
                             "is not a candidate (store inconsistent)")
        rows = np.repeat(np.arange(len(col.lengths)), col.lengths)[unknown]
        over[rows] = True
    if col.valid is None:
        return over, over
    over &= col.valid
    return over, over | (~col.valid & (col.lengths > 0))


def _count_all(contest: Contest, col: _Column) -> _Counts:
    """Whole-slice count: bincount every code, then take back the codes of the few cards that
    do not count (overvoted or null), so the common path is a single pass over the codes."""
    k = len(contest.candidates)
    over, drop = _excluded(contest, col)
    votes = np.bincount(col.codes, minlength=k).astype(np.int64)
    dropped = np.flatnonzero(drop)
    if len(dropped):
        votes -= np.bincount(col.codes[_codes_of_rows(col, dropped)], minlength=len(votes))
    cards = len(col.lengths) if col.valid is None else int(col.valid.sum())
    return _Counts(votes[None, :k], np.array([cards], np.int64),
                   np.array([int(over.sum())], np.int64))


def _count_grouped(contest: Contest, col: _Column, group: np.ndarray, n_groups: int
                   ) -> _Counts:
    """Per-group counts in one pass over the marks, in whole numbers throughout: every mark
    is counted under its card's group, then the marks of the few cards that do not count
    (overvoted or null) are taken back, as :func:`_count_all` does for the whole slice."""
    k = len(contest.candidates)
    over, drop = _excluded(contest, col)  # ``over`` holds valid cards only
    g = np.asarray(group, dtype=np.int64)  # no copy: group_index gives int64
    cards_g = np.bincount(g if col.valid is None else g[col.valid], minlength=n_groups)
    over_g = np.bincount(g[over], minlength=n_groups)
    # a mark's slot: its card's group times k plus its code; an out-of-range code (unknown
    # overvote) belongs to a dropped card, so whatever slot it lands in is taken back below
    key = np.repeat(g * k, col.lengths) + col.codes
    size = max(n_groups * k, int(key.max()) + 1 if len(key) else 0)
    votes = np.bincount(key, minlength=size)
    dropped = np.flatnonzero(drop)
    if len(dropped):
        votes -= np.bincount(key[_codes_of_rows(col, dropped)], minlength=size)
    return _Counts(votes[: n_groups * k].reshape(n_groups, k).astype(np.int64),
                   cards_g.astype(np.int64), over_g.astype(np.int64))


def tally_store(store: Any, contests: Iterable[Contest] | None = None) -> dict[str, ContestTally]:
    """Tally every vote-for-N and approval contest of a store (column by column)."""
    chosen = [c for c in (contests or store.election.contests) if not c.ranked]
    out: dict[str, ContestTally] = {}
    for contest in chosen:
        table = store.cvrs(columns=[contest.column])
        out[contest.id] = tally_table(table, contest)[ALL]
    return out

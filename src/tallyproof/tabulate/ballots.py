"""Ranked ballots, deduplicated: the input of the IRV/STV engine.

A real RCV contest has far fewer distinct rankings than ballots (105,928 Minneapolis ballots hold
a few thousand distinct rankings), and every ballot with the same ranking (and the same
precinct/batch, when results are reported by slice) travels through the rounds together. So the
CVR-table column is grouped once, in DuckDB, into distinct rankings with counts, and the engine
works on those with integer weights: the per-round work is proportional to the distinct rankings
that move, not to the ballots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import OVERVOTE_UNKNOWN

#: one rank position that has marks: (rank number counted from 1, candidate codes marked there)
RankMarks = tuple[int, tuple[int, ...]]
#: a ballot's rankings: only positions with marks, in rank order (RCTab's ``candidateRankings``)
Ranking = tuple[RankMarks, ...]


#: a card's marks when every rank position holds at most one mark: position i holds
#: candidate code + 1, or 0 when skipped (the compact form :func:`from_table` produces)
DenseRow = list[int]


@dataclass(frozen=True)
class RankedBallots:
    """Distinct rankings with how many ballots cast each.

    ``items`` holds each distinct ranking either as a :data:`Ranking` or, for the common case of
    one mark per position, as a :data:`DenseRow` (cheaper to build and to walk);
    :attr:`rankings` gives them all as :data:`Ranking`. ``slices`` maps a slice kind
    (``"precinct"``, ``"batch"``) to the slice id of each entry (a group is split by slice when
    slices are requested).
    """

    entries: tuple[Ranking | DenseRow, ...]
    weights: np.ndarray  # int64, one per ranking
    slices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: the rankings as an int64 matrix of :data:`DenseRow` rows, when every one is dense (then
    #: ``entries`` may be left empty and :attr:`items` is built from it on first use)
    dense: np.ndarray | None = None

    @cached_property
    def items(self) -> tuple[Ranking | DenseRow, ...]:
        if not self.entries and self.dense is not None and len(self.dense):
            return tuple(self.dense.tolist())
        return self.entries

    @property
    def rankings(self) -> tuple[Ranking, ...]:
        return tuple(as_ranking(x) for x in self.items)

    @property
    def total(self) -> int:
        return int(self.weights.sum())

    def __len__(self) -> int:
        return len(self.weights)


def as_ranking(item: Ranking | DenseRow) -> Ranking:
    """A :data:`DenseRow` (or a :data:`Ranking`) as a :data:`Ranking`."""
    if isinstance(item, list):
        return tuple((i + 1, (v - 1,)) for i, v in enumerate(item) if v)
    return item


def normalize_ranking(positions: Sequence[Sequence[int]] | None,
                      max_rankings: int | None = None) -> Ranking:
    """CVR-table marks → :data:`Ranking`: drop empty positions and ranks past ``max_rankings``,
    and a candidate repeated within one position (it is one mark)."""
    if not positions:
        return ()
    out: list[RankMarks] = []
    for i, marks in enumerate(positions, start=1):
        if max_rankings is not None and i > max_rankings:
            break
        if marks:
            out.append((i, tuple(dict.fromkeys(int(c) for c in marks))))
    return tuple(out)


def from_lists(rankings: Sequence[Sequence[Sequence[int]] | None],
               max_rankings: int | None = None,
               slices: dict[str, Sequence[str]] | None = None) -> RankedBallots:
    """Build from Python lists (one entry per ballot); small inputs and tests."""
    counts: dict[tuple[Ranking, tuple[str, ...]], int] = {}
    kinds = sorted(slices) if slices else []
    for i, r in enumerate(rankings):
        key = (normalize_ranking(r, max_rankings),
               tuple(str(slices[k][i]) for k in kinds) if slices else ())
        counts[key] = counts.get(key, 0) + 1
    keys = sorted(counts)
    return RankedBallots(
        entries=tuple(k[0] for k in keys),
        weights=np.array([counts[k] for k in keys], dtype=np.int64),
        slices={kind: tuple(k[1][j] for k in keys) for j, kind in enumerate(kinds)},
    )


def from_table(table: pa.Table, column: str, max_rankings: int | None = None,
               slice_columns: dict[str, str] | None = None,
               missing_slice: dict[str, str] | None = None) -> RankedBallots:
    """Group a CVR table's contest column (``list<list<uint16>>``) into distinct rankings.

    Cards on which the contest does not appear (null) are left out. ``slice_columns`` maps a
    slice kind to the metadata column holding it; a null/blank value becomes
    ``missing_slice[kind]`` (RCTab reports those as e.g. "no precinct id").

    Vectorised: every card whose rank positions each hold at most one mark becomes a row of
    small integers (code + 1, 0 = skipped), rows are packed into integer keys and counted with
    ``numpy.unique``; only cards with an overvote go through Python.
    """
    slice_columns = slice_columns or {}
    missing_slice = missing_slice or {}
    kinds = sorted(slice_columns)
    col = table.column(column)
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(valid)
    n = len(rows)
    # slice ids as small integers per card
    slice_labels: list[list[str]] = []
    slice_codes: list[np.ndarray] = []
    for kind in kinds:
        raw = table.column(slice_columns[kind]).cast(pa.string()).to_pylist()
        fixed = [v if v is not None and v.strip() != "" else missing_slice.get(kind, "")
                 for v in raw]
        labels = sorted(set(fixed[i] for i in rows))
        index = {lab: j for j, lab in enumerate(labels)}
        slice_labels.append(labels)
        slice_codes.append(np.array([index[fixed[i]] for i in rows], dtype=np.int64))
    pos_len = np.asarray(pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False),
                         np.int64)
    inner = pc.list_flatten(arr)
    inner_row = np.asarray(pc.list_parent_indices(arr).to_numpy(zero_copy_only=False), np.int64)
    row_start = np.concatenate([[0], np.cumsum(pos_len * valid)])[:-1]
    pos = np.arange(len(inner), dtype=np.int64) - row_start[inner_row]
    inner_len = np.asarray(pc.list_value_length(inner).fill_null(0).to_numpy(
        zero_copy_only=False), np.int64)
    codes = np.asarray(pc.list_flatten(inner).to_numpy(zero_copy_only=False), np.int64)
    inner_first = np.concatenate([[0], np.cumsum(inner_len)])[:-1]
    keep = pos < max_rankings if max_rankings is not None else np.ones(len(pos), bool)
    complex_row = np.zeros(len(valid), bool)
    complex_row[inner_row[keep & (inner_len > 1)]] = True
    width = int(min(pos_len.max(initial=0), max_rankings if max_rankings is not None else 1 << 30))
    dense_of = np.full(len(valid), -1, np.int64)
    dense_of[rows] = np.arange(n)
    simple = ~complex_row[rows]
    matrix = np.zeros((n, max(width, 1)), np.int64)
    one = keep & (inner_len == 1) & ~complex_row[inner_row]
    if one.any():
        vals = codes[inner_first[one]] + 1  # OVERVOTE_UNKNOWN stays recognisable as 0x10000
        matrix[dense_of[inner_row[one]], pos[one]] = vals
    full = np.concatenate([matrix, *(c[:, None] for c in slice_codes)], axis=1) \
        if slice_codes else matrix
    sub = full[simple]
    items: list[Ranking | DenseRow] = []
    weights: list[int] = []
    ids_out: list[tuple[str, ...]] = []
    dense_matrix = np.zeros((0, width), np.int64)
    if len(sub):
        uniq, counts = _unique_rows(sub)
        dense_matrix = np.ascontiguousarray(uniq[:, :width])
        if kinds or not simple.all():
            items.extend(dense_matrix.tolist() if width else [[] for _ in range(len(uniq))])
        weights.extend(counts.tolist())
        if kinds:
            tail = uniq[:, width:width + len(kinds)].tolist() if width else \
                uniq[:, 1:1 + len(kinds)].tolist()
            ids_out.extend(tuple(slice_labels[j][t[j]] for j in range(len(kinds))) for t in tail)
        elif not simple.all():
            ids_out.extend([()] * len(uniq))
    merged: dict[tuple[Ranking, tuple[str, ...]], int] = {}
    hard = rows[~simple]
    if len(hard):
        marks = arr.take(pa.array(hard)).to_pylist()
        for j, m in zip(np.flatnonzero(~simple).tolist(), marks, strict=True):
            ids = tuple(slice_labels[q][int(slice_codes[q][j])] for q in range(len(kinds)))
            key = (normalize_ranking(m, max_rankings), ids)
            merged[key] = merged.get(key, 0) + 1
    for (ranking, ids), cnt in sorted(merged.items()):
        items.append(ranking)
        weights.append(cnt)
        ids_out.append(ids)
    return RankedBallots(
        entries=tuple(items),
        weights=np.array(weights, dtype=np.int64),
        slices={kind: tuple(x[j] for x in ids_out) for j, kind in enumerate(kinds)},
        dense=dense_matrix if not merged and not kinds else None,
    )


def _unique_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a non-negative integer matrix with counts, in sorted order (rows are
    packed into one int64 when they fit, else compared as raw bytes)."""
    top = int(m.max(initial=0))
    bits = max(top.bit_length(), 1)
    if bits * m.shape[1] <= 63:
        key = np.zeros(len(m), np.int64)
        for j in range(m.shape[1]):
            key = (key << bits) | m[:, j]
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        return m[first], counts
    c = np.ascontiguousarray(m.astype(">i8"))
    v = c.view(np.dtype((np.void, 8 * m.shape[1]))).ravel()
    _, first, counts = np.unique(v, return_index=True, return_counts=True)
    return m[first], counts


def has_explicit_overvote(marks: tuple[int, ...]) -> bool:
    return OVERVOTE_UNKNOWN in marks

"""Ranked ballots, deduplicated: the input of the IRV/STV engine.

A real RCV contest has far fewer distinct rankings than ballots (105,928 Minneapolis ballots hold
a few thousand distinct rankings), and every ballot with the same ranking (and the same
precinct/batch, when results are reported by slice) travels through the rounds together. So the
CVR-table column is grouped once, straight from its Arrow offsets with numpy (each ranking packed
into one integer key, keys counted), into distinct rankings with counts, and the engine works on
those with integer weights: the per-round work is proportional to the distinct rankings that
move, not to the ballots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
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


#: Cards whose ranking keys :func:`_group_one_mark_per_rank` builds and counts per pass (the
#: passes' counts are then added up): its key, code and scratch arrays stay a megabyte or two
#: at any size, reused from pass to pass, instead of tens of megabytes of fresh memory at
#: 5,000,000 cards. Measured on a 5,000,000-card table (the 1M demo's ranked contest five
#: times): the first grouping in a fresh process 0.15 s per pass against 0.46 s in one (two
#: runs of three; the third 0.44 s either way); warm 0.137 against 0.148 s.
CARDS_PER_PASS = 1 << 18


def from_table(table: pa.Table, column: str, max_rankings: int | None = None,
               slice_columns: dict[str, str] | None = None,
               missing_slice: dict[str, str] | None = None) -> RankedBallots:
    """Group a CVR table's contest column (``list<list<uint16>>``) into distinct rankings.

    Cards on which the contest does not appear (null) are left out. ``slice_columns`` maps a
    slice kind to the metadata column holding it; a null/blank value becomes
    ``missing_slice[kind]`` (RCTab reports those as e.g. "no precinct id").

    Vectorised straight from the Arrow offsets: the inner list lengths say, per rank position,
    skipped (0), one mark or several; every card whose kept positions each hold at most one
    mark becomes a row of small integers (code + 1, 0 = skipped), packed into one integer key
    (bit fields in column order, so sorting keys sorts rows lexicographically) and counted
    (hash count, or one sort); the distinct keys are decoded back into rows, in sorted order.
    Only cards with several marks at a rank go through Python.
    """
    col = table.column(column)
    if isinstance(col, pa.ChunkedArray):
        arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    else:
        arr = col
    if not slice_columns and arr.values.null_count == 0 and arr.values.values.null_count == 0:
        fast = _group_one_mark_per_rank(arr, max_rankings)
        if fast is not None:
            return fast
    return group_marks(arr, column, max_rankings, table, slice_columns, missing_slice)


def _group_one_mark_per_rank(arr: pa.ListArray, max_rankings: int | None) -> RankedBallots | None:
    """The common shape, grouped without per-mark index arrays; None when it does not apply.

    It applies when no rank position the cards span holds several marks (skipped ranks are
    fine; an overvote is not) and a card's packed ranking fits 64 bits. Then card ``i``'s
    positions are the run ``outer[i] : outer[i + 1]`` of one per-position stream (when no rank
    is skipped, simply the candidate codes themselves), so the packed key is built
    one rank column at a time over the cards (``width`` gathers of length n, then one mask by
    card length), and the keys are counted with Arrow's hash ``value_counts``; only the
    distinct keys are sorted and decoded.
    Produces exactly what :func:`group_marks` produces for such a column.
    """
    inner = arr.values
    outer = np.asarray(arr.offsets)  # int32, zero-copy
    lo, hi = int(outer[0]), int(outer[-1])
    inner_off = np.asarray(inner.offsets)[lo:hi + 1]
    base, end = int(inner_off[0]), int(inner_off[-1])
    all_codes = np.asarray(inner.values.to_numpy(zero_copy_only=False))
    # strictly increasing offsets (every step >= 1) adding up to one per position: every
    # position holds exactly one mark, and a card's codes are one contiguous run
    contiguous = end - base == hi - lo and bool((inner_off[1:] > inner_off[:-1]).all())
    if contiguous:
        stream = all_codes[base:end]  # raw codes; + 1 added per kept field below
    else:
        steps = np.diff(inner_off)
        if bool((steps > 1).any()):
            return None  # an overvote somewhere: the general path
        marked = steps == 1  # else 0: a skipped rank
        stream = np.zeros(hi - lo, dtype=np.uint32)  # code + 1 per position, 0 = skipped
        stream[marked] = all_codes[inner_off[:-1][marked]].astype(np.uint32) + 1
    length = np.diff(outer)
    if arr.null_count:
        valid = _validity(arr)
        length = length[valid]
        at = outer[:-1][valid].astype(np.intp)
    else:
        at = outer[:-1].astype(np.intp)
    at -= lo
    if max_rankings is not None:
        np.minimum(length, max_rankings, out=length)
    width = int(length.max(initial=0))
    top = int(all_codes[base:end].max(initial=0)) + 1 if end > base else 0
    bits = max(top.bit_length(), 1)
    if bits * width > 64:
        return None
    kdt = np.uint32 if bits * width <= 32 else np.uint64
    n = len(at)
    step = kdt(bits)
    small_len = length.astype(np.uint8) if width < 256 else length
    keep = np.array([((1 << bits * m) - 1) << bits * (width - m) for m in range(width + 1)],
                    dtype=kdt)
    plus = np.array([sum(1 << bits * (width - 1 - j) for j in range(m))
                     for m in range(width + 1)], dtype=kdt)
    counted = []
    for first in range(0, max(n, 1), CARDS_PER_PASS):  # see CARDS_PER_PASS; one if none
        at_p, len_p = at[first:first + CARDS_PER_PASS], small_len[first:first + CARDS_PER_PASS]
        key = np.zeros(len(at_p), dtype=kdt)
        code = np.empty(len(at_p), dtype=stream.dtype)
        for j in range(width):  # append rank column j: the value at the card's start + j
            np.take(stream[j:], at_p, mode="clip", out=code)  # past a card's end: masked
            key <<= step
            key |= code
        # keep a card's first ``length`` fields and zero the rest (two tiny tables indexed by
        # length instead of a mask per column); a contiguous stream also gets + 1 per field
        scratch = np.empty(len(at_p), dtype=kdt)
        key &= np.take(keep, len_p, out=scratch)
        if contiguous:
            key += np.take(plus, len_p, out=scratch)
        counted.append(count_keys(key))
    distinct, counts = counted[0] if len(counted) == 1 else _merge_counts(counted)
    dense = np.empty((len(distinct), width), dtype=np.int64)
    wide = distinct.astype(np.uint64)
    mask = np.uint64((1 << bits) - 1)
    for j in range(width):
        dense[:, j] = ((wide >> np.uint64(bits * (width - 1 - j))) & mask).astype(np.int64)
    return RankedBallots(entries=(), weights=counts, slices={}, dense=dense)


def _run_starts(ordered: np.ndarray) -> np.ndarray:
    """Where each run of equal values of a sorted array begins (the first index of each
    distinct value)."""
    return np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))


def _merge_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`count_keys` of several passes' keys added up: each distinct key (ascending)
    with the sum of its counts, in whole numbers."""
    keys = np.concatenate([k for k, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = _run_starts(keys)
    return keys[starts], np.add.reduceat(counts, starts).astype(np.int64)


def count_keys(key: np.ndarray, sample: int = 1 << 14) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of an unsigned key array (ascending) with how often each occurs.

    Arrow's hash count costs about one pass while distinct keys are few (the usual election:
    thousands of rankings among a million ballots) but several times a sort when nearly every
    key is distinct; so the first ``sample`` keys are hash-counted first, and when more than
    half of them are distinct the keys are sorted instead. Both ways give the same answer.
    """
    n = len(key)
    if n == 0:
        return np.zeros(0, key.dtype), np.zeros(0, np.int64)
    if n > 2 * sample and len(pc.value_counts(pa.array(key[:sample]))) * 2 > sample:
        ordered = np.sort(key)
        starts = _run_starts(ordered)
        return ordered[starts], np.diff(np.append(starts, n)).astype(np.int64)
    vc = pc.value_counts(pa.array(key))
    distinct = np.asarray(vc.field("values").to_numpy(zero_copy_only=False))
    counts = np.asarray(vc.field("counts").to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.argsort(distinct)  # distinct keys: any sort gives the same order
    return distinct[order], counts[order]


def group_marks(arr: pa.ListArray, column: str, max_rankings: int | None, table: pa.Table,
                slice_columns: dict[str, str] | None = None,
                missing_slice: dict[str, str] | None = None) -> RankedBallots:
    """:func:`from_table` for any column: skipped ranks, overvotes, slices (the general path)."""
    slice_columns = slice_columns or {}
    missing_slice = missing_slice or {}
    kinds = sorted(slice_columns)
    n_cards = len(arr)
    valid = _validity(arr)
    rows = np.flatnonzero(valid)
    n = len(rows)
    slice_labels, slice_codes = _slice_codes(table, slice_columns, missing_slice, kinds, rows)
    inner = arr.values
    codes_arr = inner.values
    if codes_arr.null_count:
        raise InputError(f"column {column!r} holds a null candidate code", field=column)
    outer = np.asarray(arr.offsets, dtype=np.int64)  # absolute offsets into ``inner``
    pos_len = np.diff(outer)
    # one entry per rank position slot spanned by the cards (null cards' spans are dropped)
    lo, hi = int(outer[0]), int(outer[-1])
    slot_card = np.repeat(np.arange(n_cards, dtype=np.int64), pos_len)
    pos = np.arange(hi - lo, dtype=np.int64) - np.repeat(outer[:-1] - lo, pos_len)
    inner_off = np.asarray(inner.offsets, dtype=np.int64)[lo:hi + 1]
    inner_len = np.diff(inner_off) * _validity(inner)[lo:hi]
    keep = valid[slot_card]
    if max_rankings is not None:
        keep &= pos < max_rankings
    complex_row = np.zeros(n_cards, bool)
    complex_row[slot_card[keep & (inner_len > 1)]] = True
    top_len = int((pos_len * valid).max(initial=0))
    width = min(top_len, max_rankings) if max_rankings is not None else top_len
    cols = max(width, 1)
    simple_card = valid & ~complex_row
    simple = simple_card[rows]
    dense_of = np.cumsum(simple_card) - 1  # card -> row of the simple-card matrix
    one = keep & (inner_len == 1) & simple_card[slot_card]
    # code + 1, so OVERVOTE_UNKNOWN stays recognisable as 0x10000 and 0 means "no mark"
    vals = np.asarray(codes_arr.to_numpy(zero_copy_only=False), dtype=np.int64)[
        inner_off[:-1][one]] + 1
    n_simple = int(simple.sum())
    top = int(vals.max(initial=0))
    matrix = np.zeros((n_simple, cols), dtype=_small_uint(top))
    matrix[dense_of[slot_card[one]], pos[one]] = vals
    extra = [c[simple] for c in slice_codes]
    items: list[Ranking | DenseRow] = []
    weights: list[int] = []
    ids_out: list[tuple[str, ...]] = []
    dense_matrix = np.zeros((0, width), np.int64)
    if n_simple:
        uniq, counts = _group_rows(matrix, top, extra)
        dense_matrix = np.ascontiguousarray(uniq[:, :width])
        if kinds or n_simple < n:
            items.extend(dense_matrix.tolist() if width else [[] for _ in range(len(uniq))])
        weights.extend(counts.tolist())
        if kinds:
            tail = uniq[:, cols:cols + len(kinds)].tolist()
            ids_out.extend(tuple(slice_labels[j][t[j]] for j in range(len(kinds))) for t in tail)
        elif n_simple < n:
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


def _validity(arr: pa.Array) -> np.ndarray:
    """Per-element validity as a numpy bool array (no bitmap unpacking when nothing is null)."""
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _small_uint(top: int) -> type[np.unsignedinteger]:
    """Narrowest unsigned dtype holding ``top`` (less memory to touch for a million cards)."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max:
            return dt
    return np.uint64


def _slice_codes(table: pa.Table, slice_columns: dict[str, str], missing_slice: dict[str, str],
                 kinds: list[str], rows: np.ndarray) -> tuple[list[list[str]], list[np.ndarray]]:
    """Slice ids of the cards ``rows`` as small integers per kind, with the sorted labels."""
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
    return slice_labels, slice_codes


def _group_rows(matrix: np.ndarray, top: int,
                extra: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``[matrix | extra columns]`` with counts, in lexicographic row order.

    Each column gets a bit field just wide enough for its largest value; when all fields fit in
    64 bits the rows are packed into one unsigned key (the narrowest dtype that holds it), the
    keys sorted once, and the distinct rows decoded from the distinct keys — exact, no hashing.
    Wider rows are compared as raw bytes (:func:`_unique_rows`).
    """
    n = len(matrix)
    widths = [max(top.bit_length(), 1)] * matrix.shape[1]
    widths += [max(int(c.max(initial=0)).bit_length(), 1) for c in extra]
    total = sum(widths)
    if total > 64:
        full = np.concatenate([matrix.astype(np.int64), *(c[:, None] for c in extra)], axis=1)
        return _unique_rows(full)
    kdt = np.uint32 if total <= 32 else np.uint64
    key = np.zeros(n, dtype=kdt)
    columns = [matrix[:, j] for j in range(matrix.shape[1])] + list(extra)
    shift = total
    for bits, c in zip(widths, columns, strict=True):
        shift -= bits
        key |= c.astype(kdt) << kdt(shift)
    key.sort()
    starts = _run_starts(key)
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    distinct = key[starts].astype(np.uint64)
    out = np.empty((len(distinct), len(columns)), dtype=np.int64)
    shift = total
    for j, bits in enumerate(widths):
        shift -= bits
        out[:, j] = ((distinct >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
    return out, counts


def _unique_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a non-negative int64 matrix with counts, in lexicographic row order,
    compared as raw big-endian bytes (for rows too wide to pack into one 64-bit key)."""
    c = np.ascontiguousarray(m.astype(">i8"))
    v = c.view(np.dtype((np.void, 8 * m.shape[1]))).ravel()
    _, first, counts = np.unique(v, return_index=True, return_counts=True)
    return m[first], counts


def has_explicit_overvote(marks: tuple[int, ...]) -> bool:
    return OVERVOTE_UNKNOWN in marks

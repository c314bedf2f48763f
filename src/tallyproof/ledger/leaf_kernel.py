"""CVR leaves encoded and hashed in one compiled loop (see :func:`.canonical.encode_and_hash`).

:mod:`.canonical` assembles leaves column-wise with NumPy and Arrow: a dozen passes over each
contest column and Arrow's join of some thirty columns, ~1.2 s per million cards, twice the
hashing itself. Here each card's leaf is written into a small reused buffer, byte for byte as
``docs/commitment.md`` and :mod:`.canonical` define it, and hashed straight away by OpenSSL
(:mod:`.sha256_kernels`), so no leaf array is ever built. Only the CVR leaf (type 0x01) is
written here; supersede leaves, and every leaf's bytes where a caller needs them, come from
:mod:`.canonical`, against which this loop is tested for identical digests.

:func:`columns` lays a chunk of the CVR table out as the flat arrays the loop reads (its
strings and contests concatenated, offsets made absolute); numba compiles the loop once per
machine and keeps it in its cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit, types

from .canonical import CVR, FORMAT_VERSION, SALT_SIZE
from .sha256_kernels import CTX_BYTES, _final, _init, _update


@dataclass(frozen=True)
class Columns:
    """One chunk of the CVR table as flat arrays (``k`` = a string field or a contest).

    Per-card arrays are card-major (row ``i`` holds card ``i``'s entry for every field or
    contest), so the loop reads a handful of memory streams rather than one per field and
    contest: laid out field-major, the same loop ran some 40% slower (measured on the
    1,000,000-card demo), its thirty-odd streams defeating the cache's prefetching."""

    rec_valid: np.ndarray  # uint8 (n,): the record number is present
    rec_values: np.ndarray  # int64 (n,): the record number, 0 where absent
    str_valid: np.ndarray  # uint8 (n, 8)
    str_offsets: np.ndarray  # int64 (n + 1, 8): into str_data
    str_data: np.ndarray  # uint8: the eight fields' UTF-8 bytes, concatenated
    contest_index: np.ndarray  # uint16 (K,): the contest's index in the definition
    contest_valid: np.ndarray  # uint8 (n, K): the contest is on the card
    contest_ranks: np.ndarray  # int64 (n + 1, K): into rank_codes, per card and contest
    rank_codes: np.ndarray  # int64 (all rank positions + K,): into codes, per rank position
    code_bytes: np.ndarray  # uint8: every contest's candidate codes, concatenated, big-endian
    max_leaf: int  # no card's leaf (with its 0x00 prefix) is longer: the buffer's size


def columns(strings: list[pa.Array], record: pa.Array, contests: list[tuple[int, pa.Array]]
            ) -> Columns:
    """The arrays of :class:`Columns` from the chunk's eight string fields (binary arrays),
    its ``record`` column and its contest columns (``list<list<uint16>>``, with their index in
    the definition; each regular as :func:`.canonical._irregular_nulls` requires)."""
    n = len(record)
    # built field by field (contiguous rows), then turned card-major in one copy each:
    # writing a column of a card-major array per field touched every cache line each time
    str_valid = np.empty((len(strings), n), dtype=np.uint8)
    str_offsets = np.empty((len(strings), n + 1), dtype=np.int64)
    datas, base = [], 0
    for k, col in enumerate(strings):
        str_valid[k] = _valid(col)
        bufs = col.buffers()
        off = np.frombuffer(bufs[1], dtype=np.int32, count=col.offset + n + 1)[col.offset:]
        lo, hi = int(off[0]), int(off[-1])
        datas.append(np.frombuffer(bufs[2], dtype=np.uint8)[lo:hi] if hi > lo
                     else np.zeros(0, dtype=np.uint8))
        str_offsets[k] = off + (base - lo)
        base += hi - lo
    index = np.array([i for i, _ in contests], dtype=np.uint16)
    contest_valid = np.empty((len(contests), n), dtype=np.uint8)
    contest_ranks = np.empty((len(contests), n + 1), dtype=np.int64)
    ranks, codes, rank_base, code_base = [], [], 0, 0
    for k, (_, col) in enumerate(contests):
        contest_valid[k] = _valid(col)
        outer = col.offsets.to_numpy().astype(np.int64)
        inner = col.values.offsets.to_numpy().astype(np.int64)
        r0, r1 = int(outer[0]), int(outer[-1])
        c0, c1 = int(inner[r0]), int(inner[r1])
        contest_ranks[k] = outer + (rank_base - r0)
        ranks.append(inner[r0 : r1 + 1] + (code_base - c0))
        codes.append(col.values.values.to_numpy(zero_copy_only=False)[c0:c1])
        rank_base += r1 - r0 + 1
        code_base += c1 - c0
    # a leaf holds its fixed part, some of the strings' bytes, and per contest its index and
    # rank count, per rank position its length and codes: never more than all of them
    max_leaf = 3 + SALT_SIZE + 9 + 4 * len(strings) + base + 4 * len(contests) \
        + 2 * rank_base + 2 * code_base
    return Columns(
        rec_valid=_valid(record), rec_values=record.fill_null(0).to_numpy(
            zero_copy_only=False).astype(np.int64),
        str_valid=np.ascontiguousarray(str_valid.T),
        str_offsets=np.ascontiguousarray(str_offsets.T),
        str_data=np.concatenate(datas) if datas else np.zeros(0, dtype=np.uint8),
        contest_index=index, contest_valid=np.ascontiguousarray(contest_valid.T),
        contest_ranks=np.ascontiguousarray(contest_ranks.T),
        rank_codes=np.concatenate(ranks) if ranks else np.zeros(1, dtype=np.int64),
        code_bytes=(np.concatenate(codes) if codes else np.zeros(0, dtype=np.uint16)
                    ).astype(">u2").view(np.uint8),
        max_leaf=max_leaf)


def _valid(col: pa.Array) -> np.ndarray:
    if col.null_count == 0:
        return np.ones(len(col), dtype=np.uint8)
    return pc.is_valid(col).to_numpy(zero_copy_only=False).astype(np.uint8)


def leaf_hashes(cols: Columns, salts: np.ndarray) -> tuple[np.ndarray, int]:
    """RFC 9162 leaf hashes SHA-256(0x00 ‖ CVR leaf) of the chunk's cards, ``(n, 32)``, and
    how many leaves failed (OpenSSL reported an error, or a leaf would have outgrown
    :attr:`Columns.max_leaf`: never, by construction); to be 0."""
    out = np.empty((len(cols.rec_values), 32), dtype=np.uint8)
    # the leaf buffer and OpenSSL's context are handed to the loop by address: allocated
    # here, they live until it returns (see :func:`.sha256_kernels.hash_slices`)
    buf = np.empty(cols.max_leaf, np.uint8)
    ctx = np.empty(CTX_BYTES, np.uint8)
    bad = _leaf_hashes(np.ascontiguousarray(salts, dtype=np.uint8), cols.rec_valid,
                       cols.rec_values, cols.str_valid, cols.str_offsets, cols.str_data,
                       cols.contest_index, cols.contest_valid, cols.contest_ranks,
                       cols.rank_codes, cols.code_bytes, buf, ctx, out)
    return out, bad


#: libc's ``memcpy`` (already in the process: numba's own code calls it). The strings and
#: codes are a dozen bytes each; a byte-by-byte loop copying them took twice as long.
_memcpy = types.ExternalFunction("memcpy", types.voidptr(types.voidptr, types.voidptr,
                                                         types.uintp))


@njit(nogil=True, cache=True)
def _leaf_hashes(salts: np.ndarray, rec_valid: np.ndarray, rec_values: np.ndarray,
                 str_valid: np.ndarray, str_offsets: np.ndarray, str_data: np.ndarray,
                 contest_index: np.ndarray, contest_valid: np.ndarray,
                 contest_ranks: np.ndarray, rank_codes: np.ndarray, code_bytes: np.ndarray,
                 buf: np.ndarray, ctx: np.ndarray, out: np.ndarray) -> int:
    n = out.shape[0]
    fields = str_offsets.shape[1]
    contests = contest_index.size
    max_leaf = buf.size
    to = buf.ctypes.data
    strs = str_data.ctypes.data
    marks = code_bytes.ctypes.data
    c = ctx.ctypes.data
    bad = 0
    for i in range(n):
        buf[0] = 0x00  # RFC 9162 leaf prefix
        buf[1] = CVR
        buf[2] = FORMAT_VERSION
        for b in range(SALT_SIZE):
            buf[3 + b] = salts[i, b]
        p = 3 + SALT_SIZE
        buf[p] = rec_valid[i]
        v = rec_values[i]  # big-endian two's complement
        for b in range(8):
            buf[p + 8 - b] = v & 0xFF
            v >>= 8
        p += 9
        for k in range(fields):
            length = str_offsets[i + 1, k] - str_offsets[i, k] if str_valid[i, k] else 0xFFFFFFFF
            buf[p] = (length >> 24) & 0xFF
            buf[p + 1] = (length >> 16) & 0xFF
            buf[p + 2] = (length >> 8) & 0xFF
            buf[p + 3] = length & 0xFF
            p += 4
        fits = True  # every copy below is checked against the buffer's end first
        for k in range(fields):
            if str_valid[i, k]:
                a = str_offsets[i, k]
                m = str_offsets[i + 1, k] - a
                if p + m > max_leaf:
                    fits = False
                    break
                _memcpy(to + p, strs + a, m)
                p += m
        for k in range(contests if fits else 0):
            if contest_valid[i, k]:
                r0, r1 = contest_ranks[i, k], contest_ranks[i + 1, k]
                if p + 4 + 2 * (r1 - r0) + 2 * (rank_codes[r1] - rank_codes[r0]) > max_leaf:
                    fits = False
                    break
                w = contest_index[k]
                buf[p] = w >> 8
                buf[p + 1] = w & 0xFF
                buf[p + 2] = (r1 - r0) >> 8
                buf[p + 3] = (r1 - r0) & 0xFF
                p += 4
                for r in range(r0, r1):
                    a, e = rank_codes[r], rank_codes[r + 1]
                    buf[p] = (e - a) >> 8
                    buf[p + 1] = (e - a) & 0xFF
                    p += 2
                    _memcpy(to + p, marks + 2 * a, 2 * (e - a))
                    p += 2 * (e - a)
        if not fits:
            bad += 1
            continue
        ok = _init(c) & _update(c, to, p)
        bad += 1 - (ok & _final(out[i].ctypes.data, c))
    return bad

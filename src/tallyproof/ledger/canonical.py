"""Canonical leaf bytes (format version 1): what exactly is hashed for each log entry.

``docs/commitment.md`` is the normative description; this module is its implementation. A CVR
leaf is a documented, length-prefixed big-endian binary record rather than RFC 8785 JSON:
it is just as reproducible from the written spec in any language (there is no number or
escaping ambiguity to canonicalise), and it can be assembled column-wise with Arrow and NumPy
for millions of cards at once, which keeps commit and verify close to the cost of the hashing
itself. The one variable-shape object, the election definition, *is* RFC 8785 JSON.

Every leaf starts with ``type (u8) ‖ format version (u8)``:

=====  ===================  ========================================================
 type  name                 rest of the leaf
=====  ===================  ========================================================
 0x01  CVR                  salt(16) ‖ card
 0x02  batch close          str source_file ‖ opthash source_sha256 ‖ str tabulator ‖
                            str batch ‖ u64 cards
 0x03  supersede            salt(16) ‖ u64 superseded leaf index ‖ str reason ‖ card
 0x04  election definition  RFC 8785 JSON of the contests and candidates
 0x05  results snapshot     u32 seq ‖ str timestamp ‖ str format ‖ str source_name ‖
                            sha256(32) of the published file
=====  ===================  ========================================================

Integers are big-endian. ``str`` = u32 byte length (0xFFFFFFFF for null) ‖ UTF-8 bytes;
``opthash`` = u8 0, or u8 1 ‖ 32 bytes. ``card`` = u8 has_record ‖ i64 record ‖ eight u32
lengths (0xFFFFFFFF = null) of ballot_id, tabulator, batch, precinct, ballot_style, vote_type,
source_file, source_record ‖ those eight values' UTF-8 bytes in the same order ‖ for every
contest on the card, in definition order: u16 contest index ‖ u16 rank count ‖ per rank
(u16 mark count ‖ that many u16 candidate codes). Lengths first and values after keeps the
fixed-width part of every leaf one NumPy block.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from types import ModuleType

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StoreError
from ..model import Election
from ..parquet_table import ParquetTable
from . import sha256_batch
from .parallel import PARENT_SHARE, processes_for, run_pair

FORMAT_VERSION = 1
CVR, BATCH_CLOSE, SUPERSEDE, DEFINITION, SNAPSHOT = 0x01, 0x02, 0x03, 0x04, 0x05
LEAF_TYPE_NAMES = {CVR: "cvr", BATCH_CLOSE: "batch_close", SUPERSEDE: "supersede",
                   DEFINITION: "definition", SNAPSHOT: "results_snapshot"}
SALT_SIZE = 16
NULL_LEN = 0xFFFFFFFF
STRING_FIELDS = ("ballot_id", "tabulator", "batch", "precinct", "ballot_style", "vote_type",
                 "source_file", "source_record")
#: Rows encoded per Arrow chunk: keeps every chunk's byte offsets well inside int32.
CHUNK_ROWS = 1 << 16


# ----------------------------------------------------------------- scalar helpers
def enc_str(value: str | None) -> bytes:
    if value is None:
        return NULL_LEN.to_bytes(4, "big")
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


def enc_opthash(hex_digest: str | None) -> bytes:
    return b"\x00" if hex_digest is None else b"\x01" + bytes.fromhex(hex_digest)


def definition_object(election: Election) -> dict[str, object]:
    """The election definition a leaf's candidate codes and contest indices refer to."""
    return {"contests": [c.to_json() for c in election.contests]}


def definition_leaf(election: Election) -> bytes:
    """Leaf 0x04: RFC 8785 canonical JSON (sorted keys, no whitespace, UTF-8; the object holds
    only strings, integers, booleans and nulls, for which orjson's output is RFC 8785's)."""
    body = orjson.dumps(definition_object(election), option=orjson.OPT_SORT_KEYS)
    return bytes([DEFINITION, FORMAT_VERSION]) + body


def batch_close_leaf(
    source_file: str | None, source_sha256: str | None, tabulator: str | None,
    batch: str | None, cards: int,
) -> bytes:
    """Leaf 0x02: a batch's card count in one append and the SHA-256 of its export file."""
    return (
        bytes([BATCH_CLOSE, FORMAT_VERSION]) + enc_str(source_file) + enc_opthash(source_sha256)
        + enc_str(tabulator) + enc_str(batch) + cards.to_bytes(8, "big")
    )


def snapshot_leaf(seq: int, timestamp: str, fmt: str, source_name: str, sha256: str) -> bytes:
    """Leaf 0x05: one published results snapshot of the results history (its file's hash)."""
    return (bytes([SNAPSHOT, FORMAT_VERSION]) + seq.to_bytes(4, "big") + enc_str(timestamp)
            + enc_str(fmt) + enc_str(source_name) + bytes.fromhex(sha256))


# ----------------------------------------------------------------- column-wise encoding
def _fixed(rows: np.ndarray) -> pa.BinaryArray:
    """A binary array whose i-th value is row i of a 2-D uint8 array."""
    n, width = rows.shape
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(width)
    data = np.ascontiguousarray(rows, dtype=np.uint8)
    return pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _contest_part(col: pa.Array, index: int) -> pa.BinaryArray:
    """One contest column (list<list<uint16>>) as the binary column of each card's contest
    segment, ``u16 index ‖ u16 ranks ‖ (u16 n ‖ codes)*`` (empty when the contest is not on
    the card), to concatenate per card.

    All of the column's words, in card order, form one stream, so a card's segment is a
    contiguous slice of it: the stream is built once with NumPy (each word put straight at
    its place: the marks count of a rank position after the rank positions and codes before
    it and two head words per card so far) and the per-card slices are just offsets, leaving
    the per-card copying to Arrow. Words are placed in native order and byte-swapped once;
    where every card has one rank position, or every rank position at most one mark (a
    vote-for-one contest), no position is repeated per rank or code. (One stream for all the
    contests, which would spare Arrow's join a column per contest, measured no faster: its
    words are scattered over a stream too large for the cache.)
    """
    n = len(col)
    col = _regular(col)
    outer = col.offsets.to_numpy().astype(np.int64)
    inner_arr = col.values
    inner = inner_arr.offsets.to_numpy().astype(np.int64)
    r0, r1 = int(outer[0]), int(outer[-1])
    rel = inner[r0 : r1 + 1] - inner[r0]  # code offsets of the used rank positions
    nr, nc = r1 - r0, int(rel[-1])
    codes = inner_arr.values.to_numpy(zero_copy_only=False)[inner[r0] : inner[r0] + nc]
    marks = np.diff(rel)
    ranks = np.diff(outer)
    valid = None if col.null_count == 0 else col.is_valid().to_numpy(zero_copy_only=False)
    heads = (np.arange(2, 2 * n + 1, 2, dtype=np.int64) if valid is None
             else np.cumsum(valid, dtype=np.int64) * 2)  # head words up to each card's
    heads_before = heads - (2 if valid is None else 2 * valid)
    # a card's first word: its head (if on the card), after everything of the cards before it
    start = rel[outer[:-1] - r0] + (outer[:-1] - r0) + heads_before
    at_rank = rel[:-1] + np.arange(nr)  # each rank's ``n`` word
    at_rank += heads if nr == n and (ranks == 1).all() else np.repeat(heads, ranks)
    stream = np.empty(nr + nc + int(heads[-1] if n else 0), dtype=np.uint16)
    stream[at_rank] = marks
    if nc == nr and (marks == 1).all():
        stream[at_rank + 1] = codes
    elif nc == np.count_nonzero(marks):  # at most one mark per rank position
        stream[at_rank[marks > 0] + 1] = codes
    else:
        stream[np.arange(nc) + np.repeat(at_rank - rel[:-1], marks) + 1] = codes
    on = start if valid is None else start[valid]
    stream[on] = index
    stream[on + 1] = ranks if valid is None else ranks[valid]
    stream.byteswap(inplace=True)  # the words are big-endian
    offsets = np.empty(n + 1, dtype=np.int32)
    offsets[:-1] = start * 2
    offsets[-1] = stream.size * 2
    return pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(stream.view(np.uint8))]
    )


def _regular(col: pa.Array) -> pa.Array:
    """``col`` rebuilt if :func:`_irregular_nulls`, so that its nulls mean empty."""
    return pa.array(col.to_pylist(), type=col.type) if _irregular_nulls(col) else col


def _irregular_nulls(col: pa.Array) -> bool:
    """True if a null card slot or a null rank position spans values (Arrow allows it; our
    builders never write it): such a column is rebuilt before encoding, so nulls mean empty."""
    if col.null_count:
        lengths = np.diff(col.offsets.to_numpy())
        if (lengths[~col.is_valid().to_numpy(zero_copy_only=False)] != 0).any():
            return True
    inner = col.values
    if inner.null_count:
        lengths = np.diff(inner.offsets.to_numpy())
        if (lengths[~inner.is_valid().to_numpy(zero_copy_only=False)] != 0).any():
            return True
    return False


def _check_input(table: pa.Table | pa.RecordBatch | ParquetTable, election: Election, salts: np.ndarray) -> None:
    n = table.num_rows
    if salts.shape != (n, SALT_SIZE):
        raise ValueError(f"salts must have shape ({n}, {SALT_SIZE}), not {salts.shape}")
    names = set(table.schema.names)
    needed = [*STRING_FIELDS, "record", *(c.column for c in election.contests)]
    missing = [c for c in needed if c not in names]
    if missing:
        raise StoreError(f"the CVR table lacks column(s) {', '.join(missing)}")


def _encode(
    table: pa.Table | pa.RecordBatch,
    election: Election,
    salts: np.ndarray,
    supersede: Sequence[tuple[int, str] | None] | None,
    leaf_prefix: bool,
) -> pa.BinaryArray:
    n = table.num_rows
    _check_input(table, election, salts)
    if n == 0:
        return pa.array([], pa.binary())

    def column(name: str) -> pa.Array:
        return _column(table, name)

    p = 1 if leaf_prefix else 0
    strings = [column(name).cast(pa.binary()) for name in STRING_FIELDS]
    head_w = p + 2 + SALT_SIZE
    tail_w = 9 + 4 * len(STRING_FIELDS)
    block = np.empty((n, head_w + tail_w), dtype=np.uint8)
    if p:
        block[:, 0] = 0x00  # RFC 9162 leaf prefix, so the hash input is one contiguous slice
    block[:, p] = CVR
    block[:, p + 1] = FORMAT_VERSION
    block[:, p + 2 : head_w] = salts
    rec = column("record")
    block[:, head_w] = rec.is_valid().to_numpy(zero_copy_only=False)
    values = rec.fill_null(0).to_numpy(zero_copy_only=False).astype(">i8")
    block[:, head_w + 1 : head_w + 9] = values.view(np.uint8).reshape(n, 8)
    for k, col in enumerate(strings):
        lengths = pc.binary_length(col).cast(pa.int64()).fill_null(NULL_LEN)
        be = lengths.to_numpy(zero_copy_only=False).astype(">u4").view(np.uint8).reshape(n, 4)
        at = head_w + 9 + 4 * k
        block[:, at : at + 4] = be
    if supersede is not None:
        block[:, p] = [CVR if s is None else SUPERSEDE for s in supersede]
        extra = [b"" if s is None else s[0].to_bytes(8, "big") + enc_str(s[1]) for s in supersede]
        parts = [_fixed(block[:, :head_w]), pa.array(extra, pa.binary()), _fixed(block[:, head_w:])]
    else:
        parts = [_fixed(block)]
    parts += [c.fill_null(b"") for c in strings]
    for i, contest in enumerate(election.contests):
        col = column(contest.column)
        if col.null_count < n:  # a contest on none of these cards adds nothing to join
            parts.append(_contest_part(col, i))
    joined = pc.binary_join_element_wise(*parts, b"")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _column(table: pa.Table | pa.RecordBatch, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _hash_compiled(table: pa.Table | pa.RecordBatch, election: Election, salts: np.ndarray
                   ) -> bytes:
    """The CVR leaves' hashes of ``table`` through :mod:`.leaf_kernel` (the same bytes as
    hashing :func:`_encode`'s leaves; only where no row supersedes another)."""
    from . import leaf_kernel

    n = table.num_rows
    contests = []
    for i, contest in enumerate(election.contests):
        col = _column(table, contest.column)
        if col.null_count < n:
            contests.append((i, _regular(col)))
    cols = leaf_kernel.columns([_column(table, f).cast(pa.binary()) for f in STRING_FIELDS],
                               _column(table, "record"), contests)
    out, failed = leaf_kernel.leaf_hashes(cols, salts)
    if failed:
        raise sha256_batch.HashBackendError("OpenSSL's SHA-256 reported a failure")
    return out.tobytes()


def encode_cards(
    table: pa.Table | pa.RecordBatch,
    election: Election,
    salts: np.ndarray,
    supersede: Sequence[tuple[int, str] | None] | None = None,
) -> pa.BinaryArray:
    """Canonical leaf data of every row (CVR leaves, or supersede leaves where ``supersede``
    gives ``(superseded leaf index, reason)``). ``salts`` is an ``(n, 16)`` uint8 array.

    The table must hold every metadata column and every contest column of ``election``.
    """
    return _encode(table, election, salts, supersede, leaf_prefix=False)


def _hash_prefixed(data: pa.BinaryArray, batch: ModuleType | None = None) -> bytes:
    """SHA-256 of every value (each already starting with the 0x00 leaf prefix); ``batch``:
    the compiled loops to use (:func:`.sha256_batch.backend`), else ``hashlib``."""
    n = len(data)
    if n == 0:
        return b""
    bufs = data.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int32, count=data.offset + n + 1)[data.offset :]
    if batch is not None:
        return sha256_batch.slices(b"", np.frombuffer(bufs[2], dtype=np.uint8), off, batch)
    o = off.tolist()
    raw = bufs[2].to_pybytes()  # slicing bytes is the cheapest way to feed hashlib in CPython
    sha = hashlib.sha256
    return b"".join([sha(raw[a:b]).digest() for a, b in zip(o[:-1], o[1:], strict=True)])


def hash_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def hash_leaves(data: pa.BinaryArray) -> bytes:
    """Concatenated RFC 9162 leaf hashes SHA-256(0x00 ‖ d) of every value (32 bytes each)."""
    if data.null_count:
        raise ValueError("leaf data contains nulls")
    return b"".join(hash_leaf(d) for d in data.to_pylist())


def encode_and_hash(
    table: pa.Table | ParquetTable, election: Election, salts: np.ndarray,
    supersede: Sequence[tuple[int, str] | None] | None = None,
) -> bytes:
    """Leaf hashes of every row of ``table``, encoded in chunks of :data:`CHUNK_ROWS` (a
    :class:`~tallyproof.parquet_table.ParquetTable` is read chunk by chunk, never whole).

    With enough rows a forked child encodes and hashes the later rows while this process does
    the first :data:`.parallel.PARENT_SHARE` of them (:mod:`.parallel`); the result is the
    same bytes.
    """
    n = table.num_rows
    _check_input(table, election, salts)  # here, so a bad input fails before any fork
    if supersede is not None and len(supersede) != n:
        raise ValueError(f"supersede must have {n} entries, not {len(supersede)}")

    batch = sha256_batch.backend(n)  # loaded before any fork, so a child inherits it

    def rows(lo: int, hi: int) -> bytes:
        out = []
        for start in range(lo, hi, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, hi)
            part = table.slice(start, stop - start)
            if batch is not None and supersede is None:
                out.append(_hash_compiled(part, election, salts[start:stop]))
                continue
            sup = None if supersede is None else supersede[start:stop]
            enc = _encode(part, election, salts[start:stop], sup, leaf_prefix=True)
            out.append(_hash_prefixed(enc, batch))
        return b"".join(out)

    fork = processes_for(n) > 1
    mid = int(n * PARENT_SHARE) if fork else n
    first, second = run_pair(lambda: rows(0, mid), lambda: rows(mid, n), fork)
    return first + second

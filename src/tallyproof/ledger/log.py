"""The commitment log in ``DIR/log/``: append-only segments of leaves and signed checkpoints.

::

    log/segments/000001.parquet   leaves appended by commit 1 (leaf_index 0 .. n1-1)
    log/segments/000002.parquet   leaves appended by commit 2, and so on
    log/checkpoints/000001.txt    signed checkpoint after commit 1 (tree size n1)
    log/log.vkey                  the log's verifier key (C2SP signed-note vkey)
    log/cosigners/<name>.vkey     keys of co-signers whose signatures verify checks

A commit writes exactly one new segment and one new checkpoint in one
:func:`~tallyproof.fsutil.transaction`; nothing already written is ever rewritten, so a
crash leaves the previous checkpoint (or, rolled forward, the new one) valid. The one
in-place change is a co-signature: a line added under an existing checkpoint's signatures
(its signed body never changes). The ``salt``
column is secret until the audit is over (see docs/commitment.md, "Publication").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import StoreError, UsageError, VerificationError
from ..fsutil import transaction
from ..model import Election
from ..parquet_table import ParquetTable
from ..results_history import HistoryEntry, load_history
from ..store import Store, file_key
from . import canonical as cn
from .checkpoint import Checkpoint, SignedCheckpoint, origin_for, parse, sign
from .keys import Signer, Verifier, load_signer, load_verifier
from .merkle import EMPTY_ROOT, Tree, verify_consistency, verify_inclusion

SEGMENTS, CHECKPOINTS, LOG_KEY, COSIGNERS = "segments", "checkpoints", "log.vkey", "cosigners"
LOG_SCHEMA_VERSION = 1
SEGMENT_SCHEMA = pa.schema(
    [
        pa.field("leaf_index", pa.uint64(), nullable=False),
        pa.field("leaf_type", pa.uint8(), nullable=False),
        pa.field("ballot_id", pa.string()),  # CVR and supersede leaves
        pa.field("salt", pa.binary(cn.SALT_SIZE)),  # CVR and supersede leaves (secret)
        pa.field("leaf_hash", pa.binary(32), nullable=False),
        pa.field("supersedes", pa.uint64()),  # supersede leaves: the leaf index replaced
        pa.field("reason", pa.string()),  # supersede leaves
        # not part of any leaf: the card's row in the CVR table when committed, a hint that
        # lets verify pair rows with leaves without hashing every ballot id (private, like salt)
        pa.field("table_row", pa.uint64()),
        pa.field("data", pa.binary()),  # batch close and definition leaves: the leaf bytes
    ],
    metadata={b"tallyproof.log_schema_version": str(LOG_SCHEMA_VERSION).encode()},
)
_SEQ_FILE = re.compile(r"^(\d{6})\.(parquet|txt)$")


# ------------------------------------------------------------------ reading the log
def _numbered(folder: Path, suffix: str) -> list[Path]:
    """Files ``000001.<suffix>``, ``000002.<suffix>``…, checked to be contiguous from 1."""
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.iterdir() if _SEQ_FILE.match(p.name) and p.suffix == suffix)
    for i, p in enumerate(found, start=1):
        if int(p.stem) != i:
            raise StoreError(f"{folder}: expected {i:06d}{suffix} but found {p.name} (file missing)")
    return found


def segments_identity(log_dir: Path) -> tuple[tuple[str, int, int, int], ...]:
    """Every file named like a segment (``[0-9]*.parquet``) with its inode, size and
    modification time: what a memo of something derived from the segments must be keyed by
    (:func:`tallyproof.store.file_key`)."""
    return tuple((p.name, *file_key(p))
                 for p in sorted((Path(log_dir) / SEGMENTS).glob("[0-9]*.parquet")))


def segment_files(log_dir: Path) -> list[Path]:
    """The log's segment files, in order (:func:`load_leaves` reads exactly these)."""
    return _numbered(Path(log_dir) / SEGMENTS, ".parquet")


def segment_path(log_dir: Path, seq: int) -> Path:
    return log_dir / SEGMENTS / f"{seq:06d}.parquet"


def checkpoint_path(log_dir: Path, seq: int) -> Path:
    return log_dir / CHECKPOINTS / f"{seq:06d}.txt"


def checkpoint_paths(store: Store) -> list[Path]:
    """The checkpoint files of a store's log, oldest first."""
    return _numbered(store.log_dir / CHECKPOINTS, ".txt")


def load_checkpoints(log_dir: Path) -> list[SignedCheckpoint]:
    """Every signed checkpoint, oldest first (parsed, signatures not yet checked)."""
    log_dir = Path(log_dir)
    out = []
    for p in _numbered(log_dir / CHECKPOINTS, ".txt"):
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"{p}: unreadable checkpoint ({exc})") from exc
        out.append(parse(text, source=str(p)))
    return out


@dataclass(frozen=True)
class LogLeaves:
    """All leaves of a log, in leaf order, and where each segment ends."""

    table: pa.Table
    segment_ends: tuple[int, ...]  # cumulative leaf counts after each segment

    @property
    def size(self) -> int:
        return self.table.num_rows

    def hashes(self) -> bytes:
        return fixed_bytes(self.table.column("leaf_hash"))

    def segment_of(self) -> np.ndarray:
        """Segment number (1-based) of every leaf."""
        sizes = np.diff(np.array((0, *self.segment_ends), dtype=np.int64))
        return np.repeat(np.arange(1, len(sizes) + 1, dtype=np.int32), sizes)


def load_leaves(log_dir: Path) -> LogLeaves:
    """Read every segment; leaf indices must run 0, 1, 2… across them."""
    log_dir = Path(log_dir)
    tables, ends, total = [], [], 0
    for p in segment_files(log_dir):
        tables.append(_read_segment(p, total))
        total += tables[-1].num_rows
        ends.append(total)
    table = pa.concat_tables(tables) if tables else SEGMENT_SCHEMA.empty_table()
    del tables  # the combined columns below then replace the segments' chunks, not copy them
    return LogLeaves(_contiguous(table), tuple(ends))


def _read_segment(p: Path, first: int) -> pa.Table:
    """One segment, checked: its schema, and leaf indices ``first, first + 1, …``."""
    try:
        # no pre-buffering: the table then keeps no reference to the file's read buffers
        # (at 5,000,000 cards 200 MB less resident, in the same time)
        t = pq.read_table(p, pre_buffer=False)
    except (OSError, pa.ArrowException) as exc:
        raise StoreError(f"{p}: unreadable log segment ({exc})") from exc
    if [(f.name, f.type) for f in t.schema] != [(f.name, f.type) for f in SEGMENT_SCHEMA]:
        raise StoreError(f"{p}: not a log segment of schema version {LOG_SCHEMA_VERSION}")
    if t.schema != SEGMENT_SCHEMA:  # e.g. re-written by another tool without nullability
        try:
            t = t.cast(SEGMENT_SCHEMA)
        except (pa.ArrowInvalid, ValueError) as exc:
            raise StoreError(f"{p}: {exc}") from exc
    idx = t.column("leaf_index").to_numpy()
    if len(idx) == 0 or not np.array_equal(idx, np.arange(first, first + len(idx))):
        raise StoreError(f"{p}: leaf indices do not continue from {first}")
    return t


def _contiguous(table: pa.Table) -> pa.Table:
    """``table`` with every column in one chunk, combined column by column, each column's
    chunks let go once combined: ``Table.combine_chunks`` held the whole table twice (at
    5,000,000 cards the log's leaves are some 600 MB)."""
    schema, arrays = table.schema, []
    for name in schema.names:
        arrays.append(table.column(name).combine_chunks())
        table = table.drop_columns([name])
    return pa.Table.from_arrays(arrays, schema=schema)


def fixed_view(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The concatenated values of a fixed-size binary column without nulls, as a read-only
    uint8 array over Arrow's own buffer: no copy (a column of several chunks is combined
    first). Why: at 5,000,000 cards the log's salts and hashes are 240 MB."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count:
        raise StoreError("unexpected null in a fixed-size binary column")
    width = arr.type.byte_width
    buf = arr.buffers()[1]
    if buf is None:
        return np.empty(0, dtype=np.uint8)
    return np.frombuffer(buf, dtype=np.uint8, count=len(arr) * width, offset=arr.offset * width)


def fixed_bytes(col: pa.ChunkedArray | pa.Array) -> bytes:
    """The concatenated values of a fixed-size binary column without nulls."""
    return fixed_view(col).tobytes()


def _fixed_array(rows: np.ndarray) -> pa.Array:
    n, width = rows.shape
    # the array wraps the NumPy buffer (kept alive by Arrow) rather than a copy of it
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), n, [None, pa.py_buffer(np.ascontiguousarray(rows))]
    )


def in_order(pos: np.ndarray, n: int) -> bool:
    """``pos`` is ``0, 1, …, n-1``: row i pairs with leaf i (a table only ever appended to, in
    the order it was committed), so the two can be compared without a gather."""
    return len(pos) == n and (n == 0 or (int(pos[0]) == 0 and bool((np.diff(pos) == 1).all())))


def match_rows(ids: pa.ChunkedArray | pa.Array, leaf_ids: pa.ChunkedArray | pa.Array,
               hint: pa.ChunkedArray | pa.Array | None = None) -> np.ndarray:
    """For every CVR-table row, the position in ``leaf_ids`` of the same ballot id, or -1.

    When the ``table_row`` hints still point at rows with exactly those ids (the table was
    only appended to), this costs one string comparison per leaf; otherwise, and for rows
    no hint points at, the ids are looked up by hashing."""
    n = len(ids)
    pos = np.full(n, -1, dtype=np.int64)
    fast = False
    if hint is not None and len(leaf_ids) and hint.null_count == 0:
        rows = hint.to_numpy() if isinstance(hint, pa.Array) else hint.combine_chunks().to_numpy()
        rows = rows.astype(np.int64)
        if rows.min() >= 0 and rows.max() < n and np.bincount(rows).max() <= 1:
            same = pc.equal(pc.take(ids, pa.array(rows)), leaf_ids)
            if same.null_count == 0 and pc.all(same).as_py():
                pos[rows] = np.arange(len(rows))
                fast = True
    rest = np.flatnonzero(pos < 0) if fast else np.arange(n)
    if len(rest) and len(leaf_ids):
        sub = ids if len(rest) == n else pc.take(ids, pa.array(rest))
        found = pc.index_in(sub, value_set=leaf_ids).fill_null(-1)
        pos[rest] = found.to_numpy(zero_copy_only=False)
    return pos


def rows_where(table: pa.Table, mask: np.ndarray, max_runs: int = 256) -> pa.Table:
    """``table.filter(mask)`` as zero-copy slices when the selected rows form a few runs.

    Why: a segment's CVR leaves are one run (definition leaf first, batch close leaves last),
    so selecting them need not copy the log's largest table (some 450 MB at 5,000,000 cards);
    a mask of many runs is filtered as usual."""
    mask = np.asarray(mask, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
    starts, stops = edges[0::2], edges[1::2]
    if len(starts) > max_runs:
        return table.filter(pa.array(mask))
    if len(starts) == 1:
        return table.slice(int(starts[0]), int(stops[0] - starts[0]))
    return pa.concat_tables([table.slice(int(a), int(b - a)) for a, b in
                             zip(starts.tolist(), stops.tolist(), strict=True)]
                            or [table.slice(0, 0)])


def latest_card_leaves(leaves: LogLeaves) -> pa.Table:
    """Every ballot id's current leaf (rows of the segment table, in leaf order): its
    supersede leaf of highest index if it has any, else its CVR leaf. An id committed twice
    as a CVR keeps both rows, for verify to report."""
    t = leaves.table
    types = t.column("leaf_type").to_numpy()
    cvr = rows_where(t, types == cn.CVR)
    sup_mask = types == cn.SUPERSEDE
    if not sup_mask.any():
        return cvr
    sup = t.filter(pa.array(sup_mask)).sort_by([("leaf_index", "descending")])
    ids = sup.column("ballot_id")
    first = pc.index_in(ids, value_set=ids).to_numpy(zero_copy_only=False)
    newest = sup.filter(pa.array(first == np.arange(len(first))))
    rest = cvr.filter(pc.invert(pc.is_in(cvr.column("ballot_id"), newest.column("ballot_id"))))
    return pa.concat_tables([rest, newest]).sort_by("leaf_index")


# ------------------------------------------------------------------ commit
@dataclass(frozen=True)
class CommitResult:
    """What a commit did. ``committed`` is False when there was nothing new."""

    committed: bool
    tree_size: int
    root: str
    cards_added: int
    supersedes: int
    batch_records: int
    definition_added: bool
    checkpoint: str | None
    checkpoint_path: Path | None
    snapshots: int = 0  # results snapshots of the results history committed by this commit


BATCH_KEYS = ["source_file", "tabulator", "batch"]


def batch_counts(cards: pa.Table, by: list[str] | None = None) -> pa.Table:
    """Cards per (``by`` +) source file, tabulator and batch (column ``count_all``)."""
    keys = [*(by or []), *BATCH_KEYS]
    return cards.select(keys).group_by(keys, use_threads=False).aggregate([([], "count_all")])


def batch_leaves_from_counts(groups: pa.Table, election: Election) -> list[bytes]:
    """The batch close leaves (sorted) for rows of :func:`batch_counts`. The source file's
    SHA-256 is that of the first ingested source with that base name."""
    sha: dict[str, str] = {}
    for s in election.sources:
        sha.setdefault(s.name, s.sha256)
    out = [
        cn.batch_close_leaf(src, sha.get(src) if src is not None else None, tab, bat, int(k))
        for src, tab, bat, k in zip(
            *(groups.column(c).to_pylist() for c in [*BATCH_KEYS, "count_all"]), strict=True
        )
    ]
    return sorted(out)


def _batch_close_leaves(cards: pa.Table, election: Election) -> list[bytes]:
    """One batch close leaf per (source file, tabulator, batch) among ``cards``, sorted."""
    if cards.num_rows == 0:
        return []
    return batch_leaves_from_counts(batch_counts(cards), election)


def _latest_definition(leaves: LogLeaves) -> bytes | None:
    t = leaves.table
    defs = t.filter(pc.equal(t.column("leaf_type"), cn.DEFINITION))
    if defs.num_rows == 0:
        return None
    return defs.column("data")[defs.num_rows - 1].as_py()


def committed_snapshots(leaves: LogLeaves) -> list[bytes]:
    """The results-snapshot leaves of the log, in log order."""
    t = leaves.table
    snaps = t.filter(pc.equal(t.column("leaf_type"), cn.SNAPSHOT))
    return [d for d in snaps.column("data").to_pylist() if d is not None]


def snapshot_leaves(entries: list[HistoryEntry]) -> list[bytes]:
    return [cn.snapshot_leaf(e.seq, e.timestamp, e.format, e.source_name, e.sha256)
            for e in entries]


def _new_snapshot_leaves(store: Store, leaves: LogLeaves) -> list[bytes]:
    """Leaves for the history's snapshots not yet in the log; the committed ones must be the
    history's first entries, unchanged (the history is append-only)."""
    want = snapshot_leaves(load_history(store))
    have = committed_snapshots(leaves)
    if want[: len(have)] != have:
        raise StoreError(f"{store.root}: the results history no longer matches the snapshots "
                         "committed in the log; run verify")
    return want[len(have):]


def sort_order(hashes: bytes) -> np.ndarray:
    """Permutation that sorts 32-byte hashes as unsigned big-endian numbers (equal hashes by
    position).

    Each hash's first 64 bits, with the low ``b`` bits replaced by its position (``b`` bits
    hold any position), sort as plain integers, which NumPy does several times faster than an
    argsort; positions whose remaining top bits tie (a handful among millions of uniform
    hashes) are settled on the full hash.
    """
    words = np.frombuffer(hashes, dtype=">u8").reshape(-1, 4)
    m = len(words)
    b = np.uint64(max(1, (m - 1).bit_length()))
    packed = (words[:, 0].astype(np.uint64) >> b) << b
    packed |= np.arange(m, dtype=np.uint64)
    packed.sort()
    order = (packed & ((np.uint64(1) << b) - np.uint64(1))).astype(np.int64)
    top = packed >> b
    tied = np.flatnonzero(top[1:] == top[:-1])  # sorted positions t, t+1 share their top bits
    if len(tied):
        for run in np.split(tied, np.flatnonzero(np.diff(tied) != 1) + 1):
            lo, hi = int(run[0]), int(run[-1]) + 2
            members = sorted(order[lo:hi].tolist(), key=lambda i: hashes[32 * i : 32 * i + 32])
            order[lo:hi] = members
    return order


def commit_store(
    store: Store, key_path: Path, corrections: Mapping[str, str] | None = None
) -> CommitResult:
    """Append every CVR not yet committed, one batch close leaf per batch among them, a
    definition leaf when the contests or candidates changed, and (for each ballot id in
    ``corrections``, mapped to its reason) a supersede leaf carrying the card's current row;
    then sign and write a new checkpoint. Idempotent: nothing new → nothing written.
    """
    signer = load_signer(key_path)
    with store.writing():
        return _commit(store, signer, dict(corrections or {}))


def _commit(store: Store, signer: Signer, corrections: dict[str, str]) -> CommitResult:
    log_dir = store.log_dir
    key_file = log_dir / LOG_KEY
    if key_file.exists() and load_verifier(key_file) != signer.verifier:
        raise StoreError(
            f"{key_file} names key {load_verifier(key_file).name!r}; this log must be signed "
            f"with that key, not {signer.name!r}"
        )
    leaves = load_leaves(log_dir)
    checkpoints = load_checkpoints(log_dir)
    old_hashes = leaves.hashes()
    old_size = leaves.size
    if len(checkpoints) != len(leaves.segment_ends):
        raise StoreError(f"{log_dir}: {len(leaves.segment_ends)} segments but "
                         f"{len(checkpoints)} checkpoints; run verify")
    if checkpoints and checkpoints[-1].checkpoint.size != old_size:
        raise StoreError(f"{log_dir}: the last checkpoint does not cover the log; run verify")
    election = store.election
    # the rows are read range by range as they are encoded (:mod:`tallyproof.parquet_table`)
    table = ParquetTable(store.cvrs_path) if store.has_cvrs() else store.cvrs()
    table_ids = table.column("ballot_id")
    latest = latest_card_leaves(leaves)
    committed_ids = latest.column("ballot_id")
    pos_all = match_rows(table_ids, committed_ids, latest.column("table_row"))
    new_rows = np.flatnonzero(pos_all < 0)
    new_cards = table if len(new_rows) == table.num_rows else table.take(pa.array(new_rows))

    supersede_rows: list[tuple[int, str]] = []
    corr_table = table.slice(0, 0)
    if corrections:
        ids = sorted(corrections)
        corr_rows = np.flatnonzero(pc.is_in(table_ids, pa.array(ids, pa.string()))
                                   .to_numpy(zero_copy_only=False))
        corr_table = table.take(pa.array(corr_rows))
        found = corr_table.column("ballot_id").to_pylist()
        missing = sorted(set(ids) - set(found))
        if missing:
            raise UsageError(f"cannot supersede ballot(s) not in the CVR table: {', '.join(missing)}")
        pos = pc.index_in(corr_table.column("ballot_id"), committed_ids)
        if pos.null_count:
            raise UsageError("a correction names a ballot that was never committed; commit it first")
        prev = latest.column("leaf_index").take(pos).to_pylist()
        supersede_rows = [(int(p), corrections[b]) for p, b in zip(prev, found, strict=True)]

    definition = cn.definition_leaf(election)
    definition_added = definition != _latest_definition(leaves)
    new_snapshots = _new_snapshot_leaves(store, leaves)
    if new_cards.num_rows == 0 and not supersede_rows and not definition_added \
            and not new_snapshots:
        root = checkpoints[-1].checkpoint.root if checkpoints else EMPTY_ROOT
        return CommitResult(False, old_size, root.hex(), 0, 0, 0, False, None, None)

    if supersede_rows and isinstance(new_cards, ParquetTable):
        new_cards = new_cards.read()
    cards = pa.concat_tables([new_cards, corr_table]) if supersede_rows else new_cards
    m = cards.num_rows
    salts = np.frombuffer(os.urandom(cn.SALT_SIZE * m), dtype=np.uint8).reshape(m, cn.SALT_SIZE)
    sup = ([None] * new_cards.num_rows + supersede_rows) if supersede_rows else None
    hashes = cn.encode_and_hash(cards, election, salts, sup)
    order = sort_order(hashes)
    # gather whole 32- and 16-byte items (void dtypes): much cheaper than row-wise uint8 copies
    hash_rows = np.frombuffer(hashes, dtype="V32")[order].view(np.uint8).reshape(m, 32)
    types = np.full(m, cn.CVR, dtype=np.uint8)
    if sup is not None:
        types[new_cards.num_rows :] = cn.SUPERSEDE
    table_rows = np.concatenate([new_rows, corr_rows]) if supersede_rows else new_rows
    batch_data = _batch_close_leaves(new_cards, election)
    extra_data = ([definition] if definition_added else []) + batch_data + new_snapshots
    n_def = 1 if definition_added else 0

    def data_part(datas: list[bytes]) -> pa.Table:
        k = len(datas)
        return pa.table(
            {
                "leaf_type": pa.array([d[0] for d in datas], pa.uint8()),
                "ballot_id": pa.nulls(k, pa.string()),
                "salt": pa.nulls(k, pa.binary(cn.SALT_SIZE)),
                "leaf_hash": pa.array([cn.hash_leaf(d) for d in datas], pa.binary(32)),
                "supersedes": pa.nulls(k, pa.uint64()),
                "reason": pa.nulls(k, pa.string()),
                "table_row": pa.nulls(k, pa.uint64()),
                "data": pa.array(datas, pa.binary()),
            }
        )

    def_part, batch_part = data_part(extra_data[:n_def]), data_part(extra_data[n_def:])
    # the segment's leaf hashes in its order, joined from the parts rather than re-read
    new_hashes = b"".join([old_hashes, fixed_bytes(def_part.column("leaf_hash")),
                           memoryview(hash_rows), fixed_bytes(batch_part.column("leaf_hash"))])

    def card_part() -> pa.Table:
        order_arr = pa.array(order)
        if supersede_rows:
            sup_index = pa.array([None] * new_cards.num_rows + [s[0] for s in supersede_rows],
                                 pa.uint64()).take(order_arr)
            sup_reason = pa.array([None] * new_cards.num_rows + [s[1] for s in supersede_rows],
                                  pa.string()).take(order_arr)
        else:
            sup_index, sup_reason = pa.nulls(m, pa.uint64()), pa.nulls(m, pa.string())
        return pa.table(
            {
                "leaf_type": pa.array(types[order]),
                "ballot_id": cards.column("ballot_id").take(order_arr),
                "salt": _fixed_array(salts.view("V16").reshape(m)[order].view(np.uint8).reshape(m, 16)),
                "leaf_hash": _fixed_array(hash_rows),
                "supersedes": sup_index,
                "reason": sup_reason,
                "table_row": pa.array(table_rows[order].astype(np.uint64)),
                "data": pa.nulls(m, pa.binary()),
            }
        )

    seq = len(checkpoints) + 1
    seg_file, cp_file = segment_path(log_dir, seq), checkpoint_path(log_dir, seq)
    with transaction(store.root) as tx:

        def write_segment() -> None:
            seg = pa.concat_tables([def_part, card_part(), batch_part])
            index = np.arange(old_size, old_size + seg.num_rows, dtype=np.uint64)
            seg = seg.add_column(0, "leaf_index", pa.array(index)).cast(SEGMENT_SCHEMA)
            # hashes and salts are incompressible: no compression, no dictionaries, no statistics
            pq.write_table(seg, tx.path_for(seg_file), compression="none", use_dictionary=False,
                           write_statistics=False)

        # the segment is built and written while a forked child hashes most of the tree; an
        # error in either (or a mismatch below) aborts the transaction, so nothing is kept
        tree = Tree(new_hashes, meanwhile=write_segment)
        if checkpoints and tree.root(old_size) != checkpoints[-1].checkpoint.root:
            # appending to a log whose leaves no longer match what was signed would bury the damage
            raise StoreError(f"{log_dir}: the leaves do not match the last checkpoint; run verify")
        root = tree.root()
        text = sign(Checkpoint(origin_for(election), tree.size, root), signer)
        tx.write_bytes(cp_file, text.encode("utf-8"))
        if not key_file.exists():
            tx.write_bytes(key_file, (signer.verifier.vkey + "\n").encode())
    return CommitResult(True, tree.size, root.hex(), new_cards.num_rows, len(supersede_rows),
                        len(batch_data), definition_added, text, cp_file, len(new_snapshots))


# ------------------------------------------------------------------ proofs
def _open_log(store: Store) -> tuple[LogLeaves, list[SignedCheckpoint], Tree]:
    leaves = load_leaves(store.log_dir)
    checkpoints = load_checkpoints(store.log_dir)
    if not checkpoints:
        raise UsageError(f"{store.log_dir}: nothing committed yet; run commit first")
    return leaves, checkpoints, Tree(leaves.hashes())


def prove(store: Store, ballot_id: str, with_data: bool = False) -> dict[str, object]:
    """Inclusion proof of a ballot's latest leaf in the latest checkpoint.

    With ``with_data`` also the salt and the leaf bytes re-derived from the CVR table, so
    anyone holding them can recompute the leaf hash (the salt is secret until publication).
    """
    leaves, checkpoints, tree = _open_log(store)
    t = leaves.table
    mine = t.filter(pc.and_(pc.equal(t.column("ballot_id"), ballot_id),
                            pc.is_in(t.column("leaf_type"),
                                     pa.array([cn.CVR, cn.SUPERSEDE], pa.uint8()))))
    if mine.num_rows == 0:
        raise UsageError(f"ballot {ballot_id!r} is not in the commitment log")
    row = mine.slice(mine.num_rows - 1, 1).to_pylist()[0]  # the newest (leaves are in order)
    cp = checkpoints[-1]
    size = cp.checkpoint.size
    index = int(row["leaf_index"])
    if index >= size or size > tree.size:
        raise VerificationError(f"leaf {index} is not covered by the latest checkpoint (size {size})")
    proof = tree.inclusion_proof(index, size)
    leaf = tree.leaf(index)
    if not verify_inclusion(index, size, leaf, proof, cp.checkpoint.root):
        raise VerificationError("the log does not match its latest checkpoint; run verify")
    result: dict[str, object] = {
        "ballot_id": ballot_id,
        "leaf_index": index,
        "leaf_type": cn.LEAF_TYPE_NAMES[row["leaf_type"]],
        "tree_size": size,
        "leaf_hash": leaf.hex(),
        "audit_path": [p.hex() for p in proof],
        "root": cp.checkpoint.root.hex(),
        "checkpoint": cp.text,
    }
    if with_data:
        table = store.cvrs()
        card = table.filter(pc.equal(table.column("ballot_id"), ballot_id))
        if card.num_rows != 1:
            raise VerificationError(f"ballot {ballot_id!r} is in the log but {card.num_rows} "
                                    "times in the CVR table")
        salt = np.frombuffer(row["salt"], dtype=np.uint8).reshape(1, cn.SALT_SIZE)
        sup = None if row["leaf_type"] == cn.CVR else [(int(row["supersedes"]), row["reason"])]
        data = cn.encode_cards(card, store.election, salt, sup)[0].as_py()
        result["salt"] = row["salt"].hex()
        result["leaf_data"] = data.hex()
    return result


def consistency(store: Store, old_size: int) -> dict[str, object]:
    """Consistency proof from the tree of ``old_size`` leaves to the latest checkpoint."""
    _, checkpoints, tree = _open_log(store)
    cp = checkpoints[-1].checkpoint
    if not 0 <= old_size <= cp.size:
        raise UsageError(f"--old-size must be between 0 and the tree size {cp.size}")
    if cp.size > tree.size or tree.root(cp.size) != cp.root:
        raise VerificationError("the log does not match its latest checkpoint; run verify")
    proof = tree.consistency_proof(old_size, cp.size)
    old_root = tree.root(old_size)
    if not verify_consistency(old_size, cp.size, old_root, cp.root, proof):
        raise VerificationError("consistency proof does not verify; run verify")
    return {
        "old_size": old_size,
        "new_size": cp.size,
        "old_root": old_root.hex(),
        "new_root": cp.root.hex(),
        "proof": [p.hex() for p in proof],
    }


def log_verifiers(log_dir: Path) -> tuple[Verifier | None, list[Verifier]]:
    """The log key and the co-signer keys stored with the log."""
    log_dir = Path(log_dir)
    key = load_verifier(log_dir / LOG_KEY) if (log_dir / LOG_KEY).exists() else None
    cos_dir = log_dir / COSIGNERS
    cos = [load_verifier(p) for p in sorted(cos_dir.glob("*.vkey"))] if cos_dir.is_dir() else []
    return key, cos


def cosign_latest(store: Store, key_path: Path) -> str:
    """Add a co-signature to the latest checkpoint and keep the co-signer's public key."""
    from .checkpoint import cosign

    signer = load_signer(key_path)
    with store.writing():
        checkpoints = load_checkpoints(store.log_dir)
        if not checkpoints:
            raise UsageError("nothing committed yet; nothing to co-sign")
        path = checkpoint_path(store.log_dir, len(checkpoints))
        text = cosign(checkpoints[-1].text, signer)
        with transaction(store.root) as tx:
            tx.write_bytes(path, text.encode("utf-8"))
            tx.write_bytes(store.log_dir / COSIGNERS / f"{signer.name}.vkey",
                           (signer.verifier.vkey + "\n").encode())
    return text


__all__ = [
    "CommitResult", "LogLeaves", "checkpoint_paths", "commit_store", "consistency", "cosign_latest",
    "batch_counts", "batch_leaves_from_counts", "fixed_bytes", "latest_card_leaves", "load_checkpoints",
    "load_leaves", "log_verifiers", "match_rows", "prove",
]

"""Re-check a commitment log against the CVR table it commits to.

``verify_log_dir`` is the whole check (a bundle verifier calls it on a copied log);
``verify_store`` runs it on a store. Every failure is named (a :class:`~tallyproof.errors.Failure`
with a check name, a message and, for CVR problems, the ballot ids) and checking goes on after
a failure so that one run reports everything it can:

* ``log-structure``   segments/checkpoints missing, out of sequence or unreadable
* ``signature``       a checkpoint is not signed by a trusted key, or a signature is invalid
* ``origin``          a checkpoint names another election
* ``checkpoint-size`` a checkpoint's tree size is not the leaf count of its segments (truncated
                      or extended log, swapped checkpoint)
* ``root``            the leaves do not hash to a checkpoint's root (leaf added, removed,
                      changed or reordered in the log)
* ``consistency``     an earlier checkpoint's tree is not a prefix of a later one
* ``changed``         a CVR no longer matches its committed leaf
* ``missing``         a committed CVR is no longer in the CVR table
* ``added``           a CVR in the table was never committed
* ``duplicated``      a ballot id is in the table twice, or committed twice
* ``leaf-data``       a stored batch-close/definition leaf does not match its hash
* ``definition``      contests/candidates differ from the last committed definition
* ``batch-close``     a segment's batch counts differ from the CVRs committed in it
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Failure, StoreError, TallyproofError, VerificationError
from ..model import Election
from ..parquet_table import ParquetTable
from ..results_history import HistoryEntry, load_history
from ..store import Store
from . import canonical as cn
from .checkpoint import SignedCheckpoint, origin_for
from .keys import Verifier, parse_vkey
from .log import (
    committed_snapshots,
    snapshot_leaves,
    BATCH_KEYS,
    LogLeaves,
    batch_counts,
    batch_leaves_from_counts,
    fixed_bytes,
    fixed_view,
    in_order,
    latest_card_leaves,
    load_checkpoints,
    load_leaves,
    log_verifiers,
    match_rows,
    rows_where,
    segment_files,
    segments_identity,
)
from .merkle import Tree, verify_consistency

MAX_IDS_IN_MESSAGE = 10


@dataclass(frozen=True)
class LedgerReport:
    """Outcome of a ledger verification; ``ok`` iff ``failures`` is empty."""

    ok: bool
    failures: list[Failure]
    tree_size: int
    root: str | None
    checkpoints_checked: int
    log_key: str | None = None
    cosigners: list[str] = field(default_factory=list)
    #: CVR-table rows paired one to one with the log's card leaves, each by its ballot id
    #: (no row uncommitted, no leaf without its row, no correction leaves); 0 when they are
    #: not so paired or the cards were not compared. Not part of :meth:`to_json`.
    cards_paired: int = 0

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise VerificationError(self.failures)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "root": self.root,
            "checkpoints_checked": self.checkpoints_checked,
            "log_key": self.log_key,
            "cosigners": self.cosigners,
            "failures": [
                {"check": f.check, "message": f.message, "ballot_ids": f.ballot_ids}
                for f in self.failures
            ],
        }


def _ids_failure(check: str, what: str, ids: list[str]) -> Failure:
    ids = sorted(ids)
    shown = ", ".join(ids[:MAX_IDS_IN_MESSAGE])
    more = f" and {len(ids) - MAX_IDS_IN_MESSAGE} more" if len(ids) > MAX_IDS_IN_MESSAGE else ""
    return Failure(check, f"{len(ids)} CVR(s) {what}: {shown}{more}", ids)


class _TableUnreadable(Exception):
    """Internal: the store's CVR table could not be read (carries the cause)."""


def verify_store(store: Store, public_keys: Sequence[str | Verifier] | None = None, *,
                 record: bool = False) -> LedgerReport:
    """Verify a store's log against its own CVR table, election definition and results history.

    ``record``: when the verification passes with the default trust (``public_keys`` None),
    write what was verified to ``log/verified.json`` (:mod:`.verified`), so that a later step
    (starting an audit) can rely on it while none of the files read has changed.
    """
    # taken before anything is read (see _remember_pairing), without decoding the table
    # sooner than the verification does (it reads it while its tree may be built meanwhile)
    memo = store.derived_memo(read=False)
    before = segments_identity(store.log_dir) if memo is not None else ()
    report = _verify_store(store, public_keys)
    if memo is not None and report.cards_paired:
        _remember_pairing(memo, store, before, report.cards_paired)
    if record and report.ok and public_keys is None:
        from .verified import record_verification

        record_verification(store, report)
    return report


#: :meth:`Store.derived_memo` key of :func:`_remember_pairing`'s entry (with the segments'
#: identity, :func:`.log.segments_identity`).
IDS_PAIRED = "ledger.ids_paired"


def _remember_pairing(memo: dict[object, object], store: Store,
                      before: tuple[tuple[str, int, int, int], ...], cards: int) -> None:
    """Leave in ``memo`` that the table's ballot ids and the log's card leaves pair one to one
    (``cards`` of them), so that the reconciliation of the same command, which asks whether
    any id is repeated and whether the committed and the stored ids are the same sets, takes
    the answer instead of comparing every id again (:func:`tallyproof.reconcile.ids_paired`).

    ``memo`` and ``before`` (the segments' identity) were taken before the verification read
    anything. Were the table replaced since, the store holds a new memo for the new table and
    this one is dropped with the old one; were a segment, the entry is not made. Nor is it
    when files named like segments are not exactly the numbered ones the log was read from
    (the reconciliation reads every such file)."""
    if segments_identity(store.log_dir) != before:
        return
    if [name for name, *_ in before] != [p.name for p in segment_files(store.log_dir)]:
        return
    memo[(IDS_PAIRED, before)] = cards


def _verify_store(store: Store, public_keys: Sequence[str | Verifier] | None) -> LedgerReport:

    def read_table() -> pa.Table | ParquetTable:
        # read on demand: ids and batch keys as columns, the rows range by range as they
        # are encoded (:mod:`tallyproof.parquet_table`), never the whole table at once;
        # unless the command already holds the whole table (Store.reading_cvrs_once)
        try:
            if store.has_cvrs() and not store.reads_cvrs_once:
                return ParquetTable(store.cvrs_path)
            return store.cvrs()
        except (OSError, pa.ArrowException) as exc:
            raise _TableUnreadable(exc) from exc

    history: list[HistoryEntry] | StoreError
    try:
        history = load_history(store)
    except StoreError as exc:  # a changed or missing snapshot file: reported as a failure
        history = exc
    try:
        return verify_log_dir(store.log_dir, read_table, store.election, public_keys, history)
    except _TableUnreadable as exc:
        failure = Failure("changed", f"the CVR table cannot be read: {exc.__cause__}")
        return LedgerReport(False, [failure], 0, None, 0)


def verify_log_dir(
    log_dir: Path,
    cvr_table: pa.Table | ParquetTable | Callable[[], pa.Table | ParquetTable],
    election: Election,
    public_keys: Sequence[str | Verifier] | None = None,
    history: Sequence[HistoryEntry] | StoreError | None = None,
) -> LedgerReport:
    """Re-derive every leaf from ``cvr_table`` and check roots, signatures and consistency.

    ``history`` is the results history whose snapshots the log must commit, in order (an
    exception: the history could not be read intact; ``None``: none was given, which is a
    failure only when the log commits snapshots).

    ``cvr_table`` may be a function that reads the table: it is then called while a forked
    child builds most of the tree, so the read costs no extra time. ``public_keys`` (vkey
    strings or :class:`Verifier`) are the keys trusted to sign the log; by default the key
    stored in ``log/log.vkey`` (then its fingerprint is reported so that a person can compare
    it with the one the election office published).
    """
    failures: list[Failure] = []
    try:
        leaves = load_leaves(log_dir)
        checkpoints = load_checkpoints(log_dir)
        log_key, cosigners = log_verifiers(log_dir)
    except TallyproofError as exc:
        return LedgerReport(False, [Failure("log-structure", str(exc))], 0, None, 0)
    if not checkpoints:
        failures.append(Failure("log-structure", f"{log_dir}: nothing has been committed"))
        return LedgerReport(False, failures, 0, None, 0)
    trusted = _trusted(public_keys, log_key, failures)
    read: list[pa.Table | ParquetTable] = []
    if callable(cvr_table):
        reader = cvr_table
        tree = Tree(leaves.hashes(), meanwhile=lambda: read.append(reader()))
        cvr_table = read[0]
    else:
        tree = Tree(leaves.hashes())
    _check_checkpoints(checkpoints, leaves, tree, election, trusted, cosigners, failures)
    del tree  # its levels (64 bytes a leaf) are not needed while every card is re-encoded
    segment, paired = _check_cards(leaves, cvr_table, election, failures)
    _check_data_leaves(leaves, cvr_table, segment, election, failures)
    _check_snapshots(leaves, history, failures)
    last = checkpoints[-1].checkpoint
    return LedgerReport(
        ok=not failures,
        failures=failures,
        tree_size=last.size,
        root=last.root.hex(),
        checkpoints_checked=len(checkpoints),
        log_key=trusted[0].vkey if trusted else None,
        cosigners=[c.vkey for c in cosigners],
        cards_paired=paired,
    )


def _trusted(
    public_keys: Sequence[str | Verifier] | None, log_key: Verifier | None, failures: list[Failure]
) -> list[Verifier]:
    if public_keys is not None:
        return [k if isinstance(k, Verifier) else parse_vkey(k) for k in public_keys]
    if log_key is None:
        failures.append(Failure("signature", "the log has no public key (log/log.vkey)"))
        return []
    return [log_key]


def _check_checkpoints(
    checkpoints: list[SignedCheckpoint], leaves: LogLeaves, tree: Tree, election: Election,
    trusted: list[Verifier], cosigners: list[Verifier], failures: list[Failure],
) -> None:
    ends = leaves.segment_ends
    if len(ends) != len(checkpoints):
        failures.append(Failure(
            "checkpoint-size",
            f"{len(ends)} log segment(s) but {len(checkpoints)} checkpoint(s): the log was "
            f"{'truncated' if len(ends) < len(checkpoints) else 'extended without a checkpoint'}",
        ))
    origin = origin_for(election)
    for seq, cp in enumerate(checkpoints, start=1):
        c = cp.checkpoint
        if c.origin != origin:
            failures.append(Failure("origin", f"checkpoint {seq} is for {c.origin!r}, not {origin!r}"))
        if trusted and not any(cp.signed_by(k) for k in trusted):
            failures.append(Failure(
                "signature", f"checkpoint {seq} has no valid signature by "
                + " or ".join(repr(k.name) for k in trusted)))
        for k in cosigners:
            if cp.signed_by(k) is False:
                failures.append(Failure("signature", f"checkpoint {seq}: co-signature of "
                                        f"{k.name!r} is invalid"))
        expected = ends[seq - 1] if seq <= len(ends) else None
        if expected is not None and c.size != expected:
            failures.append(Failure(
                "checkpoint-size", f"checkpoint {seq} claims {c.size} leaves but segments "
                f"1..{seq} hold {expected} (checkpoint swapped or log altered)"))
        if c.size > tree.size:
            failures.append(Failure(
                "checkpoint-size", f"checkpoint {seq} claims {c.size} leaves but the log "
                f"holds {tree.size} (log truncated)"))
            continue
        if tree.root(c.size) != c.root:
            failures.append(Failure(
                "root", f"checkpoint {seq}: the log's first {c.size} leaves hash to "
                f"{tree.root(c.size).hex()}, not the signed root {c.root.hex()}"))
    # consistency of every earlier checkpoint with every later one, by RFC 9162 proofs
    usable = [cp.checkpoint for cp in checkpoints if cp.checkpoint.size <= tree.size]
    for i, a in enumerate(usable):
        for b in usable[i + 1 :]:
            if a.size > b.size:
                failures.append(Failure("consistency", f"tree size shrinks from {a.size} to {b.size}"))
                continue
            proof = tree.consistency_proof(a.size, b.size)
            if not verify_consistency(a.size, b.size, a.root, b.root, proof):
                failures.append(Failure(
                    "consistency", f"the tree of size {a.size} is not a prefix of the tree "
                    f"of size {b.size}"))


def _check_cards(
    leaves: LogLeaves, table: pa.Table | ParquetTable, election: Election,
    failures: list[Failure],
) -> tuple[np.ndarray, int]:
    """Compare every card with its latest leaf. Returns, per table row, the segment of the
    card's CVR leaf (0 when it has none), for the batch close check; and how many rows pair
    one to one with the CVR leaves (:attr:`LedgerReport.cards_paired`)."""
    t = leaves.table
    types = t.column("leaf_type").to_numpy()
    has_supersede = bool((types == cn.SUPERSEDE).any())
    cvr_leaves = rows_where(t, types == cn.CVR)
    seg_of_leaf = leaves.segment_of()
    # fast path (no corrections): the latest leaf of a card is its CVR leaf
    latest = latest_card_leaves(leaves) if has_supersede else cvr_leaves
    ids = table.column("ballot_id")
    committed = latest.column("ballot_id")
    pos = match_rows(ids, committed, latest.column("table_row"))
    hits = np.bincount(pos[pos >= 0], minlength=latest.num_rows)
    if (hits > 1).any():
        failures.append(_ids_failure("duplicated", "appear more than once in the CVR table",
                                     committed.filter(pa.array(hits > 1)).to_pylist()))
    added_mask = pos < 0
    if added_mask.any():
        added = ids.filter(pa.array(added_mask))
        counts = pc.value_counts(added)
        dup = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1)).to_pylist()
        if dup:
            failures.append(_ids_failure("duplicated", "appear more than once in the CVR table",
                                         dup))
        failures.append(_ids_failure("added", "are in the CVR table but were never committed",
                                     pc.unique(added).to_pylist()))
    if (hits == 0).any():
        gone = committed.filter(pa.array(hits == 0))
        # a ballot id committed twice finds only its first leaf: name that, not "missing"
        cvr_ids = cvr_leaves.column("ballot_id")
        vc = pc.value_counts(cvr_ids.filter(pc.is_in(cvr_ids, gone)))
        twice = pc.filter(vc.field("values"), pc.greater(vc.field("counts"), 1))
        if len(twice):
            failures.append(_ids_failure("duplicated", "are committed more than once in the log",
                                         twice.to_pylist()))
        really_gone = gone.filter(pc.invert(pc.is_in(gone, ids))).to_pylist()
        if really_gone:
            failures.append(_ids_failure("missing", "were committed but are gone from the "
                                         "CVR table", really_gone))
    if added_mask.any():
        matched = np.flatnonzero(~added_mask)
        rows, leaf_pos = table.take(pa.array(matched)), pos[matched]
    else:
        rows, leaf_pos = table, pos
    _compare_leaves(rows, latest, leaf_pos, election, failures)
    if has_supersede:
        cvr_pos_np = match_rows(ids, cvr_leaves.column("ballot_id"),
                                cvr_leaves.column("table_row"))
    else:
        cvr_pos_np = pos
    cvr_index = cvr_leaves.column("leaf_index").to_numpy().astype(np.int64)
    segment = np.zeros(len(pos), dtype=np.int32)
    ok = cvr_pos_np >= 0
    segment[ok] = seg_of_leaf[cvr_index[cvr_pos_np[ok]]]
    # every row found its leaf and every leaf exactly one row: the ids pair one to one
    paired = (not has_supersede and len(pos) > 0 and not added_mask.any()
              and bool((hits == 1).all()))
    return segment, len(pos) if paired else 0


def _compare_leaves(rows: pa.Table | ParquetTable, latest: pa.Table, leaf_pos: np.ndarray,
                    election: Election, failures: list[Failure]) -> None:
    """Re-derive each row's leaf with its committed salt (row i ↔ ``latest`` row
    ``leaf_pos[i]``) and compare with the stored hash."""
    if rows.num_rows == 0:
        return
    salt_col = latest.column("salt")
    if salt_col.null_count:
        bad = pc.is_null(salt_col).to_numpy(zero_copy_only=False)[leaf_pos]
        if bad.any():
            failures.append(_ids_failure("leaf-data", "have a log entry without a salt",
                                         rows.filter(pa.array(bad)).column("ballot_id").to_pylist()))
            rows, leaf_pos = rows.filter(pa.array(~bad)), leaf_pos[~bad]
        latest = latest.take(pa.array(leaf_pos))
        leaf_pos = np.arange(len(leaf_pos))
    # gather whole 16- and 32-byte items (void dtypes) rather than taking Arrow rows; rows in
    # the log's own order (the usual case) are read in place, without a copy
    salts = fixed_view(latest.column("salt")).view("V16")
    stored = fixed_view(latest.column("leaf_hash")).view("V32")
    if not in_order(leaf_pos, len(stored)):
        salts, stored = salts[leaf_pos], stored[leaf_pos]
    types = latest.column("leaf_type").to_numpy()[leaf_pos]
    sup = None
    if (types == cn.SUPERSEDE).any():
        take = pa.array(leaf_pos)
        idx = latest.column("supersedes").take(take).to_pylist()
        reasons = latest.column("reason").take(take).to_pylist()
        sup = [None if ty == cn.CVR else (int(i or 0), r or "")
               for ty, i, r in zip(types.tolist(), idx, reasons, strict=True)]
    try:
        derived = cn.encode_and_hash(rows, election,
                                     salts.view(np.uint8).reshape(-1, cn.SALT_SIZE), sup)
    except TallyproofError as exc:
        failures.append(Failure("changed", f"the CVR table cannot be re-encoded: {exc}"))
        return
    d = np.frombuffer(derived, dtype=np.uint64).reshape(-1, 4)
    s = stored.view(np.uint64).reshape(-1, 4)
    if np.array_equal(d, s):
        return
    differ = np.flatnonzero((d != s).any(axis=1))
    changed = rows.column("ballot_id").take(pa.array(differ)).to_pylist()
    failures.append(_ids_failure("changed", "differ from what was committed", changed))


def _check_data_leaves(
    leaves: LogLeaves, table: pa.Table | ParquetTable, segment: np.ndarray, election: Election,
    failures: list[Failure],
) -> None:
    t = leaves.table
    types_all = t.column("leaf_type").to_numpy()
    is_data = ((types_all == cn.BATCH_CLOSE) | (types_all == cn.DEFINITION)
               | (types_all == cn.SNAPSHOT))
    data_leaves = t.filter(pa.array(is_data))
    datas = data_leaves.column("data").to_pylist()
    seg_of = leaves.segment_of()[np.flatnonzero(is_data)]
    stored = fixed_bytes(data_leaves.column("leaf_hash"))
    for i, d in enumerate(datas):
        if d is None or cn.hash_leaf(d) != stored[32 * i : 32 * i + 32]:
            index = data_leaves.column("leaf_index")[i].as_py()
            failures.append(Failure("leaf-data", f"leaf {index}: stored bytes do not match its hash"))
    types = data_leaves.column("leaf_type").to_pylist()
    defs = [d for d, ty in zip(datas, types, strict=True) if ty == cn.DEFINITION and d is not None]
    if not defs:
        failures.append(Failure("definition", "the log holds no election definition leaf"))
    else:
        _check_definitions(defs, cn.definition_leaf(election), failures)
    # batch close records: recompute per segment from the CVRs committed in that segment
    cards = table.select(BATCH_KEYS).append_column("segment", pa.array(segment))
    counts = batch_counts(cards.filter(pa.array(segment > 0)), by=["segment"])
    count_seg = counts.column("segment").to_numpy()
    for seg in range(1, len(leaves.segment_ends) + 1):
        want = batch_leaves_from_counts(counts.filter(pa.array(count_seg == seg)), election)
        have = sorted(d for d, ty, s in zip(datas, types, seg_of.tolist(), strict=True)
                      if ty == cn.BATCH_CLOSE and s == seg and d is not None)
        if want != have:
            diff = sorted(set(want) ^ set(have))
            names = sorted({_batch_name(d) for d in diff})
            failures.append(Failure(
                "batch-close", f"segment {seg}: batch counts differ from the CVRs committed in "
                f"it for {len(names)} batch(es): {', '.join(names[:MAX_IDS_IN_MESSAGE])}"))


def _check_snapshots(leaves: LogLeaves, history: Sequence[HistoryEntry] | StoreError | None,
                     failures: list[Failure]) -> None:
    """The log's results-snapshot leaves are exactly the history's entries, in order."""
    have = committed_snapshots(leaves)
    if isinstance(history, StoreError):
        failures.append(Failure("results-history", str(history)))
        return
    if history is None:
        if have:
            failures.append(Failure("results-history", f"the log commits {len(have)} results "
                                    "snapshot(s) but no results history was given"))
        return
    want = snapshot_leaves(list(history))
    for i, (w, h) in enumerate(zip(want, have, strict=False), start=1):
        if w != h:
            failures.append(Failure("results-history", f"results snapshot {i} differs from the "
                                    "one committed in the log"))
    if len(have) > len(want):
        failures.append(Failure("results-history", f"{len(have) - len(want)} committed results "
                                "snapshot(s) are missing from the results history"))
    elif len(want) > len(have):
        failures.append(Failure("results-history", f"{len(want) - len(have)} results snapshot(s) "
                                "were added after the last commit and are not committed"))


def _batch_name(leaf: bytes) -> str:
    """``source_file/tabulator/batch`` of a batch close leaf (for messages)."""
    pos = 2
    parts = []
    for k in range(3):
        n = int.from_bytes(leaf[pos : pos + 4], "big")
        pos += 4
        parts.append("-" if n == cn.NULL_LEN else leaf[pos : pos + n].decode("utf-8", "replace"))
        pos += 0 if n == cn.NULL_LEN else n
        if k == 0:
            pos += 33 if leaf[pos] == 1 else 1
    return "/".join(parts)


def _check_definitions(defs: list[bytes], current: bytes, failures: list[Failure]) -> None:
    """Every definition extends the one before (ids keep their codes); the last is current."""
    objs = [orjson.loads(d[2:]) for d in defs]
    for a, b in zip(objs, objs[1:], strict=False):
        ca, cb = a["contests"], b["contests"]
        ok = len(cb) >= len(ca) and all(
            x["id"] == y["id"]
            and [c["id"] for c in x["candidates"]] == [c["id"] for c in y["candidates"]][: len(x["candidates"])]
            for x, y in zip(ca, cb, strict=False)
        )
        if not ok:
            failures.append(Failure("definition", "a later committed definition re-numbers "
                                    "contests or candidates of an earlier one"))
    if defs[-1] != current:
        failures.append(Failure("definition", "the election's contests or candidates differ "
                                "from the last committed definition"))

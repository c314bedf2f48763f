"""What a full verification of a store's log established, so a later step need not redo it.

A full :func:`~tallyproof.ledger.verify_store.verify_store` re-derives every leaf from the CVR
table (the canonical encoding and one SHA-256 per card) and every node of the tree: minutes at
millions of cards. Once it has passed, the same answer holds for as long as none of the files it
read has changed. ``verify_store(store, record=True)`` then writes ``log/verified.json``:

* the checkpoint verified: its sequence number, tree size, root and the SHA-256 of its file;
* the checks run (every check of :mod:`.verify_store`) and the key trusted (``log/log.vkey``,
  the default trust; a verification against other keys is not recorded);
* the size and SHA-256 of every file the verification read: the CVR table, the election
  definition, every file of the log (segments, checkpoints, keys, co-signers) and of the
  results history.

:func:`verified_report` checks the record against the store as it is now: the same set of
files, each the same size (a cheap first test) and the same SHA-256 (hashing files runs at
disk speed, far below re-deriving the leaves). Any difference, or no record, returns ``None``
and the caller verifies in full. File modification times are not recorded: a hash cannot be
fooled by resetting a time, and the record stays the same bytes for the same store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from ..errors import UsageError
from ..fsutil import atomic_write_json
from ..results_history import history_dir
from ..store import Store, sha256_file
from .verify_store import LedgerReport

RECORD = "verified.json"
SCHEMA_VERSION = 1
#: The checks a full verification runs (:mod:`.verify_store`'s docstring).
CHECKS = ("log-structure", "signature", "origin", "checkpoint-size", "root", "consistency",
          "changed", "missing", "added", "duplicated", "leaf-data", "definition", "batch-close",
          "results-history")


def record_path(store: Store) -> Path:
    return store.log_dir / RECORD


def _inputs(store: Store) -> list[Path]:
    """Every file a full verification reads, in a fixed order (transient temp files aside)."""
    files = [store.election_path, store.cvrs_path]
    for folder in (store.log_dir, history_dir(store)):
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*") if p.is_file()
                            and p != record_path(store)
                            and not (p.name.startswith(".") and p.name.endswith(".tmp")))
    return [p for p in files if p.exists()]


def _sizes(store: Store) -> dict[str, int]:
    return {p.relative_to(store.root).as_posix(): p.stat().st_size for p in _inputs(store)}


def record_verification(store: Store, report: LedgerReport) -> Path:
    """Write ``log/verified.json`` for a passed verification of ``store`` (default trust)."""
    store.check_writable("the verification record")
    if not report.ok or report.root is None:
        raise UsageError("only a verification that passed can be recorded")
    from .log import checkpoint_paths

    latest = Path(checkpoint_paths(store)[-1])
    files = {rel: {"size": size, "sha256": sha256_file(store.root / rel)}
             for rel, size in _sizes(store).items()}
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "checkpoint": {"seq": report.checkpoints_checked, "tree_size": report.tree_size,
                       "root": report.root, "path": latest.relative_to(store.root).as_posix(),
                       "sha256": sha256_file(latest)},
        "checks": list(CHECKS),
        "trusted_key": report.log_key,
        "cosigners": list(report.cosigners),
        "files": files,
    }
    path = record_path(store)
    atomic_write_json(path, doc)
    return path


def verified_report(store: Store, digests: Mapping[str, str] | None = None,
                    record: Path | None = None) -> LedgerReport | None:
    """The recorded verification's report when every file it read is unchanged, else ``None``
    (no record, an unreadable one, or any file added, removed or changed since).

    ``digests``: SHA-256 of the store's files (by path relative to the store) that the caller
    computed from the very bytes it holds, e.g. a bundle hashing each file as it copies it;
    they stand in for hashing those files again. ``record``: the record to check the store
    against (default: the store's own; a bundle's copy of a store, which leaves the record
    out, is checked against the original's)."""
    path = record_path(store) if record is None else record
    if not path.is_file():
        return None
    try:
        doc = orjson.loads(path.read_bytes())
        if doc.get("schema_version") != SCHEMA_VERSION or list(doc["checks"]) != list(CHECKS):
            return None
        files: dict[str, dict[str, Any]] = doc["files"]
        cp = doc["checkpoint"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    now = _sizes(store)
    if set(now) != set(files) or any(files[k].get("size") != v for k, v in now.items()):
        return None
    known = digests or {}
    for rel in now:
        digest = known[rel] if rel in known else sha256_file(store.root / rel)
        if digest != files[rel].get("sha256"):
            return None
    return LedgerReport(ok=True, failures=[], tree_size=int(cp["tree_size"]), root=str(cp["root"]),
                        checkpoints_checked=int(cp["seq"]), log_key=doc.get("trusted_key"),
                        cosigners=list(doc.get("cosigners", [])))

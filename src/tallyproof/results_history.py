"""The results history: every unofficial and official results snapshot a store was given, in
the order published, append-only.

``results/history/`` holds each snapshot's file exactly as published (``0001-<sha256 prefix>.xml``
…) and ``history.json``, the list of entries (sequence number, file, SHA-256, format, timestamp,
original file name). Adding a snapshot checks that every earlier entry's file still has its
recorded hash (the history is append-only: an edited or deleted snapshot is refused, never
papered over), that the new one is later than the last, not already there, and of the same
format (a key-by-key comparison across formats would report format differences as changes).
The file and the new ``history.json`` land together in one transaction. ``commit`` then adds a
results-snapshot leaf per new entry to the store's log (see ``docs/commitment.md``), so the
history is committed like every CVR.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from .errors import StoreError, UsageError
from .formats.snapshot import Snapshot, read_snapshot
from .fsutil import transaction
from .store import Store, sha256_file

HISTORY_DIR = "history"
INDEX = "history.json"
SUFFIX = {"clarity": ".xml", "nist_err": ".json", "csv": ".csv"}


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    file: str  # relative to results/history/
    sha256: str
    format: str
    timestamp: str  # ISO 8601 UTC
    source_name: str  # the file's name as given

    def to_json(self) -> dict[str, object]:
        return {"seq": self.seq, "file": self.file, "sha256": self.sha256,
                "format": self.format, "timestamp": self.timestamp,
                "source_name": self.source_name}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> HistoryEntry:
        return cls(int(d["seq"]), str(d["file"]), str(d["sha256"]),  # type: ignore[call-overload]
                   str(d["format"]), str(d["timestamp"]), str(d["source_name"]))


def history_dir(store: Store) -> Path:
    return store.results_dir / HISTORY_DIR


def load_history(store: Store, check_files: bool = True) -> list[HistoryEntry]:
    """The entries in order; with ``check_files`` every file must still hash to its entry."""
    index = history_dir(store) / INDEX
    if not index.exists():
        return []
    try:
        doc = orjson.loads(index.read_bytes())
        entries = [HistoryEntry.from_json(d) for d in doc["snapshots"]]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{index} is not a results history: {exc}") from exc
    for i, e in enumerate(entries, start=1):
        if e.seq != i:
            raise StoreError(f"{index}: entry {i} has sequence number {e.seq}")
        if check_files:
            path = history_dir(store) / e.file
            if not path.is_file():
                raise StoreError(f"results snapshot {e.seq} ({e.file}) is missing from "
                                 f"{history_dir(store)}: the history is append-only")
            if sha256_file(path) != e.sha256:
                raise StoreError(f"results snapshot {e.seq} ({e.file}) no longer has SHA-256 "
                                 f"{e.sha256}: it was changed after it was added")
    return entries


def load_snapshots(store: Store) -> list[tuple[HistoryEntry, Snapshot]]:
    """Every snapshot of the history, read back from its stored file."""
    out = []
    for e in load_history(store):
        snap = read_snapshot(history_dir(store) / e.file,
                             None if e.format == "clarity" else e.timestamp)
        out.append((e, snap))
    return out


def add_snapshot(store: Store, path: Path, timestamp: str | None = None) -> HistoryEntry | None:
    """Append one published results file; ``None`` when this exact file is already there."""
    snap = read_snapshot(Path(path), timestamp)
    with store.writing():
        entries = load_history(store)
        for e in entries:
            if e.sha256 == snap.sha256:
                return None
        if entries:
            last = entries[-1]
            if snap.format != last.format:
                raise UsageError(f"the history holds {last.format} snapshots; {path} is "
                                 f"{snap.format}: keep one format per history")
            if snap.timestamp <= last.timestamp:
                raise UsageError(f"{path} is timestamped {snap.timestamp}, not after the last "
                                 f"snapshot ({last.timestamp}, #{last.seq}): add snapshots in "
                                 "the order they were published")
        seq = len(entries) + 1
        entry = HistoryEntry(seq, f"{seq:04d}-{snap.sha256[:16]}{SUFFIX[snap.format]}",
                             snap.sha256, snap.format, snap.timestamp, Path(path).name)
        data = Path(path).read_bytes()
        if hashlib.sha256(data).hexdigest() != snap.sha256:
            raise StoreError(f"{path} changed while it was being read")
        folder = history_dir(store)
        folder.mkdir(parents=True, exist_ok=True)
        with transaction(store.root) as tx:
            tx.write_bytes(folder / entry.file, data)
            tx.write_json(folder / INDEX,
                          {"snapshots": [e.to_json() for e in (*entries, entry)]})
        return entry

"""The election store: a plain folder a person can inspect (DESIGN.md).

::

    DIR/store.json        schema version, tool version
    DIR/election.json     contests, candidates, ingested source files (with SHA-256)
    DIR/cvrs.parquet      the CVR table (tallyproof.cvr_table)
    DIR/manifest.parquet  the ballot manifest, when one was given
    DIR/log/              commitment log (tallyproof.ledger)
    DIR/results/          tabulation and reconciliation outputs
    DIR/audit/            risk-limiting audit records

Every write goes through :mod:`tallyproof.fsutil`, so an interrupted ingest leaves the store as
it was. Appending re-writes ``cvrs.parquet`` as a whole (streamed, row group by row group)
because Parquet files cannot be appended to in place; this keeps the store one file a reader
can open with any Parquet tool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__
from .cvr_table import MARKS_TYPE, cvr_schema
from .errors import InputError, StoreError
from .fsutil import atomic_write_json, exclusive_lock, recover, transaction
from .model import Candidate, Contest, ContestKind, Election, SourceFile

STORE_SCHEMA_VERSION = 1
MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("container", pa.string()),
        pa.field("tabulator", pa.string()),
        pa.field("batch", pa.string()),
        pa.field("ballots", pa.int64()),
    ]
)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class Store:
    """An election store folder. Use :meth:`create` or :meth:`open`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---------------------------------------------------------------- paths
    @property
    def election_path(self) -> Path:
        return self.root / "election.json"

    @property
    def cvrs_path(self) -> Path:
        return self.root / "cvrs.parquet"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.parquet"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def audit_dir(self) -> Path:
        return self.root / "audit"

    # ---------------------------------------------------------------- life cycle
    @classmethod
    def create(cls, root: Path, election: Election | None = None) -> Store:
        """Create an empty store (or open it if it already is one)."""
        root = Path(root)
        if (root / "store.json").exists():
            return cls.open(root)
        if root.exists() and any(root.iterdir()):
            raise StoreError(f"{root} exists, is not empty and is not an election store")
        root.mkdir(parents=True, exist_ok=True)
        store = cls(root)
        atomic_write_json(store.election_path, (election or Election()).to_json())
        atomic_write_json(
            root / "store.json",
            {"schema_version": STORE_SCHEMA_VERSION, "created_by": f"tallyproof {__version__}"},
        )
        return store

    @classmethod
    def open(cls, root: Path) -> Store:
        root = Path(root)
        meta = root / "store.json"
        if not meta.exists():
            raise StoreError(f"{root} is not an election store (no store.json); run ingest first")
        version = orjson.loads(meta.read_bytes()).get("schema_version")
        if version != STORE_SCHEMA_VERSION:
            raise StoreError(f"{root}: store schema version {version} is not supported")
        with locked(root):
            recover(root)
        return cls(root)

    # ---------------------------------------------------------------- reading
    @property
    def election(self) -> Election:
        return Election.from_json(orjson.loads(self.election_path.read_bytes()))

    def has_cvrs(self) -> bool:
        return self.cvrs_path.exists()

    def cvrs(self, columns: list[str] | None = None) -> pa.Table:
        """The CVR table (or the named columns). Empty table with the schema if none yet."""
        if not self.cvrs_path.exists():
            return cvr_schema(self.election.contests).empty_table()
        return pq.read_table(self.cvrs_path, columns=columns)

    def iter_cvr_batches(
        self, columns: list[str] | None = None, batch_size: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        if not self.cvrs_path.exists():
            return
        pf = pq.ParquetFile(self.cvrs_path)
        yield from pf.iter_batches(batch_size=batch_size, columns=columns)

    def cvr_count(self) -> int:
        if not self.cvrs_path.exists():
            return 0
        return pq.ParquetFile(self.cvrs_path).metadata.num_rows

    def manifest(self) -> pa.Table | None:
        if not self.manifest_path.exists():
            return None
        return pq.read_table(self.manifest_path)

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with views ``cvrs`` and (when present) ``manifest``."""
        con = duckdb.connect()
        if self.cvrs_path.exists():
            con.execute(f"CREATE VIEW cvrs AS SELECT * FROM read_parquet('{_sql_str(self.cvrs_path)}')")
        if self.manifest_path.exists():
            con.execute(
                f"CREATE VIEW manifest AS SELECT * FROM read_parquet('{_sql_str(self.manifest_path)}')"
            )
        return con

    # ---------------------------------------------------------------- writing
    def set_election_info(self, *, name: str | None = None, jurisdiction: str | None = None,
                          date: str | None = None) -> None:
        with locked(self.root):
            e = self.election
            e = replace(
                e,
                name=name if name is not None else e.name,
                jurisdiction=jurisdiction if jurisdiction is not None else e.jurisdiction,
                date=date if date is not None else e.date,
            )
            atomic_write_json(self.election_path, e.to_json())

    def set_contest_rule(self, contest_id: str, *, kind: ContestKind, seats: int) -> Contest:
        """Declare how a contest is decided when the export cannot say it (a Dominion
        manifest has only ``VoteFor``, so an approval question reads as vote-for-N). Done
        before commitment: the committed election definition then carries it, and a later
        change is caught by ``verify``."""
        if seats < 1:
            raise InputError(f"contest {contest_id!r}: seats must be at least 1", field="seats")
        with locked(self.root):
            e = self.election
            try:
                old = e.contest(contest_id)
            except KeyError as exc:
                raise InputError(f"no contest {contest_id!r} in the store", field="contest") from exc
            new = replace(old, kind=kind, seats=seats)
            contests = tuple(new if c.id == contest_id else c for c in e.contests)
            atomic_write_json(self.election_path, replace(e, contests=contests).to_json())
            return new

    def append(
        self,
        election: Election,
        batches: Iterator[pa.RecordBatch],
        sources: Sequence[SourceFile] | Callable[[], Sequence[SourceFile]],
    ) -> int:
        """Append CVRs read under ``election`` (its own candidate codes); returns cards added.

        ``sources`` may be a function called once ``batches`` is exhausted (a reader that
        hashes files as it reads them knows their digests only then); a source already in the
        store is refused then, before anything is committed.

        Contests are matched by id; a candidate new to the store is added at the end of its
        contest's list (codes never change) and incoming codes are re-mapped. A ballot id that
        is already in the store, or twice in the input, is refused and nothing is written.
        """
        with locked(self.root):
            return self._append(election, batches, sources)

    def _append(
        self,
        incoming: Election,
        batches: Iterator[pa.RecordBatch],
        sources: Sequence[SourceFile] | Callable[[], Sequence[SourceFile]],
    ) -> int:
        current = self.election
        if not callable(sources):
            _check_new_sources(current, sources)  # before the rows are read: fail fast
        merged, remaps = merge_elections(current, incoming)
        schema = cvr_schema(merged.contests)
        added = 0
        with transaction(self.root) as tx:
            tmp = tx.path_for(self.cvrs_path)
            writer = pq.ParquetWriter(tmp, schema, compression="zstd")
            try:
                for old in self.iter_cvr_batches():
                    writer.write_batch(_conform(old, schema, {}))
                counted: dict[str, int] = {}
                for b in batches:
                    writer.write_batch(_conform(b, schema, remaps))
                    added += b.num_rows
                    vc = pc.value_counts(b.column(b.schema.get_field_index("source_file")))
                    for item in vc.to_pylist():
                        key = item["values"] or ""
                        counted[key] = counted.get(key, 0) + item["counts"]
            finally:
                writer.close()
            if callable(sources):  # before the id check: "same file again" is the clearer error
                sources = sources()
                _check_new_sources(current, sources)
            _check_unique_ids(tmp)
            merged = replace(
                merged,
                sources=current.sources
                + tuple(replace(s, cards=counted.get(s.name, s.cards)) for s in sources),
            )
            tx.write_json(self.election_path, merged.to_json())
        return added

    def write_manifest(self, table: pa.Table) -> None:
        with locked(self.root), transaction(self.root) as tx:
            tmp = tx.path_for(self.manifest_path)
            pq.write_table(table, tmp, compression="zstd")


# -------------------------------------------------------------------- helpers
def _sql_str(p: Path) -> str:
    return str(p).replace("'", "''")


def _check_new_sources(current: Election, sources: Sequence[SourceFile]) -> None:
    known = {s.sha256 for s in current.sources}
    for s in sources:
        if s.sha256 in known:
            raise InputError("this exact file was already ingested into the store", file=s.path)


def locked(root: Path) -> AbstractContextManager[None]:
    """One writer at a time per store (advisory lock on ``.lock``)."""
    return exclusive_lock(
        root / ".lock", lambda: StoreError(f"{root} is being written by another tallyproof process")
    )


def merge_elections(
    current: Election, incoming: Election
) -> tuple[Election, dict[str, np.ndarray]]:
    """Union of contests and candidates; for each incoming contest whose codes change, the
    array mapping incoming code → store code."""
    contests = {c.id: c for c in current.contests}
    order = [c.id for c in current.contests]
    remaps: dict[str, np.ndarray] = {}
    for inc in incoming.contests:
        have = contests.get(inc.id)
        if have is None:
            contests[inc.id] = inc
            order.append(inc.id)
            continue
        if have.kind != inc.kind or have.seats != inc.seats:
            raise InputError(
                f"contest {inc.id!r} is {inc.kind.value} with {inc.seats} seat(s) here but "
                f"{have.kind.value} with {have.seats} in the store",
                field="contest",
            )
        cands: list[Candidate] = list(have.candidates)
        ids = {c.id: i for i, c in enumerate(cands)}
        mapping = np.empty(max(len(inc.candidates), 1), dtype=np.uint16)
        for i, cand in enumerate(inc.candidates):
            if cand.id not in ids:
                ids[cand.id] = len(cands)
                cands.append(cand)
            mapping[i] = ids[cand.id]
        if len(inc.candidates) and not np.array_equal(mapping, np.arange(len(inc.candidates))):
            remaps[inc.id] = mapping
        contests[inc.id] = replace(
            have,
            candidates=tuple(cands),
            vote_for=max(have.vote_for, inc.vote_for),
            max_rankings=_max_opt(have.max_rankings, inc.max_rankings),
        )
    merged = replace(
        current,
        name=current.name if current.contests else incoming.name,
        jurisdiction=current.jurisdiction if current.contests else incoming.jurisdiction,
        date=current.date or incoming.date,
        contests=tuple(contests[i] for i in order),
    )
    return merged, remaps


def _max_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _remap_marks(arr: pa.Array, mapping: np.ndarray) -> pa.Array:
    """Re-code candidate codes in a list<list<uint16>> column (OVERVOTE_UNKNOWN kept)."""
    from .model import OVERVOTE_UNKNOWN

    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    inner = arr.values  # list<uint16> per rank position
    codes = inner.values.to_numpy(zero_copy_only=False)
    full = np.arange(OVERVOTE_UNKNOWN + 1, dtype=np.uint16)
    full[: len(mapping)] = mapping
    new_codes = pa.array(full[codes], type=pa.uint16())
    new_inner = pa.ListArray.from_arrays(inner.offsets, new_codes, mask=inner.is_null())
    return pa.ListArray.from_arrays(arr.offsets, new_inner, type=MARKS_TYPE, mask=arr.is_null())


def _conform(batch: pa.RecordBatch, schema: pa.Schema, remaps: dict[str, np.ndarray]) -> pa.RecordBatch:
    cols = []
    for f in schema:
        idx = batch.schema.get_field_index(f.name)
        if idx < 0:
            cols.append(pa.nulls(batch.num_rows, type=f.type))
            continue
        col = batch.column(idx)
        cid = f.name.removeprefix("contest:")
        if f.name.startswith("contest:") and cid in remaps:
            col = _remap_marks(col, remaps[cid])
        cols.append(col.cast(f.type) if col.type != f.type else col)
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _check_unique_ids(parquet_path: Path) -> None:
    con = duckdb.connect()
    dup = con.execute(
        "SELECT ballot_id, count(*) AS n FROM read_parquet(?) GROUP BY ballot_id HAVING n > 1 "
        "ORDER BY ballot_id LIMIT 10",
        [str(parquet_path)],
    ).fetchall()
    nulls = con.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE ballot_id IS NULL OR ballot_id = ''",
        [str(parquet_path)],
    ).fetchone()
    con.close()
    if nulls and nulls[0]:
        raise InputError(f"{nulls[0]} card(s) have no ballot id", field="ballot_id")
    if dup:
        listed = ", ".join(f"{b} (×{n})" for b, n in dup)
        raise InputError(
            f"duplicate ballot ids (already in the store or repeated in the input): {listed}",
            field="ballot_id",
        )


def candidate_codes(contest: Contest) -> dict[str, int]:
    return {c.id: i for i, c in enumerate(contest.candidates)}

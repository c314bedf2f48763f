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
can open with any Parquet tool. Several exports (the parts of one county's export) and the
ballot manifest are appended in one transaction by :mod:`tallyproof.store_append`; contest
rules are declared by :mod:`tallyproof.contest_rules`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .cvr_table import cvr_schema
from .errors import StoreBusy, StoreError
from .fsutil import INCOMPLETE, atomic_write_json, exclusive_lock, recover
from .model import Contest, ContestKind, Election, SourceFile

if TYPE_CHECKING:
    from .store_append import Appended, Incoming
    from .store_readonly import ReadOnlyStore

STORE_SCHEMA_VERSION = 1
MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("container", pa.string()),
        pa.field("tabulator", pa.string()),
        pa.field("batch", pa.string()),
        pa.field("ballots", pa.int64()),
    ]
)


def file_key(path: Path) -> tuple[int, int, int]:
    """A file's identity for a cache of what was read from it: inode, size and modification
    time (an atomic rewrite gives a new inode; an edit in place a new time or size)."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


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
        self._one_read = 0  # > 0 inside :meth:`reading_cvrs_once`
        self._cvr_cache: tuple[tuple[int, int, int], pa.Table] | None = None
        self._derived: dict[Any, Any] = {}  # see :meth:`derived_memo`
        self._election_cache: tuple[tuple[int, int, int], Election] | None = None

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
        if root.exists() and any(p.name != INCOMPLETE for p in root.iterdir()):
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
        """Open a store to read and write it: finishes an interrupted commit first, under the
        writer lock (:class:`StoreBusy` while another process writes it)."""
        root = Path(root)
        check_store_folder(root)
        with locked(root):
            recover(root)
        return cls(root)

    @classmethod
    def open_readonly(cls, root: Path) -> ReadOnlyStore:
        """Open the store's last completed state without the writer lock and without writing
        anything (:mod:`tallyproof.store_readonly`); :class:`StoreUpdating` when a write was
        in progress at each try. Close it (or use ``with``) when done."""
        from .store_readonly import open_readonly

        return open_readonly(root)

    # ---------------------------------------------------------------- write access
    #: False for a store opened with :meth:`open_readonly`
    readonly = False

    def writing(self) -> AbstractContextManager[None]:
        """The writer lock, held by everything that writes the store's files; a read-only
        store raises :class:`StoreReadOnly` instead."""
        return locked(self.root)

    def check_writable(self, what: str = "this") -> None:
        """For writers of one file that take no lock (results, audit records): raises
        :class:`StoreReadOnly` for a read-only store; nothing otherwise."""

    # ---------------------------------------------------------------- reading
    @property
    def election(self) -> Election:
        """The election definition. Inside :meth:`reading_cvrs_once` it is parsed once while
        the file stays the same (inode, size, modification time), as the CVR table is: a
        county's definition lists every export file read (4,000 and more), and the checks of
        one command ask for it a dozen times."""
        if not self._one_read:
            return Election.from_json(orjson.loads(self.election_path.read_bytes()))
        key = file_key(self.election_path)
        cached = self._election_cache
        if cached is None or cached[0] != key:
            cached = (key, Election.from_json(orjson.loads(self.election_path.read_bytes())))
            self._election_cache = cached
        return cached[1]

    def has_cvrs(self) -> bool:
        return self.cvrs_path.exists()

    def cvrs(self, columns: list[str] | None = None) -> pa.Table:
        """The CVR table (or the named columns). Empty table with the schema if none yet."""
        if not self.cvrs_path.exists():
            return cvr_schema(self.election.contests).empty_table()
        if not self._one_read:
            return pq.read_table(self.cvrs_path, columns=columns)
        key = file_key(self.cvrs_path)
        if self._cvr_cache is None or self._cvr_cache[0] != key:
            self._derived = {}
            self._cvr_cache = (key, pq.read_table(self.cvrs_path))
        table = self._cvr_cache[1]
        return table if columns is None else table.select(columns)

    @property
    def reads_cvrs_once(self) -> bool:
        """Inside :meth:`reading_cvrs_once`: readers should take :meth:`cvrs` (the table held in
        memory) rather than read the file on demand themselves."""
        return self._one_read > 0

    @contextlib.contextmanager
    def reading_cvrs_once(self) -> Iterator[Store]:
        """Within this block :meth:`cvrs` reads the whole table once and serves every call
        from memory: a command that runs several checks (report, bundle, verify) decodes the
        table once instead of once per check and contest. The file's identity (inode, size,
        modification time) is compared at each call, so a table rewritten meanwhile is read
        again; the table is dropped when the outermost block ends."""
        self._one_read += 1
        try:
            yield self
        finally:
            self._one_read -= 1
            if not self._one_read:
                self._cvr_cache = None
                self._election_cache = None
                self._derived = {}

    def derived_memo(self, read: bool = True) -> dict[Any, Any] | None:
        """Inside :meth:`reading_cvrs_once`, a dict where a check may keep what it derived from
        the table held in memory, so that a second stage of the same command asking the same
        question (the demo's official-results stage, then the reconciliation that includes
        it) does not compute it again. It is emptied whenever the table is read again (the
        file changed) and when the block ends; keys must name every other input (file
        digests, the election's). ``None`` outside the block: nothing is kept; and, with
        ``read=False``, while the table is not held yet (a caller that would only leave
        something there need not decode the table sooner than it would)."""
        if not self._one_read or not self.cvrs_path.exists():
            return None
        if not read and self._cvr_cache is None:
            return None
        self.cvrs()  # the table (and the memo) are those of the file as it is now
        return self._derived

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
        """A DuckDB connection with views ``cvrs`` and (when present) ``manifest`` (inside
        :meth:`reading_cvrs_once`, ``cvrs`` is the table already in memory); one thread while
        a forked pair already keeps both cores busy (:func:`.ledger.parallel.pair_running`)."""
        from .ledger.parallel import pair_running

        con = duckdb.connect(config={"threads": 1} if pair_running() else {})
        if self.cvrs_path.exists() and self._one_read:  # the table already decoded, shared
            con.register("cvrs", self.cvrs())
        elif self.cvrs_path.exists():
            con.execute(f"CREATE VIEW cvrs AS SELECT * FROM read_parquet('{_sql_str(self.cvrs_path)}')")
        if self.manifest_path.exists():
            con.execute(
                f"CREATE VIEW manifest AS SELECT * FROM read_parquet('{_sql_str(self.manifest_path)}')"
            )
        return con

    # ---------------------------------------------------------------- writing
    def set_election_info(self, *, name: str | None = None, jurisdiction: str | None = None,
                          date: str | None = None) -> None:
        with self.writing():
            e = self.election
            e = replace(
                e,
                name=name if name is not None else e.name,
                jurisdiction=jurisdiction if jurisdiction is not None else e.jurisdiction,
                date=date if date is not None else e.date,
            )
            atomic_write_json(self.election_path, e.to_json())

    def set_contest_rule(self, contest_id: str, *, kind: ContestKind, seats: int,
                         rcv_options: Mapping[str, str] | None = None) -> Contest:
        """Declare how a contest (id or name) is decided when the export cannot say it (a
        Dominion manifest has only ``VoteFor``, so an approval question reads as vote-for-N);
        see :func:`tallyproof.contest_rules.declare_rule`, which says what must be re-run."""
        from .contest_rules import declare_rule

        return declare_rule(self, contest_id, kind=kind, seats=seats,
                            rcv_options=rcv_options).contest

    def append(
        self,
        election: Election,
        batches: Iterator[pa.RecordBatch],
        sources: Sequence[SourceFile],
    ) -> int:
        """Append CVRs read under ``election`` (its own candidate codes); returns cards added.

        Contests are matched by id; a candidate new to the store is added at the end of its
        contest's list (codes never change) and incoming codes are re-mapped. A source already
        in the store, or a ballot id that is already in the store or twice in the input, is
        refused and nothing is written. See :func:`append_exports` for several exports.
        """
        from .store_append import one_export

        return self.append_exports(one_export(election, batches, sources))[0].cards

    def append_exports(
        self, exports: Iterable[Incoming], manifest: pa.Table | None = None
    ) -> list[Appended]:
        """Append several exports and (when given) replace the ballot manifest, all in one
        transaction (:mod:`tallyproof.store_append`): all of it lands or none of it does."""
        from .store_append import append_exports

        with self.writing():
            return append_exports(self, exports, manifest)

    def write_manifest(self, table: pa.Table) -> None:
        self.append_exports([], table)


# -------------------------------------------------------------------- helpers
def check_store_folder(root: Path) -> None:
    """:class:`StoreError` unless ``root`` is a complete store of the supported schema (read
    only: the check of both :meth:`Store.open` and :meth:`Store.open_readonly`)."""
    meta = root / "store.json"
    if not meta.exists():
        raise StoreError(f"{root} is not an election store (no store.json); run ingest first")
    if (root / INCOMPLETE).exists():
        raise StoreError(f"{root} is what a failed or killed ingest left, not an election "
                         "store; the next ingest into the same store removes it")
    version = orjson.loads(meta.read_bytes()).get("schema_version")
    if version != STORE_SCHEMA_VERSION:
        raise StoreError(f"{root}: store schema version {version} is not supported")


def _sql_str(p: Path) -> str:
    return str(p).replace("'", "''")


def locked(root: Path) -> AbstractContextManager[None]:
    """One writer at a time per store (advisory lock on ``.lock``)."""
    return exclusive_lock(
        root / ".lock", lambda: StoreBusy(f"{root} is being written by another tallyproof process")
    )


def candidate_codes(contest: Contest) -> dict[str, int]:
    return {c.id: i for i, c in enumerate(contest.candidates)}

"""Worker processes for the Dominion reader: groups of export files decoded in parallel and
put back in file order, sessions checked across files, batches re-cut to a fixed size.

Why apart from :mod:`.dominion`: this is scheduling (which files go where, how far ahead,
in what order they come back), not the format; the reader hands it a picklable module-level
function that turns a group of files into rows, and the pool never needs to know what a
session is beyond its (tabulator, batch, record) key.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InputError


@dataclass(frozen=True)
class FileKeys:
    """The sessions read from one export file."""

    path: Path
    index: np.ndarray  # position in ``Sessions`` of each session read
    keys: np.ndarray  # (sessions, 3) int64: TabulatorId, BatchId, RecordId
    sha256: str  # of the file's bytes, as decoded


@dataclass(frozen=True)
class FilesRows:
    """Rows of a group of consecutive export files, and their sessions file by file."""

    batches: list[pa.RecordBatch]
    files: list[FileKeys]


# ---------------------------------------------------------------------------------------------
# several files at once: decoding and building rows is CPU-bound Python, some 50,000-70,000
# cards a second on one core (fewer the more contests a card has). A pool of processes reads
# groups of consecutive files; the parent takes the results in file order, checks sessions
# across files and re-cuts the batches, so the table is the same, row for row and batch for
# batch, whatever the number of workers or their timing.

#: Files are read in groups of about this much JSON (the unit of work of a worker).
GROUP_BYTES = 16 << 20

#: Upper bound on decoding processes (the parent still needs a core to write Parquet).
MAX_WORKERS = 2

#: Below this much CVR JSON a pool costs more to start and feed than it saves.
PARALLEL_MIN_BYTES = 64 << 20

#: Groups handed out ahead: at least this many per worker, to keep them busy...
AHEAD_PER_WORKER = 2

#: ...and more while their JSON totals less than this, so that decoding can run well ahead
#: of a parent busy hashing the files; rows take a fraction of the size of their JSON, so
#: memory stays bounded by this budget, not by the export.
AHEAD_BYTES = 256 << 20

#: What a worker reads files with: a module-level function (pickled by name), and its job.
ReadFiles = Callable[[list[Path], Any], FilesRows]

_worker_read_files: ReadFiles | None = None
_worker_job: Any = None


def _init_worker(read_files: ReadFiles, job: Any) -> None:
    global _worker_read_files, _worker_job
    _worker_read_files, _worker_job = read_files, job


def _worker_read(
    paths: list[Path],
) -> FilesRows | tuple[str, str | None, str | int | None, str | None]:
    """Read a group of files in a worker. An :class:`InputError` comes back as its parts,
    re-raised by the parent: its keyword-only constructor does not survive pickling."""
    if _worker_read_files is None:
        raise RuntimeError("worker used before its initializer ran")
    try:
        return _worker_read_files(paths, _worker_job)
    except InputError as exc:
        return (exc.message, exc.file, exc.record, exc.field)


def default_workers(exports: list[Path], size: int | None = None) -> int:
    """Decoding processes for these files (``size``: their bytes, when already known): 1
    (in-process) for a small export, a single file, a single core or inside a daemonic worker
    process; else up to :data:`MAX_WORKERS`."""
    if len(exports) < 2 or mp.current_process().daemon:
        # a daemonic process (a Dask or multiprocessing worker, already one per core) may not
        # start processes of its own: it decodes in-process
        return 1
    if size is None:
        size = sum(map(_size, exports))  # an unreadable file is reported by its reader
    if size < PARALLEL_MIN_BYTES:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cores or 1, len(exports)))


def _size(path: Path) -> int:
    """Bytes of a file, for the read-ahead budget only (an unreadable file is reported by the
    worker that tries to read it, with its name)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_ahead(paths: list[Path]) -> None:
    """Ask the kernel to start reading these files into its cache (POSIX_FADV_WILLNEED), so
    that a worker finds them there rather than waiting on the disk while its core idles: an
    export on disk, not yet cached, is read while earlier files are decoded.

    Only a hint: where the platform has no ``posix_fadvise``, or a file cannot be opened, it
    does nothing, and the worker that reads the file reports any error with the file's name."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # reported by the worker that opens it
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass  # a file system without read-ahead: the worker reads it all the same
        finally:
            os.close(fd)


def _pool_context() -> mp.context.BaseContext:
    """How worker processes start. On Python 3.11, "fork": "spawn" and "forkserver" re-run
    the caller's main script in each worker, which breaks a script that calls ingest without
    an ``if __name__`` guard, and costs a second start-up; the workers only decode JSON and
    build Arrow arrays, and Arrow re-initialises its pools after a fork. From 3.12 Python
    warns that forking a threaded process (Arrow's pools) may deadlock, so there the safe
    "forkserver" is used (the default from 3.14); callers then need the usual main guard."""
    methods = mp.get_all_start_methods()
    if sys.version_info < (3, 12) and "fork" in methods:
        return mp.get_context("fork")
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


class FilePool:
    """Groups of files read by worker processes, yielded in the order given. The first are
    handed out as soon as the pool exists, so decoding overlaps whatever the caller does before
    it asks for rows."""

    def __init__(
        self,
        groups: list[tuple[list[Path], int]],
        read_files: ReadFiles,
        job: Any,
        workers: int,
    ) -> None:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=_pool_context(),
            initializer=_init_worker,
            initargs=(read_files, job),
        )
        # shut down when iteration ends, fails or is abandoned, or when never iterated at all
        self._shutdown = weakref.finalize(self, pool.shutdown, wait=True, cancel_futures=True)
        self._pool = pool
        self._min_ahead = workers * AHEAD_PER_WORKER
        self._todo = list(reversed(groups))  # popped from the end
        self._ahead: deque[tuple[Future[Any], int]] = deque()
        self._ahead_bytes = 0
        self._hand_out()

    def _hand_out(self) -> None:
        while self._todo and (
            len(self._ahead) < self._min_ahead
            or self._ahead_bytes + self._todo[-1][1] <= AHEAD_BYTES
        ):
            paths, size = self._todo.pop()
            read_ahead(paths)
            self._ahead.append((self._pool.submit(_worker_read, paths), size))
            self._ahead_bytes += size

    def __iter__(self) -> Iterator[FilesRows]:
        try:
            while self._ahead:
                future, size = self._ahead.popleft()
                got = future.result()
                self._ahead_bytes -= size
                self._hand_out()
                if isinstance(got, tuple):
                    message, file, record, field = got
                    raise InputError(message, file=file, record=record, field=field)
                yield got
        finally:
            self._shutdown()


class SessionKeys:
    """Sessions seen in earlier files, grouped by (tabulator, batch): a Dominion file holds one
    batch, so a file's sessions are usually compared with nothing at all."""

    def __init__(self) -> None:
        self.by_batch: dict[tuple[int, int], list[np.ndarray]] = {}

    def add(self, rows: FileKeys) -> None:
        keys = rows.keys
        if not len(keys):
            return
        if (keys[:, :2] == keys[0, :2]).all():  # the usual case: one batch per file
            groups = [(keys[0, :2].tolist(), np.arange(len(keys)))]
        else:
            pairs, inverse = np.unique(keys[:, :2], axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
            groups = [(pair, np.flatnonzero(inverse == g)) for g, pair in enumerate(pairs.tolist())]
        for (tab, bat), mine in groups:
            earlier = self.by_batch.setdefault((tab, bat), [])
            if earlier:
                clash = mine[np.isin(keys[mine, 2], np.concatenate(earlier))]
                if clash.size:
                    first = int(clash.min())
                    rec = int(keys[first, 2])
                    raise InputError(
                        f"session {tab}-{bat}-{rec} appears twice in the export",
                        file=rows.path,
                        record=f"Sessions[{int(rows.index[first])}]",
                        field="RecordId",
                    )
            earlier.append(keys[mine, 2].copy())


def rechunk(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, size: int
) -> Iterator[pa.RecordBatch]:
    """The same rows in batches of exactly ``size`` (the last may be shorter)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for b in batches:
        if not b.num_rows:
            continue
        held.append(b)
        count += b.num_rows
        if count < size:
            continue
        table = pa.Table.from_batches(held, schema=schema)
        start = 0
        while count - start >= size:
            yield table.slice(start, size).combine_chunks().to_batches()[0]
            start += size
        held = table.slice(start).to_batches()
        count -= start
    if count:
        yield pa.Table.from_batches(held, schema=schema).combine_chunks().to_batches()[0]


def file_groups(exports: list[Path]) -> list[tuple[list[Path], int]]:
    """Consecutive files of about :data:`GROUP_BYTES` together, with their size: the unit of
    work, in one process or in a worker."""
    groups: list[tuple[list[Path], int]] = []
    paths: list[Path] = []
    size = 0
    for path in exports:
        paths.append(path)
        size += _size(path)
        if size >= GROUP_BYTES:
            groups.append((paths, size))
            paths, size = [], 0
    if paths:
        groups.append((paths, size))
    return groups


def checked_batches(
    groups: Iterable[FilesRows], digests: dict[Path, str]
) -> Iterator[pa.RecordBatch]:
    """The files' batches, after checking each file's sessions against the earlier files';
    each file's SHA-256 is put in ``digests``."""
    seen = SessionKeys()
    for rows in groups:
        for file_keys in rows.files:
            seen.add(file_keys)
            digests[file_keys.path] = file_keys.sha256
        yield from rows.batches

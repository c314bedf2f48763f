"""Group commit: one thread writes the audit boards' entries, as many as are waiting in one
transaction, and each request is answered once its entry's transaction is committed.

Why: on SQLite one connection writes at a time and every commit is an ``fsync``
(``synchronous = FULL``). With each request writing its own entry, 200 boards' requests
queued on SQLite's write lock, whose busy handler polls with sleeps of up to 100 ms and
serves no one in order: the tail of the latency was requests losing that race again and
again (docs/server.md, "Load and faults"). Here the requests queue in memory instead, in
order, the writer takes the write lock once per batch (``BEGIN IMMEDIATE``: it never has to
upgrade a read to a write), and one ``fsync`` covers the batch.

Durability is unchanged: a request's answer waits for the commit of the transaction holding
its entry, so an acknowledged entry is on disk; a ``kill -9`` before that commit loses only
entries no one was told were saved (their boards send them again with the same key). Each
entry is written in a savepoint, so one refused entry (a closed board, a key reused with
another reading) rolls back alone and the others of its batch are committed. If the commit
itself fails, every entry of the batch is answered with the error: none is acknowledged.

PostgreSQL has no single writer: concurrent transactions commit in parallel, so there the
app uses :class:`DirectWriter` (the same call; the write is part of the request's own
transaction, as before). One writer thread there would serialise every statement's round
trip to the database server for no shared ``fsync`` worth having (PostgreSQL already groups
concurrent commits' WAL flushes); measured both ways, it showed no gain there.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from ..errors import TallyproofError

T = TypeVar("T")

#: the most writes one transaction carries (a bound on how long the write lock is held)
MAX_BATCH = 64


class WriteLost(TallyproofError):
    """The transaction of a write was rolled back under the writer (SQLite ended it after an
    error): nothing of its batch is saved, and no one is told otherwise."""


@dataclass
class _Write(Generic[T]):
    work: Callable[[Session], T]
    future: Future[T] = field(default_factory=Future)


class GroupWriter:
    """A writer thread (started at the first write) over ``sessions``' database; ``sqlite``
    says whether that is SQLite (its transactions begin ``IMMEDIATE`` and are checked to be
    still open before the commit)."""

    def __init__(self, sessions: sessionmaker, sqlite: bool, max_batch: int = MAX_BATCH) -> None:
        self._sessions, self._sqlite, self._max = sessions, sqlite, max_batch
        self._queue: queue.SimpleQueue[_Write[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        #: batches committed and writes in them (the tests and the docs read these)
        self.batches = 0
        self.writes = 0

    def submit(self, work: Callable[[Session], T]) -> Future[T]:
        """Queue ``work`` (called with the batch's session, inside a savepoint); the future
        holds its result once the batch is committed, or its exception."""
        item: _Write[T] = _Write(work)
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, args=(self._queue,),
                                                name="group-writer", daemon=True)
                self._thread.start()
            self._queue.put(item)
        return item.future

    def write(self, work: Callable[[Session], T], session: Session | None = None,
              timeout: float | None = None) -> T:
        """:meth:`submit`, and wait for the commit (from a worker thread, never the event
        loop): ``work``'s result, or its exception, or the commit's. ``session`` (the
        request's) is not used: the write is in the batch's own transaction."""
        return self.submit(work).result(timeout)

    def close(self) -> None:
        """Write what is queued, then stop the thread (a later write starts another)."""
        with self._start:
            thread, q = self._thread, self._queue
            self._thread, self._queue = None, queue.SimpleQueue()
            if thread is not None:
                q.put(None)
        if thread is not None:
            thread.join()

    # ------------------------------------------------------------------ the thread
    def _loop(self, q: queue.SimpleQueue[_Write[Any] | None]) -> None:
        stop = False
        while not stop:
            first = q.get()
            if first is None:
                return
            batch: list[_Write[Any]] = [first]
            while len(batch) < self._max:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)

    def _still_open(self, s: Session) -> None:
        """On SQLite, an error may end the transaction (SQLITE_FULL, an I/O error): later
        statements would then commit one by one and the final COMMIT would do nothing, so a
        write rolled back would be acknowledged. Refuse the batch instead."""
        if self._sqlite and not s.connection().connection.dbapi_connection.in_transaction:
            raise WriteLost("the database ended the batch's transaction; nothing was saved")

    def _commit(self, batch: list[_Write[Any]]) -> None:
        live = [w for w in batch if w.future.set_running_or_notify_cancel()]
        done: list[tuple[_Write[Any], Any, BaseException | None]] = []
        try:
            with self._sessions() as s:
                if self._sqlite:
                    # the write lock now, not at the first INSERT: no read to upgrade
                    s.connection().exec_driver_sql("BEGIN IMMEDIATE")
                for w in live:
                    try:
                        with s.begin_nested():
                            got = w.work(s)
                        done.append((w, got, None))
                    except Exception as exc:  # noqa: BLE001 (handed to its request)
                        done.append((w, None, exc))
                    self._still_open(s)
                s.commit()
        except BaseException as exc:  # the batch is not saved: no write of it is acknowledged
            for w in live:
                w.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        self.writes += sum(1 for _, _, e in done if e is None)
        for w, got, err in done:
            if err is None:
                w.future.set_result(got)
            else:
                w.future.set_exception(err)


class DirectWriter:
    """:class:`GroupWriter`'s interface with no thread, for PostgreSQL (whose writers do not
    queue on one lock): the write runs in the request's own session and transaction, which
    the request commits before its answer is sent (:func:`.deps.db`), as every other write
    of the app."""

    def __init__(self) -> None:
        self.batches = 0
        self.writes = 0
        self._count = threading.Lock()

    def write(self, work: Callable[[Session], T], session: Session,
              timeout: float | None = None) -> T:
        """``work(session)``; ``timeout`` is :class:`GroupWriter`'s (nothing is queued)."""
        got = work(session)
        with self._count:
            self.batches += 1
            self.writes += 1
        return got

    def close(self) -> None:
        """Nothing to stop."""


def writer_for(sessions: sessionmaker, dialect: str) -> GroupWriter | DirectWriter:
    """The app's writer: group commit on SQLite (one writer, an ``fsync`` per commit), a
    transaction per write elsewhere."""
    return GroupWriter(sessions, sqlite=True) if dialect == "sqlite" else DirectWriter()

"""The group writer (:mod:`tallyproof.server.writer`): writes waiting together share one
transaction; one refused write rolls back alone; a batch whose transaction does not commit
acknowledges none of its writes. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tallyproof.errors import TallyproofError
from tallyproof.server import activity
from tallyproof.server.db import Activity, session_factory
from tallyproof.server.migrate import upgrade
from tallyproof.server.writer import DirectWriter, GroupWriter, WriteLost, writer_for

NOW = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)
WAIT = 30.0


@pytest.fixture
def writer(engine: Engine) -> Iterator[GroupWriter]:
    upgrade(engine)
    w = GroupWriter(session_factory(engine), engine.dialect.name == "sqlite")
    yield w
    w.close()


def _log(detail: str):  # noqa: ANN202
    def work(s: Session) -> int:
        activity.record(s, NOW, "test", "wrote", detail=detail)
        s.flush()
        return int(s.scalar(select(func.max(Activity.id))) or 0)
    return work


def _details(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.scalars(select(Activity.detail).order_by(Activity.id)))


def _hold(writer: GroupWriter) -> tuple[threading.Event, threading.Event]:
    """Queue a write that blocks the writer's thread until released: what is queued
    meanwhile goes into one batch."""
    started, release = threading.Event(), threading.Event()

    def hold(s: Session) -> None:
        started.set()
        if not release.wait(WAIT):
            raise TimeoutError("the test never released the writer")
    writer.submit(hold)
    assert started.wait(WAIT)
    return started, release


def test_writes_queued_together_share_one_commit(engine: Engine,
                                                 writer: GroupWriter) -> None:
    _, release = _hold(writer)
    futures = [writer.submit(_log(f"entry {k}")) for k in range(10)]
    assert not any(f.done() for f in futures)  # nothing acknowledged before its commit
    release.set()
    ids = [f.result(WAIT) for f in futures]
    assert ids == sorted(ids) and len(set(ids)) == 10
    assert writer.batches == 2 and writer.writes == 11  # the held write, then the ten
    assert _details(engine) == [f"entry {k}" for k in range(10)]


def test_a_refused_write_rolls_back_alone(engine: Engine, writer: GroupWriter) -> None:
    def refused(s: Session) -> None:
        activity.record(s, NOW, "test", "wrote", detail="refused")
        s.flush()
        raise TallyproofError("refused by the test")

    _, release = _hold(writer)
    before = writer.submit(_log("before"))
    bad = writer.submit(refused)
    after = writer.submit(_log("after"))
    release.set()
    with pytest.raises(TallyproofError, match="refused by the test"):
        bad.result(WAIT)
    before.result(WAIT), after.result(WAIT)
    assert _details(engine) == ["before", "after"]


def test_a_failed_commit_acknowledges_nothing(engine: Engine, writer: GroupWriter) -> None:
    failing = threading.Event()

    @event.listens_for(Session, "before_commit")
    def _fail(session: Session) -> None:
        if failing.is_set():
            raise RuntimeError("the disk is full (the test)")

    try:
        _, release = _hold(writer)
        futures = [writer.submit(_log(f"lost {k}")) for k in range(3)]
        failing.set()
        release.set()
        for f in futures:
            with pytest.raises(RuntimeError, match="disk is full"):
                f.result(WAIT)
    finally:
        event.remove(Session, "before_commit", _fail)
    assert _details(engine) == []
    assert writer.write(_log("later"), WAIT) > 0  # the writer goes on after a failed batch
    assert _details(engine) == ["later"]


def test_sqlite_ending_the_transaction_fails_the_whole_batch(engine: Engine,
                                                             writer: GroupWriter) -> None:
    """Were SQLite to roll the batch back under the writer (after an I/O error), the writes
    before would be gone and those after committed one by one: the batch is refused."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL never ends a transaction on its own")

    def rollback(s: Session) -> None:
        s.connection().exec_driver_sql("ROLLBACK")

    _, release = _hold(writer)
    first = writer.submit(_log("first"))
    middle = writer.submit(rollback)
    last = writer.submit(_log("last"))
    release.set()
    for f in (first, last):
        with pytest.raises(WriteLost):
            f.result(WAIT)
    with pytest.raises(Exception):  # noqa: B017 (its own error, or WriteLost)
        middle.result(WAIT)
    assert _details(engine) == []


def test_sqlite_batches_take_the_write_lock_first(engine: Engine,
                                                  writer: GroupWriter) -> None:
    """A batch begins IMMEDIATE: while another connection holds the write lock, no write of
    the batch starts (not even its reads), so a batch never has to upgrade a read."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    called = threading.Event()

    def work(s: Session) -> int:
        called.set()
        return _log("waited")(s)

    with engine.connect() as other:
        other.exec_driver_sql("BEGIN IMMEDIATE")
        future = writer.submit(work)
        time.sleep(0.5)
        assert not called.is_set() and not future.done()
        other.exec_driver_sql("COMMIT")
    assert future.result(WAIT) > 0
    assert _details(engine) == ["waited"]


def test_the_app_groups_writes_on_sqlite_only(engine: Engine) -> None:
    """SQLite (one writer, an fsync a commit) gets the group writer; PostgreSQL writes each
    entry in its request's own transaction, in parallel with the others."""
    w = writer_for(session_factory(engine), engine.dialect.name)
    assert isinstance(w, GroupWriter if engine.dialect.name == "sqlite" else DirectWriter)
    w.close()


def test_a_direct_write_is_part_of_the_callers_transaction(engine: Engine) -> None:
    upgrade(engine)
    w = DirectWriter()
    with session_factory(engine)() as s:
        with s.begin():
            assert w.write(_log("kept"), session=s) > 0
        with pytest.raises(TallyproofError), s.begin():
            w.write(_log("rolled back"), session=s)
            raise TallyproofError("the request failed after the write")
    assert _details(engine) == ["kept"] and (w.batches, w.writes) == (2, 2)

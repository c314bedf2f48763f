"""``kill -9`` of a real server (``tallyproof serve`` in a subprocess) while audit boards enter
ballots through the JSON API, then a restart: every acknowledged entry is in the database
once, the clients' retries (same entry keys) add no duplicate, and the commit jobs the kill
interrupted end (resumed, or failed with a message). A small version of
``benchmarks/bench_server_load.py``; on SQLite and PostgreSQL. No timing is asserted."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tallyproof.server import drill

from .conftest import pg_schema

#: kill -9 drills on both databases
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL the server process can open: a SQLite file, or a throw-away PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'control-room.sqlite'}"
        return
    with pg_schema("tp_drill") as (url, schema):
        yield f"{url}?options=-csearch_path%3D{schema}"


def test_kill_9_loses_no_acknowledged_entry(state_root: Path, database_url: str,
                                            tmp_path: Path) -> None:
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    drill.start_audit(root, risk_limit=0.2)
    allocation = drill.allocate(root, 3)
    prepared = drill.set_up(root, database_url, allocation)
    truth = {c: drill.paper(root, c) for c in allocation}
    res = _killed_half_way(root, database_url, tmp_path, prepared, truth)
    # the commit jobs queued just before the kill: none left open, none failed silently
    assert res.jobs_after and all(st in ("done", "failed") for st, _ in res.jobs_after.values())
    assert res.jobs_ok
    assert all(m.strip() for _, m in res.jobs_after.values())


def test_the_drill_finds_a_lost_entry(tmp_path: Path) -> None:
    """The check itself can fail: an acknowledged entry missing from the database is lost."""
    from tallyproof.server.db import make_engine
    from tallyproof.server.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    tally = drill.Tally(acked={("board x/round-1/1", "key-1"): (1, "b-1")})
    check = drill.check_entries(url, tally)
    assert check.lost == ["board x/round-1/1 key-1"] and not check.ok


def test_kill_9_loses_no_acknowledged_batch_count(batch_state_root: Path, database_url: str,
                                                  tmp_path: Path) -> None:
    """The same drill with boards that count whole batches (a stratified audit's batch
    county) beside a card board: their counts go through the same writer, so a kill -9
    loses none that was acknowledged and a retry saves none twice."""
    root = tmp_path / "state"
    shutil.copytree(batch_state_root, root)
    drill.start_audit(root, risk_limit=0.2, kind="stratified")
    allocation = {"county-01": 1, "county-03": 2}
    prepared = drill.set_up(root, database_url, allocation)
    truth = {"county-01": drill.paper(root, "county-01"),
             "county-03": drill.batch_paper(root, "county-03")}
    res = _killed_half_way(root, database_url, tmp_path, prepared, truth)
    # batch counts were among what the kill interrupted, and are all there
    batch_ids = set(truth["county-03"])
    assert any(unit in batch_ids for _, unit in res.tally.acked.values())
    assert res.jobs_ok


def _killed_half_way(root: Path, database_url: str, tmp_path: Path, prepared, truth):  # noqa: ANN001, ANN202
    """Two passes over every board's cards with a kill -9 a third of the way, and what every
    run of the drill must show: the kill in the middle of the load, the server back, every
    entry acknowledged once and in the database."""
    passes = 2
    total = prepared.cards * passes
    server = drill.ServerProcess(root, database_url, tmp_path / "server.log")
    res = drill.run_drill(server, prepared, truth, passes, think=0.01, kill_after=total // 3)
    log = (tmp_path / "server.log").read_text()
    assert not res.tally.errors, (res.tally.errors, log[-3000:])
    assert 0 < res.acked_at_kill < total
    assert log.count("Application startup complete") == 2
    assert len(res.tally.acked) == total
    assert res.check.lost == [] and res.check.duplicated == []
    assert res.check.entries == total and res.check.unacknowledged_rows == 0
    return res

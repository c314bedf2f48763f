"""The statewide audit's work as jobs: starting it, drawing a round and closing one run on the
job runner (the request answers at once), one at a time and never beside a county's job (the
statewide lock), with progress, a failure that says why, and a restart that resumes or closes
what a stopped server left open. SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tallyproof.server import audit_control, audit_jobs
from tallyproof.server.activity import CountyBusy, finish_job, start_job
from tallyproof.server.app import create_app
from tallyproof.server.config import Settings
from tallyproof.server.db import STATE_LOCK, Activity, Job
from tallyproof.state.audit import start_state_audit
from tallyproof.state.audit_tasks import audit_dir
from tallyproof.state.executor import InProcess

from .conftest import CHEAP, Clock, Server, make_server
from .test_board import SEED, _audit_job, _post
from .test_uploads import Api

START = {"risk_limit": "0.1", "seed": SEED}


@pytest.fixture
def audit_server(state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> Server:
    """A server over a copy of the test state (the audit writes into the state folder)."""
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    return make_server(root, engine, clock, upload_dir=tmp_path / "uploads")


def _root(server: Server) -> Path:
    return server.app.state.settings.state_dir


def _state_jobs(server: Server) -> list[Job]:
    with server.app.state.sessionmaker() as db:
        return list(db.scalars(select(Job).where(Job.county == STATE_LOCK).order_by(Job.id)))


def test_the_statewide_lock_and_the_county_locks_exclude_each_other(
        audit_server: Server) -> None:
    server, sm = audit_server, audit_server.app.state.sessionmaker
    now = server.app.state.settings.now()
    sa = server.login("sa")
    with sm.begin() as db:
        county_job = start_job(db, "county-01", "commit", server.users["ca"], now).id
    r = _post(sa, "/state/audit/start", START)
    assert r.status_code == 409 and "county county-01 is busy" in r.text, r.text
    assert not (audit_dir(_root(server)) / "audit.json").exists() and not _state_jobs(server)
    with sm.begin() as db:
        finish_job(db, db.get(Job, county_job), True, now)
        held = audit_jobs.queue(db, audit_jobs.AUDIT_START, {"risk_limit": 0.1, "seed": SEED,
                                                             "kind": "comparison"},
                                server.users["sa"], "sa", now).id  # queued, not run
    r = _post(sa, "/state/audit/start", START)
    assert r.status_code == 409 and "statewide audit is busy" in r.text
    ca = Api(server, "ca")
    r = ca.c.post("/api/county/county-01/jobs", headers=ca.h, json={"kind": "commit"})
    assert r.status_code == 409 and f"statewide audit's job {held}" in r.json()["detail"]
    assert [j.id for j in _state_jobs(server)] == [held]


def test_a_county_job_queued_during_a_statewide_queuing_waits_and_is_refused(
        audit_server: Server) -> None:
    """Two queuings at once, in two transactions: the second waits for the first to commit,
    then sees its lock (SQLite's one writer; PostgreSQL's advisory lock, without which each
    would miss the other's uncommitted row)."""
    sm, now = audit_server.app.state.sessionmaker, audit_server.app.state.settings.now()
    first_in = threading.Event()
    errors: list[BaseException] = []

    def statewide() -> None:
        with sm.begin() as db:
            audit_jobs.queue(db, audit_jobs.AUDIT_ROUND, {"round": 1},
                             audit_server.users["sa"], "sa", now)
            first_in.set()
            time.sleep(0.5)  # still uncommitted while the county's queuing starts

    t = threading.Thread(target=statewide)
    t.start()
    assert first_in.wait(10)
    try:
        with sm.begin() as db:
            start_job(db, "county-02", "commit", audit_server.users["cb"], now)
    except CountyBusy as exc:
        errors.append(exc)
    t.join()
    assert len(errors) == 1 and "statewide audit's job" in str(errors[0])


def test_two_launches_at_once_one_is_refused(audit_server: Server,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Both requests pass their checks together (a barrier holds each there); the statewide
    lock lets one queue its job and refuses the other, 409."""
    server = audit_server
    barrier = threading.Barrier(2, timeout=10)
    real = audit_control.check_start

    calls: list[int] = []

    def together(root: Path, kind: str, *polling: object) -> None:
        real(root, kind, *polling)  # type: ignore[arg-type]
        calls.append(1)
        if len(calls) <= 2:  # the two requests' checks (the job checks again, alone)
            barrier.wait()

    monkeypatch.setattr(audit_control, "check_start", together)
    clients = [server.login("sa"), server.login("sa")]
    codes: list[int] = []

    def launch(c: TestClient) -> None:
        codes.append(_post(c, "/state/audit/start", START).status_code)

    threads = [threading.Thread(target=launch, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.app.state.jobs.wait()
    assert sorted(codes) == [303, 409]
    (job,) = _state_jobs(server)
    assert (job.kind, job.status) == (audit_jobs.AUDIT_START, "done"), job.message
    assert (audit_dir(_root(server)) / "audit.json").exists()


def test_start_round_and_a_refused_close_as_jobs(audit_server: Server) -> None:
    server = audit_server
    sa = server.login("sa")
    start = _audit_job(server, sa, "/state/audit/start", START)
    assert "comparison, risk limit 0.1" in start.message and "assertion(s)" in start.message
    assert orjson.loads(start.params or "") == {"kind": "comparison", "risk_limit": 0.1,
                                                "seed": SEED}
    assert _post(sa, "/state/audit/start", START).status_code == 409  # started already
    rnd = _audit_job(server, sa, "/state/audit/round")
    assert rnd.message.startswith("round 1: ") and (
        audit_dir(_root(server)) / "rounds" / "round-1.json").exists()
    with server.app.state.sessionmaker() as db:
        actions = [(a.username, a.action) for a in db.scalars(select(Activity))]
    assert ("sa", "audit_started") in actions and ("sa", "audit_round_launched") in actions
    assert _post(sa, "/state/audit/round", {}).status_code == 409  # round 1 is open
    # no board has been set up: nothing drawn has a record, and the close refuses at once
    # only if boards are working; with none, the job measures and fails, saying why
    r = _post(sa, "/state/audit/close", {})
    assert r.status_code == 303
    server.app.state.jobs.wait()
    close = _state_jobs(server)[-1]
    assert (close.kind, close.status) == (audit_jobs.AUDIT_CLOSE, "failed")
    assert "without a record" in close.message and str(_root(server)) not in close.message
    assert "without a record" in sa.get("/state").text  # an alert for the state


def test_a_failed_start_says_why_and_leaves_no_audit(audit_server: Server) -> None:
    server = audit_server
    sa = server.login("sa")
    r = _post(sa, "/state/audit/start", {"risk_limit": "0.1", "seed": "12ab"})
    assert r.status_code == 303
    server.app.state.jobs.wait()
    (job,) = _state_jobs(server)
    assert (job.status, job.progress) == ("failed", "failed")
    assert "the seed must be a non-empty string of decimal digits" in job.message
    assert not (audit_dir(_root(server)) / "audit.json").exists()
    page = sa.get("/state/audit").text
    assert "decimal digits" in page and "reloads every two seconds" not in page


def test_progress_names_each_step_and_changes_no_byte(state_root: Path,
                                                      tmp_path: Path) -> None:
    seen: list[str] = []
    out = []
    for name, ex in (("plain", InProcess()),
                     ("reported", audit_jobs.ProgressExecutor(InProcess(), seen.append))):
        root = tmp_path / name
        shutil.copytree(state_root, root)
        start_state_audit(root, ex, risk_limit=0.1, seed=SEED, now="2026-11-03T20:00:00Z")
        out.append((audit_dir(root) / "audit.json").read_bytes())
    assert out[0] == out[1]
    assert seen[0] == "reading each county's audit frame: 0 of 2 county task(s) done"
    assert seen[-1] == "reading each county's audit frame: 2 of 2 county task(s) done"


def _restart(server: Server, engine: Engine, clock: Clock) -> TestClient:
    app = create_app(Settings(_root(server), str(engine.url), password_cost=CHEAP,
                              now=clock), engine)
    with TestClient(app):  # its start-up resumes or closes the open jobs
        app.state.jobs.wait()
    return app


def _left_open(server: Server, kind: str, params: dict, status: str) -> int:
    with server.app.state.sessionmaker.begin() as db:
        job = audit_jobs.queue(db, kind, params, server.users["sa"], "sa",
                               server.app.state.settings.now())
        job.status = status
        return job.id


def test_restart_resumes_or_closes_the_audit_jobs(audit_server: Server, engine: Engine,
                                                  clock: Clock) -> None:
    server, root = audit_server, _root(audit_server)
    # a queued start (never begun) runs at the next start, with the parameters asked
    queued = _left_open(server, audit_jobs.AUDIT_START,
                        {"risk_limit": 0.1, "seed": SEED, "kind": "comparison"}, "queued")
    app = _restart(server, engine, clock)
    with app.state.sessionmaker() as db:
        job = db.get(Job, queued)
        assert job.status == "done", job.message
    params = orjson.loads((audit_dir(root) / "audit.json").read_bytes())
    assert (params["seed"], params["risk_limit"]) == (SEED, 0.1)
    # a running start whose audit.json is written: closed done, nothing run again
    written = _left_open(server, audit_jobs.AUDIT_START,
                         {"risk_limit": 0.2, "seed": "1", "kind": "comparison"}, "running")
    app = _restart(server, engine, clock)
    with app.state.sessionmaker() as db:
        job = db.get(Job, written)
        assert (job.status, job.message) == (
            "done", "the audit's parameters (audit/audit.json) were written before the server "
                    "stopped")
    assert orjson.loads((audit_dir(root) / "audit.json").read_bytes()) == params
    # a running round not yet written: run again, to its end
    drawing = _left_open(server, audit_jobs.AUDIT_ROUND, {"round": 1}, "running")
    app = _restart(server, engine, clock)
    with app.state.sessionmaker() as db:
        job = db.get(Job, drawing)
        assert job.status == "done" and job.message.startswith("round 1: "), job.message
        resumed = [a.detail for a in db.scalars(select(Activity).where(
            Activity.action == "job_resumed"))]
    assert resumed == [f"job {drawing}: audit_round: the server stopped while it ran"]
    first = (audit_dir(root) / "rounds" / "round-1.json").read_bytes()
    # a running round already written: closed done, the round left as it was
    again = _left_open(server, audit_jobs.AUDIT_ROUND, {"round": 1}, "running")
    app = _restart(server, engine, clock)
    with app.state.sessionmaker() as db:
        job = db.get(Job, again)
        assert (job.status, job.message) == ("done", "round 1 was drawn before the server "
                                                     "stopped")
    assert (audit_dir(root) / "rounds" / "round-1.json").read_bytes() == first
    assert not (audit_dir(root) / "rounds" / "round-2.json").exists()


def test_the_audit_jobs_run_their_county_tasks_on_dask(state_root: Path, tmp_path: Path,
                                                       clock: Clock) -> None:
    """With a Dask executor (what ``--job-scheduler`` gives the runner), the start and the
    round's draw send their county tasks to the cluster, and write what an in-process run
    writes (the start's time aside). SQLite only: the database is not what is tested."""
    from tallyproof.server.db import make_engine
    from tallyproof.state.audit import next_state_round
    from tallyproof.state.executor import DaskExecutor

    try:
        dask = DaskExecutor(workers=1)
    except RuntimeError:  # a loaded machine can time out starting a worker once
        dask = DaskExecutor(workers=1)
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        root = tmp_path / "state"
        shutil.copytree(state_root, root)
        server = make_server(root, engine, clock)
        server.app.state.jobs.executor = dask
        sa = server.login("sa")
        _audit_job(server, sa, "/state/audit/start", START)
        _audit_job(server, sa, "/state/audit/round")
        ran = dask.client.run_on_scheduler(lambda dask_scheduler: sorted(
            {str(t[0]).split("-county-")[0] for t in dask_scheduler.transition_log}))
        assert {"frame_task", "draw_task", "retrieval_task"} <= set(ran), ran
        here = tmp_path / "here"
        shutil.copytree(state_root, here)
        start_state_audit(here, InProcess(), risk_limit=0.1, seed=SEED)
        next_state_round(here, InProcess())
        a, b = (orjson.loads((audit_dir(r) / "audit.json").read_bytes()) for r in (root, here))
        assert {**a, "created": ""} == {**b, "created": ""}
        for rel in sorted(p.relative_to(audit_dir(here)) for p in
                          (audit_dir(here) / "rounds").rglob("*") if p.is_file()):
            assert (audit_dir(root) / rel).read_bytes() == (audit_dir(here) / rel).read_bytes()
    finally:
        dask.close()
        engine.dispose()

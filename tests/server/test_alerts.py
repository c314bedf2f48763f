"""Alerts: a county job that finished or failed is an alert for the state administrators (on
the state page, live, and in the JSON API), until one of them acknowledges it; a county
administrator sees only their own county's; acknowledging is logged. SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tallyproof.server import alerts
from tallyproof.server.activity import start_job
from tallyproof.server.db import Activity, Job

from .conftest import Clock, Server, csrf_of, make_server
from .test_live import _events
from .test_uploads import Api

LIVE = re.compile(r'sse-connect="/live/state\?since=([0-9a-f-]+)"')


@pytest.fixture
def jobs_server(state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> Server:
    """A server over a copy of the test state (jobs write into it), streams that look often."""
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    server = make_server(root, engine, clock, upload_dir=tmp_path / "uploads")
    server.app.state.settings = replace(server.app.state.settings, live_interval=0.02,
                                        live_lifetime=0.3)
    return server


def _two_jobs(server: Server) -> tuple[dict, dict]:
    """county-01 commits its log (done); county-02 ingests a malformed pollbook (failed)."""
    done = Api(server, "ca").job("county-01", "commit")
    cb = Api(server, "cb")
    up = cb.upload("county-02", "pollbooks", "pb.csv", b"precinct,checkins,colour\nP1,3,red\n")
    failed = cb.job("county-02", "ingest", up["id"])
    assert (done["status"], failed["status"]) == ("done", "failed")
    return done, failed


def _ack(c, job_id: int):  # noqa: ANN001, ANN202
    return c.post(f"/state/alerts/{job_id}/ack", data={"csrf": csrf_of(c)},
                  follow_redirects=False)


def test_finished_and_failed_jobs_alert_the_state(jobs_server: Server) -> None:
    sa = jobs_server.login("sa")
    assert "Alerts (0)" in sa.get("/state").text
    done, failed = _two_jobs(jobs_server)
    page = sa.get("/state").text
    assert "Alerts (2)" in page
    rows = re.findall(r'<tr class="alert-(\w+)" id="alert-(\d+)">(.*?)</tr>', page, re.S)
    assert [(k, int(i)) for k, i, _ in rows] == [("failed", failed["id"]), ("done", done["id"])]
    assert "county-02" in rows[0][2] and "ingest" in rows[0][2]
    assert "unknown column &#39;colour&#39;" in rows[0][2]  # the job's own error
    assert "county-01" in rows[1][2] and "commit" in rows[1][2]
    api = sa.get("/api/alerts").json()
    assert api["total"] == 2
    assert [(a["job"], a["county"], a["kind"], a["outcome"]) for a in api["alerts"]] == [
        (failed["id"], "county-02", "ingest", "failed"),
        (done["id"], "county-01", "commit", "done")]
    assert api["alerts"][0]["message"] == failed["message"]
    assert api["alerts"][0]["at"] == failed["finished_at"]


def test_a_county_sees_only_its_own_alerts_and_the_public_none(jobs_server: Server) -> None:
    done, failed = _two_jobs(jobs_server)
    ca = jobs_server.login("ca").get("/api/alerts")
    assert [a["job"] for a in ca.json()["alerts"]] == [done["id"]]
    assert "colour" not in ca.text and "county-02" not in ca.text
    cb = jobs_server.login("cb").get("/api/alerts").json()
    assert [(a["job"], a["county"]) for a in cb["alerts"]] == [(failed["id"], "county-02")]
    assert cb["total"] == 1
    anon = jobs_server.client().get("/api/alerts")
    assert anon.status_code == 401 and "colour" not in anon.text
    # county administrators neither see the state page nor acknowledge
    ca_client = jobs_server.login("ca")
    assert ca_client.get("/state", follow_redirects=False).status_code == 403
    assert _ack(ca_client, done["id"]).status_code == 403
    assert jobs_server.login("sa").get("/api/alerts").json()["total"] == 2


def test_a_state_admin_acknowledges_an_alert_once_and_it_is_logged(jobs_server: Server,
                                                                   clock: Clock) -> None:
    done, failed = _two_jobs(jobs_server)
    sa = jobs_server.login("sa")
    clock.advance(minutes=5)
    r = _ack(sa, failed["id"])
    assert (r.status_code, r.headers["location"]) == (303, "/state#alerts")
    assert [a["job"] for a in sa.get("/api/alerts").json()["alerts"]] == [done["id"]]
    assert f'id="alert-{failed["id"]}"' not in sa.get("/state").text
    assert _ack(sa, failed["id"]).status_code == 409  # already acknowledged
    assert _ack(sa, 999999).status_code == 404
    with jobs_server.app.state.sessionmaker() as db:
        job = db.get(Job, failed["id"])
        assert (job.acknowledged_by, job.acknowledged_at is not None) == ("sa", True)
        logged = [(a.username, a.county, a.detail) for a in db.scalars(
            select(Activity).where(Activity.action == "alert_acknowledged"))]
    assert logged == [("sa", "county-02", f"job {failed['id']}: ingest failed")]
    assert "alert_acknowledged" in sa.get("/activity").text


def test_an_open_job_is_no_alert(jobs_server: Server, clock: Clock) -> None:
    with jobs_server.app.state.sessionmaker.begin() as db:
        job_id = start_job(db, "county-01", "commit", None, clock()).id
    sa = jobs_server.login("sa")
    assert sa.get("/api/alerts").json() == {"total": 0, "alerts": []}
    assert _ack(sa, job_id).status_code == 404
    with jobs_server.app.state.sessionmaker.begin() as db:
        with pytest.raises(alerts.AlertError):
            alerts.acknowledge(db, job_id, "sa", clock())


def test_the_state_page_alerts_live(jobs_server: Server) -> None:
    sa = jobs_server.login("sa")
    page = sa.get("/state").text
    since = LIVE.search(page).group(1)
    assert sa.get(f"/live/state?since={since}").text == "retry: 2000\n\n"  # nothing moved
    done = Api(jobs_server, "ca").job("county-01", "commit")
    sent = _events(sa.get(f"/live/state?since={since}").text)
    assert f'id="alert-{done["id"]}"' in sent["alerts"] and "Alerts (1)" in sent["alerts"]
    assert sent["alerts"].strip() in sa.get("/state").text  # what a reload shows
    since = LIVE.search(sa.get("/state").text).group(1)
    _ack(sa, done["id"])
    sent = _events(sa.get(f"/live/state?since={since}").text)
    assert "Alerts (0)" in sent["alerts"]

"""A stratified statewide audit with polling counties, started from ``/state/audit`` as
``tallyproof state audit start --kind stratified --polling-county ...`` starts it: the form's
polling counties reach the same library call, the strata the library refuses are refused at
once (409, its own words, nothing queued), and the job row keeps what was asked. SQLite and
PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tallyproof.server.db import STATE_LOCK, Activity, Job
from tallyproof.state.audit import start_state_audit
from tallyproof.state.audit_tasks import audit_dir
from tallyproof.state.executor import InProcess

from .conftest import Clock, Server, make_server
from .test_board import SEED, _audit_job, _post


@pytest.fixture
def audit_server(state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> Server:
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    return make_server(root, engine, clock, upload_dir=tmp_path / "uploads")


def _without_time(path: Path) -> dict:
    doc = orjson.loads(path.read_bytes())
    doc.pop("created", None)
    return doc


def test_a_stratified_audit_with_a_polling_county_starts_as_the_cli_starts_it(
        audit_server: Server, state_root: Path, tmp_path: Path) -> None:
    server = audit_server
    root = server.app.state.settings.state_dir
    sa = server.login("sa")
    page = sa.get("/state/audit").text
    assert 'name="polling_county" value="county-01"' in page
    assert 'name="polling_county" value="county-02"' in page
    job = _audit_job(server, sa, "/state/audit/start",
                     {"risk_limit": "0.1", "seed": SEED, "kind": "stratified",
                      "polling_county": ["county-02"]})
    assert orjson.loads(job.params or "") == {"kind": "stratified", "risk_limit": 0.1,
                                              "seed": SEED, "polling_counties": ["county-02"]}
    assert "stratified, risk limit 0.1" in job.message
    assert "polling counties county-02" in job.message
    # the library's own start on a copy of the same state writes the same parameters
    other = tmp_path / "cli"
    shutil.copytree(state_root, other)
    start_state_audit(other, InProcess(), risk_limit=0.1, seed=SEED, kind="stratified",
                      polling_counties=["county-02"])
    web = _without_time(audit_dir(root) / "audit.json")
    assert web == _without_time(audit_dir(other) / "audit.json")
    assert web["polling_counties"] == ["county-02"] and web["kind"] == "stratified"
    with server.app.state.sessionmaker() as db:
        queued = [a.detail for a in db.scalars(select(Activity).order_by(Activity.id))
                  if a.action == "job_queued"]
    assert queued[-1].endswith("polling counties county-02")
    # the round draws from both strata
    rnd = _audit_job(server, sa, "/state/audit/round")
    assert rnd.message.startswith("round 1: ")


@pytest.mark.parametrize("form, message", [
    ({"kind": "stratified"}, "names some, not all, counties as polling counties"),
    ({"kind": "comparison", "polling_county": ["county-02"]}, "only a stratified audit"),
    ({"kind": "stratified", "polling_county": ["county-01", "county-02"]}, "some, not all"),
    ({"kind": "stratified", "polling_county": ["elsewhere"]}, "no county &#39;elsewhere&#39;"),
])
def test_strata_the_library_refuses_are_refused_at_once(
        audit_server: Server, form: dict, message: str) -> None:
    server = audit_server
    root = server.app.state.settings.state_dir
    sa = server.login("sa")
    r = _post(sa, "/state/audit/start", {"risk_limit": "0.1", "seed": SEED, **form})
    assert r.status_code == 409 and message in r.text, r.text
    with server.app.state.sessionmaker() as db:
        assert list(db.scalars(select(Job).where(Job.county == STATE_LOCK))) == []
    assert not (audit_dir(root) / "audit.json").exists()


def test_a_state_with_a_batch_county_offers_no_polling_county(
        batch_state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> None:
    """With a county that reports batch tallies only, the batch counties are the second
    stratum: the library takes no polling county, and the form offers none."""
    root = tmp_path / "state"
    shutil.copytree(batch_state_root, root)
    sa = make_server(root, engine, clock).login("sa")
    page = sa.get("/state/audit").text
    assert 'name="kind"' in page and 'name="polling_county"' not in page
    r = _post(sa, "/state/audit/start", {"risk_limit": "0.1", "seed": SEED,
                                         "kind": "stratified", "polling_county": ["county-01"]})
    assert r.status_code == 409 and "they are the second one (no polling counties)" in r.text

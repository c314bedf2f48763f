"""Once the statewide audit has started, a county's CVR exports and ballot manifests can no
longer be ingested (on SQLite and PostgreSQL): the request is refused 409 with the reason,
a job queued before the start fails with it, and the county page says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tallyproof.server import jobs

from .conftest import Clock, published_state, make_server
from .test_uploads import Api, export_zip


def test_ingests_that_change_the_audited_ballots_are_refused_once_the_audit_started(
        state_root: Path, tmp_path: Path, engine: Engine, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = published_state(state_root, tmp_path)
    server = make_server(root, engine, clock, upload_dir=tmp_path / "up", max_upload=8 << 20)
    ca = Api(server, "ca")
    manifest = ca.upload("county-01", "manifest", "manifest.csv",
                         (root / "exports" / "county-01" / "ballot_manifest.csv").read_bytes())
    export = ca.upload("county-01", "cvr_export", "export.zip", export_zip(root, "county-01"))
    pollbooks = ca.upload("county-01", "pollbooks", "p.csv", b"precinct,voters\n")
    for up in (manifest, export):
        r = ca.c.post("/api/county/county-01/jobs", headers=ca.h,
                      json={"kind": "ingest", "upload": up["id"]})
        assert r.status_code == 409, r.text
        assert "the statewide audit has started" in r.json()["detail"]
    r = ca.c.post("/api/county/county-01/jobs", headers=ca.h,
                  json={"kind": "ingest", "upload": pollbooks["id"]})
    assert r.status_code == 202  # what the audit does not draw from still can be
    server.app.state.jobs.wait()

    page = ca.c.get("/county/county-01").text
    assert 'id="audit-frozen"' in page and "can no longer be ingested" in page
    assert page.count('<button type="submit">Ingest</button>') == 0

    # a job queued just before the audit started, run just after: failed with the reason
    monkeypatch.setattr(jobs, "audit_started", lambda _settings: False)
    with server.app.state.sessionmaker.begin() as db:
        job = jobs.queue(db, server.app.state.settings, "county-01", "ingest", export["id"],
                         server.users["ca"], "ca", clock())
        job_id = job.id
    monkeypatch.undo()
    server.app.state.jobs.submit(job_id)
    server.app.state.jobs.wait()
    got = next(j for j in ca.c.get("/api/county/county-01/jobs").json() if j["id"] == job_id)
    assert got["status"] == "failed" and "the statewide audit has started" in got["message"]

"""A county that reports batch tallies only, onboarded from the web: its ballot manifest and
its batch tallies CSV sent as uploads and read by ingest jobs through the same library call
as ``tallyproof state ingest`` (``state.tasks.ingest_task`` → ``ingest_batch_county``), then
committed by its commit job. A malformed or misplaced file fails its job with the reader's
own error and leaves the county's folder as it was. SQLite and PostgreSQL; and the
migration that admits the new kind keeps the uploads jobs point at."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import orjson
import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tallyproof.server import totp
from tallyproof.server.accounts import create_user
from tallyproof.server.db import Role
from tallyproof.server.migrate import upgrade
from tallyproof.state.batch_county import TALLIES_JSON, ingest_batch_county, tallies_dir
from tallyproof.state.tasks import county_exports

from .conftest import PASSWORD, Clock, Server, make_server
from .test_uploads import Api

COUNTY = "county-03"  # the batch state's county with batch tallies only


@pytest.fixture
def batch_server(batch_state_root: Path, tmp_path: Path, engine: Engine,
                 clock: Clock) -> Server:
    """A copy of the batch state whose county-03 has nothing ingested yet, and an
    administrator of county-03 (``cc``)."""
    root = tmp_path / "state"
    shutil.copytree(batch_state_root, root)
    shutil.rmtree(tallies_dir(root, COUNTY))
    srv = make_server(root, engine, clock, upload_dir=tmp_path / "uploads")
    with srv.app.state.sessionmaker.begin() as db:
        srv.users["cc"] = create_user(db, srv.app.state.hasher, "cc", PASSWORD,
                                      Role.COUNTY_ADMIN, COUNTY, clock()).id
        srv.totp["cc"] = pyotp.random_base32()
        totp.enrol_with(db, srv.users["cc"], srv.totp["cc"], clock())
    return srv


def _files(batch_state_root: Path) -> tuple[bytes, bytes]:
    folder = batch_state_root / "exports" / COUNTY
    return ((folder / "ballot_manifest.csv").read_bytes(),
            (folder / "batch_tallies.csv").read_bytes())


def snapshot(root: Path) -> dict[str, str]:
    """Every file of the county's folder (tallies, exports, inputs) by its SHA-256."""
    folder = root / "counties" / COUNTY
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _tallies(root: Path) -> dict:
    doc = orjson.loads((tallies_dir(root, COUNTY) / TALLIES_JSON).read_bytes())
    doc["election"].pop("sources")  # the files' paths: the upload's here, the CLI's there
    return doc


def test_a_batch_county_sends_its_manifest_and_tallies_and_commits(
        batch_server: Server, batch_state_root: Path, tmp_path: Path) -> None:
    root = batch_server.app.state.settings.state_dir
    manifest, tallies = _files(batch_state_root)
    cc = Api(batch_server, "cc")
    assert 'value="batch_tallies"' in cc.c.get(f"/county/{COUNTY}").text
    m = cc.upload(COUNTY, "manifest", "manifest.csv", manifest)
    job = cc.job(COUNTY, "ingest", m["id"])
    assert job["status"] == "done" and "now send the county's batch tallies" in job["message"]
    assert not (tallies_dir(root, COUNTY) / TALLIES_JSON).exists()
    t = cc.upload(COUNTY, "batch_tallies", "tallies.csv", tallies)
    job = cc.job(COUNTY, "ingest", t["id"])
    assert job["status"] == "done", job
    # what the library writes from the same two files, on another copy of the state
    other = tmp_path / "cli"
    shutil.copytree(batch_state_root, other)
    shutil.rmtree(tallies_dir(other, COUNTY))
    bc = ingest_batch_county(other, COUNTY, batch_state_root / "exports" / COUNTY /
                             "batch_tallies.csv",
                             batch_state_root / "exports" / COUNTY / "ballot_manifest.csv")
    assert _tallies(root) == _tallies(other)
    assert f"{bc.cards:,} ballots" in job["message"]
    # kept where `tallyproof state ingest STATE county-03` looks for them
    sources, found = county_exports(root, COUNTY)
    assert [Path(s).read_bytes() for s in sources] == [tallies]
    assert found is not None and Path(found).read_bytes() == manifest
    # a manifest sent again reads the kept tallies again with it
    again = cc.job(COUNTY, "ingest", cc.upload(COUNTY, "manifest", "m2.csv", manifest)["id"])
    assert again["status"] == "done" and "read again" in again["message"], again
    assert _tallies(root) == _tallies(other)
    commit = cc.job(COUNTY, "commit")
    assert commit["status"] == "done" and commit["message"].startswith("committed"), commit
    assert sorted((tallies_dir(root, COUNTY) / "log" / "checkpoints").iterdir())
    # committed: neither file is replaced any more, and nothing moves
    before = snapshot(root)
    for kind, data in (("batch_tallies", tallies), ("manifest", manifest)):
        late = cc.job(COUNTY, "ingest", cc.upload(COUNTY, kind, "late.csv", data)["id"])
        assert late["status"] == "failed" and "already committed" in late["message"], late
    assert snapshot(root) == before


@pytest.mark.parametrize("bad, message", [
    (lambda t: t.replace(b",Votes", b",Count", 1), "missing column(s) 'votes'"),
    (lambda t: t.replace(b"\n101,1,", b"\n999,1,", 1), "is not in the ballot manifest"),
    (lambda t: t.replace(b",3\n", b",three\n", 1), "must be a whole number"),
])
def test_malformed_tallies_fail_the_job_and_change_nothing(
        batch_server: Server, batch_state_root: Path, bad: object, message: str) -> None:
    root = batch_server.app.state.settings.state_dir
    manifest, tallies = _files(batch_state_root)
    cc = Api(batch_server, "cc")
    early = cc.job(COUNTY, "ingest", cc.upload(COUNTY, "batch_tallies", "t.csv", tallies)["id"])
    assert early["status"] == "failed" and "ballot manifest first" in early["message"], early
    assert cc.job(COUNTY, "ingest", cc.upload(COUNTY, "manifest", "m.csv",
                                              manifest)["id"])["status"] == "done"
    before = snapshot(root)
    broken = bad(tallies)  # type: ignore[operator]
    assert broken != tallies
    job = cc.job(COUNTY, "ingest", cc.upload(COUNTY, "batch_tallies", "Our Tallies.csv",
                                            broken)["id"])
    assert job["status"] == "failed" and message in job["message"], job
    assert "Our Tallies.csv" in job["message"] and str(root) not in job["message"]
    assert snapshot(root) == before and not (tallies_dir(root, COUNTY) / TALLIES_JSON).exists()
    ups = {u["filename"]: u for u in cc.c.get(f"/api/county/{COUNTY}/uploads").json()}
    assert ups["Our Tallies.csv"]["status"] == "failed"
    # a malformed manifest after good tallies: the tallies stay as they were read
    assert cc.job(COUNTY, "ingest", cc.upload(COUNTY, "batch_tallies", "t2.csv",
                                              tallies)["id"])["status"] == "done"
    before = snapshot(root)
    job = cc.job(COUNTY, "ingest", cc.upload(COUNTY, "manifest", "m2.csv",
                                            manifest.replace(b"Batch Name", b"Lot"))["id"])
    assert job["status"] == "failed" and "m2.csv" in job["message"], job
    assert snapshot(root) == before


def test_the_wrong_kind_for_the_county_fails_saying_so(batch_server: Server,
                                                       batch_state_root: Path) -> None:
    root = batch_server.app.state.settings.state_dir
    manifest, tallies = _files(batch_state_root)
    cc, ca = Api(batch_server, "cc"), Api(batch_server, "ca")
    before = snapshot(root)
    job = cc.job(COUNTY, "ingest", cc.upload(COUNTY, "cvr_export", "e.csv", tallies)["id"])
    assert job["status"] == "failed" and "not a cvr export" in job["message"], job
    job = cc.job(COUNTY, "ingest", cc.upload(COUNTY, "pollbooks", "p.csv", b"x\n")["id"])
    assert job["status"] == "failed"  # pollbooks go to their own reader, as in any county
    assert snapshot(root) == before
    store = root / "counties" / "county-01" / "store"
    held = {p: p.read_bytes() for p in store.rglob("*") if p.is_file() and p.name != ".lock"}
    job = ca.job("county-01", "ingest", ca.upload("county-01", "batch_tallies", "t.csv",
                                                 tallies)["id"])
    assert job["status"] == "failed" and "reports CVRs" in job["message"], job
    assert {p: p.read_bytes() for p in held} == held


def test_the_new_kind_keeps_the_uploads_jobs_point_at(engine: Engine) -> None:
    """Admitting the kind rebuilds the uploads table on SQLite; an upload an ingest job
    points at survives it, and the rule still refuses an unknown kind."""
    from sqlalchemy.exc import IntegrityError

    upgrade(engine, "0006_job_params")
    row = ("INSERT INTO uploads (county, kind, filename, suffix, size, received, "
           "declared_sha256, status, message, created_at) VALUES ('c', :kind, 'm.csv', "
           "'.csv', 1, 1, :sha, 'ingested', '', '2026-11-03 20:00:00')")
    with engine.begin() as c:
        c.execute(text(row), {"kind": "manifest", "sha": "0" * 64})
        c.execute(text("INSERT INTO jobs (county, kind, status, created_at, message, "
                       "upload_id, progress) VALUES ('c', 'ingest', 'done', "
                       "'2026-11-03 20:00:00', '', 1, '')"))
    upgrade(engine)
    with engine.begin() as c:
        assert c.execute(text("SELECT upload_id FROM jobs")).scalar() == 1
        assert c.execute(text("SELECT kind FROM uploads")).scalar() == "manifest"
        c.execute(text(row), {"kind": "batch_tallies", "sha": "1" * 64})
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(text(row), {"kind": "bogus", "sha": "2" * 64})
    with pytest.raises(IntegrityError), engine.begin() as c:  # foreign keys on again
        c.execute(text("INSERT INTO jobs (county, kind, status, created_at, message, "
                       "upload_id, progress) VALUES ('d', 'ingest', 'done', "
                       "'2026-11-03 20:00:00', '', 999, '')"))

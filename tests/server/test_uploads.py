"""County uploads and jobs, on SQLite and PostgreSQL: a county's export uploaded in pieces and
checked against the SHA-256 the county typed, then ingested and committed as jobs; refused
checksums, sizes and archives; a malformed export failing its job with the reader's error and
the store unchanged; one county never reaching another's uploads; jobs left open by a stopped
server failed or resumed at the next start."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tallyproof.server import activity
from tallyproof.server.app import create_app
from tallyproof.server.config import Settings
from tallyproof.server.db import Activity, Job, Upload
from tallyproof.server.jobs import RESTART_INGEST
from tallyproof.state.accounting import POLLBOOKS, RESULTS, county_inputs
from tallyproof.state.tasks import county_store_dir
from tallyproof.store import Store

from .conftest import CHEAP, Clock, Server, csrf_of, make_server

PIECE = 4096


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def export_zip(state_root: Path, county: str) -> bytes:
    """The demo's Dominion export of ``county``, zipped as a county would send it."""
    folder = state_root / "exports" / county / "dominion"
    return zipped({f"dominion/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())})


def store_snapshot(root: Path, county: str) -> dict[str, str]:
    folder = county_store_dir(root, county)
    return {str(p.relative_to(folder)): sha(p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture
def fresh(state_root: Path, tmp_path: Path, engine: Engine, clock: Clock) -> Server:
    """A copy of the test state whose county-01 has nothing ingested yet."""
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    shutil.rmtree(county_store_dir(root, "county-01"))
    return make_server(root, engine, clock, max_upload=8 << 20)


def root_of(server: Server) -> Path:
    return server.app.state.settings.state_dir


class Api:
    """A signed-in client speaking the upload API."""

    def __init__(self, server: Server, user: str) -> None:
        self.server = server
        self.c = server.login(user)
        self.h = {"X-CSRF-Token": self.c.get("/api/session").json()["csrf"]}

    def create(self, county: str, kind: str, name: str, size: int, digest: str) -> Any:
        return self.c.post(f"/api/county/{county}/uploads", headers=self.h, json={
            "kind": kind, "filename": name, "size": size, "sha256": digest})

    def put(self, county: str, uid: int, start: int, body: bytes, total: int,
            end: int | None = None) -> Any:
        end = start + len(body) - 1 if end is None else end
        return self.c.put(f"/api/county/{county}/uploads/{uid}", content=body, headers={
            **self.h, "Content-Range": f"bytes {start}-{end}/{total}"})

    def upload(self, county: str, kind: str, name: str, data: bytes,
               digest: str | None = None) -> dict[str, Any]:
        r = self.create(county, kind, name, len(data), digest or sha(data))
        assert r.status_code == 201, r.text
        uid = r.json()["id"]
        for start in range(0, len(data), PIECE):
            r = self.put(county, uid, start, data[start:start + PIECE], len(data))
            assert r.status_code == 200, r.text
        return r.json()

    def job(self, county: str, kind: str, upload: int | None = None) -> dict[str, Any]:
        r = self.c.post(f"/api/county/{county}/jobs", headers=self.h,
                        json={"kind": kind, "upload": upload})
        assert r.status_code == 202, r.text
        self.server.app.state.jobs.wait()
        return next(j for j in self.c.get(f"/api/county/{county}/jobs").json()
                    if j["id"] == r.json()["id"])


def test_upload_in_pieces_ingest_and_commit(fresh: Server, state_root: Path) -> None:
    ca = Api(fresh, "ca")
    data = export_zip(state_root, "county-01")
    assert len(data) > 3 * PIECE  # sent in several pieces
    up = ca.upload("county-01", "cvr_export", "../../etc/County Export.zip", data)
    assert (up["status"], up["sha256"], up["received"]) == ("verified", sha(data), len(data))
    assert up["filename"] == "County Export.zip"  # shown, and never a path
    stored = sorted(p.name for p in (root_of(fresh) / "uploads" / "county-01").iterdir())
    assert stored == [f"{up['id']}.zip"]  # the server's name: id and suffix

    job = ca.job("county-01", "ingest", up["id"])
    want = Store.open(county_store_dir(state_root, "county-01")).cvr_count()
    assert job["status"] == "done", job
    assert f"{want:,} cards added" in job["message"]
    assert Store.open(county_store_dir(root_of(fresh), "county-01")).cvr_count() == want
    again = ca.upload("county-01", "cvr_export", "same.zip", data)  # the same export twice
    twice = ca.job("county-01", "ingest", again["id"])
    assert twice["status"] == "failed" and "already" in twice["message"], twice
    assert Store.open(county_store_dir(root_of(fresh), "county-01")).cvr_count() == want
    manifest = (state_root / "exports" / "county-01" / "ballot_manifest.csv").read_bytes()
    m = ca.upload("county-01", "manifest", "manifest.csv", manifest)
    assert ca.job("county-01", "ingest", m["id"])["status"] == "done"
    commit = ca.job("county-01", "commit")
    assert commit["status"] == "done" and commit["message"].startswith("committed"), commit

    listed = {u["id"]: u for u in ca.c.get("/api/county/county-01/uploads").json()}
    assert (listed[up["id"]]["status"], listed[m["id"]]["status"]) == ("ingested", "ingested")
    page = ca.c.get("/county/county-01").text
    assert sha(data) in page and f"{want:,} cards" in page
    sa = fresh.login("sa")
    assert "commit" in sa.get("/state").text and len(sa.get("/api/jobs").json()) == 4
    with fresh.app.state.sessionmaker() as db:
        actions = [a.action for a in db.scalars(select(Activity).order_by(Activity.id))]
    for a in ("upload_started", "upload_verified", "job_queued", "job_started", "job_done"):
        assert a in actions


def test_plain_form_upload_installs_pollbooks(fresh: Server) -> None:
    c = fresh.login("cb")
    pollbooks = county_inputs(root_of(fresh), "county-02") / POLLBOOKS
    data = pollbooks.read_bytes().replace(b"\n", b"\r\n")  # same counts, other bytes
    r = c.post("/county/county-02/uploads", follow_redirects=False, data={
        "csrf": csrf_of(c), "kind": "pollbooks", "sha256": sha(data).upper()},
        files={"file": ("pollbooks.csv", data, "text/csv")})
    assert r.status_code == 303, r.text
    (up,) = c.get("/api/county/county-02/uploads").json()
    assert (up["status"], up["received"], up["kind"]) == ("verified", len(data), "pollbooks")
    r = c.post("/county/county-02/jobs", data={"csrf": csrf_of(c), "kind": "ingest",
                                                "upload": up["id"]}, follow_redirects=False)
    assert r.status_code == 303
    fresh.app.state.jobs.wait()
    (job,) = c.get("/api/county/county-02/jobs").json()
    assert job["status"] == "done" and "rows" in job["message"], job
    assert pollbooks.read_bytes() == data


def test_a_form_upload_not_multipart_is_refused_not_a_server_error(fresh: Server) -> None:
    """The upload form sent url-encoded (no file) is a 400 naming the encoding; it was an
    unhandled exception (500) while the parser was made outside the request's error path."""
    c = fresh.login("cb")
    r = c.post("/county/county-02/uploads", data={"csrf": csrf_of(c), "kind": "pollbooks"},
               follow_redirects=False)
    assert r.status_code == 400 and "multipart/form-data" in r.text
    assert c.get("/api/county/county-02/uploads").json() == []


def test_certified_results_are_read_then_installed(fresh: Server) -> None:
    cb = Api(fresh, "cb")
    target = county_inputs(root_of(fresh), "county-02") / RESULTS
    data = target.read_bytes()
    target.unlink()
    up = cb.upload("county-02", "official_results", "certified.csv", data)
    job = cb.job("county-02", "ingest", up["id"])
    assert job["status"] == "done" and "contest(s)" in job["message"], job
    assert target.read_bytes() == data


def test_a_bug_in_a_job_closes_it_and_is_raised(fresh: Server,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a reader's error but a bug: the job is failed (the county's lock released) and the
    exception is not swallowed."""
    from tallyproof.server import jobs

    def broken(county: str, *args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(jobs, "commit_county_task", broken)
    ca = Api(fresh, "ca")
    r = ca.c.post("/api/county/county-01/jobs", headers=ca.h, json={"kind": "commit"})
    assert r.status_code == 202
    with pytest.raises(RuntimeError, match="a bug"):
        fresh.app.state.jobs.wait()
    (job,) = ca.c.get("/api/county/county-01/jobs").json()
    assert (job["status"], job["message"]) == ("failed", "internal error: RuntimeError")
    monkeypatch.undo()
    assert ca.job("county-01", "commit")["status"] == "failed"  # the lock is free again


def test_checksum_mismatch_is_refused(fresh: Server) -> None:
    ca = Api(fresh, "ca")
    data = b"precinct,checkins\nP1,10\n"
    up = ca.upload("county-01", "pollbooks", "p.csv", data, digest=sha(b"something else"))
    assert up["status"] == "rejected" and "SHA-256 mismatch" in up["message"]
    assert sha(data) in up["message"] and up["sha256"] == sha(data)
    assert not list((root_of(fresh) / "uploads" / "county-01").glob(f"{up['id']}*"))
    r = ca.c.post("/api/county/county-01/jobs", headers=ca.h,
                  json={"kind": "ingest", "upload": up["id"]})
    assert r.status_code == 409 and "rejected" in r.json()["detail"]
    c = fresh.login("ca")
    r = c.post("/county/county-01/uploads", follow_redirects=False, data={
        "csrf": csrf_of(c), "kind": "pollbooks", "sha256": "0" * 64},
        files={"file": ("p.csv", data, "text/csv")})
    assert r.status_code == 303
    assert c.get("/api/county/county-01/uploads").json()[0]["status"] == "rejected"
    bad = ca.create("county-01", "pollbooks", "p.csv", len(data), "not a digest")
    assert bad.status_code == 422 and "64 hexadecimal" in bad.json()["detail"]


def test_a_partial_upload_resumes_from_its_offset(fresh: Server) -> None:
    ca = Api(fresh, "ca")
    data = bytes(range(256)) * 64
    total = len(data)
    uid = ca.create("county-01", "cvr_export", "x.csv", total, sha(data)).json()["id"]
    # a transfer cut short: the range announced the whole file, 5000 bytes arrived
    r = ca.put("county-01", uid, 0, data[:5000], total, end=total - 1)
    assert r.status_code == 200 and r.json()["received"] == 5000
    assert r.json()["status"] == "receiving"
    assert ca.c.get(f"/api/county/county-01/uploads/{uid}").json()["received"] == 5000
    r = ca.put("county-01", uid, 0, data, total)  # from the wrong offset
    assert r.status_code == 409 and "offset 5000" in r.json()["detail"]
    # bytes past the acknowledged offset (a crash before the database saw them) are dropped
    path = root_of(fresh) / "uploads" / "county-01" / f"{uid}.csv"
    with open(path, "ab") as f:
        f.write(b"junk never acknowledged")
    r = ca.put("county-01", uid, 5000, data[5000:], total)
    assert r.json()["status"] == "verified" and r.json()["sha256"] == sha(data)
    assert path.read_bytes() == data
    r = ca.put("county-01", uid, 0, b"x", total)
    assert r.status_code == 409 and "verified" in r.json()["detail"]


def raw_put(server: Server, api: Api, url: str, content_range: str,
            pieces: list[bytes | None], between: Any = None) -> list[dict[str, Any]]:
    """PUT through the ASGI interface itself, one message per piece (the test client sends a
    body whole): ``None`` is the client disconnecting; ``between`` runs after the first piece,
    while the request is still reading its body. Returns the messages the app sent."""
    import anyio

    cookie = "; ".join(f"{k}={v}" for k, v in api.c.cookies.items())
    headers = [(b"cookie", cookie.encode()), (b"content-range", content_range.encode()),
               (b"x-csrf-token", api.h["X-CSRF-Token"].encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
             "scheme": "http", "path": url, "raw_path": url.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("testserver", 80), "state": {}}
    queue = list(pieces)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not queue:
            return {"type": "http.disconnect"}
        piece = queue.pop(0)
        if between is not None and len(queue) == len(pieces) - 2:
            between()
        if piece is None:
            queue.clear()
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": piece, "more_body": bool(queue)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(server.app, scope, receive, send)
    return sent


def test_a_dropped_connection_keeps_what_arrived(fresh: Server) -> None:
    ca = Api(fresh, "ca")
    data = b"precinct,checkins\n" + b"".join(b"P%d,%d\n" % (i, i) for i in range(2000))
    uid = ca.create("county-01", "pollbooks", "p.csv", len(data), sha(data)).json()["id"]
    url = f"/api/county/county-01/uploads/{uid}"
    raw_put(fresh, ca, url, f"bytes 0-{len(data) - 1}/{len(data)}",
            [data[:1000], data[1000:3000], None])  # the connection drops after 3000 bytes
    assert ca.c.get(url).json()["received"] == 3000
    r = ca.put("county-01", uid, 3000, data[3000:], len(data))
    assert r.json()["status"] == "verified" and r.json()["sha256"] == sha(data)


def test_a_transfer_holds_no_database_lock(fresh: Server) -> None:
    """While a PUT streams its body, another connection can write (SQLite has one writer at
    a time: a transaction held open through the transfer would make this wait and fail)."""
    ca = Api(fresh, "ca")
    data = b"precinct,checkins\nP1,1\n"
    uid = ca.create("county-01", "pollbooks", "p.csv", len(data), sha(data)).json()["id"]
    sm = fresh.app.state.sessionmaker

    def write_meanwhile() -> None:
        with sm.begin() as db:
            activity.record(db, fresh.app.state.settings.now(), "probe", "probe")

    sent = raw_put(fresh, ca, f"/api/county/county-01/uploads/{uid}",
                   f"bytes 0-{len(data) - 1}/{len(data)}", [data[:5], data[5:]],
                   between=write_meanwhile)
    assert sent[0]["status"] == 200, sent
    assert ca.c.get(f"/api/county/county-01/uploads/{uid}").json()["status"] == "verified"


def test_oversize_is_refused(fresh: Server) -> None:
    limit = fresh.app.state.settings.max_upload
    ca = Api(fresh, "ca")
    r = ca.create("county-01", "cvr_export", "big.zip", limit + 1, "0" * 64)
    assert r.status_code == 413 and f"{limit:,}" in r.json()["detail"]
    uid = ca.create("county-01", "pollbooks", "p.csv", 10, "0" * 64).json()["id"]
    r = ca.c.put(f"/api/county/county-01/uploads/{uid}", content=b"x" * 11,
                 headers={**ca.h, "Content-Range": "bytes 0-9/10"})
    assert r.status_code == 400 and "longer than the range" in r.json()["detail"]
    assert ca.put("county-01", uid, 0, b"x" * 11, 11).status_code == 416
    assert ca.c.get(f"/api/county/county-01/uploads/{uid}").json()["received"] == 0
    c = fresh.login("ca")
    big = b"y" * (limit + 1)  # within the form's slack for headers: caught while streaming
    r = c.post("/county/county-01/uploads", data={
        "csrf": csrf_of(c), "kind": "pollbooks", "sha256": sha(big)},
        files={"file": ("p.csv", big, "text/csv")})
    assert r.status_code == 413
    cut, kept = c.get("/api/county/county-01/uploads").json()
    assert kept["id"] == uid and cut["status"] == "rejected" and "larger than" in cut["message"]
    assert sorted(p.name for p in (root_of(fresh) / "uploads" / "county-01").iterdir()
                  if not p.name.startswith(".")) == [f"{uid}.csv"]


@pytest.mark.parametrize("member", ["../escaped.json", "/etc/cron.d/x", "a/../../b.json"])
def test_an_archive_member_escaping_its_folder_is_refused(fresh: Server, member: str) -> None:
    ca = Api(fresh, "ca")
    data = zipped({"dominion/ok.json": b"{}", member: b"{}"})
    up = ca.upload("county-01", "cvr_export", "export.zip", data)
    assert up["status"] == "rejected" and "archive refused" in up["message"], up
    assert str(root_of(fresh)) not in up["message"]  # the server's paths are not shown
    uploads = root_of(fresh) / "uploads"
    assert [p.name for p in uploads.rglob("*") if p.is_file()] == []
    assert not (root_of(fresh) / "escaped.json").exists()


def test_a_malformed_export_fails_its_job_and_leaves_the_store(fresh: Server,
                                                               state_root: Path) -> None:
    cb = Api(fresh, "cb")
    root = root_of(fresh)
    before = store_snapshot(root, "county-02")
    folder = state_root / "exports" / "county-02" / "dominion"
    files = {f"dominion/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    cvr = next(n for n in files if "CvrExport" in n)
    files[cvr] = files[cvr][: len(files[cvr]) // 2]  # cut off mid-record
    up = cb.upload("county-02", "cvr_export", "export.zip", zipped(files))
    assert up["status"] == "verified"
    job = cb.job("county-02", "ingest", up["id"])
    assert job["status"] == "failed" and job["message"].startswith("InputError: "), job
    assert "export.zip" in job["message"] and str(root) not in job["message"]
    assert store_snapshot(root, "county-02") == before
    listed = cb.c.get(f"/api/county/county-02/uploads/{up['id']}").json()
    assert (listed["status"], listed["message"]) == ("failed", job["message"])
    assert not list((root / "uploads" / "county-02").glob(".extract-*"))
    # a malformed pollbook file: the reader's error, the inputs unchanged
    pollbooks = county_inputs(root, "county-02") / POLLBOOKS
    kept = pollbooks.read_bytes()
    p = cb.upload("county-02", "pollbooks", "pb.csv", b"precinct,checkins,colour\nP1,3,red\n")
    job = cb.job("county-02", "ingest", p["id"])
    assert job["status"] == "failed" and "unknown column 'colour'" in job["message"]
    assert pollbooks.read_bytes() == kept


def test_one_county_never_reaches_another_countys_uploads(fresh: Server) -> None:
    ca, cb = Api(fresh, "ca"), Api(fresh, "cb")
    mine = ca.upload("county-01", "pollbooks", "a.csv", b"precinct,checkins\nP1,1\n")
    theirs = cb.upload("county-02", "pollbooks", "b.csv", b"precinct,checkins\nP2,2\n")
    assert cb.c.get("/api/county/county-01/uploads").status_code == 403
    assert cb.c.get(f"/api/county/county-01/uploads/{mine['id']}").status_code == 403
    assert cb.create("county-01", "pollbooks", "x.csv", 3, "0" * 64).status_code == 403
    assert cb.put("county-01", mine["id"], 0, b"x", 1).status_code == 403
    r = cb.c.post("/api/county/county-01/jobs", headers=cb.h, json={"kind": "commit"})
    assert r.status_code == 403
    # an id of county-02 under county-01's path is no upload at all for county-01's admin
    assert ca.c.get(f"/api/county/county-01/uploads/{theirs['id']}").status_code == 404
    r = ca.c.post("/api/county/county-01/jobs", headers=ca.h,
                  json={"kind": "ingest", "upload": theirs["id"]})
    assert r.status_code == 404
    assert "b.csv" not in ca.c.get("/county/county-01").text
    assert [u["id"] for u in ca.c.get("/api/county/county-01/uploads").json()] == [mine["id"]]
    # the state admin sees both and sends nothing; a missing CSRF header changes nothing
    sa = Api(fresh, "sa")
    assert len(sa.c.get("/api/county/county-02/uploads").json()) == 1
    assert sa.create("county-01", "pollbooks", "x.csv", 3, "0" * 64).status_code == 403
    r = ca.c.post("/api/county/county-01/uploads", json={
        "kind": "pollbooks", "filename": "x", "size": 3, "sha256": "0" * 64})
    assert r.status_code == 403


def test_one_job_at_a_time_per_county(fresh: Server) -> None:
    ca = Api(fresh, "ca")
    with fresh.app.state.sessionmaker.begin() as db:
        activity.start_job(db, "county-01", "commit", fresh.users["ca"], fresh.app.state.settings.now())
    r = ca.c.post("/api/county/county-01/jobs", headers=ca.h, json={"kind": "commit"})
    assert r.status_code == 409 and "busy" in r.json()["detail"]


def test_jobs_left_open_by_a_stopped_server(fresh: Server, engine: Engine,
                                            clock: Clock) -> None:
    """A running ingest is failed with a message and its upload made ingestible again; a
    running commit is resumed; a queued job is run."""
    ca, cb = Api(fresh, "ca"), Api(fresh, "cb")
    up = ca.upload("county-01", "pollbooks", "a.csv", b"precinct,checkins\nP1,1\n")
    sm = fresh.app.state.sessionmaker
    now = fresh.app.state.settings.now()
    with sm.begin() as db:
        ingest = activity.start_job(db, "county-01", "ingest", fresh.users["ca"], now)
        ingest.upload_id, ingest.status = up["id"], "running"
        commit = activity.start_job(db, "county-02", "commit", fresh.users["cb"], now)
        commit.status = "running"
        ids = ingest.id, commit.id
    (root_of(fresh) / "uploads" / "county-01" / ".extract-stale").mkdir()
    assert cb.c.get("/api/county/county-02/jobs").json()[0]["status"] == "running"

    restarted = create_app(Settings(root_of(fresh), str(engine.url), password_cost=CHEAP,
                                    now=clock), engine)
    with TestClient(restarted):  # its start-up closes or resumes the open jobs
        restarted.state.jobs.wait()
    with restarted.state.sessionmaker() as db:
        i, c = (db.get(Job, n) for n in ids)
        assert (i.status, i.message) == ("failed", RESTART_INGEST)
        assert db.get(Upload, up["id"]).status == "verified"
        assert c.status == "done" and "log size" in c.message, c.message
        actions = {a.action for a in db.scalars(select(Activity))}
    assert {"job_failed", "job_resumed", "job_done"} <= actions
    assert not (root_of(fresh) / "uploads" / "county-01" / ".extract-stale").exists()
    assert ca.job("county-01", "ingest", up["id"])["status"] == "done"  # again, by hand

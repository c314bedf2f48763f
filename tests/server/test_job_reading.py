"""While a job writes a county's store, the pages and the API show the county's last completed
state (read-only store), "updating" only when no consistent view can be had; and a failed
job's message names no server path, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tallyproof.errors import StoreBusy, StoreError
from tallyproof.fsutil import JOURNAL, temp_path_for
from tallyproof.ledger.log import load_checkpoints
from tallyproof.server import jobs
from tallyproof.server.db import Activity, Job
from tallyproof.state.tasks import county_key_path, county_store_dir
from tallyproof.store import Store, locked

from .conftest import Clock, Server, make_server
from .test_uploads import Api, root_of


@pytest.fixture
def copied(state_root: Path, tmp_path: Path, engine: Engine, clock: Clock) -> Server:
    """A copy of the test state (its stores are written by the tests)."""
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    return make_server(root, engine, clock)


def _last(folder: Path) -> tuple[int, int, str]:
    with Store.open_readonly(folder) as ro:
        cp = load_checkpoints(ro.log_dir)[-1].checkpoint
        return ro.cvr_count(), cp.size, cp.root.hex()


def test_pages_show_the_last_completed_data_while_a_job_writes_the_store(
        copied: Server, a_ballot: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = root_of(copied)
    folder = county_store_dir(root, "county-01")
    cards, size, cp_root = _last(folder)
    held, release = threading.Event(), threading.Event()

    def writing(county: str, state: str) -> jobs.UploadIngest:
        """A job in the middle of writing: the writer lock held, a half-written file staged."""
        with locked(county_store_dir(state, county)):
            tmp = temp_path_for(county_store_dir(state, county) / "cvrs.parquet")
            tmp.write_bytes(b"PAR1 half a table")
            held.set()
            release.wait(60)
            tmp.unlink()
        return jobs.UploadIngest("done")

    monkeypatch.setattr(jobs, "commit_county_task", writing)
    ca = Api(copied, "ca")
    assert ca.c.post("/api/county/county-01/jobs", headers=ca.h,
                     json={"kind": "commit"}).status_code == 202
    try:
        assert held.wait(60), "the job did not start"
        with pytest.raises(StoreBusy):  # the job really holds the store
            Store.open(folder)
        (job,) = ca.c.get("/api/county/county-01/jobs").json()
        assert job["status"] == "running"
        row = next(r for r in ca.c.get("/api/counties").json() if r["id"] == "county-01")
        assert (row["cards"], row["checkpoint_size"], row["checkpoint_root"], row["updating"]) \
            == (cards, size, cp_root, False)
        for page in (ca.c.get("/county/county-01").text,
                     copied.client().get("/present/county-01").text):
            assert f"{cards:,} cards" in page and cp_root in page
            assert "updating" not in page
        state_page = copied.login("sa").get("/state").text
        assert f"{cards:,}" in state_page and cp_root in state_page
        proof = copied.client().get(f"/api/proof/county-01/{a_ballot}").json()
        assert proof["verified"] is True
        name = f"{len(load_checkpoints(folder / 'log')):06d}.txt"
        got = copied.client().get(f"/download/county/county-01/checkpoints/{name}")
        assert got.status_code == 200
        assert got.content == (folder / "log" / "checkpoints" / name).read_bytes()
    finally:
        release.set()
        copied.app.state.jobs.wait()


def test_a_commit_caught_between_renames_shows_updating_for_that_county_only(
        copied: Server) -> None:
    root = root_of(copied)
    folder = county_store_dir(root, "county-01")
    (folder / JOURNAL).write_bytes(b"[]")  # a commit between its first and last rename
    rows = {r["id"]: r for r in copied.client().get("/api/counties").json()}
    assert rows["county-01"]["updating"] is True and rows["county-01"]["cards"] is None
    assert rows["county-02"]["updating"] is False
    assert rows["county-02"]["cards"] == _last(county_store_dir(root, "county-02"))[0]
    page = copied.login("ca").get("/county/county-01").text
    assert "updating (a job is writing it) cards" in page
    assert "Latest checkpoint: updating." in page


# ------------------------------------------------------------------ no server path in messages
def _forbidden(root: Path) -> list[str]:
    return [str(root), str(root.resolve()), str(county_key_path(root, "county-01")),
            tempfile.gettempdir() + "/", str(Path.home()) + "/"]


def _assert_clean(text: str, root: Path) -> None:
    for bad in _forbidden(root):
        assert bad not in text, (bad, text)


def _everything_shown(server: Server, job_id: int) -> list[str]:
    """The job's message as stored (its row, the activity log) and as shown (API, pages)."""
    sa = server.login("sa")
    with server.app.state.sessionmaker() as db:
        job = db.get(Job, job_id)
        assert job is not None
        stored = [job.message or ""] + [a.detail for a in db.scalars(
            select(Activity).where(Activity.action == "job_failed"))]
    api = [j["message"] for j in sa.get("/api/jobs").json() if j["id"] == job_id]
    api += [j["message"] for j in sa.get("/api/county/county-01/jobs").json()
            if j["id"] == job_id]
    pages = [sa.get(p).text for p in ("/county/county-01", "/state", "/activity")]
    return stored + api + pages


def test_a_failed_commit_names_no_server_path(copied: Server,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad key (the library names it by its full path) and an error naming the state
    folder, the key, a temporary and a home folder: what is stored and shown names the
    county's files relative to the state, and no server path."""
    root = root_of(copied)
    key = county_key_path(root, "county-01")
    key.write_text("not a key\n")
    ca = Api(copied, "ca")
    job = ca.job("county-01", "commit")
    assert job["status"] == "failed"
    assert job["message"] == ("InputError: file the county's signing key: not a tallyproof "
                              "private key (PRIVATE+KEY+name+hash+key)"), job
    for text in _everything_shown(copied, job["id"]):
        _assert_clean(text, root)

    store = county_store_dir(root, "county-01")
    scratch = Path(tempfile.gettempdir()) / "tallyproof-x1" / "segment.parquet"
    home = Path.home() / ".cache" / "tallyproof" / "dask.log"

    def failing(county: str, state: str) -> jobs.UploadIngest:
        raise StoreError(f"{store / 'log'}: expected 000002.txt (key {key}, staged in "
                         f"{scratch}, see {home}; state '{root}')")

    monkeypatch.setattr(jobs, "commit_county_task", failing)
    job = ca.job("county-01", "commit")
    assert job["message"] == (
        "StoreError: counties/county-01/store/log: expected 000002.txt (key the county's "
        "signing key, staged in segment.parquet, see dask.log; state 'the state folder')"), job
    shown = _everything_shown(copied, job["id"])
    assert any("counties/county-01/store/log" in t for t in shown[2:])  # the API and pages
    for text in shown:
        _assert_clean(text, root)

"""The state overview's county table as a state administrator follows the election: each
county's uploads and open job, and its part of the statewide audit (drawn, retrieved by its
boards, recorded at sign-off, discrepancies) beside the statewide risk; and the live version,
which moves with the database rows the table shows (uploads, jobs and their progress, board
entries), not only with the state folder's files. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tallyproof.server import county_table
from tallyproof.server.db import Job
from tallyproof.state.audit_status import discrepancies_by_county
from tallyproof.state.audit_tasks import audit_dir

from .conftest import Clock, Server, make_server
from .test_board import (_audit_job, _cards, _contests, _enter_all, _form, _launch, _paper,
                         _setup, _sign_off)
from .test_live import _events
from .test_uploads import Api

@pytest.fixture
def audit_server(state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> Server:
    """A server over a copy of the test state (the audit and the jobs write into it)."""
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    return make_server(root, engine, clock, upload_dir=tmp_path / "uploads")


LIVE = re.compile(r'sse-connect="/live/state\?since=([0-9a-f-]+)"')
ROW = re.compile(r'<tr id="county-([^"]+)">(.*?)</tr>', re.S)


def _cells(html: str, county: str) -> dict[str, str]:
    """The county's row: the audit cells by class, and the uploads cell, as text."""
    row = dict(ROW.findall(html))[county]
    out = {k: re.sub(r"<[^>]+>", "", v).strip() for k, v in re.findall(
        r'<td class="(?:num )?(drawn|retrieved|recorded|discrepancies|uploads)">(.*?)</td>',
        row, re.S)}
    return {k: re.sub(r"\s+", " ", v) for k, v in out.items()}


def _drawn(server: Server, county: str) -> int:
    """Distinct cards drawn in ``county``, read here from the round's own file."""
    rnd = orjson.loads((audit_dir(server.app.state.settings.state_dir) / "rounds"
                        / "round-1.json").read_bytes())
    return len({d["id"] for ds in rnd["draws"].values() for d in ds
                if d["id"].startswith(county + "/")})


def test_the_table_counts_what_the_boards_do(audit_server: Server) -> None:
    server = audit_server
    sa = server.login("sa")
    before = sa.get("/state").text
    assert _cells(before, "county-01")["uploads"] == "none"
    assert "audit not started" in dict(ROW.findall(before))["county-01"]
    _launch(server)
    (board,) = _setup(server, "ca", "county-01")
    paper = _paper(server, "county-01")
    cards = _cards(board)
    drawn = _drawn(server, "county-01")
    assert drawn == len(cards) > 2  # one board: its list is the county's drawn cards
    got = _cells(sa.get("/state").text, "county-01")
    assert (got["drawn"], got["retrieved"], got["recorded"]) == (f"{drawn:,}", "0", "0")
    assert got["discrepancies"] == "not measured"

    # two cards read (one of them twice: a correction counts once), one not found
    (n1, b1), (n2, b2), (n3, _) = cards[:3]
    for number, ballot in ((n1, b1), (n1, b1), (n2, b2)):
        reading = {c: paper[ballot][c] for c in _contests(board, number)}
        assert board.post(f"/board/card/{number}", data=_form(board, number, reading),
                          follow_redirects=False).status_code == 303
    assert board.post(f"/board/card/{n3}", data=_form(board, n3, None),
                      follow_redirects=False).status_code == 303
    got = _cells(sa.get("/state").text, "county-01")
    assert (got["drawn"], got["retrieved"], got["recorded"]) == (f"{drawn:,}", "3", "0")
    other = _cells(sa.get("/state").text, "county-02")
    assert (other["drawn"], other["retrieved"]) == (f"{_drawn(server, 'county-02'):,}", "0")

    # every card entered and signed off: the records hold them all
    _enter_all(board, paper)
    assert _sign_off(board).status_code == 303
    got = _cells(sa.get("/state").text, "county-01")
    assert (got["retrieved"], got["recorded"]) == (f"{drawn:,}", f"{drawn:,}")

    # county-02 too, with one misread card, then the round closes: discrepancies measured
    (b2_board,) = _setup(server, "cb", "county-02")
    paper2 = _paper(server, "county-02")
    n, ballot = next((n, b) for n, b in _cards(b2_board)
                     if any(paper2[b][c] for c in _contests(b2_board, n)))
    wrong = {c: [] for c in _contests(b2_board, n)}  # blanks where the CVR has votes
    paper2[ballot] = {**paper2[ballot], **wrong}
    _enter_all(b2_board, paper2)
    assert _sign_off(b2_board).status_code == 303
    _audit_job(server, sa, "/state/audit/close")
    status = orjson.loads((audit_dir(server.app.state.settings.state_dir)
                           / "status.json").read_bytes())
    found = discrepancies_by_county(status)
    page = sa.get("/state").text
    assert _cells(page, "county-01")["discrepancies"] == "none"
    summed: dict[str, int] = {}
    for per in found.get("county-02", {}).values():
        for k, v in per.items():
            summed[k] = summed.get(k, 0) + v
    assert any(summed.values())  # the misread card shows
    assert _cells(page, "county-02")["discrepancies"] == ", ".join(
        f"{v} {k}" for k, v in sorted(summed.items()) if v)
    # the statewide risk per contest, beside the table
    for c in status["contests"]:
        assert f'{c["measured_risk"]:.4g}' in page.split('id="risk"')[1]


def _since(c: TestClient) -> str:
    m = LIVE.search(c.get("/state").text)
    assert m is not None
    return m.group(1)


def test_the_live_version_follows_uploads_jobs_and_their_progress(
        audit_server: Server) -> None:
    server = audit_server
    server.app.state.settings = replace(server.app.state.settings, live_interval=0.02,
                                        live_lifetime=0.3)
    sa = server.login("sa")
    sm = server.app.state.sessionmaker

    def version() -> str:
        with sm() as db:
            return county_table.version(db)

    v0, since = version(), _since(sa)
    assert sa.get(f"/live/state?since={since}").text == "retry: 2000\n\n"  # nothing moved
    ca = Api(server, "ca")
    data = b"precinct,checkins\nP1,3\n"
    r = ca.create("county-01", "pollbooks", "pb.csv", len(data),
                  hashlib.sha256(data).hexdigest())
    assert r.status_code == 201
    v1 = version()
    assert v1 != v0  # an upload begun
    sent = _events(sa.get(f"/live/state?since={since}").text)
    assert "pb.csv" in sent["counties"] and "1 receiving" in sent["counties"]
    assert ca.put("county-01", r.json()["id"], 0, data[:5], len(data)).status_code == 200
    v2 = version()
    assert v2 != v1  # bytes arrived
    assert ca.put("county-01", r.json()["id"], 5, data[5:], len(data)).status_code == 200
    v3 = version()
    assert v3 != v2  # verified
    since = _since(sa)
    job = ca.job("county-01", "ingest", r.json()["id"])
    assert job["status"] == "done"
    sent = _events(sa.get(f"/live/state?since={since}").text)
    assert "1 ingested" in sent["counties"] and f'id="job-{job["id"]}"' in sent["jobs"]
    v4 = version()
    assert v4 != v3
    # a running job's progress alone moves it (and shows in the county's row, live)
    with sm.begin() as db:
        j = Job(county="county-02", kind="commit", status="running", progress="step one",
                created_at=server.app.state.settings.now(), message="")
        db.add(j)
    v5 = version()
    since = _since(sa)
    with sm.begin() as db:
        db.get(Job, j.id).progress = "step two of three"
    assert version() not in (v4, v5)
    sent = _events(sa.get(f"/live/state?since={since}").text)
    assert "step two of three" in _cells(sent["counties"], "county-02")["uploads"]
    assert "step two of three" in sent["jobs"]
    assert sa.get(f"/live/state?since={_since(sa)}").text == "retry: 2000\n\n"


def test_the_live_version_follows_board_entries(audit_server: Server) -> None:
    server = audit_server
    sa = _launch(server)
    (board,) = _setup(server, "ca", "county-01")
    paper = _paper(server, "county-01")
    server.app.state.settings = replace(server.app.state.settings, live_interval=0.02,
                                        live_lifetime=0.3)
    since = _since(sa)
    assert sa.get(f"/live/state?since={since}").text == "retry: 2000\n\n"
    number, ballot = _cards(board)[0]
    reading = {c: paper[ballot][c] for c in _contests(board, number)}
    assert board.post(f"/board/card/{number}", data=_form(board, number, reading),
                      follow_redirects=False).status_code == 303
    sent = _events(sa.get(f"/live/state?since={since}").text)
    assert _cells(sent["counties"], "county-01")["retrieved"] == "1"
    since = _since(sa)
    n = len(_cards(board))
    _enter_all(board, paper)
    assert _sign_off(board).status_code == 303
    sent = _events(sa.get(f"/live/state?since={since}").text)
    got = _cells(sent["counties"], "county-01")
    assert (got["retrieved"], got["recorded"]) == (f"{n:,}", f"{n:,}")

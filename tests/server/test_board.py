"""The statewide audit from the web: the state admin starts it and launches a round, counties
set up boards and print their credentials, boards sign in, enter each ballot (saved one by
one, a retried POST never duplicated), correct before sign-off, are refused after it until the
county reopens the board (logged), and the round is closed with the risk the library measures
from the records the sign-offs wrote. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tallyproof.audit.records import load_records
from tallyproof.state.audit_status import state_audit_status
from tallyproof.state.audit_tasks import county_records_path
from tallyproof.state.executor import InProcess
from tallyproof.state.tasks import county_store_dir
from tallyproof.store import Store

from tallyproof.server.board_db import AuditBoard, BoardEntry
from tallyproof.server.db import STATE_LOCK, Activity, Job

from .conftest import Clock, Server, csrf_of, make_server

SEED = "31415926535897932384"
PASSPHRASE = re.compile(r"Passphrase: <strong><code>([A-Z0-9-]+)</code>")
ENTRY_KEY = re.compile(r'name="entry_key" value="([^"]+)"')


@pytest.fixture
def audit_server(state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> Server:
    """A server over a copy of the test state (the audit writes into the state folder)."""
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    return make_server(root, engine, clock)


def _post(c: TestClient, url: str, data: dict, page: str = "/public") -> object:
    return c.post(url, data={"csrf": csrf_of(c, page), **data}, follow_redirects=False)


def _audit_job(server: Server, sa: TestClient, url: str, data: dict | None = None) -> Job:
    """Ask for a statewide audit job (start, round, close): the answer comes at once, the
    page shows the job, and after the runner's wait it is done."""
    r = _post(sa, url, data or {})
    assert r.status_code == 303 and r.headers["location"].startswith("/state/audit#job-"), \
        r.text
    job_id = int(r.headers["location"].rsplit("-", 1)[1])
    server.app.state.jobs.wait()
    with server.app.state.sessionmaker() as db:
        job = db.get(Job, job_id)
    assert job is not None and job.county == STATE_LOCK
    assert (job.status, job.progress) == ("done", "done"), job.message
    assert f'id="job-{job_id}"' in sa.get("/state/audit").text
    return job


def _launch(server: Server) -> TestClient:
    sa = server.login("sa")
    _audit_job(server, sa, "/state/audit/start", {"risk_limit": "0.1", "seed": SEED})
    _audit_job(server, sa, "/state/audit/round")
    return sa


def _boards(server: Server, county: str) -> list[AuditBoard]:
    with server.app.state.sessionmaker() as db:
        return list(db.scalars(select(AuditBoard).where(AuditBoard.county == county)
                               .order_by(AuditBoard.number)))


def _setup(server: Server, admin: str, county: str, count: int = 1) -> list[TestClient]:
    """Set up the county's boards, issue each one's passphrase, sign each in by its link."""
    ca = server.login(admin)
    r = _post(ca, f"/county/{county}/audit/boards", {"count": str(count)})
    assert r.status_code == 303, r.text
    clients = []
    for b in _boards(server, county):
        sheet = _post(ca, f"/county/{county}/audit/boards/{b.id}/credentials", {})
        assert sheet.status_code == 200
        m = PASSPHRASE.search(sheet.text)
        assert m is not None
        qr = ca.get(f"/county/{county}/audit/boards/{b.id}/qr.svg")
        assert qr.headers["content-type"].startswith("image/svg+xml") and b"<svg" in qr.content
        board = server.client()
        link = f"/board/signin/{b.slug}"
        r = _post(board, "/board/signin", {"passphrase": m.group(1).lower(), "slug": b.slug},
                  page=link)
        assert (r.status_code, r.headers["location"]) == (303, "/board"), r.text
        clients.append(board)
    return clients


def _paper(server: Server, county: str) -> dict[str, dict[str, list[str]]]:
    """What the paper shows (the test reads the CVRs; the boards never do): ballot -> county
    contest id -> candidate ids marked."""
    store = Store.open(county_store_dir(server.app.state.settings.state_dir, county))
    contests = store.election.contests
    t = store.cvrs(columns=["ballot_id", *(c.column for c in contests)]).to_pylist()
    return {row["ballot_id"]: {c.id: [c.candidates[k].id for k in row[c.column][0]]
                               for c in contests if row[c.column] is not None} for row in t}


def _cards(board: TestClient) -> list[tuple[int, str]]:
    return [(int(n), b) for n, b in re.findall(
        r'<a href="/board/card/(\d+)">\d+</a></td><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td>'
        r'<td class="num">[^<]*</td><td>([^<]+)</td>', board.get("/board").text)]


def _form(board: TestClient, number: int, reading: dict[str, list[str]] | None,
          key: str | None = None) -> dict:
    page = board.get(f"/board/card/{number}").text
    m = ENTRY_KEY.search(page)
    assert m is not None
    data: dict = {"csrf": csrf_of(board, f"/board/card/{number}"), "entry_key": key or m.group(1)}
    if reading is None:
        data["not_found"] = "yes"
        return data
    for cid, marks in reading.items():
        data[f"r.{cid}"] = "marks"
        data[f"m.{cid}"] = marks
    return data


def _contests(board: TestClient, number: int) -> list[str]:
    """The contests the card's form asks for."""
    return re.findall(r'name="r\.([^"]+)" value="marks"', board.get(f"/board/card/{number}").text)


def _enter_all(board: TestClient, paper: dict) -> None:
    for number, ballot in _cards(board):
        contests = _contests(board, number)
        r = board.post(f"/board/card/{number}", data=_form(
            board, number, {c: paper[ballot][c] for c in contests}), follow_redirects=False)
        assert r.status_code == 303, r.text


def _sign_off(board: TestClient) -> object:
    return board.post("/board/signoff", data={"csrf": csrf_of(board, "/board/review"),
                                              "member": ["Ann Lee", "Bo Diaz", ""]},
                      follow_redirects=False)


def _actions(server: Server) -> list[tuple[str | None, str, str]]:
    with server.app.state.sessionmaker() as db:
        return [(a.username, a.action, a.detail)
                for a in db.scalars(select(Activity).order_by(Activity.id))]


def test_a_round_from_launch_to_measured_risk(audit_server: Server) -> None:
    server = audit_server
    root = server.app.state.settings.state_dir
    sa = _launch(server)
    (b1,) = _setup(server, "ca", "county-01")
    (b2,) = _setup(server, "cb", "county-02")
    paper1 = _paper(server, "county-01")
    cards = _cards(b1)
    assert cards
    # the ballot form shows choices, never the CVR: nothing is checked before an entry
    assert 'type="checkbox" name="m.' in b1.get("/board/card/1").text
    assert not re.search(r'type="checkbox"[^>]* checked', b1.get("/board/card/1").text)

    # first card: a wrong reading, then its correction (a new entry, before sign-off)
    number, ballot = cards[0]
    contests = _contests(b1, number)
    wrong = {c: [] for c in contests}
    assert b1.post("/board/card/1", data=_form(b1, 1, wrong),
                   follow_redirects=False).status_code == 303
    _enter_all(b1, paper1)
    _enter_all(b2, _paper(server, "county-02"))
    with server.app.state.sessionmaker() as db:
        n_entries = db.scalar(select(func.count()).select_from(BoardEntry))
    assert n_entries == len(cards) + 1 + len(_cards(b2))

    assert _post(sa, "/state/audit/close", {}).status_code == 409  # boards still working
    assert _sign_off(b1).status_code == 303
    assert _sign_off(b2).status_code == 303
    records = load_records(county_records_path(root, "county-01"))
    assert {r.ballot_id for r in records} == {b for _, b in cards}
    assert all(r.source_file == "round-1-board-1-signoff-1.csv" for r in records)
    first = [r for r in records if r.ballot_id == ballot]
    assert {r.contest_id: [list(x) for x in r.marks] for r in first} == \
        {c: [paper1[ballot][c]] for c in contests}  # the correction counted, not the error

    # after sign-off: refused, until the county reopens the board (logged)
    refused = b1.post("/board/card/1", data=_form(b1, 1, wrong), follow_redirects=False)
    assert refused.status_code == 409
    ca = server.login("ca")
    board_id = _boards(server, "county-01")[0].id
    r = _post(ca, f"/county/county-01/audit/boards/{board_id}/reopen",
              {"reason": "box 3 re-read by the supervisor"})
    assert r.status_code == 303
    assert ("ca", "audit_board_reopened",
            "board county-01/round-1/1: box 3 re-read by the supervisor") in _actions(server)
    c0 = contests[0]
    data = _form(b1, 1, {c: paper1[ballot][c] for c in contests})
    data[f"r.{c0}"] = "cant_agree"
    data[f"n.{c0}"] = "faint mark"
    assert b1.post("/board/card/1", data=data, follow_redirects=False).status_code == 303
    assert _sign_off(b1).status_code == 303
    after = load_records(county_records_path(root, "county-01"))
    assert len(after) == len(records) + 1  # only the changed reading is written again
    last = after[-1]
    assert (last.ballot_id, last.contest_id, last.not_found, last.correction) == \
        (ballot, c0, True, True)
    assert "box 3 re-read by the supervisor" in last.reason
    assert "could not agree: faint mark" in last.reason

    # close the round: the library measures the risk from the records the sign-offs wrote
    _audit_job(server, sa, "/state/audit/close")
    written = orjson.loads((root / "audit" / "status.json").read_bytes())
    again = state_audit_status(root, InProcess(), write=False).to_json()
    assert written == again
    assert written["rounds"] == 1 and not written["waiting"]
    assert all(c["ballots_examined"] > 0 for c in written["contests"])
    page = sa.get("/state/audit").text
    assert f"Risk measured (after round 1): {written['status']}" in page
    # a closed round takes no more entries, even after a reopening attempt
    assert _post(ca, f"/county/county-01/audit/boards/{board_id}/reopen",
                 {"reason": "late"}).status_code == 409


def test_a_retried_entry_is_saved_once(audit_server: Server) -> None:
    server = audit_server
    _launch(server)
    (board,) = _setup(server, "ca", "county-01")
    paper = _paper(server, "county-01")
    number, ballot = _cards(board)[0]
    contests = _contests(board, number)
    data = _form(board, number, {c: paper[ballot][c] for c in contests})
    first = board.post("/board/card/1", data=data, follow_redirects=False)
    retry = board.post("/board/card/1", data=data, follow_redirects=False)
    assert first.status_code == retry.status_code == 303
    assert first.headers["location"] == retry.headers["location"]
    with server.app.state.sessionmaker() as db:
        keys = list(db.scalars(select(BoardEntry.entry_key)))
    assert keys == [data["entry_key"]]
    assert [a for a in _actions(server) if a[1] == "board_entry"].__len__() == 1
    # the same key with another reading is refused, not saved
    other = {**data, f"r.{contests[0]}": "overvote"}
    assert board.post("/board/card/1", data=other, follow_redirects=False).status_code == 409
    with server.app.state.sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(BoardEntry)) == 1


def test_an_incomplete_reading_is_refused_with_a_reason(audit_server: Server) -> None:
    server = audit_server
    _launch(server)
    (board,) = _setup(server, "ca", "county-01")
    data = _form(board, 1, {})
    r = board.post("/board/card/1", data=data, follow_redirects=False)
    assert r.status_code == 422 and "say what the ballot shows" in r.text
    assert _sign_off(board).status_code == 409  # nothing entered yet


def test_a_board_sees_only_its_own_list(audit_server: Server) -> None:
    server = audit_server
    _launch(server)
    one, two = _setup(server, "ca", "county-01", count=2)
    (other,) = _setup(server, "cb", "county-02")
    mine = {b for _, b in _cards(one)}
    theirs = {b for _, b in _cards(two)} | {b for _, b in _cards(other)}
    assert mine and theirs and not mine & theirs
    for page in ("/board", "/board/review", "/board/card/1"):
        text = one.get(page).text
        assert not any(f">{b}<" in text for b in theirs)
    # no admin page opens to a board, and no other board's or county's page
    for url in ("/state", "/state/audit", "/county/county-01", "/county/county-01/audit",
                "/county/county-02/audit", "/users", "/activity",
                f"/county/county-02/audit/boards/{_boards(server, 'county-02')[0].id}"):
        r = one.get(url, follow_redirects=False)
        assert (r.status_code, r.headers.get("location")) == (303, "/login"), url
    assert one.get("/board/card/999").status_code == 404
    # a passphrase opens its own board only: not from another board's link
    ca = server.login("ca")
    b2 = _boards(server, "county-01")[1]
    m = PASSPHRASE.search(_post(ca, f"/county/county-01/audit/boards/{b2.id}/credentials",
                                {}).text)
    assert m is not None
    foreign = _boards(server, "county-02")[0].slug
    stranger = server.client()
    r = _post(stranger, "/board/signin", {"passphrase": m.group(1), "slug": foreign},
              page=f"/board/signin/{foreign}")
    assert r.status_code == 401
    # the new passphrase ended board two's session
    assert two.get("/board", follow_redirects=False).headers["location"] == "/board/signin"


def test_boards_are_set_up_once_per_round(audit_server: Server) -> None:
    server = audit_server
    _launch(server)
    _setup(server, "ca", "county-01")
    ca = server.login("ca")
    assert _post(ca, "/county/county-01/audit/boards", {"count": "1"}).status_code == 409
    sa = server.login("sa")
    assert _post(sa, "/state/audit/round", {}).status_code == 409  # round 1 still open


LINK = re.compile(r"Sign-in link[^:]*: <code>([^<]+)</code>")


def _issue(server: Server, ca: TestClient, board: AuditBoard) -> tuple[str, str, str]:
    """Issue the board's credentials: its sheet's link, the passphrase, the sheet's HTML."""
    sheet = _post(ca, f"/county/{board.county}/audit/boards/{board.id}/credentials", {})
    assert sheet.status_code == 200
    link, passphrase = LINK.search(sheet.text), PASSPHRASE.search(sheet.text)
    assert link is not None and passphrase is not None
    return link.group(1), passphrase.group(1), sheet.text


def _follow(server: Server, link: str) -> int | str:
    """What a browser does with the link: GET the page (the fragment stays in the browser),
    then the page's script (static/board-link.js) posts the fragment with the page's form."""
    from html import unescape
    from urllib.parse import urlsplit

    parts = urlsplit(unescape(link))
    c = server.client()
    page = c.get(parts.path)
    assert page.status_code == 200 and '<script src="/static/board-link.js"' in page.text
    slug = re.search(r'name="slug" value="([^"]+)"', page.text)
    assert slug is not None and slug.group(1) == parts.path.rsplit("/", 1)[1]
    r = c.post("/board/signin", data={"csrf": csrf_of(c, parts.path), "slug": slug.group(1),
                                      "passphrase": parts.fragment}, follow_redirects=False)
    return f"303 {r.headers['location']}" if r.status_code == 303 else r.status_code


def test_the_printed_link_carries_the_passphrase_and_signs_in(audit_server: Server,
                                                              clock: Clock) -> None:
    """The sheet's link (and its QR code) holds the passphrase in the fragment, never sent to
    the server; it signs in its own board only: not with another board's, another county's
    or another round's link."""
    from tallyproof.server.board_db import ClosedRound
    from tallyproof.server.qr import svg_text

    server = audit_server
    _launch(server)
    ca, cb = server.login("ca"), server.login("cb")
    assert _post(ca, "/county/county-01/audit/boards", {"count": "2"}).status_code == 303
    assert _post(cb, "/county/county-02/audit/boards", {"count": "1"}).status_code == 303
    one, two = _boards(server, "county-01")
    (other,) = _boards(server, "county-02")
    link, passphrase, sheet = _issue(server, ca, one)
    assert link == f"http://testserver/board/signin/{one.slug}#{passphrase}"
    assert svg_text(link, "QR code of the board's sign-in link") in sheet  # the QR is the link
    assert _follow(server, link) == "303 /board"
    # the same passphrase behind another board's, or another county's, link opens nothing
    for slug in (two.slug, other.slug):
        assert _follow(server, link.replace(one.slug, slug)) == 401
    # a link of county-02's board with county-01's passphrase: refused too
    link3, _, _ = _issue(server, cb, other)
    assert _follow(server, link3.split("#")[0] + "#" + passphrase) == 401
    assert _follow(server, link3) == "303 /board"
    # the GET sheet (no passphrase issued now) shows the bare link, its QR served apart
    plain = ca.get(f"/county/county-01/audit/boards/{one.id}").text
    assert f"/board/signin/{one.slug}</code>" in plain and passphrase not in plain
    # once round 1 is closed its links sign in no more
    with server.app.state.sessionmaker.begin() as db:
        db.add(ClosedRound(round_number=1, user_id=server.users["sa"], closed_at=clock()))
    assert _follow(server, link) == 401
    with server.app.state.sessionmaker() as db:
        acts = [a.action for a in db.scalars(select(Activity))]
    assert acts.count("board_login") == 2 and acts.count("board_login_failed") == 4


def test_board_sign_in_is_rate_limited_per_link_and_address(audit_server: Server) -> None:
    """A county's boards sign in from one office address: five wrong passphrases behind one
    board's link block that link from that address, not the county's other boards."""
    server = audit_server
    _launch(server)
    ca = server.login("ca")
    assert _post(ca, "/county/county-01/audit/boards", {"count": "2"}).status_code == 303
    one, two = _boards(server, "county-01")
    link1, pass1, _ = _issue(server, ca, one)
    link2, _, _ = _issue(server, ca, two)
    for _ in range(5):
        assert _follow(server, link1.split("#")[0] + "#WRONG-WORDS-HERE") == 401
    assert _follow(server, link1) == 429  # this link, from this address: blocked
    assert _follow(server, link2) == "303 /board"  # the other board, same address
    elsewhere = TestClient(server.app, client=("198.51.100.9", 40000))
    r = elsewhere.post("/board/signin", data={
        "csrf": csrf_of(elsewhere, f"/board/signin/{one.slug}"), "slug": one.slug,
        "passphrase": pass1}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/board")


def test_a_county_finishing_its_round_is_an_alert(audit_server: Server) -> None:
    """When a county's last board of the round signs off, the state administrators get an
    alert (shown, acknowledged and logged like a job's); not before."""
    server = audit_server
    sa = _launch(server)
    b1, b2 = _setup(server, "ca", "county-01", count=2)
    paper = _paper(server, "county-01")

    def entered(c: TestClient) -> list[dict]:
        return [a for a in c.get("/api/alerts").json()["alerts"] if a["kind"] == "round_entered"]

    _enter_all(b1, paper)
    assert _sign_off(b1).status_code == 303
    assert entered(sa) == []  # one board of two: the county is not finished
    _enter_all(b2, paper)
    assert _sign_off(b2).status_code == 303
    (alert,) = entered(sa)
    assert (alert["county"], alert["outcome"]) == ("county-01", "done")
    assert alert["message"] == ("round 1: all 2 audit board(s) signed off; the county's entry "
                                "of the round is finished")
    page = sa.get("/state").text
    assert f'id="alert-{alert["job"]}"' in page and "round entered (job" in page
    assert [a["job"] for a in entered(server.login("ca"))] == [alert["job"]]
    assert entered(server.login("cb")) == []
    r = _post(sa, f"/state/alerts/{alert['job']}/ack", {})
    assert r.status_code == 303 and entered(sa) == []
    acts = [(a, d) for _, a, d in _actions(server)]
    assert ("county_round_entered", f"job {alert['job']}: {alert['message']}") in acts
    assert ("alert_acknowledged", f"job {alert['job']}: round_entered done") in acts

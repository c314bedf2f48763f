"""The audit boards' JSON API: sign-in by passphrase (a bearer token), the board's cards,
entries idempotent by their key, review and sign-off into the county's records; a board signed
in by the pages uses it with its cookie and the X-CSRF-Token header. Runs on SQLite and
PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tallyproof.audit.records import load_records
from tallyproof.server.board_db import BoardEntry
from tallyproof.state.audit_tasks import county_records_path

from .conftest import Server
from .test_board import PASSPHRASE, _boards, _launch, _paper, _post, _setup, audit_server

__all__ = ["audit_server"]  # the fixture, imported for these tests


def _passphrase(server: Server, admin: str, county: str) -> str:
    """Set up one board for the county and issue its passphrase."""
    ca = server.login(admin)
    assert _post(ca, f"/county/{county}/audit/boards", {"count": "1"}).status_code == 303
    (b,) = _boards(server, county)
    m = PASSPHRASE.search(_post(ca, f"/county/{county}/audit/boards/{b.id}/credentials",
                                {}).text)
    assert m is not None
    return m.group(1)


def _signin(server: Server, passphrase: str) -> TestClient:
    c = server.client()
    r = c.post("/api/board/signin", json={"passphrase": passphrase})
    assert r.status_code == 200, r.text
    c.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return c


def _reading(card: dict, paper: dict) -> dict:
    return {c["id"]: {"marks": paper[card["ballot_id"]][c["id"]]} for c in card["contests"]}


def _count(server: Server) -> int:
    with server.app.state.sessionmaker() as db:
        return db.scalar(select(func.count()).select_from(BoardEntry))


def test_a_board_enters_reviews_and_signs_off_through_the_api(audit_server: Server) -> None:
    server = audit_server
    root = server.app.state.settings.state_dir
    _launch(server)
    board = _signin(server, _passphrase(server, "ca", "county-01").lower())
    me = board.get("/api/board").json()
    assert (me["county"], me["round"], me["number"], me["status"]) == ("county-01", 1, 1, "open")
    cards = board.get("/api/board/cards").json()
    assert cards and all(c["entry"] is None for c in cards)
    assert all("votes" not in c and c["contests"][0]["choices"] for c in cards)
    paper = _paper(server, "county-01")

    first = cards[0]
    body = {"entry_key": "key-0001-a", "contests": _reading(first, paper)}
    r = board.post("/api/board/cards/1/entries", json=body)
    assert r.status_code == 201 and r.json()["new"] is True
    retry = board.post("/api/board/cards/1/entries", json=body)
    assert retry.status_code == 200 and retry.json()["id"] == r.json()["id"]
    other = {**body, "contests": {c["id"]: {"overvote": True} for c in first["contests"]}}
    assert board.post("/api/board/cards/1/entries", json=other).status_code == 409
    assert _count(server) == 1
    # a malformed reading is refused with the reason, and saves nothing
    both = {"entry_key": "key-0001-b", "contests": {first["contests"][0]["id"]:
                                                    {"marks": [], "overvote": True}}}
    assert board.post("/api/board/cards/1/entries", json=both).status_code == 422
    bad = {"entry_key": "key-0001-c", "contests": {
        c["id"]: {"marks": ["no-such-choice"]} for c in first["contests"]}}
    r = board.post("/api/board/cards/1/entries", json=bad)
    assert r.status_code == 422 and "is not a choice" in r.json()["detail"]
    assert board.post(f"/api/board/cards/{len(cards) + 1}/entries",
                      json={**body, "entry_key": "key-0001-d"}).status_code == 404
    assert _count(server) == 1

    review = board.get("/api/board/review").json()
    assert review["missing"] == [c["number"] for c in cards[1:]]
    assert board.post("/api/board/signoff",
                      json={"members": ["Ann Lee", "Bo Diaz"]}).status_code == 409  # missing
    for card in cards[1:]:
        r = board.post(f"/api/board/cards/{card['number']}/entries",
                       json={"entry_key": f"key-{card['number']:04d}-a",
                             "contests": _reading(card, paper)})
        assert r.status_code == 201, r.text
    assert board.get("/api/board/review").json()["missing"] == []
    assert board.post("/api/board/signoff", json={"members": ["Ann Lee", "ann lee"]}
                      ).status_code == 409  # two different members
    r = board.post("/api/board/signoff", json={"members": ["Ann Lee", "Bo Diaz"]})
    assert r.status_code == 200, r.text
    records = load_records(county_records_path(root, "county-01"))
    assert r.json()["records_written"] == len(records) > 0
    assert {x.ballot_id for x in records} == {c["ballot_id"] for c in cards}
    # signed off: no more entries, the same refusal as the pages'
    r = board.post("/api/board/cards/1/entries", json={**body, "entry_key": "key-0001-e"})
    assert r.status_code == 409 and "signed off" in r.json()["detail"]
    assert board.get("/api/board").json()["status"] == "signed_off"
    assert board.post("/api/board/signout").status_code == 200
    assert board.get("/api/board/cards").status_code == 401


def test_a_board_cookie_needs_the_csrf_header(audit_server: Server) -> None:
    server = audit_server
    _launch(server)
    (page_board,) = _setup(server, "ca", "county-01")  # signed in by the page: a cookie
    csrf = page_board.get("/api/board").json()["csrf"]
    card = page_board.get("/api/board/cards").json()[0]
    body = {"entry_key": "cookie-entry-1", "contests": _reading(card, _paper(server,
                                                                            "county-01"))}
    assert page_board.post("/api/board/cards/1/entries", json=body).status_code == 403
    assert page_board.post("/api/board/cards/1/entries", json=body,
                           headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert _count(server) == 0
    r = page_board.post("/api/board/cards/1/entries", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    # the entry is the page's too: the card's page shows it entered
    assert "Entered." in page_board.get("/board/card/1").text


def test_sessions_do_not_cross(audit_server: Server) -> None:
    """A board's token opens no user API; a user's session opens no board API; a wrong
    passphrase is a 401 and logged."""
    server = audit_server
    _launch(server)
    board = _signin(server, _passphrase(server, "ca", "county-01"))
    assert board.get("/api/session").status_code == 401
    assert board.get("/api/county/county-01/uploads").status_code == 401
    admin = server.login("ca")
    assert admin.get("/api/board/cards").status_code == 401
    assert server.client().get("/api/board/cards",
                               headers={"Authorization": "Bearer nonsense"}).status_code == 401
    r = server.client().post("/api/board/signin", json={"passphrase": "AAAA-BBBB"})
    assert r.status_code == 401
    with server.app.state.sessionmaker() as db:
        from tallyproof.server.db import Activity

        actions = list(db.scalars(select(Activity.action)))
    assert actions.count("board_login") == 1 and actions.count("board_login_failed") == 1


@pytest.mark.parametrize("body", [{"passphrase": "x" * 65}, {"slug": "abc"}, {}])
def test_a_malformed_signin_is_a_422(audit_server: Server, body: dict) -> None:
    assert audit_server.client().post("/api/board/signin", json=body).status_code == 422


def test_entries_at_once_are_saved_in_shared_commits(audit_server: Server, clock) -> None:  # noqa: ANN001
    """Entries sent together from 8 threads all go through the app's group writer, each
    answered with its own entry; an entry restarts the board session's idle clock in its
    own write (the request itself writes nothing else)."""
    from concurrent.futures import ThreadPoolExecutor

    server = audit_server
    _launch(server)
    board = _signin(server, _passphrase(server, "ca", "county-01"))
    cards = board.get("/api/board/cards").json()
    paper = _paper(server, "county-01")
    writer = server.app.state.writer
    before = (writer.batches, writer.writes)

    def enter(k: int) -> tuple[int, int]:
        card = cards[k % len(cards)]
        r = board.post(f"/api/board/cards/{card['number']}/entries",
                       json={"entry_key": f"together-{k:04d}", "contests": _reading(card,
                                                                                     paper)})
        return r.status_code, r.json().get("id", 0)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(enter, range(40)))
    assert [st for st, _ in got] == [201] * 40
    assert len({i for _, i in got}) == 40 and _count(server) == 40
    assert writer.writes - before[1] == 40 and writer.batches > before[0]
    # idle clock: 59 minutes, an entry, 59 minutes more: still signed in (1 h idle limit)
    clock.advance(minutes=59)
    card = cards[0]
    assert board.post("/api/board/cards/1/entries", json={
        "entry_key": "after-59-min", "contests": _reading(card, paper)}).status_code == 201
    clock.advance(minutes=59)
    assert board.get("/api/board").status_code == 200
    clock.advance(minutes=61)
    assert board.get("/api/board").status_code == 401

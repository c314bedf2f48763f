"""Every route × every role, against an expected-access table, route by route.

Roles: ``none`` (no cookie at all), ``public`` (an anonymous visitor who loaded the public
page, so holds a valid visitor CSRF token), ``ca`` (county_admin of county-01), ``cb``
(county_admin of county-02), ``sa`` (state_admin). A cell is the status code, and for a
redirect its target."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tallyproof.server.db import Activity, LoginSession

from .conftest import Server, csrf_of

ROLES = ("none", "public", "ca", "cb", "sa")
OK = 200
LOGIN = "303 /login"
NO = 403
BOARD = "303 /board/signin"  # board pages need a board's session, whoever else is signed in

# (method, path, expected per role in ROLES order). {ballot} and {victim} are filled in.
# The POST /logout row comes last: it ends the session.
TABLE = [
    ("GET", "/", ["303 /public"] * 5),
    ("GET", "/public", [OK] * 5),
    ("GET", "/login", [OK] * 5),
    ("GET", "/static/style.css", [OK] * 5),
    ("GET", "/static/proof.js", [OK] * 5),
    ("GET", "/present", [OK] * 5),
    ("GET", "/present/county-02", [OK] * 5),
    ("GET", "/present/elsewhere", [404] * 5),
    ("GET", "/download/state/log.vkey", [OK] * 5),
    ("GET", "/download/state/checkpoints/000001.txt", [OK] * 5),
    ("GET", "/download/county/county-02/checkpoints/000001.txt", [OK] * 5),
    ("GET", "/download/county/elsewhere/log.vkey", [404] * 5),
    ("GET", "/download/published/none.zip", [404] * 5),
    ("GET", "/state", [LOGIN, LOGIN, NO, NO, OK]),
    ("GET", "/county/county-01", [LOGIN, LOGIN, OK, NO, OK]),
    ("GET", "/county/county-02", [LOGIN, LOGIN, NO, OK, OK]),
    ("GET", "/county/elsewhere", [LOGIN, LOGIN, NO, NO, 404]),
    ("GET", "/activity", [LOGIN, LOGIN, NO, NO, OK]),
    ("GET", "/users", [LOGIN, LOGIN, NO, NO, OK]),
    ("GET", "/api/state", [OK] * 5),
    ("GET", "/api/counties", [OK] * 5),
    ("GET", "/api/proof/county-01/{ballot}", [OK] * 5),
    ("GET", "/api/proof/county-01/no-such-ballot", [404] * 5),
    ("GET", "/api/proof/elsewhere/{ballot}", [404] * 5),
    ("GET", "/openapi.json", [OK] * 5),
    ("GET", "/docs", [404] * 5),
    # uploads and jobs (routes/uploads.py): the county's admin writes, the state admin reads
    ("GET", "/api/session", [401, 401, OK, OK, OK]),
    ("GET", "/api/county/county-01/uploads", [401, 401, OK, NO, OK]),
    ("GET", "/api/county/county-02/uploads", [401, 401, NO, OK, OK]),
    ("GET", "/api/county/elsewhere/uploads", [401, 401, NO, NO, 404]),
    ("GET", "/api/county/county-01/uploads/999999", [401, 401, 404, NO, 404]),
    ("GET", "/api/county/county-01/jobs", [401, 401, OK, NO, OK]),
    ("GET", "/api/jobs", [401, 401, NO, NO, OK]),
    # alerts (routes/state.py, routes/uploads.py): a county's own only; the state acknowledges
    ("GET", "/api/alerts", [401, 401, OK, OK, OK]),
    ("POST", "/state/alerts/999999/ack", [NO, LOGIN, NO, NO, 404]),
    ("POST", "/api/county/county-01/uploads", [401, 401, 201, NO, NO]),
    ("PUT", "/api/county/county-01/uploads/999999", [401, 401, 404, NO, NO]),
    ("POST", "/api/county/county-01/jobs", [401, 401, 404, NO, NO]),
    ("POST", "/county/county-01/uploads", [LOGIN, LOGIN, "303 /county/county-01", NO, NO]),
    ("POST", "/county/county-01/jobs", [NO, LOGIN, 422, NO, NO]),  # no kind: refused
    ("POST", "/public/proof", [NO, OK, OK, OK, OK]),
    ("POST", "/users/{victim}/revoke", [NO, LOGIN, NO, NO, "303 /users"]),
    # the statewide audit and its boards (no audit started in this state: refused, 409)
    ("GET", "/state/audit", [LOGIN, LOGIN, NO, NO, OK]),
    ("GET", "/audit/risk.svg", [404] * 5),  # no round measured in this state
    # the election's set-up (no county_id/contest_id in the table's form: refused, 422)
    ("GET", "/state/setup", [LOGIN, LOGIN, NO, NO, OK]),
    ("POST", "/state/setup/county", [NO, LOGIN, NO, NO, 422]),
    ("POST", "/state/setup/contest", [NO, LOGIN, NO, NO, 422]),
    ("POST", "/state/audit/start", [NO, LOGIN, NO, NO, 422]),
    ("POST", "/state/audit/round", [NO, LOGIN, NO, NO, 409]),
    ("POST", "/state/audit/close", [NO, LOGIN, NO, NO, 409]),
    ("GET", "/county/county-01/audit", [LOGIN, LOGIN, OK, NO, OK]),
    ("GET", "/county/county-02/audit", [LOGIN, LOGIN, NO, OK, OK]),
    ("POST", "/county/county-01/audit/boards", [NO, LOGIN, 422, NO, 422]),
    ("GET", "/county/county-01/audit/boards/1", [LOGIN, LOGIN, 404, NO, 404]),
    ("GET", "/county/county-01/audit/boards/1/qr.svg", [LOGIN, LOGIN, 404, NO, 404]),
    ("POST", "/county/county-01/audit/boards/1/credentials", [NO, LOGIN, 404, NO, 404]),
    ("POST", "/county/county-01/audit/boards/1/reopen", [NO, LOGIN, 404, NO, 404]),
    ("GET", "/board/signin", [OK] * 5),
    ("GET", "/board/signin/some-link", [OK] * 5),
    ("POST", "/board/signin", [NO, 422, 422, 422, 422]),
    ("GET", "/board", [BOARD] * 5),
    ("GET", "/board/card/1", [BOARD] * 5),
    ("POST", "/board/card/1", [BOARD] * 5),
    ("GET", "/board/review", [BOARD] * 5),
    ("POST", "/board/signoff", [BOARD] * 5),
    ("POST", "/board/signout", [BOARD] * 5),
    ("GET", "/board/batch/1", [BOARD] * 5),  # a batch board's pages (routes/board_batch.py)
    ("POST", "/board/batch/1", [BOARD] * 5),
    # the boards' JSON API: a board's session only (a wrong passphrase is refused)
    ("POST", "/api/board/signin", [401] * 5),
    ("GET", "/api/board", [401] * 5),
    ("GET", "/api/board/cards", [401] * 5),
    ("POST", "/api/board/cards/1/entries", [401] * 5),
    ("GET", "/api/board/review", [401] * 5),
    ("POST", "/api/board/signoff", [401] * 5),
    ("POST", "/api/board/signout", [401] * 5),
    ("GET", "/api/board/batches", [401] * 5),  # routes/board_batch_api.py
    ("POST", "/api/board/batches/1/entries", [401] * 5),
    # accounts and the second factor
    ("POST", "/users/new", [NO, LOGIN, NO, NO, 422]),
    ("POST", "/users/{victim}/password", [NO, LOGIN, NO, NO, OK]),
    ("POST", "/users/{victim}/totp-reset", [NO, LOGIN, NO, NO, "303 /users"]),
    ("POST", "/users/{victim}/disable", [NO, LOGIN, NO, NO, "303 /users"]),
    ("GET", "/account/totp", [LOGIN, LOGIN, OK, OK, OK]),
    ("GET", "/account/totp/qr.svg", [LOGIN, LOGIN, OK, OK, OK]),
    ("POST", "/account/totp", [NO, LOGIN, 422, 422, 422]),
    ("POST", "/logout", [NO, LOGIN, LOGIN, LOGIN, LOGIN]),
]


def _client(server: Server, role: str) -> TestClient:
    if role == "none":
        return server.client()
    if role == "public":
        c = server.client()
        c.get("/public")  # receives the visitor CSRF cookie
        return c
    return server.login(role)


#: the JSON bodies of the API's writes in TABLE (an upload of county-01, a job of no upload,
#: a board's sign-in, entry, sign-off and sign-out)
API_BODIES = {"uploads": {"kind": "pollbooks", "filename": "f.csv", "size": 1,
                          "sha256": "0" * 64},
              "jobs": {"kind": "ingest", "upload": 999999},
              "signin": {"passphrase": "AAAA-BBBB-CCCC-DDDD-EEEE"},
              "entries": {"entry_key": "an-entry-key", "not_found": True},
              "signoff": {"members": ["Ann Lee", "Bo Diaz"]}, "signout": {}}


def _api_write(c: TestClient, method: str, url: str, token: str | None) -> object:
    headers = {"X-CSRF-Token": token} if token else {}
    if method == "PUT":
        return c.put(url, content=b"x", headers={**headers, "Content-Range": "bytes 0-0/1"})
    return c.post(url, json=API_BODIES[url.rsplit("/", 1)[1]], headers=headers)


def _cell(r: object) -> object:
    code = r.status_code  # type: ignore[attr-defined]
    return f"{code} {r.headers['location']}" if code == 303 else code  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_role(server: Server, role: str, a_ballot: str) -> None:
    c = _client(server, role)
    token = None if role == "none" else csrf_of(c)
    col = ROLES.index(role)
    got, want = {}, {}
    for method, path, expected in TABLE:
        url = path.format(ballot=a_ballot, victim=server.users["victim"])
        if method == "GET":
            r = c.get(url, follow_redirects=False)
        elif path.startswith("/api/"):
            r = _api_write(c, method, url, token)
        elif path.endswith("/uploads"):  # the upload form: a file after the fields
            r = c.post(url, data={"csrf": token or "", "kind": "pollbooks", "sha256": "0" * 64},
                       files={"file": ("f.csv", b"x")}, follow_redirects=False)
        else:
            data = {"county": "county-01", "ballot": a_ballot}
            if token is not None:
                data["csrf"] = token
            r = c.post(url, data=data, follow_redirects=False)
        got[f"{method} {path}"], want[f"{method} {path}"] = _cell(r), expected[col]
    assert got == want


def test_county_admin_never_sees_another_county(server: Server) -> None:
    from tallyproof.server import view

    other = view.county(server.app.state.settings.state_dir, "county-02")
    c = server.login("ca")
    r = c.get("/county/county-02")
    assert r.status_code == 403
    assert other.checkpoint_root not in r.text
    assert "county-02" not in c.get("/county/county-01").text.split("<main>")[0]


@pytest.mark.parametrize("role", ["none", "public"])
def test_the_public_changes_nothing(server: Server, role: str, a_ballot: str) -> None:
    """Everything a visitor can send leaves the sessions and the activity log as they were."""
    victim = server.login("victim")
    with server.app.state.sessionmaker() as db:
        before = (db.scalar(select(func.count()).select_from(Activity)),
                  db.scalar(select(func.count()).where(LoginSession.revoked_at.is_not(None))))
    c = _client(server, role)
    token = csrf_of(c)
    for _, path, _ in TABLE:
        url = path.format(ballot=a_ballot, victim=server.users["victim"])
        c.post(url, data={"csrf": token, "county": "county-01", "ballot": a_ballot})
        c.get(url)
    with server.app.state.sessionmaker() as db:
        after = (db.scalar(select(func.count()).select_from(Activity)),
                 db.scalar(select(func.count()).where(LoginSession.revoked_at.is_not(None))))
    assert after == before
    assert victim.get("/county/county-01", follow_redirects=False).status_code == 200

"""Every route × every role, against an expected-access table, route by route; and every
route of the app has a row (a new route without one fails :func:`test_every_route_has_a_row`).

Roles: ``none`` (no cookie at all), ``public`` (an anonymous visitor who loaded the public
page, so holds a valid visitor CSRF token), ``ca`` (county_admin of county-01), ``cb``
(county_admin of county-02), ``sa`` (state_admin), ``board`` (audit board 1 of 2 of
county-01, signed in by its link: its forms carry its session's CSRF token, the others the
visitor's). A cell is the status code, and for a redirect its target.

The state has the statewide audit started and its first round drawn and measured; county-01
has two boards (ids 1 and 2) and county-02 one (id 3)."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from starlette.routing import Mount

from tallyproof.server import boards
from tallyproof.server.db import Activity, LoginSession

from .conftest import Clock, Server, csrf_of, make_server, copy_of

#: every route for every role on both databases
pytestmark = pytest.mark.slow

ROLES = ("none", "public", "ca", "cb", "sa", "board")
OK = 200
LOGIN = "303 /login"
NO = 403
BOARD = "303 /board/signin"  # board pages need a board's session, whoever else is signed in
ANY = [OK] * 6

# (method, path, expected per role in ROLES order). {ballot} and {victim} are filled in.
# The sign-outs come last: they end the session.
TABLE = [
    ("GET", "/", ["303 /public"] * 6),
    ("GET", "/public", ANY),
    ("GET", "/login", ANY),
    ("POST", "/login", [NO, 422, 422, 422, 422, 422]),  # no user name or password
    ("GET", "/static/style.css", ANY),
    ("GET", "/static/proof.js", ANY),
    ("GET", "/static/board-link.js", ANY),
    ("GET", "/present", ANY),
    ("GET", "/present/county-02", ANY),
    ("GET", "/present/elsewhere", [404] * 6),
    # the live pages' event streams: the state overview's for state admins only
    ("GET", "/live/public", ANY),
    ("GET", "/live/present", ANY),
    ("GET", "/live/present/county-02", ANY),
    ("GET", "/live/present/elsewhere", [404] * 6),
    ("GET", "/live/state", [LOGIN, LOGIN, NO, NO, OK, LOGIN]),
    ("GET", "/live/state/audit", [LOGIN, LOGIN, NO, NO, OK, LOGIN]),
    ("GET", "/download/state/log.vkey", ANY),
    ("GET", "/download/state/checkpoints/000001.txt", ANY),
    ("GET", "/download/county/county-02/checkpoints/000001.txt", ANY),
    ("GET", "/download/county/elsewhere/log.vkey", [404] * 6),
    ("GET", "/download/published/none.zip", [404] * 6),
    ("GET", "/download/published/demo-1.zip", ANY),
    ("GET", "/state", [LOGIN, LOGIN, NO, NO, OK, LOGIN]),
    ("GET", "/county/county-01", [LOGIN, LOGIN, OK, NO, OK, LOGIN]),
    ("GET", "/county/county-02", [LOGIN, LOGIN, NO, OK, OK, LOGIN]),
    ("GET", "/county/elsewhere", [LOGIN, LOGIN, NO, NO, 404, LOGIN]),
    ("GET", "/activity", [LOGIN, LOGIN, NO, NO, OK, LOGIN]),
    ("GET", "/users", [LOGIN, LOGIN, NO, NO, OK, LOGIN]),
    ("GET", "/api/state", ANY),
    ("GET", "/api/counties", ANY),
    ("GET", "/api/proof/county-01/{ballot}", ANY),
    ("GET", "/api/proof/county-01/no-such-ballot", [404] * 6),
    ("GET", "/api/proof/elsewhere/{ballot}", [404] * 6),
    ("GET", "/openapi.json", ANY),
    ("GET", "/docs", [404] * 6),
    # uploads and jobs (routes/uploads.py): the county's admin writes, the state admin reads
    ("GET", "/api/session", [401, 401, OK, OK, OK, 401]),
    ("GET", "/api/county/county-01/uploads", [401, 401, OK, NO, OK, 401]),
    ("GET", "/api/county/county-02/uploads", [401, 401, NO, OK, OK, 401]),
    ("GET", "/api/county/elsewhere/uploads", [401, 401, NO, NO, 404, 401]),
    ("GET", "/api/county/county-01/uploads/999999", [401, 401, 404, NO, 404, 401]),
    ("GET", "/api/county/county-01/jobs", [401, 401, OK, NO, OK, 401]),
    ("GET", "/api/jobs", [401, 401, NO, NO, OK, 401]),
    # alerts (routes/state.py, routes/uploads.py): a county's own only; the state acknowledges
    ("GET", "/api/alerts", [401, 401, OK, OK, OK, 401]),
    ("POST", "/state/alerts/999999/ack", [NO, LOGIN, NO, NO, 404, LOGIN]),
    ("POST", "/api/county/county-01/uploads", [401, 401, 201, NO, NO, 401]),
    ("PUT", "/api/county/county-01/uploads/999999", [401, 401, 404, NO, NO, 401]),
    ("POST", "/api/county/county-01/jobs", [401, 401, 404, NO, NO, 401]),
    ("POST", "/county/county-01/uploads", [LOGIN, LOGIN, "303 /county/county-01", NO, NO,
                                           LOGIN]),
    ("POST", "/county/county-01/jobs", [NO, LOGIN, 422, NO, NO, LOGIN]),  # no kind: refused
    ("POST", "/public/proof", [NO, OK, OK, OK, OK, OK]),
    ("POST", "/users/{victim}/revoke", [NO, LOGIN, NO, NO, "303 /users", LOGIN]),
    # the statewide audit (started, round 1 drawn and measured) and its boards
    ("GET", "/state/audit", [LOGIN, LOGIN, NO, NO, OK, LOGIN]),
    ("GET", "/audit/risk.svg", ANY),
    # the election's set-up (no county_id/contest_id in the table's form: refused, 422)
    ("GET", "/state/setup", [LOGIN, LOGIN, NO, NO, OK, LOGIN]),
    ("POST", "/state/setup/county", [NO, LOGIN, NO, NO, 422, LOGIN]),
    ("POST", "/state/setup/contest", [NO, LOGIN, NO, NO, 422, LOGIN]),
    # a county's signing key: county-01's exists (the demo's), so even the state admin is
    # refused; a key is never replaced
    ("POST", "/state/setup/keys/county-01", [NO, LOGIN, NO, NO, 409, LOGIN]),
    ("POST", "/state/audit/start", [NO, LOGIN, NO, NO, 422, LOGIN]),
    ("POST", "/state/audit/round", [NO, LOGIN, NO, NO, 409, LOGIN]),  # round 1 is open
    ("GET", "/county/county-01/audit", [LOGIN, LOGIN, OK, NO, OK, LOGIN]),
    ("GET", "/county/county-02/audit", [LOGIN, LOGIN, NO, OK, OK, LOGIN]),
    ("POST", "/county/county-01/audit/boards", [NO, LOGIN, 422, NO, 422, LOGIN]),
    ("GET", "/county/county-01/audit/boards/1", [LOGIN, LOGIN, OK, NO, OK, LOGIN]),
    ("GET", "/county/county-01/audit/boards/3", [LOGIN, LOGIN, 404, NO, 404, LOGIN]),
    ("GET", "/county/county-02/audit/boards/3", [LOGIN, LOGIN, NO, OK, OK, LOGIN]),
    ("GET", "/county/county-01/audit/boards/1/qr.svg", [LOGIN, LOGIN, OK, NO, OK, LOGIN]),
    ("POST", "/county/county-01/audit/boards/2/credentials", [NO, LOGIN, OK, NO, OK, LOGIN]),
    ("POST", "/county/county-02/audit/boards/3/credentials", [NO, LOGIN, NO, OK, OK, LOGIN]),
    ("POST", "/county/county-01/audit/boards/1/reopen", [NO, LOGIN, 409, NO, 409, LOGIN]),
    # an audit board's pages: its own list only (card 1 is on its list, 999 on none)
    ("GET", "/board/signin", ANY),
    ("GET", "/board/signin/some-link", ANY),
    ("POST", "/board/signin", [NO, 422, 422, 422, 422, 422]),  # no passphrase
    ("GET", "/board", [BOARD] * 5 + [OK]),
    ("GET", "/board/card/1", [BOARD] * 5 + [OK]),
    ("GET", "/board/card/999", [BOARD] * 5 + [404]),
    ("POST", "/board/card/1", [BOARD] * 5 + [422]),  # no reading in the table's form
    ("GET", "/board/review", [BOARD] * 5 + [OK]),
    ("POST", "/board/signoff", [BOARD] * 5 + [409]),  # no members
    ("GET", "/board/batch/1", [BOARD] * 5 + [404]),  # a batch board's pages (board_batch.py)
    ("POST", "/board/batch/1", [BOARD] * 5 + [404]),
    # the boards' JSON API: a board's session only (a wrong passphrase is refused)
    ("POST", "/api/board/signin", [401] * 6),
    ("GET", "/api/board", [401] * 5 + [OK]),
    ("GET", "/api/board/cards", [401] * 5 + [OK]),
    ("POST", "/api/board/cards/1/entries", [401] * 5 + [201]),
    ("POST", "/api/board/cards/999/entries", [401] * 5 + [404]),
    ("GET", "/api/board/review", [401] * 5 + [OK]),
    ("POST", "/api/board/signoff", [401] * 5 + [409]),  # not every card entered
    ("GET", "/api/board/batches", [401] * 5 + [404]),  # routes/board_batch_api.py
    ("POST", "/api/board/batches/1/entries", [401] * 5 + [404]),
    # accounts and the second factor
    ("POST", "/users/new", [NO, LOGIN, NO, NO, 422, LOGIN]),
    ("POST", "/users/{victim}/password", [NO, LOGIN, NO, NO, OK, LOGIN]),
    ("POST", "/users/{victim}/totp-reset", [NO, LOGIN, NO, NO, "303 /users", LOGIN]),
    ("POST", "/users/{victim}/disable", [NO, LOGIN, NO, NO, "303 /users", LOGIN]),
    ("GET", "/account/totp", [LOGIN, LOGIN, OK, OK, OK, LOGIN]),
    ("GET", "/account/totp/qr.svg", [LOGIN, LOGIN, 404, 404, 404, LOGIN]),  # enrolled
    ("POST", "/account/totp", [NO, LOGIN, 422, 422, 422, LOGIN]),  # no code
    ("POST", "/state/audit/close", [NO, LOGIN, NO, NO, 409, LOGIN]),  # boards still working
    ("POST", "/api/board/signout", [401] * 5 + [OK]),
    ("POST", "/board/signout", [BOARD] * 6),  # the board signed out just above
    ("POST", "/logout", [NO, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN]),
]


@pytest.fixture(scope="module")
def audit_template(audit_round_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session state with the statewide audit started, round 1 drawn and measured and
    the demo's bundle published (copied for each test: the table closes the round)."""
    return copy_of(audit_round_template, tmp_path_factory.mktemp("access"))


@pytest.fixture
def server(audit_template: Path, engine: Engine, clock: Clock, tmp_path: Path) -> Server:
    root = tmp_path / "state"
    shutil.copytree(audit_template, root)
    srv = make_server(root, engine, clock, upload_dir=tmp_path / "uploads")
    srv.app.state.settings = replace(srv.app.state.settings, live_interval=0.01,
                                     live_lifetime=0.05)  # a stream ends at once
    with srv.app.state.sessionmaker.begin() as db:
        now = clock()
        made = (boards.setup_boards(db, root, "county-01", 2, now)
                + boards.setup_boards(db, root, "county-02", 1, now))
        srv.board_links = {b.id: (b.slug, boards.issue_passphrase(db, b, now)) for b in made}
    return srv


def board_client(server: Server, board_id: int = 1) -> TestClient:
    """A client signed in as the board, by its link and passphrase as the sheet prints."""
    slug, passphrase = server.board_links[board_id]  # type: ignore[attr-defined]
    c = server.client()
    r = c.post("/board/signin", data={"csrf": csrf_of(c, f"/board/signin/{slug}"),
                                      "passphrase": passphrase, "slug": slug},
               follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/board"), r.text
    return c


def _client(server: Server, role: str) -> TestClient:
    if role == "none":
        return server.client()
    if role == "public":
        c = server.client()
        c.get("/public")  # receives the visitor CSRF cookie
        return c
    if role == "board":
        return board_client(server)
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
    user_token = None if role == "none" else csrf_of(c)
    board_token = c.get("/api/board").json()["csrf"] if role == "board" else user_token
    col = ROLES.index(role)
    got, want = {}, {}
    for method, path, expected in TABLE:
        url = path.format(ballot=a_ballot, victim=server.users["victim"])
        token = (board_token if path.startswith(("/board/", "/api/board/"))
                 and path != "/board/signin" else user_token)
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


def flat_routes(routes: list[Any]) -> Iterator[Any]:
    """The app's routes, the included routers' opened (FastAPI 0.16x keeps an included
    router as one entry; the app includes its routers without a prefix, so their routes'
    paths are the served ones: :func:`test_every_route_has_a_row` checks every row reaches
    one)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat_routes(inner.routes)
        else:
            yield route


def _route_of(app: Any, method: str, path: str) -> str:
    """The app's route (its path template) that answers ``method path``."""
    for route in flat_routes(app.routes):
        if isinstance(route, Mount) and path.startswith(route.path + "/"):
            return f"GET {route.path}/..."
        if (method in (getattr(route, "methods", None) or ())
                and route.path_regex.match(path)):
            return f"{method} {route.path}"
    return f"{method} {path}: no route"


def app_routes(app: Any) -> set[str]:
    """Every method and path template the app serves (the static files as one)."""
    out = set()
    for route in flat_routes(app.routes):
        if isinstance(route, Mount):
            out.add(f"GET {route.path}/...")
        elif isinstance(route, APIRoute):
            out |= {f"{m} {route.path}" for m in route.methods - {"HEAD"}}
        else:  # FastAPI's own: the OpenAPI document (its docs pages are switched off)
            out |= {f"{m} {route.path}" for m in getattr(route, "methods", {"GET"}) - {"HEAD"}}
    return out


def test_every_route_has_a_row(server: Server, a_ballot: str) -> None:
    """The table covers the app: a route added without a row here fails this test."""
    covered = {_route_of(server.app, m, p.format(ballot=a_ballot, victim=1))
               for m, p, _ in TABLE}
    routes = app_routes(server.app)
    assert len(routes) >= 77
    assert routes - covered == set()
    unserved = {row for row in covered if row.endswith(": no route")}
    assert unserved == {"GET /docs: no route"}  # switched off: its page loads a CDN's script
    assert covered - unserved <= routes


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


#: state-changing routes that take no CSRF token, and why
NO_CSRF = {
    "POST /api/board/signin": "opens a session rather than riding one, and takes only a JSON "
                              "body, which a cross-site form cannot send (no CORS is allowed)",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: the forms a visitor without a session sends (the visitor cookie's token)
VISITOR_FORMS = {"/login", "/public/proof", "/board/signin"}


def test_every_state_changing_route_needs_its_csrf_token(server: Server, a_ballot: str) -> None:
    """Every write route of the app (from its route list), sent by a client that may use it,
    without its CSRF token and with a wrong one: 403, and nothing happened."""
    ca, sa, board, visitor = (server.login("ca"), server.login("sa"), board_client(server),
                              server.client())
    csrf_of(visitor)
    with server.app.state.sessionmaker() as db:
        before = db.scalar(select(func.count()).select_from(Activity))
    writes = sorted(r for r in app_routes(server.app) if r.split()[0] in WRITES)
    assert len(writes) >= 30
    got = {}
    for route in writes:
        if route in NO_CSRF:
            continue
        method, template = route.split(" ", 1)
        ids = {"county": "county-01", "user_id": server.users["victim"], "board_id": 1,
               "number": 1}
        url = template.format_map(defaultdict(lambda: 999999, ids))  # other ids: none such
        if template in VISITOR_FORMS:
            c = visitor
        elif template.startswith(("/board", "/api/board")):
            c = board
        elif "{county}" in template:
            c = ca
        else:
            c = sa
        answers = []
        for wrong in ("", "forged"):
            if template.startswith("/api/"):
                headers = {"X-CSRF-Token": wrong} if wrong else {}
                r = c.request(method, url, json=API_BODIES.get(url.rsplit("/", 1)[1], {}),
                              headers=headers)
            elif template.endswith("/uploads"):  # the upload form: multipart, as sent
                r = c.post(url, data={"csrf": wrong, "kind": "pollbooks", "sha256": "0" * 64},
                           files={"file": ("f.csv", b"x")}, follow_redirects=False)
            else:
                data = {"county": "county-01", "ballot": a_ballot, "count": "1",
                        "username": "sa", "password": "x" * 12, "passphrase": "x" * 20}
                r = c.request(method, url, data={**data, **({"csrf": wrong} if wrong else {})},
                              follow_redirects=False)
            answers.append(r.status_code)
        got[route] = answers
    assert got == {route: [403, 403] for route in got}
    with server.app.state.sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(Activity)) == before
    assert sa.get("/state", follow_redirects=False).status_code == 200  # no logout happened
    assert board.get("/board", follow_redirects=False).status_code == 200

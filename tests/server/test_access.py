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
    ("POST", "/public/proof", [NO, OK, OK, OK, OK]),
    ("POST", "/users/{victim}/revoke", [NO, LOGIN, NO, NO, "303 /users"]),
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

"""The administrators' TOTP second factor, mandatory: an administrator not yet enrolled is
sent to enrolment and reaches nothing else until enrolled; an enrolled one gives a code at
every sign-in (a wrong or replayed code is refused). And the state admin's account
management. SQLite and PostgreSQL."""

from __future__ import annotations

import re

from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tallyproof.server import totp as totp_module
from tallyproof.server.db import Activity

from .conftest import PASSWORD, Clock, Server, csrf_of, make_server

KEY = re.compile(r"Key: <code>([A-Z2-7]+)</code>")


def _login(server: Server, username: str, code: str = "", password: str = PASSWORD
           ) -> int | str:
    """The login's status, and for a redirect its target."""
    c = server.client()
    r = c.post("/login", data={"csrf": csrf_of(c), "username": username,
                               "password": password, "code": code}, follow_redirects=False)
    return f"303 {r.headers['location']}" if r.status_code == 303 else r.status_code


def _enrol(server: Server, clock: Clock, c: TestClient | str) -> pyotp.TOTP:
    """Enrol the client's signed-in (not yet enrolled) administrator, as the page asks; or,
    given a user name, that user anew (its factor removed, as a state admin's reset does,
    then signed in with the password, which leads to enrolment)."""
    if isinstance(c, str):
        username = c
        with server.app.state.sessionmaker.begin() as db:
            totp_module.reset(db, server.users[username])
        server.totp.pop(username, None)
        c = server.client()
        r = c.post("/login", data={"csrf": csrf_of(c), "username": username,
                                   "password": PASSWORD}, follow_redirects=False)
        assert r.headers["location"] == "/account/totp"
        totp = _enrol(server, clock, c)
        server.totp[username] = totp.secret
        return totp
    page = c.get("/account/totp").text
    m = KEY.search(page)
    assert m is not None
    assert c.get("/account/totp/qr.svg").headers["content-type"].startswith("image/svg+xml")
    totp = pyotp.TOTP(m.group(1))
    wrong = c.post("/account/totp", data={"csrf": csrf_of(c, "/account/totp"),
                                          "code": "000000" if totp.at(clock()) != "000000"
                                          else "111111"}, follow_redirects=False)
    assert wrong.status_code == 422
    r = c.post("/account/totp", data={"csrf": csrf_of(c, "/account/totp"),
                                      "code": totp.at(clock())}, follow_redirects=False)
    assert r.status_code == 303
    assert "Enrolled" in c.get("/account/totp").text
    return totp


def _unenrolled(state_root: Path, engine: Engine, clock: Clock) -> Server:
    return make_server(state_root, engine, clock, enrolled=False)


#: pages and API reads an enrolled admin of county-01 (or the state admin) reaches
CA_PAGES = ["/county/county-01", "/county/county-01/audit", "/public"]
SA_PAGES = ["/state", "/users", "/activity", "/state/setup", "/state/audit",
            "/county/county-01"]
API = ["/api/session", "/api/county/county-01/uploads", "/api/county/county-01/jobs"]


@pytest.mark.parametrize("username,landing", [("ca", "/county/county-01"), ("sa", "/state")])
def test_an_admin_without_totp_reaches_only_enrolment(state_root: Path, engine: Engine,
                                                      clock: Clock, username: str,
                                                      landing: str) -> None:
    server = _unenrolled(state_root, engine, clock)
    assert _login(server, username) == "303 /account/totp"
    c = server.client()
    c.post("/login", data={"csrf": csrf_of(c), "username": username, "password": PASSWORD})
    pages = CA_PAGES if username == "ca" else SA_PAGES
    for url in pages[:-1] if username == "ca" else pages:  # /public is public
        r = c.get(url, follow_redirects=False)
        assert (r.status_code, r.headers.get("location")) == (303, "/account/totp"), url
    for url in API:
        r = c.get(url)
        assert r.status_code == 403 and "second factor" in r.json()["detail"], url
    token = csrf_of(c, "/account/totp")
    r = c.post("/county/county-01/audit/boards", data={"csrf": token, "count": "1"},
               follow_redirects=False)
    assert (r.status_code, r.headers.get("location")) == (303, "/account/totp")
    r = c.post("/api/county/county-01/uploads", headers={"X-CSRF-Token": token},
               json={"kind": "pollbooks", "filename": "f.csv", "size": 1, "sha256": "0" * 64})
    assert r.status_code == 403
    totp = _enrol(server, clock, c)
    for url in pages:
        assert c.get(url, follow_redirects=False).status_code == 200, url
    for url in API if username == "ca" else API[:1]:
        assert c.get(url).status_code == 200, url
    clock.advance(seconds=30)
    assert _login(server, username) == 401  # enrolled now: the password alone is refused
    assert _login(server, username, totp.at(clock())) == f"303 {landing}"


def test_an_unenrolled_admin_can_sign_out(state_root: Path, engine: Engine,
                                          clock: Clock) -> None:
    server = _unenrolled(state_root, engine, clock)
    c = server.client()
    c.post("/login", data={"csrf": csrf_of(c), "username": "ca", "password": PASSWORD})
    r = c.post("/logout", data={"csrf": csrf_of(c, "/account/totp")}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    r = c.get("/account/totp", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_totp_is_required_at_every_sign_in(server: Server, clock: Clock) -> None:
    assert _login(server, "sa") == 401  # no code
    code = server.code("sa")
    wrong = "123456" if code != "123456" else "654321"
    assert _login(server, "sa", wrong) == 401
    assert _login(server, "sa", code, password="not the password!") == 401
    assert _login(server, "sa", code) == "303 /state"
    assert _login(server, "sa", code) == 401  # a code works once
    assert _login(server, "sa", server.code("sa")) == "303 /state"


def test_state_admin_resets_a_second_factor(server: Server, clock: Clock) -> None:
    assert _login(server, "ca") == 401
    sa = server.login("sa")
    r = sa.post(f"/users/{server.users['ca']}/totp-reset",
                data={"csrf": csrf_of(sa)}, follow_redirects=False)
    assert r.status_code == 303
    assert _login(server, "ca") == "303 /account/totp"  # enrols again before anything else
    with server.app.state.sessionmaker() as db:
        acts = [(a.username, a.action) for a in db.scalars(select(Activity))]
    assert ("sa", "totp_reset") in acts


def test_state_admin_creates_resets_and_disables_accounts(server: Server) -> None:
    sa = server.login("sa")
    page = sa.post("/users/new", data={"csrf": csrf_of(sa), "username": "newca",
                                       "county": "county-02"})
    assert page.status_code == 200
    password = re.search(r"<p><code>([^<]+)</code></p>", page.text).group(1)
    c = server.client()
    r = c.post("/login", data={"csrf": csrf_of(c), "username": "newca", "password": password},
               follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/account/totp")
    assert sa.post("/users/new", data={"csrf": csrf_of(sa), "username": "x1",
                                       "county": "nowhere"}).status_code == 422
    assert sa.post("/users/new", data={"csrf": csrf_of(sa), "username": "newca"}
                   ).status_code == 409
    new_id = server.users["victim"]
    reset = sa.post(f"/users/{new_id}/password", data={"csrf": csrf_of(sa)})
    fresh = re.search(r"<p><code>([^<]+)</code></p>", reset.text).group(1)
    assert _login(server, "victim", server.code("victim")) == 401
    assert _login(server, "victim", server.code("victim"), password=fresh) == "303 /county/county-01"
    assert sa.post(f"/users/{new_id}/disable", data={"csrf": csrf_of(sa)},
                   follow_redirects=False).status_code == 303
    assert _login(server, "victim", server.code("victim"), password=fresh) == 401
    with server.app.state.sessionmaker() as db:
        acts = [(a.username, a.action) for a in db.scalars(select(Activity))]
    assert {("sa", "user_created"), ("sa", "password_reset"), ("sa", "user_disabled")} <= set(acts)

"""The administrators' TOTP second factor (required at sign-in once enrolled; a wrong or
replayed code is refused) and the state admin's account management. SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from tallyproof.server.db import Activity

from .conftest import PASSWORD, Clock, Server, csrf_of

KEY = re.compile(r"Key: <code>([A-Z2-7]+)</code>")


def _login(server: Server, username: str, code: str = "", password: str = PASSWORD) -> int:
    c = server.client()
    return c.post("/login", data={"csrf": csrf_of(c), "username": username,
                                  "password": password, "code": code},
                  follow_redirects=False).status_code


def _enrol(server: Server, clock: Clock, username: str) -> pyotp.TOTP:
    c = server.login(username)
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


def test_totp_is_required_once_enrolled(server: Server, clock: Clock) -> None:
    assert _login(server, "sa") == 303  # not enrolled yet: the password is enough
    totp = _enrol(server, clock, "sa")
    clock.advance(seconds=30)
    assert _login(server, "sa") == 401  # no code
    wrong = "123456" if totp.at(clock()) != "123456" else "654321"
    assert _login(server, "sa", wrong) == 401
    assert _login(server, "sa", totp.at(clock()), password="not the password!") == 401
    assert _login(server, "sa", totp.at(clock())) == 303
    assert _login(server, "sa", totp.at(clock())) == 401  # a code works once
    clock.advance(seconds=30)
    assert _login(server, "sa", totp.at(clock())) == 303
    assert _login(server, "ca") == 303  # another admin, not enrolled


def test_state_admin_resets_a_second_factor(server: Server, clock: Clock) -> None:
    _enrol(server, clock, "ca")
    clock.advance(seconds=30)
    assert _login(server, "ca") == 401
    sa = server.login("sa")
    r = sa.post(f"/users/{server.users['ca']}/totp-reset",
                data={"csrf": csrf_of(sa)}, follow_redirects=False)
    assert r.status_code == 303
    assert _login(server, "ca") == 303
    with server.app.state.sessionmaker() as db:
        acts = [(a.username, a.action) for a in db.scalars(select(Activity))]
    assert ("ca", "totp_enrolled") in acts and ("sa", "totp_reset") in acts


def test_state_admin_creates_resets_and_disables_accounts(server: Server) -> None:
    sa = server.login("sa")
    page = sa.post("/users/new", data={"csrf": csrf_of(sa), "username": "newca",
                                       "county": "county-02"})
    assert page.status_code == 200
    password = re.search(r"<p><code>([^<]+)</code></p>", page.text).group(1)
    c = server.client()
    r = c.post("/login", data={"csrf": csrf_of(c), "username": "newca", "password": password},
               follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/county/county-02")
    assert sa.post("/users/new", data={"csrf": csrf_of(sa), "username": "x1",
                                       "county": "nowhere"}).status_code == 422
    assert sa.post("/users/new", data={"csrf": csrf_of(sa), "username": "newca"}
                   ).status_code == 409
    new_id = server.users["victim"]
    reset = sa.post(f"/users/{new_id}/password", data={"csrf": csrf_of(sa)})
    fresh = re.search(r"<p><code>([^<]+)</code></p>", reset.text).group(1)
    assert _login(server, "victim") == 401
    assert _login(server, "victim", password=fresh) == 303
    assert sa.post(f"/users/{new_id}/disable", data={"csrf": csrf_of(sa)},
                   follow_redirects=False).status_code == 303
    assert _login(server, "victim", password=fresh) == 401
    with server.app.state.sessionmaker() as db:
        acts = [(a.username, a.action) for a in db.scalars(select(Activity))]
    assert {("sa", "user_created"), ("sa", "password_reset"), ("sa", "user_disabled")} <= set(acts)

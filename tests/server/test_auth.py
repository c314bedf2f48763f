"""Signing in and out: sessions (8 h absolute, 1 h idle, revocable), CSRF on every form, the
login rate limit, and what the activity log records. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tallyproof.server.db import Activity, LoginSession, User

from .conftest import PASSWORD, Clock, Server, csrf_of


def _actions(server: Server) -> list[tuple[str | None, str]]:
    with server.app.state.sessionmaker() as db:
        return [(a.username, a.action) for a in db.scalars(select(Activity).order_by(Activity.id))]


def test_login_lands_on_the_role_page_and_is_logged(server: Server) -> None:
    c = server.client()
    r = c.post("/login", data={"csrf": csrf_of(c), "username": "ca", "password": PASSWORD,
                               "code": server.code("ca")}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/county/county-01")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert server.login("sa").get("/state").status_code == 200
    assert [x for x in _actions(server) if x[1] == "login"] == [("ca", "login"), ("sa", "login")]


def test_the_database_holds_no_password_and_no_session_token(server: Server) -> None:
    c = server.login("sa")
    token = c.cookies["tp_session"]
    with server.app.state.sessionmaker() as db:
        user = db.scalar(select(User).where(User.username == "sa"))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert [s.token_hash for s in db.scalars(select(LoginSession))] != [token]
        assert all(token not in s.token_hash for s in db.scalars(select(LoginSession)))


def test_wrong_password_and_unknown_user_are_refused_alike(server: Server) -> None:
    c = server.client()
    bad = c.post("/login", data={"csrf": csrf_of(c), "username": "sa", "password": "nope" * 4})
    unknown = c.post("/login", data={"csrf": csrf_of(c), "username": "who", "password": "x" * 12})
    assert bad.status_code == unknown.status_code == 401
    assert "tp_session" not in c.cookies
    assert ("sa", "login_failed") in _actions(server)


def test_idle_session_expires_after_an_hour(server: Server, clock: Clock) -> None:
    c = server.login("sa")
    clock.advance(minutes=59)
    assert c.get("/state", follow_redirects=False).status_code == 200
    clock.advance(minutes=59)  # 118 minutes since sign-in, 59 since the last request
    assert c.get("/state", follow_redirects=False).status_code == 200
    clock.advance(minutes=61)
    r = c.get("/state", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_session_ends_eight_hours_after_sign_in_however_active(server: Server,
                                                               clock: Clock) -> None:
    c = server.login("sa")
    for _ in range(16):  # a request every 30 minutes: never idle
        clock.advance(minutes=30)
        assert c.get("/state", follow_redirects=False).status_code == 200
    clock.advance(minutes=1)  # 8 h 1 min after sign-in
    assert c.get("/state", follow_redirects=False).status_code == 303


def test_logout_revokes_the_session_server_side(server: Server) -> None:
    c = server.login("sa")
    token = c.cookies["tp_session"]
    r = c.post("/logout", data={"csrf": csrf_of(c)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    replay = server.client()
    replay.cookies.set("tp_session", token)  # the old cookie, kept by a thief
    assert replay.get("/state", follow_redirects=False).status_code == 303


def test_a_state_admin_revokes_every_session_of_a_user(server: Server) -> None:
    victim1, victim2 = server.login("victim"), server.login("victim")
    sa = server.login("sa")
    r = sa.post(f"/users/{server.users['victim']}/revoke", data={"csrf": csrf_of(sa)},
                follow_redirects=False)
    assert r.status_code == 303
    for v in (victim1, victim2):
        assert v.get("/county/county-01", follow_redirects=False).status_code == 303
    assert sa.get("/state").status_code == 200
    assert ("sa", "revoke_sessions") in _actions(server)


def test_every_form_needs_its_csrf_token(server: Server) -> None:
    c = server.client()
    csrf_of(c)  # the visitor cookie is set, but the form field is missing or wrong
    for data in ({}, {"csrf": "forged"}):
        r = c.post("/login", data={**data, "username": "sa", "password": PASSWORD})
        assert r.status_code == 403
    assert "tp_session" not in c.cookies
    sa = server.login("sa")
    visitor_token = csrf_of(server.client())
    for url in ("/logout", f"/users/{server.users['victim']}/revoke", "/public/proof"):
        r = sa.post(url, data={"csrf": visitor_token, "county": "county-01", "ballot": "x"},
                    follow_redirects=False)
        assert r.status_code == 403, url
    assert sa.get("/state", follow_redirects=False).status_code == 200  # logout did not happen


def test_login_is_rate_limited(server: Server, clock: Clock) -> None:
    """Five failures block the address for everything, and the user name for all but its
    right password with a valid unused code: a stranger's guesses cannot lock an official
    out, and a stolen password alone still gets nowhere."""
    guesser = TestClient(server.app, client=("203.0.113.7", 40000))
    official = TestClient(server.app, client=("198.51.100.2", 40000))
    for _ in range(5):
        r = guesser.post("/login", data={"csrf": csrf_of(guesser), "username": "sa",
                                         "password": "w" * 12})
        assert r.status_code == 401
    r = guesser.post("/login", data={"csrf": csrf_of(guesser), "username": "sa",
                                     "password": PASSWORD, "code": server.code("sa")},
                     follow_redirects=False)
    assert r.status_code == 429  # the address: even the right password and code
    assert ("sa", "login_refused") in _actions(server)
    for password, code in ((PASSWORD, ""), (PASSWORD, "000000"), ("w" * 12, "")):
        r = official.post("/login", data={"csrf": csrf_of(official), "username": "sa",
                                          "password": password, "code": code})
        assert r.status_code == 429, (password, code)  # the user name, from elsewhere
    r = official.post("/login", data={"csrf": csrf_of(official), "username": "sa",
                                      "password": PASSWORD, "code": server.code("sa")},
                      follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/state")
    clock.advance(minutes=16)
    r = guesser.post("/login", data={"csrf": csrf_of(guesser), "username": "sa",
                                     "password": PASSWORD, "code": server.code("sa")},
                     follow_redirects=False)
    assert r.status_code == 303

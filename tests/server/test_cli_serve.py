"""``tallyproof serve``: its --help loads no web library, its options are checked, and
--add-admin makes a state admin whose printed password signs in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tallyproof.cli import main
from tallyproof.server.app import create_app
from tallyproof.server.config import DATABASE_ENV, SQLITE_FILE, Settings, database_url

from .conftest import unavailable

WEB = ["fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "argon2", "psycopg",
       "jinja2"]
SRC = str(Path(__file__).resolve().parents[2] / "src")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_serve_help_loads_no_web_library() -> None:
    code = ("import sys\nfrom tallyproof.cli import main\n"
            "assert main(['serve', '--help']) == 0\nassert main(['--help']) == 0\n"
            f"print('LOADED', sorted(m for m in {WEB!r} if m in sys.modules), file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("args", [[], ["--demo", "--state", "x"], ["--state", "x",
                                                                    "--demo-out", "y"]])
def test_serve_needs_exactly_one_source(args: list[str]) -> None:
    assert main(["serve", *args]) == 2


def test_database_url_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    assert database_url(tmp_path) == f"sqlite:///{tmp_path / SQLITE_FILE}"
    monkeypatch.setenv(DATABASE_ENV, "postgresql://u@h/db")
    assert database_url(tmp_path) == "postgresql+psycopg://u@h/db"
    assert database_url(tmp_path, "sqlite:///other.db") == "sqlite:///other.db"


def test_add_admin_prints_a_password_that_signs_in(state_root: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["serve", "--state", str(state_root), "--database-url", url,
                 "--add-admin", "chief"]) == 0
    password = capsys.readouterr().out.strip().rsplit(" ", 1)[1]
    c = TestClient(create_app(Settings(state_root, url)))
    page = c.get("/login").text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"csrf": token, "username": "chief", "password": password},
               follow_redirects=False)
    # the second factor is mandatory: the first sign-in goes to its enrolment
    assert (r.status_code, r.headers["location"]) == (303, "/account/totp")


def test_unreachable_postgres_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        unavailable("PostgreSQL unreachable")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        unavailable("PostgreSQL unreachable")


ACCOUNT_LINE = re.compile(r"^(state_admin|county_admin)\s+(\S*)\s+(\S+)\s+(\S+)\s+([A-Z2-7]{16,})$")


def test_serve_demo_prints_accounts_that_sign_in(tmp_path: Path) -> None:
    """``tallyproof serve --demo`` in a subprocess on a free port: each printed account (user
    name, password and TOTP secret: the second factor is mandatory, the demo's accounts are
    made enrolled) signs in over HTTP and lands on its page."""
    import httpx2 as httpx
    import pyotp

    from tallyproof.server.drill import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop(DATABASE_ENV, None)
    log = tmp_path / "serve.err"
    with log.open("wb") as err_file:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "tallyproof", "serve", "--demo", "--demo-out",
             str(tmp_path / "demo"), "--port", str(port)],
            env=env, stdout=subprocess.PIPE, stderr=err_file)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"serve --demo exited: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"serve --demo did not answer: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(base + "/login", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            assert "TOTP secret" in log.read_text()
            accounts = []
            assert proc.stdout is not None
            while len(accounts) < 4:  # a state admin and the demo's three counties' admins
                line = proc.stdout.readline().decode().strip()
                m = ACCOUNT_LINE.match(line)
                assert m is not None, line
                accounts.append(m.groups())
            assert [a[0] for a in accounts] == ["state_admin"] + ["county_admin"] * 3
            for role, county, user, password, secret in accounts:
                with httpx.Client(base_url=base) as c:
                    token = CSRF.search(c.get("/login").text)
                    assert token is not None
                    assert c.post("/login", data={"csrf": token.group(1), "username": user,
                                                  "password": password}).status_code == 401
                    r = c.post("/login", data={"csrf": token.group(1), "username": user,
                                               "password": password,
                                               "code": pyotp.TOTP(secret).now()})
                    assert r.status_code == 303, (user, r.text[-500:])
                    want = "/state" if role == "state_admin" else f"/county/{county}"
                    assert r.headers["location"] == want
                    assert c.get(want).status_code == 200
        finally:
            proc.terminate()
            proc.wait(30)
            if proc.stdout is not None:
                proc.stdout.close()

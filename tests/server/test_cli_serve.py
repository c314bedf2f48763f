"""``tallyproof serve``: its --help loads no web library, its options are checked, and
--add-admin makes a state admin whose printed password signs in."""

from __future__ import annotations

import os
import subprocess
import sys
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
    assert (r.status_code, r.headers["location"]) == (303, "/state")


def test_unreachable_postgres_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        unavailable("PostgreSQL unreachable")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        unavailable("PostgreSQL unreachable")

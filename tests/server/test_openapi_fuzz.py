"""schemathesis against the control room's OpenAPI document: bounded (a few examples per
operation, derandomized), no answer may be a server error.

Twice: without any credential (every operation; those behind a session or a board's token
stop at their auth dependency), and with valid credentials for each kind of operation, so
their parameters and bodies are fuzzed too: a county administrator's session and CSRF token
for the county's uploads and jobs (the county path parameter fixed to its own county, the
upload id to a real upload), a state administrator's for the rest of the users' API, and a
fresh bearer token of a signed-in audit board for each board case (a fuzzed sign-out ends
only its own session). The authenticated run is on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.engine import Engine

from tallyproof.server import boards
from tallyproof.server.app import create_app
from tallyproof.server.config import Settings

from .conftest import CHEAP, Clock, Server, make_server, copy_of

#: examples per operation (and per kind of credential)
EXAMPLES = 8


def fuzz(schema: Any, prepare: Callable[[Any], dict[str, Any]]) -> dict[str, set[int]]:
    """Run every operation of ``schema`` on its own strategy, ``prepare`` giving each case's
    extra call arguments (and adjusting the case); returns each operation's ("METHOD
    /path") answers' status codes. (Each
    operation on its own: schemathesis's pytest plugin reaches into pytest internals that
    pytest 9 no longer has, so its lazy fixture schema is not used.)"""
    operations = [r.ok() for r in schema.get_all_operations()]
    seen: dict[str, set[int]] = {}
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            response = case.call(**prepare(case))
            seen.setdefault(f"{case.method.upper()} {case.path}", set()).add(
                response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        run()
    return seen


@pytest.fixture
def api_schema(state_root: Path, tmp_path: Path) -> Any:
    app = create_app(Settings(state_root, f"sqlite:///{tmp_path / 'fuzz.sqlite'}",
                              password_cost=CHEAP))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_operation_answers_with_a_server_error(api_schema: Any) -> None:
    seen = fuzz(api_schema, lambda case: {})
    assert len(seen) >= 20  # the API and the downloads are described
    # without credentials, the operations behind a session or a board's token stop at 401
    assert sum(codes <= {401, 422} for codes in seen.values()) >= 10


@pytest.fixture(scope="module")
def fuzz_template(audit_round_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state with the statewide audit started and round 1 drawn (boards can sign in)."""
    return copy_of(audit_round_template, tmp_path_factory.mktemp("fuzz"))


@pytest.fixture
def signed_in(fuzz_template: Path, engine: Engine, clock: Clock, tmp_path: Path
              ) -> tuple[Server, Any, Callable[[Any], dict[str, Any]]]:
    """The server, its schema, and the credentials of each kind of operation."""
    root = tmp_path / "state"
    shutil.copytree(fuzz_template, root)
    server = make_server(root, engine, clock, upload_dir=tmp_path / "uploads")
    with server.app.state.sessionmaker.begin() as db:
        (board,) = boards.setup_boards(db, root, "county-01", 1, clock())
        passphrase = boards.issue_passphrase(db, board, clock())
    users = {}
    for name in ("ca", "sa"):
        c = server.login(name)
        users[name] = ({"tp_session": c.cookies["tp_session"]},
                       {"X-CSRF-Token": c.get("/api/session").json()["csrf"]})
        if name == "ca":
            up = c.post("/api/county/county-01/uploads", headers=users[name][1],
                        json={"kind": "pollbooks", "filename": "p.csv", "size": 1000,
                              "sha256": "0" * 64})
            assert up.status_code == 201, up.text
            upload_id = up.json()["id"]
    def prepare(case: Any) -> dict[str, Any]:
        if case.path.startswith("/api/board"):
            with server.app.state.sessionmaker.begin() as db:
                got = boards.sign_in(db, passphrase, None, clock())
            assert got is not None
            if "number" in case.path_parameters:
                case.path_parameters["number"] = 1
            return {"headers": {**(case.headers or {}), "Authorization": f"Bearer {got[0]}"}}
        who = "ca" if "{county}" in case.path else "sa"
        if who == "ca":
            case.path_parameters["county"] = "county-01"
            if "upload_id" in case.path_parameters:
                case.path_parameters["upload_id"] = upload_id
        cookies, csrf = users[who]
        return {"cookies": cookies, "headers": {**(case.headers or {}), **csrf}}

    return server, schemathesis.openapi.from_asgi("/openapi.json", server.app), prepare


def test_no_operation_answers_with_a_server_error_when_signed_in(
        signed_in: tuple[Server, Any, Callable[[Any], dict[str, Any]]]) -> None:
    _, schema, prepare = signed_in
    seen = fuzz(schema, prepare)
    assert len(seen) >= 20
    # signed in, every operation behind a session or a token was reached past its auth
    # dependency: some answer of each is neither 401 nor 403
    behind = [op for op in seen if op.split()[1].startswith(
        ("/api/board", "/api/county", "/api/session", "/api/jobs", "/api/alerts"))]
    assert len(behind) >= 18
    assert {op: codes for op, codes in seen.items() if op in behind
            and codes <= {401, 403}} == {}

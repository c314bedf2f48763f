"""The control room's activity log as the state log commits it at a publication
(docs/commitment.md §9.7): every official's action, never a secret; published by
``tallyproof state commit`` from the control room's database, carried by the state bundle and
re-checked by ``tallyproof verify``. SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tallyproof.cli import main
from tallyproof.ledger import new_keypair
from tallyproof.server.activity import export
from tallyproof.server.board_db import TotpFactor
from tallyproof.server.db import make_engine
from tallyproof.server.routes.board import BOARD_COOKIE
from tallyproof.state import activity_log
from tallyproof.state.executor import InProcess
from tallyproof.state.statelog import publish, verify_state_log
from tallyproof.state.workflow import commit_all

from .conftest import PASSWORD, Clock, Server, csrf_of, make_server
from .test_board import PASSPHRASE, _boards, _launch, _post
from .test_totp import _enrol


@pytest.fixture
def copy_server(state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> Server:
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    return make_server(root, engine, clock)


def _published_text(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((root / "log" / "activity").glob("*")))


def test_the_published_activity_log_holds_no_secret(copy_server: Server, clock: Clock,
                                                    state_root: Path) -> None:
    server, root = copy_server, copy_server.app.state.settings.state_dir
    secrets = [PASSWORD]
    c = server.client()  # an official types the password into the user name box
    assert c.post("/login", data={"csrf": csrf_of(c), "username": PASSWORD,
                                  "password": "wrong"}).status_code == 401
    totp = _enrol(server, clock, "ca")
    clock.advance(seconds=30)
    sa = server.login("sa")
    secrets.append(sa.cookies["tp_session"])
    new = sa.post("/users/new", data={"csrf": csrf_of(sa), "username": "newca",
                                      "county": "county-02"})
    secrets.append(re.search(r"<p><code>([^<]+)</code></p>", new.text).group(1))
    _launch(server)
    cb = server.login("cb")
    assert _post(cb, "/county/county-02/audit/boards", {"count": "1"}).status_code == 303
    (b,) = _boards(server, "county-02")
    passphrase = PASSPHRASE.search(
        _post(cb, f"/county/county-02/audit/boards/{b.id}/credentials", {}).text).group(1)
    board = server.client()
    assert _post(board, "/board/signin", {"passphrase": passphrase, "slug": b.slug},
                 page=f"/board/signin/{b.slug}").status_code == 303
    secrets += [passphrase, passphrase.replace("-", ""), board.cookies[BOARD_COOKIE]]
    with server.app.state.sessionmaker() as db:
        factor = db.get(TotpFactor, server.users["ca"])
        assert factor is not None and factor.secret == totp.secret
        secrets += [f.secret for f in db.scalars(select(TotpFactor))]  # every account's
        entries = export(db)
    key = state_root.parent / "keys" / "state"  # the demo's state key
    pub = publish(root, key, {o.county: o.value for o in commit_all(root, InProcess())},
                  entries)
    assert pub.activity_entries == len(entries) == pub.activity_added
    text = _published_text(root)
    assert text == b"".join(activity_log.entry_line(e) + b"\n" for e in entries)
    for secret in secrets:
        assert len(secret) >= 8 and secret.encode() not in text, secret
        assert secret.lower().encode() not in text.lower()
    # not vacuous: the officials' actions are there, by name
    got = {(e["user"], e["action"]) for e in map(orjson.loads, text.splitlines())}
    assert {("sa", "login"), ("sa", "user_created"), ("ca", "totp_enrolled"),
            ("sa", "audit_started"), ("cb", "audit_board_credentials"),
            (None, "login_failed")} <= got
    assert any(a == "board_login" for _, a in got)
    assert b'"client"' not in text and b"testclient" not in text  # addresses stay home
    assert verify_state_log(root) == []


def test_state_commit_publishes_the_control_rooms_log_and_verify_rechecks_it(
        state_root: Path, clock: Clock, tmp_path: Path) -> None:
    """The CLI finds the control room's SQLite file in the state folder by itself; the state
    bundle carries the log; a changed entry fails ``verify``."""
    from tallyproof.state.evidence import build_state_bundle
    from tallyproof.verify import verify_folder

    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    engine = make_engine(f"sqlite:///{root / 'control-room.sqlite'}")
    try:
        server = make_server(root, engine, clock)
        server.login("sa")
        server.login("ca")
        key, pub = new_keypair(tmp_path / "state-key")
        shutil.rmtree(root / "log")  # publish afresh under this test's key
        assert main(["state", "commit", str(root), "--key", str(key), "--in-process"]) == 0
        with server.app.state.sessionmaker() as db:
            n = len(export(db))
        files = sorted((root / "log" / "activity").glob("*.jsonl"))
        assert [f.name for f in files] == ["000001.jsonl"] and n == 2  # two sign-ins
        assert len(files[0].read_bytes().splitlines()) == n
        server.login("cb")  # new activity alone makes the next publication
        assert main(["state", "commit", str(root), "--key", str(key), "--in-process"]) == 0
        assert len(sorted((root / "log" / "activity").glob("*.jsonl"))) == 2
        assert main(["state", "verify", str(root), "--key", str(pub)]) == 0
        shown = server.login("sa").get("/activity").text
        assert f"State checkpoint 2 commits {n + 1:,} entries of this log" in shown
        # a named database without the control room's tables is refused (exit 2)
        assert main(["state", "commit", str(root), "--key", str(key), "--in-process",
                     "--database-url", f"sqlite:///{tmp_path / 'other.sqlite'}"]) == 2

        out = build_state_bundle(root, tmp_path / "bundle", InProcess())
        rep = verify_folder(out, [pub.read_text().strip()])
        log_check = next(c for c in rep.checks if c.name == "state.log")
        assert rep.ok and log_check.status == "pass", rep.checks
        assert f"activity log ({n + 1:,} entries)" in log_check.summary
        bundled = out / "state" / "log" / "activity" / "000001.jsonl"
        bundled.write_bytes(bundled.read_bytes().replace(b'"user":"ca"', b'"user":"sa"'))
        rep = verify_folder(out, [pub.read_text().strip()])
        log_check = next(c for c in rep.checks if c.name == "state.log")
        assert not rep.ok and log_check.status == "fail"
        assert "the activity log it signs" in log_check.summary
    finally:
        engine.dispose()

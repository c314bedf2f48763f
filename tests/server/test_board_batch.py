"""Batch-tally entry from the web: in a state with a county that reports batch tallies only
(the batch stratum of a stratified audit) and in a full hand count, the county's boards see
their own batches (where, how many cards per the manifest, never the reported tallies), enter
per contest the votes counted for every choice (saved batch by batch, a retried POST never
duplicated), correct before sign-off, are refused after it until the county reopens the board
(logged), and sign off into the county's records through the library, where the round's
risk (or the hand count's comparison) is computed statewide. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tallyproof.audit.records import load_records
from tallyproof.state.audit_status import hand_count_status, state_audit_status
from tallyproof.state.audit_tasks import county_records_path
from tallyproof.state.batch_county import load_batch_county, tallies_dir
from tallyproof.state.evidence import build_state_bundle
from tallyproof.state.executor import InProcess
from tallyproof.state.spec import load_spec

from tallyproof.verify import verify_bundle

from tallyproof.server import drill
from tallyproof.server.board_db import BatchEntry

from .conftest import Clock, Server, csrf_of, make_server
from .test_board import (_actions, _audit_job, _boards, _cards, _enter_all, _paper, _post,
                         _setup, _sign_off)

#: launch-to-risk walks on both databases
pytestmark = pytest.mark.slow

SEED = "31415926535897932384"
BATCH_COUNTY = "county-03"
ENTRY_KEY = re.compile(r'name="entry_key" value="([^"]+)"')


@pytest.fixture
def batch_server(batch_state_root: Path, engine: Engine, clock: Clock,
                 tmp_path: Path) -> Server:
    """A server over a copy of the state with a batch county (the audit writes into it)."""
    root = tmp_path / "state"
    shutil.copytree(batch_state_root, root)
    return make_server(root, engine, clock)


def _start(server: Server, kind: str) -> TestClient:
    sa = server.login("sa")
    # with a batch county, the form offers the stratified audit first
    assert "<option selected>stratified</option>" in sa.get("/state/audit").text
    _audit_job(server, sa, "/state/audit/start", {"risk_limit": "0.1", "seed": SEED,
                                                  "kind": kind})
    _audit_job(server, sa, "/state/audit/round")
    return sa


def _reported(root: Path, county: str) -> dict[str, dict[str, dict[str, int]]]:
    """What the paper of each batch holds, taken as the county's reported batch tallies (the
    test reads them; the boards never do): batch -> county contest -> choice -> votes."""
    return drill.batch_paper(root, county)


def _api_signin(server: Server, county: str, number: int) -> tuple[TestClient, dict]:
    """A board's API client (bearer token) from a freshly issued passphrase."""
    sa = server.login("sa")
    (b,) = [b for b in _boards(server, county) if b.number == number]
    sheet = _post(sa, f"/county/{county}/audit/boards/{b.id}/credentials", {})
    passphrase = re.search(r"Passphrase: <strong><code>([A-Z0-9-]+)</code>", sheet.text)
    assert passphrase is not None
    c = server.client()
    r = c.post("/api/board/signin", json={"passphrase": passphrase.group(1)})
    assert r.status_code == 200, r.text
    return c, {"Authorization": f"Bearer {r.json()['token']}"}


def _batch_form(board: TestClient, number: int, counts: dict[str, dict[str, int]] | None,
                key: str | None = None) -> dict:
    page = board.get(f"/board/batch/{number}").text
    m = ENTRY_KEY.search(page)
    assert m is not None
    data: dict = {"csrf": csrf_of(board, f"/board/batch/{number}"),
                  "entry_key": key or m.group(1)}
    if counts is None:
        data["not_found"] = "yes"
        return data
    for cid, votes in counts.items():
        for choice, n in votes.items():
            data[f"v.{cid}.{choice}"] = str(n)
    return data


def _batches(board: TestClient) -> list[tuple[int, str]]:
    """(number, batch id) of the board's list, from its home page."""
    page = board.get("/board").text
    numbers = [int(n) for n in re.findall(r'<a href="/board/batch/(\d+)">', page)]
    return [(n, re.search(r"<h1>Batch \d+ of \d+: ([^<]+)</h1>",
                          board.get(f"/board/batch/{n}").text).group(1)) for n in numbers]


def _entries(server: Server) -> int:
    with server.app.state.sessionmaker() as db:
        return db.scalar(select(func.count()).select_from(BatchEntry))


def test_the_batch_stratum_from_launch_to_statewide_risk(batch_server: Server,
                                                         tmp_path: Path) -> None:
    server = batch_server
    root = server.app.state.settings.state_dir
    sa = _start(server, "stratified")
    # the CVR counties' boards read single cards, as before
    (c1,) = _setup(server, "ca", "county-01")
    (c2,) = _setup(server, "cb", "county-02")
    assert _cards(c1) and _cards(c2)
    # the batch county's admin (the state admin here) sets up two boards: they count batches
    b1, b2 = _setup(server, "sa", BATCH_COUNTY, 2)
    assert {b.unit for b in _boards(server, BATCH_COUNTY)} == {"batch"}
    assert {b.unit for b in _boards(server, "county-01")} == {"card"}
    sheet = sa.get(f"/county/{BATCH_COUNTY}/audit/boards/{_boards(server, BATCH_COUNTY)[0].id}")
    assert "Batches to count by hand" in sheet.text
    paper = _reported(root, BATCH_COUNTY)
    bc = load_batch_county(tallies_dir(root, BATCH_COUNTY))
    cards_of = dict(zip(bc.keys, (int(x) for x in bc.ballots), strict=True))

    mine1, mine2 = _batches(b1), _batches(b2)
    assert mine1 and mine2 and not {b for _, b in mine1} & {b for _, b in mine2}
    # the API shows where each batch is and its cards per the manifest, never the tallies
    api, auth = _api_signin(server, BATCH_COUNTY, 2)
    listed = api.get("/api/board/batches", headers=auth).json()
    assert [(x["number"], x["batch_id"]) for x in listed] == mine2
    assert all(set(x) == {"number", "batch_id", "container", "tabulator", "batch", "cards",
                          "cards_source", "contests", "entry"} for x in listed)
    assert all(x["cards"] == cards_of[x["batch_id"]] and x["cards_source"] == "manifest"
               and x["entry"] is None for x in listed)
    assert all(set(c) == {"id", "name", "vote_for", "choices"} for x in listed
               for c in x["contests"])
    # a batch board has no card pages, and no batch beyond its own list
    assert b1.get("/board/card/1").status_code == 404
    assert api.get("/api/board/cards", headers=auth).status_code == 404
    assert b1.get(f"/board/batch/{len(mine1) + 1}").status_code == 404
    assert c1.get("/board/batch/1").status_code == 404  # a card board has no batch pages
    # the form is blank before an entry: the board counts blind
    first = b1.get("/board/batch/1").text
    assert 'name="v.' in first and not re.search(r'name="v\.[^"]+"[^>]* value="\d', first)

    # batch 1: a wrong count, then its correction (a new entry, before sign-off)
    n1, batch1 = mine1[0]
    wrong = {cid: dict.fromkeys(v, 0) for cid, v in paper[batch1].items()}
    assert b1.post("/board/batch/1", data=_batch_form(b1, 1, wrong),
                   follow_redirects=False).status_code == 303
    # a retried POST (same entry key) is saved once; the same key with other counts is refused
    data = _batch_form(b1, 1, paper[batch1])
    for _ in range(2):
        r = b1.post("/board/batch/1", data=data, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/board/batch/2")
    assert _entries(server) == 2
    other = dict(data, **{k: "0" for k in data if k.startswith("v.")})
    assert b1.post("/board/batch/1", data=other, follow_redirects=False).status_code == 409
    # refused with the reason: a choice left empty, more votes than the cards allow
    cid0 = next(iter(paper[batch1]))
    part = _batch_form(b1, 1, paper[batch1])
    part.pop(next(k for k in part if k.startswith(f"v.{cid0}.")))
    r = b1.post("/board/batch/1", data=part, follow_redirects=False)
    assert r.status_code == 422 and "enter 0 if it got none" in r.text
    too_many = _batch_form(b1, 1, paper[batch1])
    too_many[next(k for k in too_many if k.startswith(f"v.{cid0}."))] = str(
        cards_of[batch1] + 1)
    r = b1.post("/board/batch/1", data=too_many, follow_redirects=False)
    assert r.status_code == 422 and "count the batch again" in r.text
    assert _entries(server) == 2
    for number, batch in mine1[1:]:
        r = b1.post(f"/board/batch/{number}", data=_batch_form(b1, number, paper[batch]),
                    follow_redirects=False)
        assert r.status_code == 303, r.text
    # board 2 enters through the JSON API (a retry answers 200 with the same entry)
    for x in listed:
        body = {"entry_key": f"key-{x['number']:06d}", "contests": paper[x["batch_id"]]}
        r = api.post(f"/api/board/batches/{x['number']}/entries", json=body, headers=auth)
        assert r.status_code == 201, r.text
        again = api.post(f"/api/board/batches/{x['number']}/entries", json=body, headers=auth)
        assert (again.status_code, again.json()["id"]) == (200, r.json()["id"])
    assert api.get("/api/board/review", headers=auth).json()["missing"] == []
    assert "not counted" not in b1.get("/board/review").text

    _enter_all(c1, _paper(server, "county-01"))
    _enter_all(c2, _paper(server, "county-02"))
    assert _post(sa, "/state/audit/close", {}).status_code == 409  # boards still working
    for board in (c1, c2, b1):
        assert _sign_off(board).status_code == 303
    r = api.post("/api/board/signoff", json={"members": ["Cy Park", "Di Roe"]}, headers=auth)
    assert r.status_code == 200 and r.json()["records_file"] == "round-1-board-2-signoff-1.csv"

    # the sign-offs wrote the counts into the county's records, where the CLI's record does
    records = load_records(county_records_path(root, BATCH_COUNTY))
    assert {(r.ballot_id, r.contest_id): dict(r.tallies or ()) for r in records} == {
        (b, cid): votes for _, b in mine1 + mine2 for cid, votes in paper[b].items()}
    assert {r.source_file for r in records} == {"round-1-board-1-signoff-1.csv",
                                               "round-1-board-2-signoff-1.csv"}
    assert (root / "audit" / "counties" / BATCH_COUNTY / "boards"
            / "round-1-board-1-signoff-1.csv").read_text().startswith(
        "batch_id,contest_id,tallies,not_found,correction,reason\n")

    # after sign-off: refused, until the county reopens the board (logged)
    assert b1.post("/board/batch/1", data=_batch_form(b1, 1, wrong),
                   follow_redirects=False).status_code == 409
    board1 = _boards(server, BATCH_COUNTY)[0]
    r = _post(sa, f"/county/{BATCH_COUNTY}/audit/boards/{board1.id}/reopen",
              {"reason": "batch 1 was sealed in the wrong box"})
    assert r.status_code == 303
    assert ("sa", "audit_board_reopened", f"board {BATCH_COUNTY}/round-1/1: batch 1 was "
            "sealed in the wrong box") in _actions(server)
    assert b1.post("/board/batch/1", data=_batch_form(b1, 1, None),
                   follow_redirects=False).status_code == 303
    assert _sign_off(b1).status_code == 303
    after = load_records(county_records_path(root, BATCH_COUNTY))
    new = after[len(records):]
    assert {(r.ballot_id, r.contest_id) for r in new} == {(batch1, c) for c in paper[batch1]}
    assert all(r.not_found and r.correction and r.tallies is None
               and "batch 1 was sealed in the wrong box" in (r.reason or "") for r in new)

    # close the round: the library measures the risk statewide, both strata
    _audit_job(server, sa, "/state/audit/close")
    written = orjson.loads((root / "audit" / "status.json").read_bytes())
    assert written == state_audit_status(root, InProcess(), write=False).to_json()
    assert written["rounds"] == 1 and not written["waiting"]
    assert all(c["ballots_examined"] > 0 and 0 <= c["measured_risk"] <= 1
               for c in written["contests"])
    assert f"Risk measured (after round 1): {written['status']}" in sa.get("/state/audit").text

    # the state bundle carries the sign-offs' CSVs and records, and `verify` passes on it
    bundle = build_state_bundle(root, tmp_path / "bundle", InProcess())
    kept = bundle / "state" / "audit" / "counties" / BATCH_COUNTY
    assert load_records(kept / "records.jsonl") == after
    assert {p.name for p in (kept / "boards").iterdir()} == {
        "round-1-board-1-signoff-1.csv", "round-1-board-2-signoff-1.csv",
        "round-1-board-1-signoff-2.csv"}
    rep = verify_bundle(bundle, executor=InProcess())
    assert rep.ok, [c.to_json() for c in rep.checks if c.status == "fail"]


def test_a_full_hand_count_by_batch(batch_server: Server) -> None:
    """Every batch of every county counted through the API (CVR counties too, by batch) and
    closed: the library compares the hand count with the CVRs and the reported tallies."""
    server = batch_server
    root = server.app.state.settings.state_dir
    sa = _start(server, "handcount")
    spec = load_spec(root)
    for county in (c.id for c in spec.counties):
        _setup(server, "sa", county, 1)
        assert {b.unit for b in _boards(server, county)} == {"batch"}
        api, auth = _api_signin(server, county, 1)
        paper = _reported(root, county)
        listed = api.get("/api/board/batches", headers=auth).json()
        assert set(paper) <= {x["batch_id"] for x in listed}  # and batches without a contest
        for x in listed:
            r = api.post(f"/api/board/batches/{x['number']}/entries", headers=auth,
                         json={"entry_key": f"hc-{x['number']:06d}",
                               "contests": paper.get(x["batch_id"], {})})
            assert r.status_code == 201, r.text
        r = api.post("/api/board/signoff", json={"members": ["Ann Lee", "Bo Diaz"]},
                     headers=auth)
        assert r.status_code == 200, r.text
    assert _post(sa, "/state/audit/round", {}).status_code == 409  # one list, every batch
    _audit_job(server, sa, "/state/audit/close")
    written = orjson.loads((root / "audit" / "status.json").read_bytes())
    again = [c.to_json() for c in hand_count_status(root, InProcess(), write=False)]
    assert written["kind"] == "handcount" and written["contests"] == again
    assert all(c["status"] == "confirmed" and c["counted"] == c["batches"] > 0
               and c["hand_votes"] == c["cvr_votes"] for c in again)
    page = sa.get("/state/audit").text
    assert "Full hand count against the CVRs" in page and "confirmed" in page


def test_batch_counts_are_saved_by_the_writer_and_acknowledged_once_committed(
        batch_server: Server) -> None:
    """A batch board's counts go through the app's writer, as a card board's readings do:
    sent together from 8 threads each is answered with its own entry and its activity row,
    in the writer's commits (group commit on SQLite); a count whose transaction does not
    commit is not acknowledged and not saved, and its retry with the same key is saved once."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    server = batch_server
    root = server.app.state.settings.state_dir
    _start(server, "stratified")
    _setup(server, "sa", BATCH_COUNTY, 1)
    api, auth = _api_signin(server, BATCH_COUNTY, 1)
    listed = api.get("/api/board/batches", headers=auth).json()
    paper = _reported(root, BATCH_COUNTY)
    writer = server.app.state.writer
    before = (writer.batches, writer.writes)
    sends = [x for x in listed for _ in range(3)][:max(12, len(listed))]

    def enter(k: int) -> tuple[int, int]:
        x = sends[k]
        r = api.post(f"/api/board/batches/{x['number']}/entries", headers=auth,
                     json={"entry_key": f"together-{k:04d}", "contests": paper[x["batch_id"]]})
        return r.status_code, r.json().get("id", 0)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(enter, range(len(sends))))
    assert [st for st, _ in got] == [201] * len(sends)
    assert len({i for _, i in got}) == len(sends) == _entries(server)
    assert writer.writes - before[1] == len(sends) and writer.batches > before[0]
    assert [a for _, a, _ in _actions(server)].count("board_batch_entry") == len(sends)

    # the commit of the next count fails: the board is not told it was saved
    x = listed[0]
    body = {"entry_key": "lost-0001", "contests": paper[x["batch_id"]]}

    def fail(session: Session) -> None:
        raise RuntimeError("the disk is full (the test)")

    event.listen(Session, "before_commit", fail)
    try:
        with pytest.raises(RuntimeError, match="disk is full"):
            api.post(f"/api/board/batches/{x['number']}/entries", json=body, headers=auth)
    finally:
        event.remove(Session, "before_commit", fail)
    assert _entries(server) == len(sends)
    assert [a for _, a, _ in _actions(server)].count("board_batch_entry") == len(sends)
    r = api.post(f"/api/board/batches/{x['number']}/entries", json=body, headers=auth)
    again = api.post(f"/api/board/batches/{x['number']}/entries", json=body, headers=auth)
    assert (r.status_code, again.status_code) == (201, 200)
    assert r.json()["id"] == again.json()["id"] and _entries(server) == len(sends) + 1

"""What the pages and the API show is what the library wrote: county rows from the stores and
results files, the state checkpoint from the state log, proofs from prove_ballot; and every
answer carries the security headers."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from sqlalchemy import Engine

from tallyproof.ledger.log import load_checkpoints
from tallyproof.server.security import HEADERS
from tallyproof.state.statelog import load_state_log
from tallyproof.state.tasks import county_store_dir
from tallyproof.store import Store

from .conftest import Clock, Server, csrf_of, make_server


def test_security_headers_on_pages_api_and_errors(server: Server) -> None:
    c = server.client()
    for url in ("/public", "/login", "/api/state", "/nowhere", "/static/style.css"):
        r = c.get(url)
        for k, v in HEADERS.items():
            assert r.headers[k] == v, (url, k)
        assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    assert c.get("/public").headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in c.get("/public").headers
    https = server.client()
    https.base_url = https.base_url.copy_with(scheme="https")
    assert "max-age=" in https.get("/public").headers["Strict-Transport-Security"]


INLINE = re.compile(r"<script(?![^>]*\bsrc=\"/static/)|\son[a-z]+=|javascript:", re.I)


def test_pages_have_no_inline_script(server: Server) -> None:
    """Script only from /static (the CSP would refuse the rest): no inline script element,
    no event-handler attribute, no javascript: URL."""
    pages = {p: server.client().get(p).text for p in ("/public", "/login", "/present",
                                                      "/present/county-01")}
    sa = server.login("sa")
    pages |= {p: sa.get(p).text for p in ("/state", "/county/county-01", "/activity", "/users")}
    for page, text in pages.items():
        assert INLINE.search(text) is None, page
    assert '<script src="/static/proof.js" defer></script>' in pages["/public"]


def _check_county_rows(server: Server, state_root: Path, batch_county: str | None) -> None:
    """Every county's row of /api/counties and the state page equals what its store (or, for
    a county with batch tallies only, its tallies) and the results files hold."""
    from tallyproof.state.batch_county import load_batch_county, tallies_dir

    rows = {r["id"]: r for r in server.client().get("/api/counties").json()}
    recon = orjson.loads((state_root / "results" / "reconciliation.json").read_bytes())
    assert set(rows) == {"county-01", "county-02"}
    for cid in rows:
        if cid == batch_county:
            cards = load_batch_county(tallies_dir(state_root, cid)).cards
            cp = load_checkpoints(tallies_dir(state_root, cid) / "log")[-1].checkpoint
        else:
            store = Store.open(county_store_dir(state_root, cid))
            cards = store.cvr_count()
            cp = load_checkpoints(store.log_dir)[-1].checkpoint
        assert rows[cid]["cards"] == cards > 0
        assert (rows[cid]["checkpoint_size"], rows[cid]["checkpoint_root"]) == (
            cp.size, cp.root.hex())
        assert rows[cid]["accounting"] == recon["check"]["status"]
        assert [list(c) for c in rows[cid]["checks"]] == recon["counties"][cid]["checks"]
    page = server.login("sa").get("/state").text
    assert all(r["checkpoint_root"] in page for r in rows.values())


def test_counties_come_from_the_stores_and_results_files(server: Server,
                                                         state_root: Path) -> None:
    _check_county_rows(server, state_root, None)


@pytest.fixture(scope="module")
def batch_pair_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two counties, county-02 reporting batch tallies only: built once for both databases
    (the server only reads the state folder, as it reads the session's ``state_root``)."""
    from tallyproof.demo.state import run_state_demo

    out = tmp_path_factory.mktemp("batchpair")
    run_state_demo(out / "demo", counties=2, cards=600, in_process=True, audit=False)
    return out / "demo" / "state"


def test_a_batch_tally_county_shows_its_tallies_and_their_log(
        engine: Engine, clock: Clock, batch_pair_root: Path, tmp_path: Path) -> None:
    root = batch_pair_root  # county-02 reports batch tallies only
    _check_county_rows(make_server(root, engine, clock, upload_dir=tmp_path / "uploads"), root,
                       "county-02")


def test_public_page_shows_the_state_checkpoint_and_statewide_winners(
        server: Server, state_root: Path) -> None:
    _, cps = load_state_log(state_root)
    page = server.client().get("/public").text
    assert cps[-1].checkpoint.root.hex() in page
    statewide = orjson.loads((state_root / "results" / "statewide.json").read_bytes())
    api = server.client().get("/api/state").json()
    assert [r["winners"] for r in api["results"]] == [
        r["winners"] for r in statewide["contests"]]
    assert api["checkpoint"]["root"] == cps[-1].checkpoint.root.hex()


def test_the_proof_form_verifies_a_ballot_and_names_a_missing_one(server: Server,
                                                                 a_ballot: str) -> None:
    c = server.client()
    r = c.post("/public/proof", data={"csrf": csrf_of(c), "county": "county-01",
                                      "ballot": a_ballot})
    assert r.status_code == 200 and 'class="status pass" id="proof-result"' in r.text
    r = c.post("/public/proof", data={"csrf": csrf_of(c), "county": "county-01",
                                      "ballot": "<b>no-such</b>"})
    assert r.status_code == 404 and "not in the commitment log" in r.text
    assert "<b>no-such</b>" not in r.text  # autoescaped


def test_the_api_proof_is_prove_ballots_and_verifies(server: Server, state_root: Path,
                                                     a_ballot: str) -> None:
    from tallyproof.state.statelog import prove_ballot

    body = server.client().get(f"/api/proof/county-01/{a_ballot}").json()
    assert body["verified"] is True and body["failures"] == []
    expect = prove_ballot(state_root, "county-01", a_ballot)
    assert body["proof"]["state_checkpoint"] == expect["state_checkpoint"]
    assert body["proof"]["county_proof"]["leaf_index"] == expect["county_proof"]["leaf_index"]


def test_a_proof_checked_against_another_key_is_reported_failing(
        server: Server, a_ballot: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server really verifies: with a state key other than the log's, the page and the API
    say the state checkpoint is not signed by it."""
    from tallyproof.ledger.keys import load_verifier, new_keypair
    from tallyproof.server import view

    _, pub = new_keypair(tmp_path / "other")
    monkeypatch.setattr(view, "load_verifier", lambda _path: load_verifier(pub))
    body = server.client().get(f"/api/proof/county-01/{a_ballot}").json()
    assert body["verified"] is False
    assert body["failures"] == ["the state checkpoint is not signed by the state key"]
    c = server.client()
    r = c.post("/public/proof", data={"csrf": csrf_of(c), "county": "county-01",
                                      "ballot": a_ballot})
    assert "The proof does not verify" in r.text and "not signed by the state key" in r.text


def test_the_api_proves_a_batch_countys_ballot_whose_id_has_a_slash(
        batch_state_root: Path, engine: Engine, clock: Clock, tmp_path: Path) -> None:
    """A batch-tally county's ids are ``BATCH/N`` (101/1): the page's script asks for
    ``/api/proof/county-03/101%2F1`` (encodeURIComponent), which reaches the route as
    ``101/1``."""
    tallies = orjson.loads((batch_state_root / "counties" / "county-03" / "tallies"
                           / "tallies.json").read_bytes())
    first = tallies["batches"][0]
    ballot = f"{first['tabulator']}/{first['batch']}"  # 101/1
    c = make_server(batch_state_root, engine, clock, upload_dir=tmp_path / "up").client()
    for url in (f"/api/proof/county-03/{quote(ballot, safe='')}",
                f"/api/proof/county-03/{ballot}"):
        body = c.get(url).json()
        assert body["verified"] is True, body
        assert body["proof"]["county_proof"]["leaf_index"] >= 0
    r = c.get(f"/api/proof/county-03/{ballot}9999")
    assert r.status_code == 404 and f"no batch '{ballot}9999'" in r.json()["detail"]

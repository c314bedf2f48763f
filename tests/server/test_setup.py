"""The election's set-up page (counties, statewide contests and the counties' own names for
them, through the library's ``state.workflow``) and the statewide risk plotted over rounds
(``/audit/risk.svg``, drawn from the library's per-round status files)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tallyproof.server.db import Activity
from tallyproof.state.spec import load_spec

from .conftest import Clock, csrf_of, make_server, copy_of


@pytest.fixture
def fresh(tmp_path: Path, engine: Engine, clock: Clock) -> tuple[Path, TestClient]:
    from tallyproof.state.workflow import init_state

    root = tmp_path / "state"
    init_state(root, "Set-up Test Election", "2026-11-03", "SY")
    return root, make_server(root, engine, clock).login("sa")


def test_the_state_admin_adds_counties_and_contests_as_the_cli_would(
        fresh: tuple[Path, TestClient]) -> None:
    root, c = fresh
    token = csrf_of(c, "/state/setup")
    for cid, name in (("east", "East County"), ("west", "West County")):
        r = c.post("/state/setup/county", data={"csrf": token, "county_id": cid, "name": name},
                   follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/state/setup")
    r = c.post("/state/setup/contest", data={
        "csrf": token, "contest_id": "gov", "name": "Governor",
        "candidates": "ada=Ada Lovelace\r\n\r\ngrace=Grace Hopper\n",
        "aliases": "west=GOVERNOR AND LT GOVERNOR",
        "candidate_aliases": "west:ada=LOVELACE, ADA\nwest:grace=HOPPER, GRACE"},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    spec = load_spec(root)
    assert [(x.id, x.name) for x in spec.counties] == [("east", "East County"),
                                                       ("west", "West County")]
    (gov,) = spec.contests
    assert [(k.id, k.name) for k in gov.candidates] == [("ada", "Ada Lovelace"),
                                                       ("grace", "Grace Hopper")]
    assert gov.aliases["west"].contest == "GOVERNOR AND LT GOVERNOR"
    assert gov.aliases["west"].candidates == {"ada": "LOVELACE, ADA", "grace": "HOPPER, GRACE"}
    assert (root / "counties" / "west").is_dir()  # where its store will be, as add_county makes
    page = c.get("/state/setup").text
    assert "West County" in page and "“LOVELACE, ADA”" in page
    with c.app.state.sessionmaker() as db:  # type: ignore[attr-defined]
        actions = [a.action for a in db.scalars(select(Activity).order_by(Activity.id))]
    assert actions[-3:] == ["county_added", "county_added", "contest_added"]


@pytest.mark.parametrize("form, message", [
    ({"county_id": "east", "name": "Again"}, "already in this state"),
    ({"county_id": "Bad Id", "name": "x"}, "must be lower-case"),
])
def test_a_refused_county_leaves_state_json_as_it_was(
        fresh: tuple[Path, TestClient], form: dict[str, str], message: str) -> None:
    root, c = fresh
    token = csrf_of(c, "/state/setup")
    c.post("/state/setup/county", data={"csrf": token, "county_id": "east", "name": "East"})
    before = (root / "state.json").read_bytes()
    r = c.post("/state/setup/county", data={"csrf": token, **form})
    assert r.status_code == 409 and message in r.text
    assert (root / "state.json").read_bytes() == before


@pytest.mark.parametrize("extra, message", [
    ({"candidates": "ada Lovelace"}, "write ID=Name"),
    ({"aliases": "east GOVERNOR"}, "write COUNTY=CONTEST NAME"),
    ({"candidate_aliases": "east=ada=X"}, "write COUNTY:ID=NAME"),
    ({"aliases": "nowhere=GOVERNOR"}, "alias for unknown county"),
    ({"kind": "borda"}, "unknown contest kind"),
])
def test_a_refused_contest_says_why_and_writes_nothing(
        fresh: tuple[Path, TestClient], extra: dict[str, str], message: str) -> None:
    root, c = fresh
    token = csrf_of(c, "/state/setup")
    c.post("/state/setup/county", data={"csrf": token, "county_id": "east", "name": "East"})
    before = (root / "state.json").read_bytes()
    r = c.post("/state/setup/contest", data={"csrf": token, "contest_id": "gov",
                                             "name": "Governor",
                                             "candidates": "ada=Ada\ngrace=Grace", **extra})
    assert r.status_code == 409 and message in r.text, r.text
    assert (root / "state.json").read_bytes() == before


def test_the_risk_plot_draws_the_measured_risk_the_library_wrote(
        audit_round_template: Path, tmp_path: Path, engine: Engine, clock: Clock) -> None:
    from tallyproof.state.audit_status import status_history

    root = copy_of(audit_round_template, tmp_path)
    c = make_server(root, engine, clock).client()
    history = status_history(root)
    assert history == [orjson.loads((root / "audit" / "status.json").read_bytes())]
    assert (root / "audit" / "history" / "round-001.json").is_file()
    r = c.get("/audit/risk.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    svg = r.text
    assert "<script" not in svg and "<style" not in svg and " style=" not in svg
    names = {x.id: x.name for x in load_spec(root).contests}
    for cs in history[0]["contests"]:
        assert (f"{names[cs['contest_id']]}, round 1: {cs['measured_risk']:.4g}</title>"
                in svg.replace("&amp;", "&"))
    assert svg.count("<polyline") == len(history[0]["contests"])
    assert c.get("/audit/risk.svg").text == svg  # the same numbers, the same bytes
    page = c.get("/present").text
    alt = re.search(r'<img src="/audit/risk.svg[^"]*" alt="([^"]+)"', page)
    assert alt is not None and "after each of 1 round(s)" in alt.group(1)
    assert "risk limit 0.05" in alt.group(1)
    assert "After round 1" in page  # the numbers beside the figure


def test_the_plot_over_several_rounds_falls_with_the_risk() -> None:
    from tallyproof.server.risk_plot import RiskHistory, RiskSeries, svg

    h = RiskHistory(0.05, (1, 2, 3), (RiskSeries("a", "Governor", ((1, 0.6), (2, 0.2), (3, 0.01))),
                                      RiskSeries("b", "Senator", ((1, 1.0), (3, 0.04)))))
    out = svg(h)
    lines = re.findall(r'<polyline points="([^"]+)"', out)
    gov = [tuple(map(float, p.split(","))) for p in lines[0].split()]
    assert [x for x, _ in gov] == sorted(x for x, _ in gov) and len(gov) == 3
    assert gov[0][1] < gov[1][1] < gov[2][1]  # lower risk is drawn lower (greater y)
    assert len(lines[1].split()) == 2  # a round not measured for a contest is not drawn
    assert "risk limit 0.05" in out and "Senator 0.04" in h.summary()
    assert "After round 3: Governor 0.01; Senator 0.04." in h.summary()


def _cli_state(tmp_path: Path, *commands: list[str]) -> bytes:
    """``state.json`` as the command line writes it after ``commands`` (a fresh state made
    like :func:`fresh`'s)."""
    from tallyproof.cli import main
    from tallyproof.state.workflow import init_state

    root = tmp_path / "cli-state"
    init_state(root, "Set-up Test Election", "2026-11-03", "SY")
    for cmd in commands:
        assert main([cmd[0], cmd[1], str(root), *cmd[2:]]) == 0
    return (root / "state.json").read_bytes()


def test_ranked_contests_and_a_batch_county_are_written_as_the_cli_writes_them(
        fresh: tuple[Path, TestClient], tmp_path: Path) -> None:
    from tallyproof.model import ContestKind

    root, c = fresh
    token = csrf_of(c, "/state/setup")
    page = c.get("/state/setup").text
    assert all(f'<option value="{k}">' in page for k in ("plurality", "approval", "irv", "stv"))
    for form in ({"county_id": "east", "name": "East County"},
                 {"county_id": "hills", "name": "Hills County", "batch_tallies": "true"}):
        r = c.post("/state/setup/county", data={"csrf": token, **form}, follow_redirects=False)
        assert r.status_code == 303, r.text
    for form in ({"contest_id": "mayor", "name": "Mayor", "kind": "irv",
                  "candidates": "a=Ann\nb=Bo\nc=Cy"},
                 {"contest_id": "board", "name": "School Board", "kind": "stv", "seats": "2",
                  "candidates": "a=Ann\nb=Bo\nc=Cy\nd=Di", "aliases": "east=SCHOOL BOARD"}):
        r = c.post("/state/setup/contest", data={"csrf": token, **form}, follow_redirects=False)
        assert r.status_code == 303, r.text
    spec = load_spec(root)
    assert [(x.id, x.kind) for x in spec.counties] == [("east", "cvrs"),
                                                       ("hills", "batch_tallies")]
    assert [(x.id, x.kind, x.seats) for x in spec.contests] == [
        ("mayor", ContestKind.IRV, 1), ("board", ContestKind.STV, 2)]
    assert (root / "state.json").read_bytes() == _cli_state(
        tmp_path, ["state", "add-county", "east", "--name", "East County"],
        ["state", "add-county", "hills", "--name", "Hills County", "--batch-tallies"],
        ["state", "add-contest", "mayor", "--name", "Mayor", "--kind", "irv",
         "--candidate", "a=Ann", "--candidate", "b=Bo", "--candidate", "c=Cy"],
        ["state", "add-contest", "board", "--name", "School Board", "--kind", "stv",
         "--seats", "2", "--candidate", "a=Ann", "--candidate", "b=Bo", "--candidate", "c=Cy",
         "--candidate", "d=Di", "--alias", "east=SCHOOL BOARD"])
    page = c.get("/state/setup").text
    assert "batch tallies only" in page and "irv" in page and "stv, 2 seats" in page
    with c.app.state.sessionmaker() as db:  # type: ignore[attr-defined]
        details = [a.detail for a in db.scalars(select(Activity).order_by(Activity.id))
                   if a.action in ("county_added", "contest_added")]
    assert details[1] == "Hills County (batch_tallies)"
    assert details[3].startswith("board: School Board (stv, 2 seat(s))")


def test_an_irv_contest_of_several_seats_is_refused_by_the_library(
        fresh: tuple[Path, TestClient]) -> None:
    """The statewide count runs IRV for one seat: two seats would be counted as one, so the
    library (and so the CLI and the page) refuses it, and nothing is written."""
    root, c = fresh
    token = csrf_of(c, "/state/setup")
    before = (root / "state.json").read_bytes()
    r = c.post("/state/setup/contest", data={"csrf": token, "contest_id": "mayor",
                                             "name": "Mayor", "kind": "irv", "seats": "2",
                                             "candidates": "a=Ann\nb=Bo"})
    assert r.status_code == 409 and "an IRV contest elects one" in r.text
    assert (root / "state.json").read_bytes() == before


def _actions(c: TestClient) -> list[tuple[str, str | None, str]]:
    with c.app.state.sessionmaker() as db:  # type: ignore[attr-defined]
        return [(a.action, a.county, a.detail)
                for a in db.scalars(select(Activity).order_by(Activity.id))]


def test_the_state_admin_makes_a_countys_signing_key_as_keys_new_does(
        fresh: tuple[Path, TestClient]) -> None:
    from tallyproof.ledger.keys import load_signer, load_verifier

    root, c = fresh
    token = csrf_of(c, "/state/setup")
    c.post("/state/setup/county", data={"csrf": token, "county_id": "east", "name": "East"})
    assert "Make east's signing key" in c.get("/state/setup").text
    r = c.post("/state/setup/keys/east", data={"csrf": token}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/state/setup#key-east")
    private, pub = root / "keys" / "east", root / "keys" / "east.pub"
    assert private.stat().st_mode & 0o777 == 0o600
    signer, verifier = load_signer(private), load_verifier(pub)
    assert signer.verifier == verifier and verifier.name == "east"  # keys new's default name
    # base64 may itself hold '+': the secret is everything after the fourth separator
    secret = private.read_text().strip().split("+", 4)[4]
    assert len(secret) == 44
    page = c.get("/state/setup").text
    assert verifier.vkey in page and "Make east's signing key" not in page
    shown = re.search(r'class="fingerprint">([0-9a-f ]+)<', page)
    assert shown is not None
    assert shown.group(1).replace(" ", "") == hashlib.sha256(verifier.public_key).hexdigest()
    action, county, detail = _actions(c)[-1]
    assert (action, county) == ("county_key_made", "east") and verifier.vkey in detail
    # the private key is on no page and in no log entry
    for url in ("/state/setup", "/activity", "/county/east", "/api/state", "/api/counties"):
        assert secret not in c.get(url).text, url
    assert not any(secret in d for _, _, d in _actions(c))
    # a second press (another tab, a retry) is refused: the key is never replaced
    held = (private.read_bytes(), pub.read_bytes())
    r = c.post("/state/setup/keys/east", data={"csrf": token})
    assert r.status_code == 409 and "has a signing key already" in r.text
    assert (private.read_bytes(), pub.read_bytes()) == held
    assert secret not in r.text and str(root) not in r.text
    r = c.post("/state/setup/keys/nowhere", data={"csrf": token})
    assert r.status_code == 409 and "no county &#39;nowhere&#39;" in r.text
    assert not (root / "keys" / "nowhere").exists()
    assert [a for a, _, _ in _actions(c)].count("county_key_made") == 1


def test_a_public_key_alone_still_refuses_a_new_key(fresh: tuple[Path, TestClient]) -> None:
    """``keys new`` refuses when either file exists; a lone ``.pub`` (a key moved off the
    server, say) is kept, and the page says the county has a key."""
    root, c = fresh
    token = csrf_of(c, "/state/setup")
    c.post("/state/setup/county", data={"csrf": token, "county_id": "east", "name": "East"})
    from tallyproof.ledger.keys import new_keypair

    _, pub = new_keypair(root / "keys" / "east")
    (root / "keys" / "east").unlink()
    r = c.post("/state/setup/keys/east", data={"csrf": token})
    assert r.status_code == 409 and "east.pub" in r.text
    assert not (root / "keys" / "east").exists()


def test_two_key_requests_at_once_make_one_key(tmp_path: Path) -> None:
    """The library's "already exists" check and its write are not one step; two requests
    racing must not both pass it (one key written over the other, a county signing with a
    key the page no longer shows): the lock makes one of them wait and then refuse."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from tallyproof.errors import UsageError
    from tallyproof.ledger.keys import load_signer, load_verifier
    from tallyproof.server.county_keys import make_county_key
    from tallyproof.state.workflow import add_county, init_state

    root = tmp_path / "state"
    init_state(root, "Race", "2026-11-03", "SY")
    add_county(root, "east", "East")
    for attempt in range(5):
        for p in (root / "keys").glob("east*"):
            p.unlink()
        gate = Barrier(4)

        def go(_: int) -> object:
            gate.wait()
            try:
                return make_county_key(root, "east")
            except UsageError as exc:
                return exc

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(go, range(4)))
        made = [r for r in results if not isinstance(r, UsageError)]
        assert len(made) == 1, (attempt, results)
        assert made[0] == load_verifier(root / "keys" / "east.pub")
        assert load_signer(root / "keys" / "east").verifier == made[0]

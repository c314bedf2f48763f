"""The election's set-up page (counties, statewide contests and the counties' own names for
them, through the library's ``state.workflow``) and the statewide risk plotted over rounds
(``/audit/risk.svg``, drawn from the library's per-round status files)."""

from __future__ import annotations

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

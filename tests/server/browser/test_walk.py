"""The whole statewide audit in a real browser, from an empty state election to the public's
confirmed outcome (issue #14's end-to-end walk):

1. the state administrator adds two counties and two statewide contests (one with a county's
   own names for it) on the set-up page, and creates the two county administrators;
2. each county administrator uploads the county's export (a zip of the demo's Dominion export
   folder) and ballot manifest with the HTML form, typing the SHA-256, then runs the ingest and
   commit jobs and waits on the county page until each is done;
3. the state administrator starts the audit and launches the round;
4. each county administrator sets up one audit board and prints its credentials; the board
   signs in with the passphrase, enters every card as the paper shows and signs off with two
   names;
5. the state administrator closes the round, and the public presentation page shows every
   contest confirmed at a measured risk within the limit, with the risk plot.

The election's folder itself is made with the library (``init_state``, what ``tallyproof
state init`` runs), and the first state administrator as ``tallyproof serve --add-admin``
makes it: the server serves an existing state folder. Each county's signing key is made on
the set-up page (what ``tallyproof keys new`` makes), where the commit job finds it. The paper the boards read is the demo's
own paper (:class:`~tallyproof.demo.pipeline.PaperBallots` over the demo's drawn county),
never a page the board sees. Every page is photographed into ``test-output/screenshots/walk``
(:data:`.conftest.SCREENSHOTS`); the pages a walk adds are checked with axe-core and at phone
width."""

from __future__ import annotations

import hashlib
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tallyproof.server.accounts import create_user
from tallyproof.server.app import create_app
from tallyproof.server.config import Settings
from tallyproof.server.db import Role

from ..conftest import CHEAP, PASSWORD, Clock
from .conftest import DESKTOP, open_page, serving, shots_folder, sign_in
from .test_browser import axe_source, fits_phone, serious_violations

#: the whole statewide audit in a browser: one long test
pytestmark = pytest.mark.slow

#: the two statewide contests the walk declares (fewer contests, fewer cards to read)
CONTESTS = ("president-vice-president", "governor")
RISK_LIMIT = "0.05"
SEED = "27182818284590452353"
JOB_WAIT = 120.0  # seconds; a job that takes longer fails the test


@dataclass
class Walk:
    url: str
    root: Path  # the new state folder the web sets up
    demo: Path  # the demo state whose exports the counties upload
    shots: Path
    n: int = 0

    def shot(self, page: Any, name: str) -> None:
        self.n += 1
        page.screenshot(path=str(self.shots / f"{self.n:02d}-{name}.png"), full_page=True)

    def check(self, page: Any, name: str) -> None:
        """The page as it is now: no serious or critical axe violation, no sideways scroll at
        phone width; photographed at both widths, then back at desktop width."""
        page.set_viewport_size(DESKTOP)
        self.shot(page, name)
        assert serious_violations(page, axe_source()) == [], name
        assert fits_phone(page), name
        self.shot(page, f"{name}-phone")
        page.set_viewport_size(DESKTOP)


@pytest.fixture(scope="module")
def walk(state_root: Path, tmp_path_factory: pytest.TempPathFactory, screenshots: Path) -> Any:
    from tallyproof.state.workflow import init_state

    base = tmp_path_factory.mktemp("walk")
    root = base / "state"
    init_state(root, "Two-County General Election", "2026-11-03", "SY")
    app = create_app(Settings(root, f"sqlite:///{base / 'control-room.sqlite'}",
                              password_cost=CHEAP, now=Clock(), live_interval=0.2,
                              live_lifetime=30.0))
    with app.state.sessionmaker.begin() as s:
        create_user(s, app.state.hasher, "sa", PASSWORD, Role.STATE_ADMIN, None, Clock()())
    with serving(app) as url:
        yield Walk(url, root, state_root, shots_folder(screenshots, "walk"))


def post_form(page: Any, action: str, fields: dict[str, str]) -> None:
    """Fill the form posting to ``action`` and submit it; the answer must not be an error."""
    form = page.locator(f"form[action='{action}']")
    for name, value in fields.items():
        field = form.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert not page.title().startswith("Error"), page.inner_text("main")


# ------------------------------------------------------------------ 1. set-up
def set_up_election(w: Walk, sa: Any) -> dict[str, str]:
    """Counties, contests and county administrators; returns {county: password}."""
    from tallyproof.demo.state import MIN_COUNTY_CARDS, _statewide_contests
    from tallyproof.demo.county import build_county
    from tallyproof.state.spec import load_spec

    demo_spec = load_spec(w.demo)
    sa.goto(w.url + "/state/setup")
    w.shot(sa, "setup-empty")
    for c in demo_spec.counties:
        post_form(sa, "/state/setup/county", {"county_id": c.id, "name": c.name})
    marker = orjson.loads((w.demo.parent / ".tallyproof-state-demo.json").read_bytes())
    for sc in _statewide_contests(build_county(MIN_COUNTY_CARDS, marker["seed"])):
        if sc.id not in CONTESTS:
            continue
        post_form(sa, "/state/setup/contest", {
            "contest_id": sc.id, "name": sc.name, "kind": sc.kind.value,
            "seats": str(sc.seats), "vote_for": str(sc.vote_for),
            "candidates": "\n".join(f"{k.id}={k.name}" for k in sc.candidates),
            "aliases": "\n".join(f"{county}={a.contest}" for county, a in sc.aliases.items()),
            "candidate_aliases": "\n".join(f"{county}:{cid}={n}" for county, a in
                                           sc.aliases.items() for cid, n in a.candidates.items())})
    w.shot(sa, "setup-done")
    spec = load_spec(w.root)
    assert [c.id for c in spec.counties] == [c.id for c in demo_spec.counties]
    assert [c.id for c in spec.contests] == list(CONTESTS)
    assert any(c.aliases for c in spec.contests)  # a county's own names, typed on the page
    passwords = {}
    for c in spec.counties:
        sa.goto(w.url + "/users")
        post_form(sa, "/users/new", {"username": f"admin-{c.id}", "county": c.id})
        passwords[c.id] = sa.locator("main code").inner_text().strip()
        w.check(sa, f"account-{c.id}")  # account_password.html
    return passwords


# ------------------------------------------------------------------ 2. uploads and jobs
def zipped_export(w: Walk, county: str) -> Path:
    """The demo's Dominion export folder of ``county`` as one zip (its top folder kept)."""
    folder = w.demo / "exports" / county / "dominion"
    out = w.root.parent / f"{county}-export.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, Path("dominion") / p.relative_to(folder))
    return out


def upload(page: Any, county: str, kind: str, path: Path) -> None:
    form = page.locator(f"form[action='/county/{county}/uploads']")
    form.locator("select[name=kind]").select_option(kind)
    form.locator("input[name=sha256]").fill(hashlib.sha256(path.read_bytes()).hexdigest())
    form.locator("input[name=file]").set_input_files(str(path))
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def wait_for_jobs(page: Any) -> None:
    """Wait until no job is queued or running; none may have failed. The statewide audit
    page follows its jobs over its event stream (no reload); the county page is reloaded."""
    live = page.locator("#audit-jobs-live").count() > 0
    table = "#audit-jobs-live table" if live else "h2#jobs ~ table"
    jobs = page.locator(f"{table} span.status")
    deadline = time.monotonic() + JOB_WAIT
    while True:
        states = jobs.all_inner_texts()
        if not any(s in ("queued", "running") for s in states):
            break
        assert time.monotonic() < deadline, f"jobs still open after {JOB_WAIT} s: {states}"
        time.sleep(0.3)
        if not live:
            page.reload()
    assert states and "failed" not in states, page.inner_text(table)


def audit_job(w: Walk, page: Any, action: str, fields: dict[str, str]) -> None:
    """Ask for a statewide audit job (start, round, close) and wait for it on the audit page."""
    page.goto(w.url + "/state/audit")
    post_form(page, action, fields)
    wait_for_jobs(page)


def run_job(page: Any, button: Any) -> None:
    with page.expect_navigation():
        button.click()
    wait_for_jobs(page)


def county_uploads(w: Walk, ca: Any, county: str) -> None:
    ca.goto(f"{w.url}/county/{county}")
    assert ca.locator(f"form[action='/county/{county}/uploads']").is_visible()
    w.check(ca, f"{county}-admin")  # the county admin's page, its upload form shown
    upload(ca, county, "cvr_export", zipped_export(w, county))
    upload(ca, county, "manifest", w.demo / "exports" / county / "ballot_manifest.csv")
    w.shot(ca, f"{county}-uploaded")
    for _ in range(2):  # ingest the export, then the manifest (one job per county at a time)
        run_job(ca, ca.locator("form:has(input[name=kind][value=ingest]) button").last)
    run_job(ca, ca.locator("form:has(input[name=kind][value=commit]) button"))
    w.shot(ca, f"{county}-committed")
    assert ca.locator("h2#jobs ~ table span.status.done").count() == 3


# ------------------------------------------------------------------ 4. boards
class Paper:
    """The demo's paper cards of every county (drawn again from the demo's seeds), in the
    codes of the county store the web ingested."""

    def __init__(self, w: Walk) -> None:
        from tallyproof.demo.county import build_county
        from tallyproof.demo.pipeline import PaperBallots
        from tallyproof.demo.state import county_ids, county_sizes
        from tallyproof.state.tasks import county_store_dir
        from tallyproof.store import Store

        m = orjson.loads((w.demo.parent / ".tallyproof-state-demo.json").read_bytes())
        assert m["faults"] == []  # the paper agrees with the CVRs: the audit must confirm
        ids = county_ids(m["counties"])
        self.stores = {c: Store.open(county_store_dir(w.root, c)) for c in ids}
        self.paper = {c: PaperBallots(build_county(size, m["seed"] * 1000 + i), self.stores[c])
                      for i, (c, size) in enumerate(zip(ids, county_sizes(m["cards"],
                                                                          m["counties"]),
                                                        strict=True), start=1)}

    def fields(self, county: str, ballot: str, contest: str) -> tuple[str, list[str]]:
        """What the board enters for ``contest`` on ``ballot``: ("marks", candidate ids) or
        ("overvote", [])."""
        marks = self.paper[county].marks(ballot, contest)
        assert marks is not None, (county, ballot, contest)
        codes = [k for rank in marks for k in rank]
        c = self.stores[county].election.contest(contest)
        if len(codes) > c.vote_for:
            return "overvote", []
        return "marks", [c.candidates[k].id for k in codes]


def board_round(w: Walk, browser: Any, ca: Any, county: str, paper: Paper) -> int:
    """The county sets up one board and prints its credentials; the board signs in, enters
    every card as the paper shows and signs off. Returns the cards entered."""
    ca.goto(f"{w.url}/county/{county}/audit")
    post_form(ca, f"/county/{county}/audit/boards", {"count": "1"})
    with ca.expect_navigation():
        ca.locator("form[action$='/credentials'] button").first.click()
    passphrase = ca.locator("strong code").inner_text()
    link = ca.locator("section.credentials p code").first.inner_text()
    assert link.endswith("#" + passphrase)  # the link carries the passphrase
    assert ca.locator("section.credentials svg[role=img]").count() == 1  # its QR code
    w.shot(ca, f"{county}-credentials")
    board = open_page(browser)
    board.goto(link)  # its script posts the fragment's passphrase: the link signs in
    board.wait_for_url(lambda u: u.endswith("/board"))
    assert "#" not in board.url
    w.shot(board, f"{county}-board-list")
    entered = 0
    board.goto(w.url + "/board/card/1")
    while "/board/card/" in board.url:
        ballot = board.locator("main h1").inner_text().rsplit(": ", 1)[1]
        contests = {n.removeprefix("r.") for n in board.eval_on_selector_all(
            "input[type=radio]", "es => es.map(e => e.name)")}
        for cid in sorted(contests):
            kind, marks = paper.fields(county, ballot, cid)
            board.check(f"input[name='r.{cid}'][value={kind}]")
            for m in marks:
                board.check(f"input[name='m.{cid}'][value='{m}']")
        if entered == 0:
            w.shot(board, f"{county}-board-card")
        with board.expect_navigation():
            board.locator("button:has-text('Save and go on')").click()
        entered += 1
    assert board.url.endswith("/board/review"), board.url
    w.shot(board, f"{county}-board-review")
    members = board.locator("form[action='/board/signoff'] input[name=member]")
    members.nth(0).fill("Ada Lovelace")
    members.nth(1).fill("Grace Hopper")
    with board.expect_navigation():
        board.locator("form[action='/board/signoff'] button").click()
    assert board.url.endswith("/board")
    assert board.problems == []
    board.context.close()
    return entered


# ------------------------------------------------------------------ the walk
def test_statewide_audit_from_set_up_to_the_public_outcome(walk: Walk, browser: Any) -> None:
    from tallyproof.state.audit import load_state_rounds
    from tallyproof.ledger.keys import load_verifier
    from tallyproof.state.audit_status import status_history
    from tallyproof.state.tasks import county_key_path

    sa = open_page(browser)
    sign_in(sa, walk.url)
    passwords = set_up_election(walk, sa)
    # Each county's signing key, for its commit job (STATE/keys/X), made on the set-up page
    # as `tallyproof keys new --out STATE/keys/X` makes it; the page shows its public key
    for county in passwords:
        sa.goto(walk.url + "/state/setup")
        with sa.expect_navigation():
            sa.locator(f"form[action='/state/setup/keys/{county}'] button").click()
        shown = sa.locator(f"#key-{county} code.vkey").inner_text()
        assert shown == load_verifier(county_key_path(walk.root, county).with_suffix(
            ".pub")).vkey
    admins = {}
    for county, password in passwords.items():
        admins[county] = open_page(browser)
        sign_in(admins[county], walk.url, f"admin-{county}", password)
        county_uploads(walk, admins[county], county)
    sa.goto(walk.url + "/state")
    walk.shot(sa, "state-overview")

    audit_job(walk, sa, "/state/audit/start", {"risk_limit": RISK_LIMIT, "seed": SEED,
                                               "kind": "comparison"})
    paper = Paper(walk)
    for rnd in range(1, 4):  # a round that does not confirm is followed by another
        audit_job(walk, sa, "/state/audit/round", {})
        drawn = load_state_rounds(walk.root)[-1].new_cards
        for county, ca in admins.items():
            assert board_round(walk, browser, ca, county, paper) >= drawn.get(county, 0)
        audit_job(walk, sa, "/state/audit/close", {})
        walk.shot(sa, f"audit-round-{rnd}")
        measured = status_history(walk.root)[-1]
        assert measured["rounds"] == rnd
        if measured["status"] == "confirmed":
            break
    assert measured["status"] == "confirmed"

    public = open_page(browser)
    public.goto(walk.url + "/present")
    audit = public.locator("#present-live")
    assert "status confirmed" in audit.inner_text()
    rows = audit.locator("table.risk tbody tr")
    assert rows.count() == len(CONTESTS)
    for row in rows.all():
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == "confirmed"
        assert float(cells[3]) <= float(cells[4]) == float(RISK_LIMIT)
    plot = audit.locator("figure.risk-plot img")
    assert public.evaluate("i => i.complete && i.naturalWidth > 0", plot.element_handle())
    assert "risk limit 0.05" in plot.get_attribute("alt")
    walk.shot(public, "present-confirmed")
    # the pages this walk added, with the plot drawn: no serious axe violation, phone width
    first, other = sorted(admins)[:2]
    for pg, path in ((public, "/present"), (sa, "/state/audit"), (sa, "/state/setup"),
                     (public, f"/present/{first}"), (admins[first], f"/county/{first}")):
        pg.goto(walk.url + path)
        walk.check(pg, path.strip("/").replace("/", "-"))
    ca = admins[first]
    assert ca.locator(f"form[action='/county/{first}/uploads']").is_visible()
    response = ca.goto(f"{walk.url}/county/{other}")  # another county's page: the error page
    assert response is not None and response.status == 403
    assert ca.title().startswith("Error")
    walk.check(ca, "error-page")
    asked = {f"403 {walk.url}/county/{other}",  # the answer, and the console's note of it
             "Failed to load resource: the server responded with a status of 403 (Forbidden)"}
    assert asked <= set(ca.problems), ca.problems
    ca.problems[:] = [p for p in ca.problems if p not in asked]
    for pg in (sa, public, *admins.values()):
        assert pg.problems == [], pg.problems
        pg.context.close()
    assert walk.n >= 15

"""The control room in a real browser (Debian's Chromium through Playwright): every page
renders without a console error (a CSP refusal would be one), fits a phone's width, has no
serious or critical axe-core violation, and is photographed; live updates arrive over
server-sent events; the in-browser proof check passes for a real ballot and fails for a
tampered proof or a wrong key, reaching the values the library computes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tallyproof.state.statelog import LOG_KEY, log_dir, prove_ballot
from tallyproof.state.tasks import county_key_path

from ..proof_vectors import expected_steps, inclusion_vectors
from .conftest import PHONE, SSE_COUNTERS, Live, sign_in

#: one server (the session fixture ``live``) for test_browser.py and test_upload.py: one worker
pytestmark = [pytest.mark.xdist_group("live-server"), pytest.mark.slow]

VENDOR = Path(__file__).with_name("vendor")
AXE = VENDOR / "axe-4.14.1.min.js"
PUBLIC_PAGES = ["/public", "/present", "/present/county-01", "/login"]
ADMIN_PAGES = ["/state", "/county/county-01", "/activity", "/users"]


def axe_source() -> str:
    """The vendored axe-core, after its SHA-256 is checked against SHA256SUMS."""
    sums = dict(reversed(line.split()) for line in (VENDOR / "SHA256SUMS").read_text().splitlines())
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sums[AXE.name]
    return data.decode()


def serious_violations(page: Any, source: str) -> list[str]:
    """axe-core's serious and critical violations of the page. It is evaluated through the
    DevTools protocol (the page's CSP allows no injected script tag) and never served."""
    page.evaluate(source + "\n;undefined")
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']}))"
                           ".violations.map(v => [v.impact, v.id, v.nodes.length])")
    return [f"{impact}: {rule} ({n} nodes)" for impact, rule, n in result
            if impact in ("serious", "critical")]


def fits_phone(page: Any) -> bool:
    page.set_viewport_size(PHONE)
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_every_page_renders_fits_a_phone_and_passes_axe(live: Live, page: Any) -> None:
    source = axe_source()
    pages = [(p, False) for p in PUBLIC_PAGES] + [(p, True) for p in ADMIN_PAGES]
    signed = False
    for path, admin in pages:
        if admin and not signed:
            sign_in(page, live.url)
            signed = True
        page.set_viewport_size({"width": 1280, "height": 900})
        response = page.goto(live.url + path)
        assert response is not None and response.status == 200, path
        name = path.strip("/").replace("/", "-")
        page.screenshot(path=str(live.shots / f"{name}.png"), full_page=True)
        assert serious_violations(page, source) == [], path
        assert fits_phone(page), path
        page.screenshot(path=str(live.shots / f"{name}-phone.png"), full_page=True)
    assert page.problems == []
    assert len(list(live.shots.glob("*.png"))) == 2 * len(pages)


def test_live_updates_arrive_over_sse(live: Live, page: Any, browser: Any) -> None:
    from tallyproof.state.audit import next_state_round
    from tallyproof.state.audit_status import state_audit_status
    from tallyproof.state.executor import InProcess

    page.goto(live.url + "/present")
    assert "Risk not measured yet" in page.inner_text("#present-live")
    admin = browser.new_context()
    admin.add_init_script(SSE_COUNTERS)
    admin = admin.new_page()
    sign_in(admin, live.url)
    admin.goto(live.url + "/state")
    audit = admin.context.new_page()  # the same administrator's statewide audit page
    audit.goto(live.url + "/state/audit")
    assert "Launch the next round" in audit.inner_text("#audit-live")
    assert "round 1" not in audit.inner_text("#audit-live").lower()
    for p in (page, admin, audit):
        p.wait_for_function("() => window.__sseOpen > 0")
        p.evaluate("window.__notReloaded = true")
    ex = InProcess()
    info = next_state_round(live.root, ex)
    status = state_audit_status(live.root, ex)
    # the presentation page now shows the round's draws and the measured risk, unreloaded
    page.wait_for_function("() => document.querySelector('#present-live table.risk') !== null")
    text = page.inner_text("#present-live")
    for county, n in info.new_cards.items():
        assert f"{county}: {n}" in text
    assert status.contests[0].status.replace("_", " ") in text
    assert page.evaluate("window.__notReloaded && window.__sse > 0")
    # the state overview's county table was sent again over its own stream
    admin.wait_for_function("() => window.__sse > 0")
    assert admin.evaluate("window.__notReloaded")
    # the statewide audit page's rounds table and risk came over its own stream, unreloaded
    audit.wait_for_function("() => document.querySelector('#audit-live table.risk-rounds')"
                            " !== null")
    rows = audit.inner_html("#audit-live")
    assert f'<td>1</td><td class="num">{sum(info.new_cards.values())}</td>' in rows
    assert audit.evaluate("window.__notReloaded && window.__sse > 0")
    assert page.problems == []
    admin.context.close()


def _check_in_browser(page: Any, county: str, ballot: str) -> tuple[str, list[str], list[str]]:
    page.select_option("form.browser-proof select[name=county]", county)
    page.fill("form.browser-proof input[name=ballot]", ballot)
    page.click("form.browser-proof button[type=submit]")
    verdict = page.locator(".proof-verdict")
    verdict.wait_for(state="visible")
    steps = page.locator(".proof-steps li")
    return (verdict.get_attribute("class") or "",
            [steps.nth(i).get_attribute("class") or "" for i in range(steps.count())],
            [steps.nth(i).get_attribute("data-value") or "" for i in range(steps.count())])


def test_proof_check_in_the_browser(live: Live, page: Any, a_ballot: str) -> None:
    page.goto(live.url + "/public")
    vectors = inclusion_vectors()
    got = page.evaluate("async (vs) => { const P = window.tallyproofProof; const out = [];"
                        " for (const v of vs) { const r = await P.rootFromInclusion(v.index,"
                        " v.size, P.unhex(v.leaf), v.path.map(P.unhex)); out.push(r && P.hex(r)); }"
                        " return out; }", vectors)
    assert got == [v["root"] for v in vectors]

    vkey = (log_dir(live.root) / LOG_KEY).read_text()
    want = expected_steps(prove_ballot(live.root, "county-01", a_ballot), vkey)
    verdict, classes, values = _check_in_browser(page, "county-01", a_ballot)
    assert "pass" in verdict and classes == ["pass"] * 6
    assert values == want

    # a tampered proof: one hash of the county audit path changed on its way to the page
    def tamper(route: Any) -> None:
        body = route.fetch().json()
        path = body["proof"]["county_proof"]["audit_path"]
        path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/proof/**", tamper)
    verdict, classes, _ = _check_in_browser(page, "county-01", a_ballot)
    assert "fail" in verdict and classes == ["pass", "pass", "fail", "pass", "pass", "pass"]
    page.unroute("**/api/proof/**")

    # a key that is not the state's: the county's own key signs no state checkpoint
    county_vkey = county_key_path(live.root, "county-01").with_suffix(".pub").read_text()
    page.fill("form.browser-proof input[name=state_key]", county_vkey.strip())
    verdict, classes, _ = _check_in_browser(page, "county-01", a_ballot)
    assert "fail" in verdict and classes == ["pass"] * 5 + ["fail"]
    assert page.problems == []


def test_a_stream_ending_by_design_reconnects_without_a_console_error(
        live_root: Path, browser: Any, tmp_path: Path) -> None:
    """A live page's stream ends after ``live_lifetime`` and the browser reconnects: no
    console error for that routine end (``static/sse-reconnect.js``), and the page stays
    live."""
    from tallyproof.server.app import create_app
    from tallyproof.server.config import Settings

    from ..conftest import CHEAP, Clock
    from .conftest import open_page, serving

    app = create_app(Settings(live_root, f"sqlite:///{tmp_path / 'db.sqlite'}",
                              password_cost=CHEAP, now=Clock(), live_interval=0.2,
                              live_lifetime=1.0))
    with serving(app) as url:
        page = open_page(browser)
        page.goto(url + "/present")
        page.wait_for_function("() => window.__sseOpen >= 3", timeout=30_000)
        assert page.problems == []
        page.context.close()

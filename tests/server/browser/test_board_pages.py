"""The pages audit boards and administrators use on tablets and phones, in a real browser:
the boards' sign-in, list, card, batch and review pages, a county's audit page, the board's
credential sheet and the second factor's enrolment page. Each has no serious or critical
axe-core violation and fits a phone's width, and is reached as a person reaches it: the
administrator enrols the second factor at the first sign-in, the county sets up its boards
and issues credentials, and each board opens its sheet's link, whose script signs it in.

The state has a county that reports batch tallies only (``county-03``), so a board that
counts whole batches is among them; its audit is the stratified one, started with the
library, round 1 drawn."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tallyproof.server.accounts import create_user
from tallyproof.server.app import create_app
from tallyproof.server.config import Settings
from tallyproof.server.db import Role

from ..conftest import CHEAP, PASSWORD, Clock
from .conftest import DESKTOP, open_page, serving, sign_in
from .test_browser import axe_source, fits_phone, serious_violations
from .test_walk import post_form

#: axe-core and phone width on every board page
pytestmark = pytest.mark.slow

SEED = "31415926535897932384"


@pytest.fixture(scope="module")
def boards_url(batch_state_root: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[str]:
    """A server over a copy of the batch state with round 1 drawn; county admins ``ca``
    (county-01, card boards), ``cc`` (county-03, batch boards) and ``newca`` (county-02),
    none enrolled yet."""
    from tallyproof.state.audit import next_state_round, start_state_audit
    from tallyproof.state.executor import InProcess

    base = tmp_path_factory.mktemp("boardpages")
    root = base / "state"
    shutil.copytree(batch_state_root, root)
    ex = InProcess()
    start_state_audit(root, ex, risk_limit=0.1, seed=SEED, kind="stratified")
    next_state_round(root, ex)
    app = create_app(Settings(root, f"sqlite:///{base / 'control-room.sqlite'}",
                              password_cost=CHEAP, now=Clock()))
    with app.state.sessionmaker.begin() as s:
        for name, county in (("ca", "county-01"), ("cc", "county-03"), ("newca", "county-02")):
            create_user(s, app.state.hasher, name, PASSWORD, Role.COUNTY_ADMIN, county,
                        Clock()())
    with serving(app) as url:
        yield url


def _board_by_link(browser: Any, url: str, admin: Any, county: str) -> tuple[Any, Any]:
    """The county sets up one board and issues its credentials; a new browser opens the
    sheet's link. Returns the board's page and the admin's page (on the sheet)."""
    admin.goto(f"{url}/county/{county}/audit")
    post_form(admin, f"/county/{county}/audit/boards", {"count": "1"})
    with admin.expect_navigation():
        admin.locator("form[action$='/credentials'] button").first.click()
    link = admin.locator("section.credentials p code").first.inner_text()
    assert "#" in link
    board = open_page(browser)
    board.goto(link)
    board.wait_for_url(lambda u: u.endswith("/board"))
    return board, admin


def test_board_and_account_pages_pass_axe_and_fit_a_phone(boards_url: str,
                                                          browser: Any) -> None:
    source = axe_source()
    checked: list[str] = []

    def check(page: Any, label: str, path: str | None = None) -> None:
        page.set_viewport_size(DESKTOP)
        if path is not None:
            response = page.goto(boards_url + path)
            assert response is not None and response.status == 200, path
        assert serious_violations(page, source) == [], label
        assert fits_phone(page), label
        checked.append(label)

    # the second factor's enrolment page, where a new administrator lands
    new = open_page(browser)
    new.goto(boards_url + "/login")
    new.fill("input[name=username]", "newca")
    new.fill("input[name=password]", PASSWORD)
    with new.expect_navigation():
        new.click("button[type=submit]:has-text('Sign in')")
    assert new.url.endswith("/account/totp")
    check(new, "/account/totp")
    new.goto(boards_url + "/county/county-02")
    assert new.url.endswith("/account/totp")  # nothing else opens before enrolment

    ca = open_page(browser)
    sign_in(ca, boards_url, "ca")
    check(ca, "/county/county-01/audit", "/county/county-01/audit")
    board, ca = _board_by_link(browser, boards_url, ca, "county-01")
    check(ca, "the credential sheet")
    check(board, "/board (cards)")
    check(board, "/board/card/1", "/board/card/1")
    check(board, "/board/review (cards)", "/board/review")
    signin = open_page(browser)
    check(signin, "/board/signin", "/board/signin")

    cc = open_page(browser)
    sign_in(cc, boards_url, "cc")
    batch_board, cc = _board_by_link(browser, boards_url, cc, "county-03")
    check(cc, "the credential sheet (batches)")
    check(batch_board, "/board (batches)")
    check(batch_board, "/board/batch/1", "/board/batch/1")
    check(batch_board, "/board/review (batches)", "/board/review")

    assert len(checked) == 11
    for pg in (new, ca, board, signin, cc, batch_board):
        assert pg.problems == [], pg.problems
        pg.context.close()

"""The county page's resumable uploader (``static/upload.js``) in Chromium: its SHA-256 is
FIPS 180-4's (the library's ``hashlib`` on the lengths around a block's padding and a
multi-block file); a piece that never reaches the server, and one whose answer is lost after
the server kept it, are resumed from the offset the server holds, and the upload is verified
with the right SHA-256 and ingested by its job; after a page reload in the middle, submitting
the same file again resumes the same upload instead of starting another."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tallyproof.server.accounts import create_user
from tallyproof.server.db import Job, Role, Upload
from tallyproof.server.uploads import data_path
from tallyproof.state.accounting import POLLBOOKS, county_inputs

from ..conftest import PASSWORD
from .conftest import SERVED, Live, sign_in

#: one server (the session fixture ``live``) for test_browser.py and test_upload.py: one worker
pytestmark = pytest.mark.xdist_group("live-server")

COUNTY = "county-01"
#: failed fetches Chromium reports on the console (the test aborts those requests itself)
ABORTED = ("net::ERR_", "Failed to fetch")


def _admin(live: Live, username: str) -> Any:
    app = SERVED[live.url]
    with app.state.sessionmaker.begin() as s:
        create_user(s, app.state.hasher, username, PASSWORD, Role.COUNTY_ADMIN, COUNTY,
                    app.state.settings.now())
    return app


def _uploads(app: Any, name: str) -> list[Upload]:
    with app.state.sessionmaker() as s:
        return list(s.scalars(select(Upload).where(Upload.filename == name)
                              .order_by(Upload.id)))


def _choose(page: Any, path: Path, digest: str, piece: int) -> None:
    page.evaluate("(n) => { document.querySelector('form.upload').dataset.chunk = n; }", piece)
    page.select_option("form.upload select[name=kind]", "pollbooks")
    page.fill("form.upload input[name=sha256]", digest)
    page.set_input_files("form.upload input[name=file]", str(path))


def _row(page: Any, upload_id: int) -> Any:
    """The upload's row of the county page's uploads table."""
    return page.locator("table:has(th:text-is('SHA-256')) "
                        f"tr:has(td:first-child:text-is('{upload_id}'))")


def _real_problems(page: Any) -> list[str]:
    return [p for p in page.problems if not any(a in p for a in ABORTED)]


def test_the_uploaders_sha256_is_fips_180_4(live: Live, page: Any) -> None:
    app = _admin(live, "up-hash")
    del app
    sign_in(page, live.url, "up-hash")
    page.goto(f"{live.url}/county/{COUNTY}")
    lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 70_001]
    got = page.evaluate(
        "(ns) => ns.map((n) => { const b = new Uint8Array(n);"
        " for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 255;"
        " const h = new window.tallyproofUpload.Sha256();"
        " h.update(b.subarray(0, n >> 1)); h.update(b.subarray(n >> 1)); return h.hex(); })",
        lengths)
    want = [hashlib.sha256(bytes((i * 7 + 3) & 255 for i in range(n))).hexdigest()
            for n in lengths]
    assert got == want
    assert page.problems == []


def test_a_failed_piece_is_resumed_and_the_upload_ingested(live: Live, page: Any,
                                                            tmp_path: Path) -> None:
    app = _admin(live, "up-resume")
    data = (county_inputs(live.root, COUNTY) / POLLBOOKS).read_bytes()
    path = tmp_path / "pollbooks-resumed.csv"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    piece = math.ceil(len(data) / 6)
    sign_in(page, live.url, "up-resume")
    page.goto(f"{live.url}/county/{COUNTY}")

    puts: list[str] = []

    def flaky(route: Any) -> None:
        """The 2nd piece never reaches the server; the 4th is kept by the server but its
        answer is lost on the way back."""
        if route.request.method != "PUT":
            route.continue_()
            return
        puts.append(route.request.headers.get("content-range", ""))
        if len(puts) == 2:
            route.abort("connectionreset")
        elif len(puts) == 4:
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(f"**/api/county/{COUNTY}/uploads/*", flaky)
    _choose(page, path, digest.upper(), piece)
    with page.expect_navigation(url=f"**/county/{COUNTY}?uploaded=*#uploads"):
        page.click("form.upload button[type=submit]")
    page.unroute(f"**/api/county/{COUNTY}/uploads/*")
    (up,) = _uploads(app, path.name)
    assert (up.status, up.received, up.size, up.sha256) == ("verified", len(data), len(data),
                                                             digest)
    assert data_path(app.state.settings, up).read_bytes() == data
    # the aborted piece was sent again from the same offset; the lost answer's piece was not
    assert puts[1] == puts[2] and puts[3] != puts[4]
    assert len(puts) == math.ceil(len(data) / piece) + 1  # every piece, the aborted one twice
    assert f"bytes 0-{piece - 1}/{len(data)}" == puts[0]
    assert puts[-1].endswith(f"-{len(data) - 1}/{len(data)}")

    # the county page lists it verified; its ingest job runs
    row = _row(page, up.id)
    assert "verified" in row.inner_text() and digest in row.inner_text()
    with page.expect_navigation():
        row.locator("button:has-text('Ingest')").click()
    app.state.jobs.wait()
    with app.state.sessionmaker() as s:
        (job,) = s.scalars(select(Job).where(Job.upload_id == up.id))
    assert job.status == "done", job.message
    assert (county_inputs(live.root, COUNTY) / POLLBOOKS).read_bytes() == data
    page.reload()
    assert "ingested" in _row(page, up.id).inner_text()
    assert _real_problems(page) == []


def test_a_reload_in_the_middle_resumes_the_same_upload(live: Live, page: Any,
                                                        tmp_path: Path) -> None:
    app = _admin(live, "up-reload")
    data = (county_inputs(live.root, COUNTY) / POLLBOOKS).read_bytes() * 3
    path = tmp_path / "pollbooks-reloaded.csv"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    piece = math.ceil(len(data) / 5)
    sign_in(page, live.url, "up-reload")
    page.goto(f"{live.url}/county/{COUNTY}")

    puts: list[int] = []

    def cut(route: Any) -> None:
        """Two pieces arrive, then the connection is gone: every later piece fails."""
        if route.request.method == "PUT":
            puts.append(1)
            if len(puts) > 2:
                route.abort("internetdisconnected")
                return
        route.continue_()

    page.route(f"**/api/county/{COUNTY}/uploads/*", cut)
    _choose(page, path, digest, piece)
    page.click("form.upload button[type=submit]")
    page.wait_for_function("() => /did not arrive/.test("
                           "document.querySelector('.upload-status').textContent)")
    (up,) = _uploads(app, path.name)
    assert (up.status, up.received) == ("receiving", 2 * piece)
    page.unroute(f"**/api/county/{COUNTY}/uploads/*")
    page.reload()  # the person closes the tab, comes back, chooses the same file again
    _choose(page, path, digest, piece)
    with page.expect_navigation(url=f"**/county/{COUNTY}?uploaded=*#uploads"):
        page.click("form.upload button[type=submit]")
    (again,) = _uploads(app, path.name)
    assert again.id == up.id
    assert (again.status, again.received, again.sha256) == ("verified", len(data), digest)
    assert data_path(app.state.settings, again).read_bytes() == data
    assert _real_problems(page) == []

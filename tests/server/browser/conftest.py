"""Real-browser fixtures: one control-room server (uvicorn in a thread, loopback, a free
port) over a copy of the session's synthetic state with a statewide audit started and the
demo's bundle published, and Debian's Chromium driven by Playwright.

Playwright's own browser download cannot work here, so the tests launch /usr/bin/chromium
(``make test`` installs it when missing). Without it they skip with a message, except under
CI (CI=true), where they fail."""

from __future__ import annotations

import re
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tallyproof.server.accounts import create_user
from tallyproof.server.app import create_app
from tallyproof.server.config import Settings
from tallyproof.server.db import Role
from tallyproof.server.live import Server
from tallyproof.server.totp import DRIFT

from ..conftest import CHEAP, PASSWORD, Clock, published_state, unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: every browser test's screenshots (gitignored): emptied when a session first needs it, so
#: it holds one run's pictures; its path is printed at the end of the run
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-output" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
#: counts htmx's SSE events (run before the page's own scripts, outside its CSP)
SSE_COUNTERS = ("window.__sseOpen = 0; window.__sse = 0;"
                "document.addEventListener('htmx:sseOpen', () => { window.__sseOpen += 1; });"
                "document.addEventListener('htmx:sseMessage', () => { window.__sse += 1; });")


@dataclass
class Live:
    url: str
    root: Path
    shots: Path  # the screenshots' folder


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """:data:`SCREENSHOTS`. Not emptied here: under xdist each worker builds its own session
    fixtures, and one worker emptying the folder would delete what the other is writing.
    Each user empties its own subfolder instead (:func:`shots_folder`), and a subfolder is
    written by one worker only (the modules sharing :func:`live` run on one worker)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def shots_folder(screenshots: Path, name: str) -> Path:
    """``screenshots/name``, emptied of an earlier run's pictures."""
    folder = screenshots / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.rglob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")


@pytest.fixture(scope="session")
def live_root(state_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session state with the statewide audit started (no round yet) and a bundle
    published; the live-update test draws the first round."""
    return published_state(state_root, tmp_path_factory.mktemp("livestate"))


@pytest.fixture(scope="session")
def live(live_root: Path, tmp_path_factory: pytest.TempPathFactory,
         screenshots: Path) -> Iterator[Live]:
    """The server, with a state admin ``sa``; stopped at the end of the session. Its users
    (test_browser.py, test_upload.py) are one xdist group: one server, one worker."""
    db = tmp_path_factory.mktemp("livedb") / "control-room.sqlite"
    app = create_app(Settings(live_root, f"sqlite:///{db}", password_cost=CHEAP, now=Clock(),
                              live_interval=0.2, live_lifetime=30.0))
    with app.state.sessionmaker.begin() as s:
        create_user(s, app.state.hasher, "sa", PASSWORD, Role.STATE_ADMIN, None, Clock()())
    with serving(app) as url:
        yield Live(url, live_root, shots_folder(screenshots, "pages"))


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` (uvicorn in a thread, a free loopback port) and yield its URL; stopped
    as by Ctrl-C at the end, so open event streams end."""
    import uvicorn

    server = Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        thread.join(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    SERVED[f"http://127.0.0.1:{port}"] = app
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.handle_exit(signal.SIGINT, None)
        thread.join(30)
        assert not thread.is_alive()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped, not session-scoped: Playwright's sync API keeps an asyncio loop running
    in this thread while it is open, and a later test that runs an event loop of its own
    (anyio.run, in the upload tests) would fail on the same xdist worker."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (make test installs Debian's chromium)",
                    need="the browser tests need Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh context (no cookies) at desktop width, counting SSE events; console errors (a CSP refusal among
    them), page errors and failed responses are collected in ``page.problems``."""
    pg = open_page(browser)
    yield pg
    pg.context.close()


def open_page(browser: Any) -> Any:
    """A page in a new context (its own cookies), as the ``page`` fixture's."""
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.add_init_script(SSE_COUNTERS)
    pg = ctx.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    pg.on("response", lambda r: pg.problems.append(f"{r.status} {r.url}")
          if r.status >= 400 else None)
    return pg


#: the apps being served, by URL (sign_in reads their clocks), and the TOTP secret and last
#: step used of each (URL, user name) enrolled through sign_in
SERVED: dict[str, Any] = {}
ENROLLED: dict[tuple[str, str], list[Any]] = {}
TOTP_KEY = re.compile(r"Key: ([A-Z2-7]+)")


def next_code(url: str, username: str) -> str:
    """A code of the user's secret the server takes now: the step after the last one used,
    within the accepted drift (the server's test clock moves on a step when all of now's are
    used, as a person waits for the next code)."""
    clock = SERVED[url].state.settings.now
    secret, used = ENROLLED[(url, username)]
    t = pyotp.TOTP(secret)
    step = max(used + 1, t.timecode(clock()) - DRIFT)
    ahead = step - (t.timecode(clock()) + DRIFT)
    if ahead > 0:
        clock.advance(seconds=30 * ahead)
    ENROLLED[(url, username)][1] = step
    return t.generate_otp(step)


def sign_in(page: Any, url: str, username: str = "sa", password: str = PASSWORD) -> None:
    """Sign in as a person does: with the authenticator's code once enrolled; at the first
    sign-in (the second factor is mandatory) the login sends the administrator to enrolment,
    where the key shown is typed into the "authenticator" (pyotp) and its code entered."""
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    if (url, username) in ENROLLED:
        page.fill("input[name=code]", next_code(url, username))
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(lambda u: not u.endswith("/login"))
    if page.url.endswith("/account/totp"):
        m = TOTP_KEY.search(page.inner_text("main"))
        assert m is not None, page.inner_text("main")
        ENROLLED[(url, username)] = [m.group(1), 0]
        page.fill("input[name=code]", next_code(url, username))
        with page.expect_navigation():
            page.click("button[type=submit]:has-text('Enrol')")
        assert not page.url.endswith("/account/totp"), page.inner_text("main")

"""Live pages: the change counter moves when the library writes a shown file and only then,
and the event streams send the page's parts (as the page renders them) after a change,
nothing before it, and only to whom the page is for."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from tallyproof.fsutil import atomic_write_bytes
from tallyproof.server import fragments
from tallyproof.server.live import SESSION_ENDED, sse_event, version
from tallyproof.state.tasks import county_store_dir

from .conftest import Server


@pytest.fixture
def fast(server: Server) -> Server:
    """The server with streams that look often and end quickly (the browser reconnects)."""
    server.app.state.settings = replace(server.app.state.settings, live_interval=0.02,
                                        live_lifetime=0.3)
    return server


def test_version_moves_with_the_shown_files_only(state_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "state"
    shutil.copytree(state_root, root)
    v = version(root)
    assert version(root) == v and len(v) == 16
    (root / "control-room.sqlite").write_bytes(b"the database is not shown")
    (root / "exports" / "county-01" / "new.csv").write_text("an upload is not shown yet")
    assert version(root) == v
    statewide = root / "results" / "statewide.json"
    atomic_write_bytes(statewide, statewide.read_bytes())  # same bytes, a new file
    assert version(root) != v
    v = version(root)
    cps = county_store_dir(root, "county-02") / "log" / "checkpoints"
    shutil.copyfile(cps / "000001.txt", cps / "000002.txt")
    assert version(root) != v
    v = version(root)
    (root / "published").mkdir()
    (root / "published" / "x.zip").write_bytes(b"PK")
    assert version(root) != v


def test_an_event_gives_every_line_its_own_data_field() -> None:
    assert sse_event("counties", "<p>\na</p>", "v1") == (
        "id: v1\nevent: counties\ndata: <p>\ndata: a</p>\n\n")


def _events(text: str) -> dict[str, str]:
    out = {}
    for block in text.split("\n\n"):
        lines = block.split("\n")
        name = next((x[7:] for x in lines if x.startswith("event: ")), None)
        if name is not None:
            out[name] = "\n".join(x[6:] for x in lines if x.startswith("data: "))
    return out


def test_the_public_stream_sends_the_pages_parts_after_a_change(fast: Server,
                                                                state_root: Path) -> None:
    c = fast.client()
    page = c.get("/public").text
    now = version(state_root)
    quiet = c.get(f"/live/public?since={now}")
    assert quiet.headers["content-type"].startswith("text/event-stream")
    assert quiet.text == "retry: 2000\n\n"  # nothing moved since the page was rendered
    sent = c.get("/live/public?since=older")  # a page rendered before the last change
    events = _events(sent.text)
    assert events == fragments.public(state_root)
    assert sent.text.count("id: " + now) == 3
    for html in events.values():
        assert html.strip() in page  # the same bytes the page itself shows
    # a reconnecting browser's Last-Event-ID wins over the page's version
    assert c.get("/live/public?since=older", headers={"Last-Event-ID": now}).text == (
        "retry: 2000\n\n")


def test_streams_are_for_whom_their_page_is_for(fast: Server) -> None:
    cells = {}
    for who in ("none", "ca", "sa"):
        c = fast.client() if who == "none" else fast.login(who)
        for url in ("/live/state", "/live/public", "/live/present", "/live/present/county-01",
                    "/live/present/elsewhere"):
            r = c.get(url, follow_redirects=False)
            cells[who, url] = r.status_code
    assert cells == {
        **{(w, "/live/state"): s for w, s in (("none", 303), ("ca", 403), ("sa", 200))},
        **{(w, u): 200 for w in ("none", "ca", "sa")
           for u in ("/live/public", "/live/present", "/live/present/county-01")},
        **{(w, "/live/present/elsewhere"): 404 for w in ("none", "ca", "sa")}}
    sa = fast.login("sa")
    assert set(_events(sa.get("/live/state").text)) == {"counties", "risk", "jobs", "alerts"}


def test_an_open_live_stream_does_not_keep_the_session_alive(fast: Server) -> None:
    """The state overview's stream reconnects every ``live_lifetime``: a reconnect is no
    sign of someone at the keyboard, so the 1 h idle limit still applies."""
    sa = fast.login("sa")
    seen = []
    for _ in range(3):  # the /state tab left open, nobody at the keyboard
        fast.clock.advance(minutes=40)
        seen.append(sa.get("/live/state", follow_redirects=False).status_code)
    assert seen == [200, 303, 303]  # 40 min idle: still signed in; 80 min: not any more
    r = sa.get("/state", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_a_live_stream_ends_when_its_session_does(fast: Server) -> None:
    clock = fast.clock
    sa = fast.login("sa")
    clock.advance(minutes=59)
    fast.app.state.settings = replace(fast.app.state.settings, live_lifetime=60.0)

    def ticking() -> datetime:  # the clock moves 20 s at each of the stream's looks
        clock.advance(seconds=20)
        return clock()

    fast.app.state.settings = replace(fast.app.state.settings, now=ticking)
    text = sa.get("/live/state").text  # ends at the idle limit, long before its lifetime
    assert text.endswith(sse_event(SESSION_ENDED, "the session has ended: sign in again"))
    fast.app.state.settings = replace(fast.app.state.settings, now=clock)
    clock.advance(seconds=1)
    assert sa.get("/live/state", follow_redirects=False).status_code == 303

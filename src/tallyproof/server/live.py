"""Live pages: a change counter over the state folder's files, and the server-sent event
stream that sends a page's fragments again whenever it moves.

The web layer computes no election fact, so it has little of its own to announce: what
changes is what the library wrote (a county committed, the state published, ``state
reconcile`` or ``state audit status`` ran, a bundle was published). :func:`version` stats
those files (name, size, modification time) and hashes the listing; what a page shows from
the database, the state overview's uploads, jobs (with their progress), board entries and
alerts, adds its own version (:func:`page_version`, :func:`.county_table.version`: one query
of counts, largest ids and open jobs' progress). A stream looks every
``live_interval`` seconds and, when the version moved, renders the fragments through the
same templates as the page and sends one event per fragment (htmx's SSE extension swaps
each into the element whose ``sse-swap`` names it). A stream ends after ``live_lifetime``
seconds; the browser reconnects by itself (``retry``), and the route's role check runs again.
When the server is told to stop (:class:`Server`), every stream ends at its next look, so
shutdown does not wait for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from ..state.spec import STATE_JSON

#: what the library writes in a state folder that a page shows (the uploads in ``exports/``,
#: the keys and the control room's own database are left out: they are not shown)
STATE_PARTS = (STATE_JSON, "log", "results", "audit", "published")
#: the same inside each county store (``counties/<id>/store``)
STORE_PARTS = ("store.json", "cvrs.parquet", "manifest.parquet", "log", "results", "audit")
#: milliseconds the browser waits before it reconnects a stream that ended
RETRY_MS = 2000
#: a comment line at least this often keeps proxies from closing a quiet stream
KEEPALIVE = 15.0
#: the last event of a signed-in user's stream whose session ran out (idle or absolute limit)
SESSION_ENDED = "session-ended"


def _stat_tree(path: Path, out: list[str]) -> None:
    """Append ``path``'s files with size and modification time; a file or folder removed
    while it is listed is simply not there (the next look sees the new state)."""
    try:
        st = path.stat()
        if not path.is_dir():
            out.append(f"{path}\0{st.st_size}\0{st.st_mtime_ns}")
            return
        with os.scandir(path) as it:
            entries = sorted(e.name for e in it)
    except FileNotFoundError:
        return
    for name in entries:
        _stat_tree(path / name, out)


def version(root: Path) -> str:
    """A short hash of the shown files' names, sizes and modification times: it changes
    whenever the library writes one of them (atomic writes replace the file, so even a
    same-size rewrite gets a new modification time)."""
    root = Path(root)
    listing: list[str] = []
    for part in STATE_PARTS:
        _stat_tree(root / part, listing)
    counties = root / "counties"
    if counties.is_dir():
        for county in sorted(p for p in counties.iterdir() if p.is_dir()):
            for part in STORE_PARTS:
                _stat_tree(county / "store" / part, listing)
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()[:16]


def sse_event(event: str, data: str, event_id: str | None = None) -> str:
    """One event in the ``text/event-stream`` format: every line of ``data`` gets its own
    ``data:`` field (the browser joins them with newlines again)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"{head}event: {event}\n{body}\n"


Fragments = Callable[[], dict[str, str]]


def page_version(root: Path, extra: Callable[[], str] | None = None) -> str:
    """The version a page is rendered at: the state folder's, and ``extra``'s (what the page
    shows from the database, e.g. the state overview's alerts) when it has one."""
    return version(root) if extra is None else f"{version(root)}-{extra()}"


async def _events(request: Request, root: Path, fragments: Fragments, since: str | None,
                  interval: float, lifetime: float, extra: Callable[[], str] | None = None,
                  ends_at: datetime | None = None) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    last, started = since, time.monotonic()
    quiet = started
    clock = request.app.state.settings.now
    while time.monotonic() - started < lifetime:
        if getattr(request.app.state, "stopping", False) or await request.is_disconnected():
            return
        if ends_at is not None and clock() >= ends_at:
            # the session ran out while the page was open: nothing more is sent, and the
            # browser's reconnect is refused like any request of an ended session
            yield sse_event(SESSION_ENDED, "the session has ended: sign in again")
            return
        now = await run_in_threadpool(page_version, root, extra)
        if now != last:
            for name, html in (await run_in_threadpool(fragments)).items():
                yield sse_event(name, html, now)
            last, quiet = now, time.monotonic()
        elif time.monotonic() - quiet >= KEEPALIVE:
            yield ": keep-alive\n\n"
            quiet = time.monotonic()
        await asyncio.sleep(interval)


def stream(request: Request, root: Path, fragments: Fragments,
           extra: Callable[[], str] | None = None,
           ends_at: datetime | None = None) -> StreamingResponse:
    """The event stream of one page. The page names the version it was rendered at
    (``?since=``, :func:`page_version` with the same ``extra``); a reconnecting browser sends
    the last event's id, which wins. Nothing is sent until the version moves. A signed-in
    user's stream ends at ``ends_at`` (when the session would end, the stream not restarting
    its idle clock), with a last :data:`SESSION_ENDED` event."""
    settings = request.app.state.settings
    since = request.headers.get("last-event-id") or request.query_params.get("since")
    return StreamingResponse(
        _events(request, root, fragments, since, settings.live_interval,
                settings.live_lifetime, extra, ends_at),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"})  # nginx: pass events on as they come


class Server(uvicorn.Server):
    """Uvicorn, telling the live streams to end when it is told to stop (uvicorn waits for
    open responses before it shuts down, and a stream would otherwise hold it up to its
    lifetime)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.config.app.state.stopping = True
        super().handle_exit(sig, frame)


def run(app: Any, **config: Any) -> None:
    Server(uvicorn.Config(app, **config)).run()

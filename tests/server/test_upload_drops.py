"""Transfers that stall and drop together (a network blip at a county office), on SQLite and
PostgreSQL: while more uploads than the server's database places stream at once, other
requests keep answering, and when the connections drop together every upload keeps the
offset it received. The upload routes hold no database session while bytes arrive
(:func:`tallyproof.server.deps.signed_in_briefly`)."""

from __future__ import annotations

from typing import Any

import anyio
from sqlalchemy import select

from tallyproof.server.db import Upload
from tallyproof.server.deps import DB_REQUESTS

from .conftest import Server
from .test_uploads import Api

#: a guard against a hang (the defect this tests froze the server), not a speed assertion
HANG_GUARD = 120


def _scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}


async def _call(app: Any, scope: dict[str, Any], receive: Any) -> int:
    """Run one request through the app; its response status."""
    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def test_dropped_transfers_keep_their_offsets_and_the_server_answering(server: Server
                                                                       ) -> None:
    app = server.app
    ca = Api(server, "ca")
    n, size = DB_REQUESTS + 2, 1 << 20  # more transfers than places for a database session
    ids = [ca.create("county-01", "pollbooks", f"p{i}.csv", size, "0" * 64).json()["id"]
           for i in range(n)]
    cookie = f"tp_session={ca.c.cookies.get('tp_session')}"
    statuses: dict[int, int] = {}
    arrived = 0
    all_arrived, drop = anyio.Event(), anyio.Event()

    async def transfer(i: int, uid: int) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent, arrived
            if not sent:  # a first piece, then the connection stalls and drops
                sent = True
                arrived += 1
                if arrived == n:
                    all_arrived.set()
                return {"type": "http.request", "body": b"x" * (1000 + i), "more_body": True}
            await drop.wait()
            return {"type": "http.disconnect"}

        scope = _scope("PUT", f"/api/county/county-01/uploads/{uid}", {
            "cookie": cookie, **ca.h, "content-range": f"bytes 0-{size - 1}/{size}",
            "content-length": str(size)})
        statuses[uid] = await _call(app, scope, receive)

    async def get(path: str) -> int:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        return await _call(app, _scope("GET", path, {"cookie": cookie}), receive)

    answers: dict[str, int] = {}

    async def main() -> None:
        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for i, uid in enumerate(ids):
                    tg.start_soon(transfer, i, uid)
                await all_arrived.wait()
                # every transfer is under way: pages and the API (with their own database
                # sessions) still answer
                answers["session"] = await get("/api/session")
                answers["uploads"] = await get("/api/county/county-01/uploads")
                drop.set()  # the connections drop together
            answers["after"] = await get("/api/county/county-01/uploads")

    anyio.run(main)
    assert answers == {"session": 200, "uploads": 200, "after": 200}
    assert statuses == {uid: 200 for uid in ids}
    with app.state.sessionmaker() as db:
        got = {u.id: (u.received, u.status) for u in db.scalars(select(Upload))}
    assert got == {uid: (1000 + i, "receiving") for i, uid in enumerate(ids)}
    for i, uid in enumerate(ids):  # and each goes on from its offset
        assert ca.c.get(f"/api/county/county-01/uploads/{uid}").json()["received"] == 1000 + i

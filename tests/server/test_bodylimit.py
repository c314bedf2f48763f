"""The request-body limit outside the upload routes (:mod:`tallyproof.server.bodylimit`): an
unauthenticated body over the limit is refused before it is read, whether it declares its
length or streams without one; the upload routes still take files larger than it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import anyio

from tallyproof.server.bodylimit import MAX_BODY

from .conftest import Server, csrf_of
from .test_upload_drops import _call, _scope
from .test_uploads import Api


def test_a_declared_oversize_body_is_refused_unread(server: Server) -> None:
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * MAX_BODY, "more_body": True}

    for method, path in (("POST", "/api/board/signin"), ("POST", "/login"),
                         ("POST", "/board/signin"), ("PUT", "/api/county/county-01/jobs")):
        scope = _scope(method, path, {"content-type": "application/json",
                                      "content-length": str(400 << 20)})
        assert anyio.run(_call, server.app, scope, receive) == 413, path
    assert reads == 0


def test_a_streamed_oversize_body_is_refused(server: Server) -> None:
    c = server.client()

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY // 1024 + 2):
            yield b'{"passphrase": "' + b"x" * 1000 + b'"}'

    r = c.post("/api/board/signin", content=chunks(),
               headers={"content-type": "application/json"})
    assert r.status_code == 413 and f"{MAX_BODY:,}" in r.json()["detail"]
    r = c.post("/login", content=chunks(),
               headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert r.headers["x-frame-options"] == "DENY"  # the security headers are there too


def test_small_bodies_and_uploads_pass(server: Server) -> None:
    c = server.client()
    r = c.post("/login", data={"csrf": csrf_of(c), "username": "sa", "password": "x" * 900,
                               "code": ""})
    assert r.status_code == 401  # read and checked: a wrong password
    ca = Api(server, "ca")
    data = b"a,b\n" * (MAX_BODY // 2)  # one piece twice the limit
    r = ca.create("county-01", "pollbooks", "p.csv", len(data),
                  hashlib.sha256(data).hexdigest())
    uid = r.json()["id"]
    r = ca.put("county-01", uid, 0, data, len(data))
    assert (r.status_code, r.json()["status"]) == (200, "verified")
    form = ca.c.post("/county/county-01/uploads", data={
        "csrf": csrf_of(ca.c, "/county/county-01"), "kind": "pollbooks",
        "sha256": hashlib.sha256(data).hexdigest()},
        files={"file": ("p.csv", data, "text/csv")}, follow_redirects=False)
    assert form.status_code == 303
    assert ca.c.get("/api/county/county-01/uploads").json()[0]["status"] == "verified"

"""A limit on request bodies everywhere but the upload routes: without it, anyone could make
the server read hundreds of megabytes into memory (an unauthenticated ``POST`` to a sign-in
form is parsed whole before a field is checked).

A pure ASGI middleware: a request whose ``Content-Length`` is over :data:`MAX_BODY` is answered
413 before a byte is read; a body sent without one (chunked) is counted as it streams, and
reading past the limit ends the request with 413 too. The county upload routes, which stream
files of up to ``max_upload`` bytes to disk and check their own sizes, are left out
(:data:`UPLOAD_ROUTES`).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the largest body outside the upload routes: every form and JSON write of the control room
#: is a few kilobytes at most
MAX_BODY = 64 << 10
#: (method, path) of the routes that stream a county's files to disk
UPLOAD_ROUTES = (("PUT", re.compile(r"^/api/county/[^/]+/uploads/[^/]+$")),
                 ("POST", re.compile(r"^/county/[^/]+/uploads$")))


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes")


def exempt(method: str, path: str) -> bool:
    return any(method == m and rx.match(path) for m, rx in UPLOAD_ROUTES)


class BodyLimit:
    """Refuse bodies over ``limit`` bytes (see the module docstring)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = BodyTooLarge(self.limit)
        response: Any = JSONResponse({"detail": exc.detail}, status_code=413,
                                     headers={"Connection": "close"})
        await response(scope, receive, send)

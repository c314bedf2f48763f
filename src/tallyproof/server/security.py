"""Response headers every page and API answer carries, and the anonymous CSRF cookie.

The CSP allows no inline script and nothing from another origin (the pages load only
``/static``); frames are refused; HSTS is sent once the request came over HTTPS (behind a TLS
proxy, uvicorn's ``--forwarded-allow-ips`` makes the scheme https)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=63072000; includeSubDomains"
#: the double-submit CSRF cookie of visitors without a session (the login and proof forms)
CSRF_COOKIE = "tp_csrf"


def anonymous_csrf(request: Request) -> str:
    """The visitor's CSRF cookie value (made on the first request that lacks one)."""
    value = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if value is None:
        value = request.state.new_csrf = secrets.token_urlsafe(32)
    return value


async def headers_middleware(request: Request,
                             call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    https = request.url.scheme == "https"
    if https:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    new = getattr(request.state, "new_csrf", None)
    if new is not None:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", secure=https)
    return response


def set_session_cookie(response: Response, request: Request, name: str, token: str,
                       max_age: int) -> None:
    """A session cookie (a user's or an audit board's): HttpOnly, SameSite=Strict, Secure
    over HTTPS."""
    response.set_cookie(name, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=max_age)

"""QR codes as SVG images (segno, pure Python): an audit board's sign-in link, an
administrator's TOTP enrolment URI. Served as ``image/svg+xml`` from the server, or inline
in the page that shows a secret once (a board's link with its passphrase, never stored), so
the pages need neither inline script nor a data: URI."""

from __future__ import annotations

import io

import segno
from starlette.responses import Response


def svg_text(text: str, title: str = "QR code") -> str:
    """``text`` as a QR code (error correction M), SVG markup. Inline in a page it carries
    ``role="img"`` and its title as the accessible name."""
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="svg", scale=5, border=4, xmldecl=False,
                                     svgns=True, title=title)
    return buf.getvalue().decode().replace("<svg ", f'<svg role="img" aria-label="{title}" ',
                                           1)


def qr_svg(text: str) -> Response:
    """``text`` as a QR code, an SVG answer nobody caches."""
    return Response(svg_text(text), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})

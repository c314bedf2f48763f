"""QR codes as SVG images (segno, pure Python): an audit board's sign-in link, an
administrator's TOTP enrolment URI. Served as ``image/svg+xml`` from the server, so the pages
need neither inline script nor a data: URI."""

from __future__ import annotations

import io

import segno
from starlette.responses import Response


def qr_svg(text: str) -> Response:
    """``text`` as a QR code (error correction M), an SVG answer nobody caches."""
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="svg", scale=5, border=4, xmldecl=False,
                                     title="QR code")
    return Response(buf.getvalue(), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})

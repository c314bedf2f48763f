"""Server-rendered pages: Jinja2 templates (autoescaped) from ``templates/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from .deps import csrf_expected
from .sessions import Current

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def render(request: Request, name: str, who: Current | None, status: int = 200,
           **context: Any) -> Response:
    """A page, with the viewer and the CSRF token its forms carry."""
    return TEMPLATES.TemplateResponse(request, name, {
        "who": who, "csrf": csrf_expected(request, who), **context}, status_code=status)

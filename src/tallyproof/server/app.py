"""The app factory: settings in, a FastAPI app out, its database migrated to the newest
schema before the first request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException

from .. import __version__
from ..state.spec import load_spec
from .accounts import hasher
from .bodylimit import BodyLimit
from .config import Settings
from .db import make_engine, session_factory
from .deps import LoginRequired, TotpRequired
from .migrate import upgrade
from .pages import render
from .ratelimit import LoginLimiter
from .jobs import JobRunner, make_executor, recover
from .messages import public_message
from .routes import (accounts, api, board, board_api, board_batch, board_batch_api, county,
                     county_audit, downloads, live, login, present, public, state,
                     state_audit, state_setup, uploads)
from .security import headers_middleware
from .writer import writer_for


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At start, fail or resume the jobs a stopped server left open (:func:`.jobs.recover`);
    at the end, let running jobs finish."""
    runner: JobRunner = app.state.jobs
    for job_id in recover(runner):
        runner.submit(job_id)
    yield
    runner.shutdown()
    app.state.writer.close()


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The control room over ``settings.state_dir``. ``engine`` defaults to one for
    ``settings.database_url``; the migrations are applied to it here."""
    load_spec(settings.state_dir)  # fail at start, naming the file, if this is no state folder
    engine = engine or make_engine(settings.database_url)
    upgrade(engine)
    app = FastAPI(title="tallyproof control room", version=__version__, lifespan=_lifespan,
                  docs_url=None, redoc_url=None)  # their pages load script from a CDN
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = session_factory(engine)
    app.state.writer = writer_for(app.state.sessionmaker, engine.dialect.name)
    app.state.hasher = hasher(settings.password_cost)
    app.state.limiter = LoginLimiter(settings.login_attempts, settings.login_window)
    app.state.jobs = JobRunner(app.state.sessionmaker, settings, make_executor(settings))
    app.add_middleware(BodyLimit)  # before any route: a body over the limit is never read
    app.middleware("http")(headers_middleware)  # outside it: a 413 has the headers too
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")),
              name="static")
    for r in (public.router, login.router, county.router, state.router, api.router,
              state_audit.router, state_setup.router, county_audit.router, board.router,
              board_batch.router, board_api.router, board_batch_api.router, accounts.router,
              uploads.router, present.router,
              live.router, downloads.router):
        app.include_router(r)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            if isinstance(exc, TotpRequired):
                return JSONResponse({"detail": "enrol the second factor first, at "
                                     "/account/totp"}, status_code=403)
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        # a library error's text names files by their full path: the answer names none
        detail = (public_message(settings, exc.detail) if isinstance(exc.detail, str)
                  else exc.detail)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": detail}, status_code=exc.status_code)
        return render(request, "error.html", None, status=exc.status_code,
                      message=str(detail))

    return app

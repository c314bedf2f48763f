"""``tallyproof serve``: the control room, a web server over a state folder (docs/server.md).
FastAPI, SQLAlchemy and Uvicorn are imported inside the command, so ``--help`` stays quick."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import err, out

DEMO_COUNTIES, DEMO_CARDS = 3, 900


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        state: Annotated[Path | None, typer.Option(
            "--state", help="the state folder (made by tallyproof state init)")] = None,
        demo: Annotated[bool, typer.Option(
            "--demo", help="build a small synthetic state, make one account per role and "
                           "print them")] = False,
        demo_out: Annotated[Path | None, typer.Option(
            "--demo-out", help="with --demo: where to build it (default: a new temporary "
                               "folder)")] = None,
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port")] = 8000,
        database_url: Annotated[str | None, typer.Option(
            "--database-url",
            help="SQLAlchemy URL, e.g. postgresql://user@host/db (default: "
                 "$TALLYPROOF_DATABASE_URL, else SQLite in the state folder)")] = None,
        add_admin: Annotated[str | None, typer.Option(
            "--add-admin", help="create a state admin with this name, print its password and "
                                "exit")] = None,
        job_scheduler: Annotated[str | None, typer.Option(
            "--job-scheduler",
            help="a dask.distributed scheduler (tcp://host:8786) for ingest and commit jobs "
                 "(default: in this process)")] = None,
        forwarded_allow_ips: Annotated[str, typer.Option(
            "--forwarded-allow-ips",
            help="addresses of the TLS proxy whose X-Forwarded-* headers are trusted")
        ] = "127.0.0.1",
    ) -> None:
        """Serve the control room: the public page, the state and county pages, the JSON API."""
        import tempfile

        from ..errors import UsageError
        from ..server.app import create_app
        from ..server.config import Settings
        from ..server.config import database_url as resolve_url
        from ..server.db import Role
        from ..server.seed import add_account, seed_demo

        if (state is None) == (not demo):
            raise UsageError("give either --state DIR or --demo")
        if demo_out is not None and not demo:
            raise UsageError("--demo-out goes with --demo")
        if demo:
            from ..demo.state import run_state_demo

            folder = demo_out or Path(tempfile.mkdtemp(prefix="tallyproof-serve-demo-"))
            err.print(f"building a synthetic state of {DEMO_COUNTIES} counties in {folder} …")
            # the audit is left for the web (started there; boards enter card readings, and
            # the county with batch tallies only its batch counts)
            demo_run = run_state_demo(folder, counties=DEMO_COUNTIES, cards=DEMO_CARDS,
                                      in_process=True, batch=True, audit=False)
            state = folder / "state"
            if demo_run.bundle is not None:  # the presentation pages' claims board reads it
                from ..server.public_view import publish

                publish(state, demo_run.bundle, "demo")
        assert state is not None
        web = create_app(Settings(state, resolve_url(state, database_url),
                                  job_scheduler=job_scheduler))
        if add_admin is not None:
            a = add_account(web, add_admin, Role.STATE_ADMIN)
            out.print(f"state admin {a.username}: password {a.password}", highlight=False)
            err.print("the first sign-in asks it to enrol an authenticator app (TOTP)")
            return
        if demo:
            err.print("demo accounts (role, county, user, password, TOTP secret: type the "
                      "secret into an authenticator app; every sign-in asks for its code)")
            for a in seed_demo(web):
                out.print(f"{a.role:13} {a.county or '':10} {a.username:18} {a.password} "
                          f"{a.totp_secret}", highlight=False)
        from ..server.live import run

        err.print(f"control room on http://{host}:{port}/ (state {state})")
        run(web, host=host, port=port, proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips, log_level="info")

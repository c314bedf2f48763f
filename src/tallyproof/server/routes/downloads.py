"""Downloads anyone may take: the published state bundles, and the signed checkpoints and
public keys of the state log and of each county's log. A name in the URL is only looked up
in the listing of its folder (:mod:`..public_view`), never joined onto a path."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from .. import public_view
from ..deps import KnownCounty, settings

router = APIRouter(prefix="/download", tags=["downloads"])
TEXT = "text/plain; charset=utf-8"


def _file(path: Path | None, media_type: str, what: str) -> FileResponse:
    if path is None:
        raise HTTPException(404, f"no such {what}")
    return FileResponse(path, media_type=media_type, filename=path.name)


@router.get("/published/{name}", response_class=FileResponse)
def bundle(request: Request, name: str) -> FileResponse:
    """A published state bundle (zip), as listed on the presentation page."""
    return _file(public_view.published_zip(settings(request).state_dir, name),
                 "application/zip", "published bundle")


@router.get("/state/checkpoints/{name}", response_class=FileResponse)
def state_checkpoint(request: Request, name: str) -> FileResponse:
    """A signed checkpoint of the state log (C2SP signed note)."""
    return _file(public_view.checkpoint_file(settings(request).state_dir, None, name), TEXT,
                 "state checkpoint")


@router.get("/state/log.vkey", response_class=FileResponse)
def state_key(request: Request) -> FileResponse:
    """The state log's public verifier key."""
    return _file(public_view.key_file(settings(request).state_dir, None), TEXT, "state key")


@router.get("/county/{county}/checkpoints/{name}", response_class=FileResponse)
def county_checkpoint(request: Request, county: KnownCounty, name: str) -> FileResponse:
    """A signed checkpoint of a county's commitment log."""
    return _file(public_view.checkpoint_file(settings(request).state_dir, county, name), TEXT,
                 "county checkpoint")


@router.get("/county/{county}/log.vkey", response_class=FileResponse)
def county_key(request: Request, county: KnownCounty) -> FileResponse:
    """A county log's public verifier key."""
    return _file(public_view.key_file(settings(request).state_dir, county), TEXT, "county key")

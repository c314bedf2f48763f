"""Downloads anyone may take: the published state bundles, and the signed checkpoints and
public keys of the state log and of each county's log. A name in the URL is only looked up
in the listing of its folder (:mod:`..public_view`), never joined onto a path."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from .. import public_view
from ..deps import KnownCounty, settings

router = APIRouter(prefix="/download", tags=["downloads"])
TEXT = "text/plain; charset=utf-8"


def _file(path: Path | None, media_type: str, what: str) -> FileResponse:
    """A published bundle: never replaced once published, so streamed from its path."""
    if path is None:
        raise HTTPException(404, f"no such {what}")
    return FileResponse(path, media_type=media_type, filename=path.name)


def _text(path: Path | None, what: str) -> Response:
    """A checkpoint or a key, read once: a co-signature or a job replaces a log's files by
    rename while the store is written, so the bytes are taken in one read (the old or the new
    file, whole) rather than sized first and streamed later."""
    if path is None:
        raise HTTPException(404, f"no such {what}")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise HTTPException(404, f"no such {what}") from exc
    return Response(data, media_type=TEXT,
                    headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


@router.get("/published/{name}", response_class=FileResponse)
def bundle(request: Request, name: str) -> FileResponse:
    """A published state bundle (zip), as listed on the presentation page."""
    return _file(public_view.published_zip(settings(request).state_dir, name),
                 "application/zip", "published bundle")


@router.get("/state/checkpoints/{name}", response_class=Response)
def state_checkpoint(request: Request, name: str) -> Response:
    """A signed checkpoint of the state log (C2SP signed note)."""
    return _text(public_view.checkpoint_file(settings(request).state_dir, None, name),
                 "state checkpoint")


@router.get("/state/log.vkey", response_class=Response)
def state_key(request: Request) -> Response:
    """The state log's public verifier key."""
    return _text(public_view.key_file(settings(request).state_dir, None), "state key")


@router.get("/county/{county}/checkpoints/{name}", response_class=Response)
def county_checkpoint(request: Request, county: KnownCounty, name: str) -> Response:
    """A signed checkpoint of a county's commitment log."""
    return _text(public_view.checkpoint_file(settings(request).state_dir, county, name),
                 "county checkpoint")


@router.get("/county/{county}/log.vkey", response_class=Response)
def county_key(request: Request, county: KnownCounty) -> Response:
    """A county log's public verifier key."""
    return _text(public_view.key_file(settings(request).state_dir, county), "county key")

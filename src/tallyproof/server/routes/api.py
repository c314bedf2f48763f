"""The read-only JSON API (public; described at /openapi.json): the same facts as the public
page, read through :mod:`..view`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from ...errors import UsageError
from .. import view
from ..deps import settings

router = APIRouter(prefix="/api", tags=["public"])


@router.get("/state")
def state(request: Request) -> dict[str, Any]:
    """The state: counties, the latest state checkpoint, reconciliation, statewide results."""
    return view.state_summary(settings(request).state_dir)


@router.get("/counties")
def counties(request: Request) -> list[dict[str, Any]]:
    """Every county: cards, latest checkpoint, accounting and results-check status."""
    return [asdict(r) for r in view.counties(settings(request).state_dir)]


@router.get("/proof/{county}/{ballot:path}")
def proof(request: Request, county: str, ballot: str) -> dict[str, Any]:
    """A ballot's inclusion proof into the latest state checkpoint (``prove_ballot``), with
    the failures the server's check found (``verified`` is true when there are none). The
    ballot id may hold ``/`` (a batch-tally county's ids are ``BATCH/N``), sent as is or as
    ``%2F``."""
    try:
        p, failures = view.ballot_proof(settings(request).state_dir, county, ballot)
    except UsageError as exc:
        raise HTTPException(404, str(exc)) from exc
    return {"proof": p, "verified": not failures, "failures": failures}

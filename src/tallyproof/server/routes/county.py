"""A county's page: for that county's admins and the state admins; any other county's admin
is refused (403) before the county is even looked up."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from ...errors import UsageError
from .. import activity, jobs, uploads, view
from ..deps import DB, SignedIn, may_see_county, settings
from ..pages import render

router = APIRouter(include_in_schema=False)


@router.get("/county/{county}")
def county_page(request: Request, county: str, s: DB, who: SignedIn) -> Response:
    if not may_see_county(who, county):
        raise HTTPException(403, "not your county")
    root = settings(request).state_dir
    try:
        row = view.county(root, county)
    except UsageError as exc:
        raise HTTPException(404, str(exc)) from exc
    return render(request, "county.html", who, county=row,
                  results=view.county_results(root, county),
                  activity=activity.recent(s, 50, county=county),
                  uploads=uploads.for_county(s, county), jobs=jobs.for_county(s, county),
                  audit_frozen=(sorted(jobs.FROZEN_BY_AUDIT)
                                if jobs.audit_started(settings(request)) else []))

"""The state election's set-up, for state administrators: its counties (id, name, and whether
it reports CVRs or batch tallies only) and its statewide contests (plurality, approval, IRV or
STV) with each county's own names for them (``state.json``'s aliases), written by the same
library functions as ``tallyproof state add-county`` and ``state add-contest``; and each
county's signing key, made as ``tallyproof keys new --out STATE/keys/ID`` makes it
(:mod:`..county_keys`). The election itself (its folder and ``state.json``) is made by
``tallyproof state init`` before the server starts: the server serves a state folder."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import TallyproofError
from ...model import ContestKind
from ...state.batch_county import BATCH_TALLIES
from ...state.spec import load_spec
from ...state.workflow import add_contest, add_county, contest_from_options, parse_aliases
from .. import activity
from ..county_keys import county_key, fingerprint, make_county_key
from ..deps import CSRF, DB, StateAdmin, settings
from ..pages import render
from .state_audit import client

router = APIRouter(include_in_schema=False)


def lines(text: str) -> list[str]:
    """A text area's non-empty lines, stripped."""
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


@router.get("/state/setup")
def setup_page(request: Request, s: DB, who: StateAdmin) -> Response:
    root = settings(request).state_dir
    spec = load_spec(root)
    return render(request, "state_setup.html", who, spec=spec,
                  keys={c.id: county_key(root, c.id) for c in spec.counties},
                  contest_kinds=[k.value for k in ContestKind], batch_tallies=BATCH_TALLIES)


@router.post("/state/setup/county", dependencies=[CSRF])
def new_county(request: Request, s: DB, who: StateAdmin,
               county_id: Annotated[str, Form(min_length=1, max_length=64)],
               name: Annotated[str, Form(min_length=1, max_length=200)],
               batch_tallies: Annotated[bool, Form()] = False) -> Response:
    """A county; ``batch_tallies``: it has no CVRs, it reports a ballot manifest and batch
    tallies (``state add-county --batch-tallies``)."""
    cfg = settings(request)
    kind = BATCH_TALLIES if batch_tallies else "cvrs"
    try:
        add_county(cfg.state_dir, county_id.strip(), name.strip(), kind)
    except TallyproofError as exc:
        raise HTTPException(409, str(exc)) from exc
    activity.record(s, cfg.now(), who.username, "county_added", county=county_id.strip(),
                    detail=f"{name.strip()} ({kind})", client=client(request))
    return RedirectResponse("/state/setup", status_code=303)


@router.post("/state/setup/keys/{county}", dependencies=[CSRF])
def new_county_key(request: Request, county: str, s: DB, who: StateAdmin) -> Response:
    """Make the county's signing key (``keys new --out STATE/keys/ID``); refused (409) when
    the county has one, or is not in the state. The page shows the public key only."""
    cfg = settings(request)
    try:
        made = make_county_key(cfg.state_dir, county)
    except TallyproofError as exc:
        raise HTTPException(409, str(exc)) from exc
    activity.record(s, cfg.now(), who.username, "county_key_made", county=county,
                    detail=f"keys/{county}: public key {made.vkey}, SHA-256 "
                           f"{fingerprint(made).replace(' ', '')}", client=client(request))
    return RedirectResponse(f"/state/setup#key-{county}", status_code=303)


@router.post("/state/setup/contest", dependencies=[CSRF])
def new_contest(request: Request, s: DB, who: StateAdmin,
                contest_id: Annotated[str, Form(min_length=1, max_length=64)],
                name: Annotated[str, Form(min_length=1, max_length=200)],
                candidates: Annotated[str, Form(min_length=1, max_length=20000)],
                kind: Annotated[str, Form(max_length=32)] = "plurality",
                seats: Annotated[int, Form(ge=1, le=1000)] = 1,
                vote_for: Annotated[int, Form(ge=1, le=1000)] = 1,
                aliases: Annotated[str, Form(max_length=20000)] = "",
                candidate_aliases: Annotated[str, Form(max_length=20000)] = "") -> Response:
    """A statewide contest of any kind the library counts (plurality, approval, IRV, STV:
    ``state add-contest --kind``): candidates one ``id=Name`` a line; a county's own contest
    name one ``COUNTY=NAME`` a line; a county's own candidate name one ``COUNTY:ID=NAME`` a
    line."""
    cfg = settings(request)
    try:
        contest = contest_from_options(
            contest_id.strip(), name.strip(), lines(candidates), kind, seats, vote_for,
            parse_aliases(lines(aliases), lines(candidate_aliases), name.strip(),
                          "county's contest name ", "county's candidate name "))
        add_contest(cfg.state_dir, contest)
    except TallyproofError as exc:
        raise HTTPException(409, str(exc)) from exc
    activity.record(s, cfg.now(), who.username, "contest_added",
                    detail=f"{contest.id}: {contest.name} ({contest.kind.value}, "
                           f"{contest.seats} seat(s)), {len(contest.candidates)} "
                           f"candidate(s), names in {len(contest.aliases)} county(ies)",
                    client=client(request))
    return RedirectResponse("/state/setup", status_code=303)

"""A county's audit boards for the statewide audit (its admins and the state admins): set up
the boards of the current round, issue and print each board's credentials (a passphrase shown
once, its sign-in link and the link's QR code) with its retrieval list, and reopen a board
that signed off (logged, with a reason)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from ...errors import TallyproofError
from ...state.audit_batch_boards import BATCH
from .. import activity, audit_control, boards
from ..board_db import AuditBoard
from ..deps import CSRF, DB, SignedIn, may_see_county, settings
from ..pages import render
from ..qr import qr_svg, svg_text
from ..sessions import Current
from .state_audit import client, refused

router = APIRouter(include_in_schema=False)


def county_viewer(county: str, who: SignedIn) -> Current:
    """The signed-in admin of ``county`` (or a state admin); another county's admin is
    refused before anything else is looked at."""
    if not may_see_county(who, county):
        raise HTTPException(403, "not your county")
    return who


CountyAdmin = Annotated[Current, Depends(county_viewer)]


def _board(s: Session, county: str, board_id: int) -> AuditBoard:
    board = s.get(AuditBoard, board_id)
    if board is None or board.county != county:
        raise HTTPException(404, "no such board in this county")
    return board


def board_link(request: Request, board: AuditBoard, passphrase: str | None = None) -> str:
    """The board's sign-in link: its random slug names this board (one county, one round);
    with ``passphrase`` (just issued) the link carries it in the fragment (``#…``), which a
    browser never sends: the sign-in page's script (static/board-link.js) posts it, so the
    passphrase reaches no request line or log. Scanning the QR code of this link signs the
    board in."""
    link = str(request.base_url).rstrip("/") + f"/board/signin/{board.slug}"
    return link if passphrase is None else f"{link}#{passphrase}"


@router.get("/county/{county}/audit")
def audit_page(request: Request, county: str, s: DB, who: CountyAdmin) -> Response:
    root = settings(request).state_dir
    params = audit_control.params_or_none(root)
    n = boards.rounds_drawn(root) if params else 0
    return render(request, "county_audit.html", who, county=county, params=params,
                  round_number=n, closed=boards.is_closed(s, n) if n else False,
                  boards=boards.county_boards(s, county, n) if n else [])


@router.post("/county/{county}/audit/boards", dependencies=[CSRF])
def setup(request: Request, county: str, s: DB, who: CountyAdmin,
          count: Annotated[int, Form(ge=1, le=50)]) -> Response:
    cfg = settings(request)
    try:
        made = boards.setup_boards(s, cfg.state_dir, county, count, cfg.now())
    except TallyproofError as exc:
        raise refused(exc) from exc
    activity.record(s, cfg.now(), who.username, "audit_boards_set_up", county=county,
                    detail=f"round {made[0].round_number}: {len(made)} board(s)",
                    client=client(request))
    return RedirectResponse(f"/county/{county}/audit", status_code=303)


def _sheet(request: Request, s: Session, who: Current, board: AuditBoard,
           passphrase: str | None) -> Response:
    root = settings(request).state_dir
    by_batch = board.unit == BATCH
    link = board_link(request, board, passphrase)
    return render(request, "board_sheet.html", who, board=board, passphrase=passphrase,
                  link=link, qr_inline=svg_text(link, "QR code of the board's sign-in link")
                  if passphrase else None,
                  cards=() if by_batch else boards.cards_of(root, board),
                  batches=boards.batches_of(root, board) if by_batch else (),
                  contests=boards.contests_of(root, board.county))


@router.get("/county/{county}/audit/boards/{board_id}")
def sheet(request: Request, county: str, board_id: int, s: DB, who: CountyAdmin) -> Response:
    """The board's printable sheet: its retrieval list, link and QR code (no passphrase:
    it is shown only when issued)."""
    return _sheet(request, s, who, _board(s, county, board_id), None)


@router.post("/county/{county}/audit/boards/{board_id}/credentials", dependencies=[CSRF])
def credentials(request: Request, county: str, board_id: int, s: DB,
                who: CountyAdmin) -> Response:
    """Issue a new passphrase (the old one and the board's sessions end) and show the sheet
    with it, to print now."""
    board = _board(s, county, board_id)
    cfg = settings(request)
    passphrase = boards.issue_passphrase(s, board, cfg.now())
    activity.record(s, cfg.now(), who.username, "audit_board_credentials", county=county,
                    detail=board.label, client=client(request))
    return _sheet(request, s, who, board, passphrase)


@router.get("/county/{county}/audit/boards/{board_id}/qr.svg")
def qr(request: Request, county: str, board_id: int, s: DB, who: CountyAdmin) -> Response:
    """The QR code of the board's sign-in link without its passphrase (kept by nobody: the
    sheet that issues one shows its link's QR code inline)."""
    return qr_svg(board_link(request, _board(s, county, board_id)))


@router.post("/county/{county}/audit/boards/{board_id}/reopen", dependencies=[CSRF])
def reopen(request: Request, county: str, board_id: int, s: DB, who: CountyAdmin,
           reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    board = _board(s, county, board_id)
    cfg = settings(request)
    try:
        boards.reopen(s, board, who.user_id, reason, cfg.now())
    except TallyproofError as exc:
        raise refused(exc) from exc
    activity.record(s, cfg.now(), who.username, "audit_board_reopened", county=county,
                    detail=f"{board.label}: {reason.strip()}", client=client(request))
    return RedirectResponse(f"/county/{county}/audit", status_code=303)

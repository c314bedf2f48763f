"""The audit boards' JSON API (scripts, the load benchmark): the same steps as the board pages
(sign in with the passphrase, the board's cards, an entry per card, review, sign-off) through
the same functions (:mod:`.board` and :mod:`..boards`), so the API can neither save nor check
anything the pages would not.

A sign-in returns the session's token; a script sends it as ``Authorization: Bearer <token>``.
A bearer token is never sent by a browser on its own, so such writes need no CSRF token. A
board signed in by the pages (the ``tp_board`` cookie) may use the API too; then its writes
carry the session's CSRF token in ``X-CSRF-Token`` (``GET /api/board`` returns it), as the
users' API does. Entries are idempotent by ``entry_key``, as the form's: a retried POST after
a dropped connection or a server restart finds its entry and adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ...errors import TallyproofError
from ...state.audit_batch_boards import BATCH, CARD
from .. import boards
from ..board_db import AuditBoard, BoardEntry
from ..boards import CurrentBoard
from ..deps import DB, check_header_csrf, settings
from .board import (BOARD_COOKIE, BoardRequired, SigninRefused, card_at, end_board_session,
                    open_board_session, save_and_log, sign_off_and_log)
from .state_audit import refused

router = APIRouter(prefix="/api/board", tags=["audit board"])
CardNumber = Annotated[int, Path(ge=1, le=100_000)]


def _bearer(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _api_board(request: Request, s: DB, authorization: str,
               touch: bool) -> tuple[CurrentBoard, bool]:
    token = _bearer(authorization)
    by_cookie = token is None
    cb = boards.current_board(s, token if token else request.cookies.get(BOARD_COOKIE),
                              settings(request), touch=touch)
    if cb is None:
        raise BoardRequired
    return cb, by_cookie


def api_board(request: Request, s: DB,
              authorization: Annotated[str, Header(include_in_schema=False)] = ""
              ) -> tuple[CurrentBoard, bool]:
    """The board of a bearer token, else of the board cookie; and whether it came by cookie.
    None: 401 (the app's handler answers ``/api/`` paths with JSON)."""
    return _api_board(request, s, authorization, touch=True)


def api_entry_board(request: Request, s: DB,
                    authorization: Annotated[str, Header(include_in_schema=False)] = ""
                    ) -> tuple[CurrentBoard, bool]:
    """:func:`api_board` for an entry, whose write restarts the session's idle clock
    (:func:`.board.save_and_log`): the request's own transaction writes nothing."""
    return _api_board(request, s, authorization, touch=False)


ApiBoardAuth = Annotated[tuple[CurrentBoard, bool], Depends(api_board)]
ApiEntryAuth = Annotated[tuple[CurrentBoard, bool], Depends(api_entry_board)]


def api_board_viewer(auth: ApiBoardAuth) -> CurrentBoard:
    return auth[0]


def api_board_writer(auth: ApiBoardAuth,
                     x_csrf_token: Annotated[str, Header()] = "") -> CurrentBoard:
    """A write: by bearer token as is; by cookie only with the session's ``X-CSRF-Token``."""
    cb, by_cookie = auth
    if by_cookie:
        check_header_csrf(x_csrf_token, cb.csrf)
    return cb


def api_entry_writer(auth: ApiEntryAuth,
                     x_csrf_token: Annotated[str, Header()] = "") -> CurrentBoard:
    """:func:`api_board_writer` for an entry."""
    return api_board_writer(auth, x_csrf_token)


ApiBoard = Annotated[CurrentBoard, Depends(api_board_viewer)]
ApiBoardWrite = Annotated[CurrentBoard, Depends(api_board_writer)]
ApiEntryWrite = Annotated[CurrentBoard, Depends(api_entry_writer)]


# ------------------------------------------------------------------ bodies
class SigninBody(BaseModel):
    passphrase: str = Field(max_length=64, description="as printed; case and dashes ignored")
    slug: str | None = Field(default=None, max_length=32,
                             description="the board's link, when signing in from it")


class ContestReading(BaseModel):
    """One contest of a card: the marks (none = blank), an overvote, or that the board
    cannot agree (with a note). Exactly one of the three."""
    marks: list[Annotated[str, Field(max_length=128)]] | None = Field(default=None,
                                                                      max_length=64)
    overvote: bool = False
    cant_agree: str | None = Field(default=None, max_length=500)

    def stored_form(self) -> dict[str, Any]:
        given = [self.marks is not None, self.overvote, self.cant_agree is not None]
        if sum(given) != 1:
            raise HTTPException(422, "each contest says exactly one of: marks (an empty list "
                                     "for a blank), overvote, cant_agree")
        if self.cant_agree is not None:
            return {"cant_agree": self.cant_agree}
        return {"overvote": True} if self.overvote else {"marks": list(self.marks or [])}


class EntryBody(BaseModel):
    entry_key: str = Field(min_length=8, max_length=64,
                           description="chosen by the client, once per reading; a retry "
                                       "sends the same key")
    not_found: bool = False
    contests: dict[Annotated[str, Field(max_length=128)], ContestReading] = Field(
        default_factory=dict, max_length=64)


class SignoffBody(BaseModel):
    members: list[Annotated[str, Field(max_length=128)]] = Field(max_length=20)


# ------------------------------------------------------------------ answers
def _board_json(b: AuditBoard) -> dict[str, Any]:
    return {"label": b.label, "county": b.county, "round": b.round_number, "number": b.number,
            "of": b.of, "status": b.status, "unit": b.unit}


def _entry_json(e: BoardEntry | None) -> dict[str, Any] | None:
    return None if e is None else {"id": e.id, "entry_key": e.entry_key,
                                   "reading": boards.reading_of(e)}


def _cards_json(request: Request, s: DB, board: AuditBoard) -> list[dict[str, Any]]:
    if board.unit != CARD:
        raise HTTPException(404, "this board counts whole batches: see /api/board/batches")
    root = settings(request).state_dir
    contests = boards.contests_of(root, board.county)
    latest = boards.latest_entries(s, board.id)
    return [{"number": c.number, "ballot_id": c.ballot_id, "container": c.container,
             "tabulator": c.tabulator, "batch": c.batch, "position": c.position,
             "contests": [{"id": cid, "name": contests[cid].name,
                           "vote_for": contests[cid].vote_for,
                           "choices": [{"id": k.id, "name": k.name}
                                       for k in contests[cid].candidates]}
                          for cid in c.contests],
             "entry": _entry_json(latest.get(c.ballot_id))}
            for c in boards.cards_of(root, board)]


# ------------------------------------------------------------------ routes
@router.post("/signin", responses={401: {"description": "not this board's passphrase"},
                                    429: {"description": "too many failed sign-ins"}})
def signin(request: Request, s: DB, body: SigninBody) -> JSONResponse:
    """Sign a board in by its passphrase: the session's bearer token (8 h, 1 h idle, as the
    pages'), and the board. 401 for a wrong passphrase, 429 after too many."""
    try:
        token, board = open_board_session(request, s, body.passphrase, body.slug)
    except SigninRefused as exc:  # answered, not raised: the refusal's log entry is kept
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    return JSONResponse({"token": token, "board": _board_json(board)})


@router.post("/signout")
def signout(request: Request, s: DB, cb: ApiBoardWrite) -> dict[str, Any]:
    end_board_session(request, s, cb)
    return {"signed_out": True}


@router.get("")
def board(cb: ApiBoard) -> dict[str, Any]:
    """The signed-in board (and the CSRF token a cookie-signed-in page sends in
    ``X-CSRF-Token``)."""
    return {**_board_json(cb.board), "csrf": cb.csrf}


@router.get("/cards")
def cards(request: Request, s: DB, cb: ApiBoard) -> list[dict[str, Any]]:
    """The board's list: where each card is, the contests to read and their choices (never a
    CVR), and the entry that counts so far (its latest) or null."""
    return _cards_json(request, s, cb.board)


@router.post("/cards/{number}/entries", status_code=201,
             responses={200: {"description": "this entry key was saved before: nothing added"},
                        409: {"description": "the key was used with another reading, or the "
                                             "board signed off, or the round is closed"},
                        422: {"description": "the reading is incomplete or names a choice "
                                             "not in the contest"}})
def enter(request: Request, number: CardNumber, body: EntryBody, s: DB,
          cb: ApiEntryWrite) -> JSONResponse:
    """Save what card ``number`` shows. 201 with the new entry; 200 with the entry already
    saved under this ``entry_key`` (a retry). A later entry for the same card, with a new key,
    corrects it (before sign-off)."""
    card = card_at(request, cb, number)
    reading = {"not_found": True} if body.not_found else {
        "not_found": False, "contests": {cid: r.stored_form() for cid, r in body.contests.items()}}
    return entry_answer(lambda: save_and_log(request, s, cb, card, body.entry_key, reading),
                        {"ballot_id": card.ballot_id}, _entry_json)


E = TypeVar("E")


def entry_answer(save: Callable[[], tuple[E, bool]], unit: dict[str, str],
                 as_json: Callable[[E], dict[str, Any] | None]) -> JSONResponse:
    """The answer to an entry (a card's, a batch's) that ``save`` saves: 201 with a new
    entry, 200 with the one already saved under its key; 409 for a key used with another
    entry or a board that may not change; 422 with the reason for a refused one."""
    try:
        entry, new = save()
    except (boards.EntryConflict, boards.BoardClosed) as exc:
        raise refused(exc) from exc
    except TallyproofError as exc:
        raise HTTPException(422, str(exc)) from exc
    return JSONResponse({**unit, "new": new, **(as_json(entry) or {})},
                        status_code=201 if new else 200)


@router.get("/review")
def review(request: Request, s: DB, cb: ApiBoard) -> dict[str, Any]:
    """Every card (for a board counting batches, every batch) with its entry, and those
    still without one (sign-off needs none)."""
    if cb.board.unit == BATCH:
        from .board_batch_api import batches_json

        batches = batches_json(request, s, cb.board)
        return {"board": _board_json(cb.board), "batches": batches,
                "missing": [b["number"] for b in batches if b["entry"] is None]}
    listed = _cards_json(request, s, cb.board)
    return {"board": _board_json(cb.board), "cards": listed,
            "missing": [c["number"] for c in listed if c["entry"] is None]}


@router.post("/signoff", responses={409: {"description": "refused, with the reason"}})
def signoff(request: Request, s: DB, cb: ApiBoardWrite, body: SignoffBody) -> dict[str, Any]:
    """Sign the board off (two or more different members, by name): its readings (or batch
    counts) go into the county's audit records, and the board takes no more entries until its county reopens it."""
    try:
        so = sign_off_and_log(request, s, cb, body.members)
    except TallyproofError as exc:
        raise refused(exc) from exc
    return {"signoff": so.number, "records_written": so.records_written,
            "records_file": so.records_file or None}

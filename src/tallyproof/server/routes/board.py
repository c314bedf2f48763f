"""Audit-board pages: a board (two or more people, no account) signs in with the passphrase
its county printed (from the board's link or typed), sees only its own list of cards (where
each is, the contests to read: never the CVRs), enters what each paper ballot shows, reviews,
and signs off with its members' names. A board that counts whole batches has the same
sign-in, home, review and sign-off; its batch pages are in :mod:`.board_batch`.

Each card's entry is saved when submitted, under the form's entry key: a retried POST (a
dropped connection, a double tap) finds its entry saved and changes nothing."""

from __future__ import annotations

import secrets
from concurrent.futures import TimeoutError as FutureTimeout
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ...errors import TallyproofError
from ...state.audit_boards import BoardCard
from ...state.audit_batch_boards import BATCH, CARD
from .. import activity, alerts, batch_boards, boards
from ..board_db import AuditBoard, BatchEntry, BoardEntry, BoardSignoff
from ..boards import CurrentBoard
from ..db import SQLITE_BUSY_SECONDS
from ..messages import public_message
from ..deps import CSRF, DB, LoginRequired, settings
from ..pages import render
from ..security import set_session_cookie
from ..writer import DirectWriter, GroupWriter
from .state_audit import client, refused

router = APIRouter(include_in_schema=False)
BOARD_COOKIE = "tp_board"


class BoardRequired(LoginRequired):
    location = "/board/signin"


def board_viewer(request: Request, s: DB) -> CurrentBoard:
    cb = boards.current_board(s, request.cookies.get(BOARD_COOKIE), settings(request))
    if cb is None:
        raise BoardRequired
    return cb


def entry_board(request: Request, s: DB) -> CurrentBoard:
    """The board of an entry's request: its idle clock restarts in the entry's write
    (:func:`save_and_log`), so the request's own transaction writes nothing."""
    cb = boards.current_board(s, request.cookies.get(BOARD_COOKIE), settings(request),
                              touch=False)
    if cb is None:
        raise BoardRequired
    return cb


Board = Annotated[CurrentBoard, Depends(board_viewer)]
EntryBoard = Annotated[CurrentBoard, Depends(entry_board)]


async def form_data(request: Request) -> FormData:
    return await request.form()


Fields = Annotated[FormData, Depends(form_data)]


def _check_csrf(cb: CurrentBoard, form: FormData) -> None:
    if not secrets.compare_digest(str(form.get("csrf", "")), cb.csrf):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")


def board_csrf(cb: Board, form: Fields) -> None:
    _check_csrf(cb, form)


BoardCSRF = Depends(board_csrf)


def entry_csrf(cb: EntryBoard, form: Fields) -> None:
    _check_csrf(cb, form)


def board_page(request: Request, cb: CurrentBoard, name: str, status: int = 200,
               **context: Any) -> Response:
    return render(request, name, None, status=status, csrf=cb.csrf, board=cb.board, **context)


# ------------------------------------------------------------------ sign in and out
@router.get("/board/signin")
def signin_page(request: Request) -> Response:
    return render(request, "board_signin.html", None, slug=None)


@router.get("/board/signin/{slug}")
def signin_link(request: Request, slug: str) -> Response:
    """The board's printed link (its QR code): the sign-in form for that board."""
    return render(request, "board_signin.html", None, slug=slug)


class SigninRefused(Exception):
    """A board sign-in refused: ``status`` 429 (rate limit) or 401 (wrong passphrase)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def open_board_session(request: Request, s: DB, passphrase: str,
                       slug: str | None) -> tuple[str, AuditBoard]:
    """The page's and the API's sign-in: rate-limited by the board's link and the address
    together (boards of a county often sign in from one office address: one board's typos
    must not lock the others out), logged either way; the new session's token and its
    board, or :class:`SigninRefused`."""
    now = settings(request).now()
    keys = (f"board:{slug or '-'}:{client(request)}",)
    limiter = request.app.state.limiter
    if limiter.blocked(keys, now):
        activity.record(s, now, None, "board_login_refused", detail="rate limit",
                        client=client(request))
        raise SigninRefused(429, "Too many failed sign-ins: wait a few minutes and try again.")
    got = boards.sign_in(s, passphrase, slug, now)
    if got is None:
        limiter.failed(keys, now)
        activity.record(s, now, None, "board_login_failed", client=client(request))
        raise SigninRefused(401, "That passphrase does not open this board.")
    limiter.succeeded(keys)
    activity.record(s, now, got[1].label, "board_login", county=got[1].county,
                    client=client(request))
    return got


@router.post("/board/signin", dependencies=[CSRF])
def signin(request: Request, s: DB, passphrase: Annotated[str, Form(max_length=64)],
           slug: Annotated[str, Form(max_length=32)] = "") -> Response:
    try:
        token, _ = open_board_session(request, s, passphrase, slug or None)
    except SigninRefused as exc:
        return render(request, "board_signin.html", None, status=exc.status,
                      slug=slug or None, error=str(exc))
    resp = RedirectResponse("/board", status_code=303)
    set_session_cookie(resp, request, BOARD_COOKIE, token,
                       int(settings(request).session_absolute.total_seconds()))
    return resp


def end_board_session(request: Request, s: DB, cb: CurrentBoard) -> None:
    """The page's and the API's sign-out, logged."""
    now = settings(request).now()
    boards.sign_out(s, cb.session_id, now)
    activity.record(s, now, cb.board.label, "board_logout", county=cb.board.county,
                    client=client(request))


@router.post("/board/signout", dependencies=[BoardCSRF])
def signout(request: Request, s: DB, cb: Board) -> Response:
    end_board_session(request, s, cb)
    resp = RedirectResponse("/board/signin", status_code=303)
    resp.delete_cookie(BOARD_COOKIE)
    return resp


# ------------------------------------------------------------------ the list and entries
@router.get("/board")
def home(request: Request, s: DB, cb: Board) -> Response:
    root = settings(request).state_dir
    closed = boards.is_closed(s, cb.board.round_number)
    if cb.board.unit == BATCH:
        return board_page(request, cb, "board_batches.html",
                          batches=boards.batches_of(root, cb.board),
                          entries=batch_boards.latest_batch_entries(s, cb.board.id),
                          closed=closed)
    return board_page(request, cb, "board_home.html", cards=boards.cards_of(root, cb.board),
                      entries=boards.latest_entries(s, cb.board.id), closed=closed)


def card_at(request: Request, cb: CurrentBoard, number: int) -> BoardCard:
    if cb.board.unit != CARD:
        raise HTTPException(404, "this board counts whole batches, not single cards")
    cards = boards.cards_of(settings(request).state_dir, cb.board)
    if not 1 <= number <= len(cards):
        raise HTTPException(404, "no such card on this board's list")
    return cards[number - 1]


def _ballot_page(request: Request, s: DB, cb: CurrentBoard, number: int, status: int = 200,
                 error: str | None = None) -> Response:
    card = card_at(request, cb, number)
    entry = boards.latest_entries(s, cb.board.id).get(card.ballot_id)
    return board_page(request, cb, "board_ballot.html", status=status, card=card, error=error,
                      contests=boards.contests_of(settings(request).state_dir, cb.board.county),
                      reading=boards.reading_of(entry) if entry else None,
                      entry_key=secrets.token_urlsafe(16),
                      total=len(boards.cards_of(settings(request).state_dir, cb.board)))


@router.get("/board/card/{number}")
def ballot(request: Request, number: int, s: DB, cb: Board) -> Response:
    return _ballot_page(request, s, cb, number)


def reading_from_form(card: Any, form: FormData) -> dict[str, Any]:
    """The form's fields as a reading (validated by :func:`boards.validate_reading`)."""
    if form.get("not_found"):
        return {"not_found": True}
    contests: dict[str, Any] = {}
    for cid in card.contests:
        kind = form.get(f"r.{cid}")
        if kind == "overvote":
            contests[cid] = {"overvote": True}
        elif kind == "cant_agree":
            contests[cid] = {"cant_agree": str(form.get(f"n.{cid}", ""))}
        elif kind == "marks":
            contests[cid] = {"marks": [str(v) for v in form.getlist(f"m.{cid}")]}
    return {"not_found": False, "contests": contests}


#: how long an entry's request waits for its batch's commit (a write waiting for SQLite's
#: lock gives up after ``db.SQLITE_BUSY_SECONDS``)
ENTRY_WAIT_SECONDS = 2 * SQLITE_BUSY_SECONDS


def save_and_log(request: Request, s: DB, cb: CurrentBoard, card: BoardCard, entry_key: str,
                 reading: dict[str, Any]) -> tuple[BoardEntry, bool]:
    """The page's and the API's card entry: the reading checked here, then saved by
    :func:`write_entry` (idempotent by the key, :func:`boards.store_entry`)."""
    stored = boards.stored_reading(settings(request).state_dir, cb.board, entry_key,
                                   card.ballot_id, reading)
    board_id = cb.board.id
    return write_entry(request, s, cb, lambda db, now: boards.store_entry(
        db, board_id, entry_key, card.ballot_id, stored, now),
        "board_entry", f"ballot {card.ballot_id}")


E = TypeVar("E", BoardEntry, BatchEntry)


def write_entry(request: Request, s: DB, cb: CurrentBoard,
                store: Callable[[Session, datetime], tuple[E, bool]], action: str,
                what: str) -> tuple[E, bool]:
    """Save a board's entry (a card's reading, a batch's counts: ``store``, checked by the
    caller) by the app's writer (:func:`~tallyproof.server.writer.writer_for`) with the
    board session's idle clock and, when new, its activity row (``action``, ``what``), in one
    transaction. On SQLite the group writer's transaction, committed before this returns; on
    PostgreSQL the request's ``s``, committed before the answer is sent. Either way an
    acknowledged entry is durable."""
    now, label, county = settings(request).now(), cb.board.label, cb.board.county
    session_id, address = cb.session_id, client(request)

    def write(db: Session) -> tuple[E, bool]:
        boards.touch_session(db, session_id, now)
        entry, new = store(db, now)
        if new:
            activity.record(db, now, label, action, county=county,
                            detail=f"{what} (entry {entry.id})", client=address)
        return entry, new

    writer: GroupWriter | DirectWriter = request.app.state.writer
    try:
        return writer.write(write, session=s, timeout=ENTRY_WAIT_SECONDS)
    except FutureTimeout as exc:
        raise HTTPException(503, "the entry was not confirmed in time: send it again (the "
                                 "same form is never saved twice)") from exc


@router.post("/board/card/{number}", dependencies=[Depends(entry_csrf)])
def enter(request: Request, number: int, s: DB, cb: EntryBoard, form: Fields) -> Response:
    """Save the card's reading (idempotent by ``entry_key``), then go to the next card."""
    card = card_at(request, cb, number)
    try:
        save_and_log(request, s, cb, card, str(form.get("entry_key", "")),
                     reading_from_form(card, form))
    except (boards.EntryConflict, boards.BoardClosed) as exc:
        raise refused(exc) from exc
    except TallyproofError as exc:
        return _ballot_page(request, s, cb, number, status=422,
                            error=public_message(settings(request), str(exc)))
    total = len(boards.cards_of(settings(request).state_dir, cb.board))
    return RedirectResponse(f"/board/card/{number + 1}" if number < total else "/board/review",
                            status_code=303)


@router.get("/board/review")
def review(request: Request, s: DB, cb: Board) -> Response:
    root = settings(request).state_dir
    if cb.board.unit == BATCH:
        return board_page(request, cb, "board_batch_review.html",
                          batches=boards.batches_of(root, cb.board),
                          entries={b: batch_boards.counts_of(e) for b, e in
                                   batch_boards.latest_batch_entries(s, cb.board.id).items()},
                          contests=boards.contests_of(root, cb.board.county))
    return board_page(request, cb, "board_review.html", cards=boards.cards_of(root, cb.board),
                      entries={b: boards.reading_of(e) for b, e in
                               boards.latest_entries(s, cb.board.id).items()},
                      contests=boards.contests_of(root, cb.board.county))


def sign_off_and_log(request: Request, s: DB, cb: CurrentBoard,
                     members: list[str]) -> BoardSignoff:
    """The page's and the API's sign-off (:func:`boards.sign_off`, or for a board counting
    batches :func:`batch_boards.sign_off_batches`), logged with its members."""
    cfg = settings(request)
    sign = batch_boards.sign_off_batches if cb.board.unit == BATCH else boards.sign_off
    alerts.lock_round(s, cb.board.county, cb.board.round_number)
    so = sign(s, cfg.state_dir, cb.board, members, cfg.now())
    activity.record(s, cfg.now(), cb.board.label, "board_signed_off", county=cb.board.county,
                    detail=f"sign-off {so.number} by {', '.join(m.strip() for m in members if m.strip())}: "
                           f"{so.records_written} record(s) written"
                           + (f" to {so.records_file}" if so.records_file else ""),
                    client=client(request))
    alerts.round_entered(s, cb.board.county, cb.board.round_number, cfg.now())
    return so


@router.post("/board/signoff", dependencies=[BoardCSRF])
def signoff(request: Request, s: DB, cb: Board, form: Fields) -> Response:
    try:
        sign_off_and_log(request, s, cb, [str(v) for v in form.getlist("member")])
    except TallyproofError as exc:
        raise refused(exc) from exc
    return RedirectResponse("/board", status_code=303)

"""Batch pages of an audit board that hand counts whole batches (the batch stratum of a
statewide audit, a batch comparison, a full hand count): a batch's form, where the board
enters per contest the votes it counted for every choice, blind to the reported tally.

Each batch's count is saved when submitted, under the form's entry key (a retried POST after a
dropped connection finds its entry and adds nothing); submitting again with a new key corrects
it before sign-off. Home, review and sign-off are the board's pages (:mod:`.board`)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from ...errors import TallyproofError
from ...state.audit_batch_boards import BATCH, BoardBatch
from .. import batch_boards, boards
from ..board_db import BatchEntry
from ..boards import CurrentBoard
from ..deps import DB, settings
from .board import Board, EntryBoard, Fields, board_page, entry_csrf, write_entry
from .state_audit import refused

router = APIRouter(include_in_schema=False)


def batch_at(request: Request, cb: CurrentBoard, number: int) -> BoardBatch:
    """Batch ``number`` of the board's own list (404 for a card board or another number)."""
    if cb.board.unit != BATCH:
        raise HTTPException(404, "this board reads single cards, not whole batches")
    batches = boards.batches_of(settings(request).state_dir, cb.board)
    if not 1 <= number <= len(batches):
        raise HTTPException(404, "no such batch on this board's list")
    return batches[number - 1]


def _batch_page(request: Request, s: DB, cb: CurrentBoard, number: int, status: int = 200,
                error: str | None = None, typed: dict[str, Any] | None = None) -> Response:
    batch = batch_at(request, cb, number)
    entry = batch_boards.latest_batch_entries(s, cb.board.id).get(batch.batch_id)
    root = settings(request).state_dir
    return board_page(request, cb, "board_batch.html", status=status, batch=batch, error=error,
                      contests=boards.contests_of(root, cb.board.county),
                      counts=typed or (batch_boards.counts_of(entry) if entry else None),
                      saved=entry is not None, entry_key=secrets.token_urlsafe(16),
                      total=len(boards.batches_of(root, cb.board)))


@router.get("/board/batch/{number}")
def batch_page(request: Request, number: int, s: DB, cb: Board) -> Response:
    return _batch_page(request, s, cb, number)


def counts_from_form(batch: BoardBatch, form: FormData) -> dict[str, Any]:
    """The form's fields (``v.<contest>.<choice>``) as counts, validated by
    :func:`batch_boards.validate_counts`; a cell left empty stays empty (refused there)."""
    if form.get("not_found"):
        return {"not_found": True}
    prefix = "v."
    contests: dict[str, dict[str, str]] = {}
    for name, value in form.multi_items():
        if name.startswith(prefix) and isinstance(value, str):
            cid, _, choice = name[len(prefix):].partition(".")
            contests.setdefault(cid, {})[choice] = value.strip()
    for cid in batch.contests:
        contests.setdefault(cid, {})
    return {"not_found": False, "contests": {c: {k: v for k, v in got.items() if v != ""}
                                             for c, got in contests.items()}}


def save_batch_and_log(request: Request, s: DB, cb: CurrentBoard, batch: BoardBatch,
                       entry_key: str, counts: dict[str, Any]) -> tuple[BatchEntry, bool]:
    """The page's and the API's batch entry: the counts checked here, then saved by the
    app's writer as a card's reading is (:func:`.board.write_entry`; idempotent by the key,
    :func:`batch_boards.store_batch_entry`), so its acknowledgement means durable the same way."""
    stored = batch_boards.stored_counts(settings(request).state_dir, cb.board, entry_key,
                                        batch, counts)
    board_id = cb.board.id
    return write_entry(request, s, cb, lambda db, now: batch_boards.store_batch_entry(
        db, board_id, entry_key, batch.batch_id, stored, now),
        "board_batch_entry", f"batch {batch.batch_id}")


@router.post("/board/batch/{number}", dependencies=[Depends(entry_csrf)])
def enter(request: Request, number: int, s: DB, cb: EntryBoard, form: Fields) -> Response:
    """Save the batch's counts (idempotent by ``entry_key``), then go to the next batch."""
    batch = batch_at(request, cb, number)
    counts = counts_from_form(batch, form)
    try:
        save_batch_and_log(request, s, cb, batch, str(form.get("entry_key", "")), counts)
    except (boards.EntryConflict, boards.BoardClosed) as exc:
        raise refused(exc) from exc
    except TallyproofError as exc:
        return _batch_page(request, s, cb, number, status=422, error=str(exc), typed=counts)
    total = len(boards.batches_of(settings(request).state_dir, cb.board))
    return RedirectResponse(f"/board/batch/{number + 1}" if number < total else "/board/review",
                            status_code=303)

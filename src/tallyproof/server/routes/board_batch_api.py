"""The batch boards' JSON API, beside the card boards' (:mod:`.board_api`: sign-in, the
board, review, sign-off and sign-out are shared): a board's batches and an entry per batch,
through the same functions as the batch pages (:mod:`.board_batch`), so the API can neither
save nor check anything the pages would not. Entries are idempotent by ``entry_key``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ...state.audit_batch_boards import BATCH
from .. import batch_boards, boards
from ..board_db import AuditBoard, BatchEntry
from ..deps import DB, settings
from .board_api import ApiBoard, ApiEntryWrite, entry_answer
from .board_batch import batch_at, save_batch_and_log

router = APIRouter(prefix="/api/board", tags=["audit board"])
BatchNumber = Annotated[int, Path(ge=1, le=100_000)]
Votes = Annotated[int, Field(ge=0, le=batch_boards.MAX_VOTES)]


class BatchEntryBody(BaseModel):
    """A batch's count: per contest tallied in it, the votes counted for every choice (0 for
    none), or ``not_found``."""
    entry_key: str = Field(min_length=8, max_length=64,
                           description="chosen by the client, once per count; a retry sends "
                                       "the same key")
    not_found: bool = False
    contests: dict[Annotated[str, Field(max_length=128)],
                   dict[Annotated[str, Field(max_length=128)], Votes]] = Field(
        default_factory=dict, max_length=64)


def _entry_json(e: BatchEntry | None) -> dict[str, Any] | None:
    return None if e is None else {"id": e.id, "entry_key": e.entry_key,
                                   "counts": batch_boards.counts_of(e)}


def batches_json(request: Request, s: DB, board: AuditBoard) -> list[dict[str, Any]]:
    """The board's batches: where each is, its cards per the manifest, the contests and
    choices to count (never the reported tallies), and the entry that counts so far."""
    if board.unit != BATCH:
        raise HTTPException(404, "this board reads single cards: see /api/board/cards")
    root = settings(request).state_dir
    contests = boards.contests_of(root, board.county)
    latest = batch_boards.latest_batch_entries(s, board.id)
    return [{"number": b.number, "batch_id": b.batch_id, "container": b.container,
             "tabulator": b.tabulator, "batch": b.batch, "cards": b.cards,
             "cards_source": b.cards_source,
             "contests": [{"id": cid, "name": contests[cid].name,
                           "vote_for": contests[cid].vote_for,
                           "choices": [{"id": k.id, "name": k.name}
                                       for k in contests[cid].candidates]}
                          for cid in b.contests],
             "entry": _entry_json(latest.get(b.batch_id))}
            for b in boards.batches_of(root, board)]


@router.get("/batches")
def batches(request: Request, s: DB, cb: ApiBoard) -> list[dict[str, Any]]:
    """A batch board's list (404 for a board that reads single cards)."""
    return batches_json(request, s, cb.board)


@router.post("/batches/{number}/entries", status_code=201,
             responses={200: {"description": "this entry key was saved before: nothing added"},
                        404: {"description": "no such batch on the board's list, or the "
                                             "board reads single cards"},
                        409: {"description": "the key was used with other counts, or the "
                                             "board signed off, or the round is closed"},
                        422: {"description": "a choice without a count, a name not in the "
                                             "contest, or more votes than the cards allow"}})
def enter(request: Request, number: BatchNumber, body: BatchEntryBody, s: DB,
          cb: ApiEntryWrite) -> JSONResponse:
    """Save the count of batch ``number``. 201 with the new entry; 200 with the entry
    already saved under this ``entry_key`` (a retry). A later entry for the same batch, with a
    new key, corrects it (before sign-off)."""
    batch = batch_at(request, cb, number)
    counts = {"not_found": True} if body.not_found else {"not_found": False,
                                                          "contests": body.contests}
    return entry_answer(lambda: save_batch_and_log(request, s, cb, batch, body.entry_key,
                                                   counts),
                        {"batch_id": batch.batch_id}, _entry_json)

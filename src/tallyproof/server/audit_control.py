"""The state administrator's control of the statewide audit, through the library: start it
(risk limit, public seed, kind), launch a round (:func:`~tallyproof.state.audit.next_state_round`;
a full hand count has one, every batch) and close it (every board signed off; the risk
measured by :func:`~tallyproof.state.audit_status.state_audit_status`, or a full hand count
compared with the CVRs by :func:`~tallyproof.state.audit_status.hand_count_status`, written to
``audit/status.json``).
Nothing here computes a risk or a sample. The request checks what it can at once
(``check_*``); the work itself runs in a job (:mod:`.audit_jobs`) on the job executor."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from ..state.audit import (KINDS, StateAuditParams, StateRound, check_strata,
                           load_state_audit, load_state_rounds, next_state_round,
                           start_state_audit)
from ..state.audit_status import hand_count_status, state_audit_status
from ..state.audit_tasks import audit_dir
from ..state.batch_county import BATCH_TALLIES
from ..state.executor import Executor
from ..state.spec import load_spec
from .board_db import BoardStatus, ClosedRound
from .boards import BoardError, is_closed, round_boards


def params_or_none(root: Path) -> StateAuditParams | None:
    return load_state_audit(root) if (audit_dir(root) / "audit.json").exists() else None


def last_status(root: Path) -> dict[str, Any] | None:
    """``audit/status.json``, the library's last measurement, or None."""
    path = audit_dir(root) / "status.json"
    return orjson.loads(path.read_bytes()) if path.exists() else None


def default_kind(root: Path) -> str:
    """The kind the start form offers first: a card-level comparison, or in a state with a
    county that reports batch tallies only, the stratified audit (its batches the second
    stratum), the one the library accepts there that uses every county's CVRs."""
    spec = load_spec(root)
    return "stratified" if any(c.kind == BATCH_TALLIES for c in spec.counties) else "comparison"


def polling_choices(root: Path) -> list[str]:
    """The counties the start form offers as polling counties of a stratified audit: those
    with CVRs, in a state without a county that reports batch tallies only (there the batch
    counties are the second stratum and the library takes no polling county)."""
    spec = load_spec(root)
    if any(c.kind == BATCH_TALLIES for c in spec.counties):
        return []
    return [c.id for c in spec.counties]


def start(root: Path, ex: Executor, risk_limit: float, seed: str,
          kind: str, polling_counties: Sequence[str] = ()) -> StateAuditParams:
    """Start the audit of ``kind`` (any of the library's :data:`KINDS`: boards read single
    cards, or count whole batches where the county's part is by batch); the library refuses
    a kind the state cannot have (ballot polling or card-level comparison alone with a county
    that reports batch tallies only). ``polling_counties``: a stratified audit's counties
    audited by ballot polling (``state audit start --polling-county``). Runs in a job
    (:mod:`.audit_jobs`), the counties' work on ``ex``."""
    check_start(root, kind, polling_counties)
    return start_state_audit(root, ex, risk_limit=risk_limit, seed=seed, kind=kind,
                             polling_counties=polling_counties)


def check_start(root: Path, kind: str, polling_counties: Sequence[str] = ()) -> None:
    """What the request refuses before it queues the start: an unknown kind, an audit
    already started, and the strata the library would refuse (:func:`check_strata`: polling
    counties only in a stratified audit, some but not all of them, none with batch
    counties); the library checks the rest when the job runs."""
    if kind not in KINDS:
        raise BoardError(f"audit kind {kind!r}: choose from {', '.join(KINDS)}")
    if params_or_none(root) is not None:
        raise BoardError("the statewide audit is already started")
    check_strata(load_spec(root), kind, polling_counties)


def check_round(db: Session, root: Path) -> int:
    """The number of the round to draw next; :class:`BoardError` while no audit is started or
    the previous round is open."""
    if params_or_none(root) is None:
        raise BoardError("no statewide audit is started yet")
    n = len(load_state_rounds(root))
    if n and not is_closed(db, n):
        raise BoardError(f"close round {n} before launching the next")
    return n + 1


def launch_round(root: Path, ex: Executor) -> StateRound:
    """Draw the next round (the library sizes it from the risk measured so far)."""
    return next_state_round(root, ex)


def check_close(db: Session, root: Path) -> int:
    """The number of the round to close: the latest, open, every board signed off;
    :class:`BoardError` otherwise. Asked before the measurement and again, in the closing
    transaction, after it (a board reopened meanwhile keeps the round open)."""
    n = len(load_state_rounds(root)) if params_or_none(root) is not None else 0
    if n == 0 or is_closed(db, n):
        raise BoardError("no open round to close")
    open_boards = [b.label for b in round_boards(db, n) if b.status != BoardStatus.SIGNED_OFF]
    if open_boards:
        raise BoardError("boards still working: " + ", ".join(open_boards))
    return n


def measure(root: Path, ex: Executor) -> str:
    """Measure the audit from every record so far (written to ``audit/status.json``); returns
    the status in words. A full hand count's is
    :func:`~tallyproof.state.audit_status.hand_count_status` (the hand count against the
    CVRs), else the statewide risk. :class:`BoardError` while a drawn card or batch has no
    record: the round cannot close."""
    params = load_state_audit(root)
    if params.kind == "handcount":
        hand = hand_count_status(root, ex, write=True)
        waiting = [f"{c.batches - c.counted} batch(es) of {c.contest_id}" for c in hand
                   if c.counted < c.batches]
        if waiting:
            raise BoardError("batches without a count: " + "; ".join(waiting))
        return "; ".join(f"{c.contest_id} {c.status}" for c in hand)
    status = state_audit_status(root, ex, write=True)
    if status.waiting:
        raise BoardError("drawn cards or batches without a record: " + "; ".join(
            f"{k} in county {c}" for c, k in status.waiting.items()))
    return status.status


def record_closed(db: Session, root: Path, n: int, user_id: int,
                  now: datetime) -> None:
    """Close round ``n`` (its boards take no more entries), once :func:`check_close` still
    holds."""
    if check_close(db, root) != n:
        raise BoardError(f"round {n} is no longer the open round")
    db.add(ClosedRound(round_number=n, user_id=user_id, closed_at=now))
    db.flush()

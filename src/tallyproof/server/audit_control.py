"""The state administrator's control of the statewide audit, through the library: start it
(risk limit, public seed, kind), launch a round (:func:`~tallyproof.state.audit.next_state_round`;
a full hand count has one, every batch) and close it (every board signed off; the risk
measured by :func:`~tallyproof.state.audit_status.state_audit_status`, or a full hand count
compared with the CVRs by :func:`~tallyproof.state.audit_status.hand_count_status`, written to
``audit/status.json``).
Nothing here computes a risk or a sample."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from ..state.audit import (KINDS, StateAuditParams, StateRound, load_state_audit,
                           load_state_rounds, next_state_round, start_state_audit)
from ..state.audit_status import hand_count_status, state_audit_status
from ..state.audit_tasks import audit_dir
from ..state.batch_county import BATCH_TALLIES
from ..state.executor import InProcess
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


def start(root: Path, risk_limit: float, seed: str, kind: str) -> StateAuditParams:
    """Start the audit of ``kind`` (any of the library's :data:`KINDS`: boards read single
    cards, or count whole batches where the county's part is by batch); the library refuses
    a kind the state cannot have (ballot polling or card-level comparison alone with a county
    that reports batch tallies only)."""
    if kind not in KINDS:
        raise BoardError(f"audit kind {kind!r}: choose from {', '.join(KINDS)}")
    return start_state_audit(root, InProcess(), risk_limit=risk_limit, seed=seed, kind=kind)


def launch_round(db: Session, root: Path) -> StateRound:
    """Draw the next round; the previous one must be closed first."""
    n = len(load_state_rounds(root))
    if n and not is_closed(db, n):
        raise BoardError(f"close round {n} before launching the next")
    return next_state_round(root, InProcess())


def close_round(db: Session, root: Path, user_id: int, now: datetime) -> str:
    """Close the latest round once all its boards signed off and every drawn card or batch
    has a record; returns, in words, the status the library measured (a full hand count's:
    :func:`~tallyproof.state.audit_status.hand_count_status`, the hand count against the
    CVRs; else the statewide risk)."""
    n = len(load_state_rounds(root))
    if n == 0 or is_closed(db, n):
        raise BoardError("no open round to close")
    open_boards = [b.label for b in round_boards(db, n) if b.status != BoardStatus.SIGNED_OFF]
    if open_boards:
        raise BoardError("boards still working: " + ", ".join(open_boards))
    params = load_state_audit(root)
    if params.kind == "handcount":
        hand = hand_count_status(root, InProcess(), write=True)
        waiting = [f"{c.batches - c.counted} batch(es) of {c.contest_id}" for c in hand
                   if c.counted < c.batches]
        if waiting:
            raise BoardError("batches without a count: " + "; ".join(waiting))
        summary = "; ".join(f"{c.contest_id} {c.status}" for c in hand)
    else:
        status = state_audit_status(root, InProcess(), write=True)
        if status.waiting:
            raise BoardError("drawn cards or batches without a record: " + "; ".join(
                f"{k} in county {c}" for c, k in status.waiting.items()))
        summary = status.status
    db.add(ClosedRound(round_number=n, user_id=user_id, closed_at=now))
    db.flush()
    return f"round {n}: {summary}"

"""The statewide audit's work as jobs: starting it (the frame of every county), drawing a
round (the sample and every county's retrieval list) and closing a round (the risk measured
from every county's records), each on the job runner's thread pool with the counties' tasks on
the job executor (:func:`.jobs.make_executor`: in this process, or Dask when a scheduler is
set), as the county jobs are.

The request checks what it can at once (:mod:`.audit_control`'s ``check_*``: 409 with the
reason), queues the job and returns; the job's row shows its progress (each county task's end,
:class:`ProgressExecutor`) and ends done with the outcome in words or failed with the
library's own message. The job's row holds the statewide lock (``county`` =
:data:`.db.STATE_LOCK`): one statewide job at a time, and none while a county job is open
(the audit reads every county's store), nor a county job while it is
(:func:`.activity.start_job`). What was asked (risk limit, seed, kind; the round) is kept on
the row (``params``), so a job left queued by a stopped server runs as asked.

Restart (:func:`recover`, called by :func:`.jobs.recover`): each of these jobs writes its
result with one atomic write at its end (``audit/audit.json``, ``audit/rounds/round-N.json``,
``audit/status.json``), and the retrieval lists before it are rewritten identically by a
second run (the draw is a function of the seed), so a job the stop interrupted is run again,
unless its result is already on disk: then it is closed done, saying so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from ..errors import TallyproofError
from ..state.audit import load_state_rounds
from ..state.executor import Call, Executor, Outcome, R
from . import audit_control
from .activity import finish_job, record, start_job
from .boards import is_closed
from .db import STATE_LOCK, Job, JobStatus, User
from .messages import public_message

AUDIT_START, AUDIT_ROUND, AUDIT_CLOSE = "audit_start", "audit_round", "audit_close"
KINDS = (AUDIT_START, AUDIT_ROUND, AUDIT_CLOSE)
#: the activity log's action for each job's success (as when the work ran in the request)
DONE_ACTION = {AUDIT_START: "audit_started", AUDIT_ROUND: "audit_round_launched",
               AUDIT_CLOSE: "audit_round_closed"}
#: what each county task of the library does, in words (by the task function's name)
STEPS = {"frame_task": "reading each county's audit frame",
         "batch_task": "reading each county's batches",
         "draw_task": "drawing each county's part of the sample",
         "retrieval_task": "writing each county's retrieval list",
         "county_batches": "listing each county's batches",
         "readings_task": "reading each county's audit-board records"}
#: the least time between two writes of a job's progress (a state of many counties on Dask
#: ends tasks faster than a row needs rewriting); the last county's end is always written
PROGRESS_EVERY = 0.25


def describe(kind: str, params: dict[str, Any]) -> str:
    if kind == AUDIT_START:
        polling = params.get("polling_counties") or []
        return (f"start a {params['kind']} audit, risk limit {params['risk_limit']:g}, "
                f"seed {params['seed']}"
                + (f", polling counties {', '.join(polling)}" if polling else ""))
    if kind == AUDIT_ROUND:
        return f"draw round {params['round']}"
    return f"close round {params['round']} and measure the risk"


def queue(db: Session, kind: str, params: dict[str, Any], user_id: int, username: str,
          now: datetime, client: str | None = None) -> Job:
    """Queue a statewide job (taking the statewide lock: :class:`.activity.CountyBusy` if a
    statewide or county job is open); the caller submits it once this transaction commits."""
    job = start_job(db, STATE_LOCK, kind, user_id, now)
    job.params = orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode()
    job.progress = "queued"
    db.flush()
    record(db, now, username, "job_queued", None, f"job {job.id}: {describe(kind, params)}",
           client=client)
    return job


class ProgressExecutor:
    """The job executor, reporting on the job's row how many counties' tasks of each step
    have ended (``report`` writes it). The tasks and their results are the inner executor's:
    a run reported so gives the same bytes as one that is not."""

    def __init__(self, inner: Executor, report: Callable[[str], None]) -> None:
        self.inner, self.report = inner, report
        self.dashboard = inner.dashboard

    def map(self, fn: Callable[..., R], counties: Sequence[str], *args: Any,
            progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        return self.map_each(fn, [(c, args) for c in counties], progress)

    def map_each(self, fn: Callable[..., R], calls: Sequence[Call],
                 progress: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
        what, total, done = STEPS.get(fn.__name__, fn.__name__), len(calls), 0
        last = time.monotonic()
        self.report(f"{what}: 0 of {total} county task(s) done")

        def each(o: Outcome[R]) -> None:
            nonlocal done, last
            done += 1
            if done == total or time.monotonic() - last >= PROGRESS_EVERY:
                self.report(f"{what}: {done} of {total} county task(s) done")
                last = time.monotonic()
            if progress:
                progress(o)

        return self.inner.map_each(fn, calls, each)


def _params(job: Job) -> dict[str, Any]:
    return orjson.loads(job.params or "{}")


def run(runner: Any, job_id: int) -> None:
    """Run one queued statewide job to its end (module docstring); ``runner`` is the
    :class:`.jobs.JobRunner`."""
    settings = runner.settings
    root = Path(settings.state_dir)

    def begin(db: Session, job: Job) -> tuple[str, dict[str, Any], str | None] | None:
        if job.status != JobStatus.QUEUED.value:
            return None  # already run (a second submit of the same job)
        job.status, job.started_at = JobStatus.RUNNING.value, settings.now()
        job.progress = "started"
        record(db, settings.now(), None, "job_started", None, f"job {job.id}: {job.kind}")
        user = db.get(User, job.user_id) if job.user_id is not None else None
        return job.kind, _params(job), user.username if user else None

    plan = _set(runner, job_id, begin)
    if plan is None:
        return
    kind, params, username = plan

    def report(text: str) -> None:
        _set(runner, job_id, lambda db, job: setattr(job, "progress", text))

    ex = ProgressExecutor(runner.executor, report)
    finish: Finish | None = None
    try:
        summary, finish = _work(runner, kind, params, root, ex)
        ok = True
    except TallyproofError as exc:
        summary, ok = f"{type(exc).__name__}: {exc}", False
    except BaseException as exc:  # a bug: close the job, then let it propagate
        failure = f"internal error: {type(exc).__name__}"
        _set(runner, job_id, lambda db, job: close(db, settings, job, False, failure, None))
        raise

    def end(db: Session, job: Job) -> None:
        nonlocal ok, summary
        if ok and finish is not None:
            try:  # in the job's closing transaction: the round is closed with its job, or not
                with db.begin_nested():
                    finish(db, job)
            except TallyproofError as exc:
                summary, ok = f"{type(exc).__name__}: {exc}", False
        close(db, settings, job, ok, summary, username if ok else None)

    _set(runner, job_id, end)


#: what a job's closing transaction does besides closing it (the round's closing)
Finish = Callable[[Session, Job], None]


def _work(runner: Any, kind: str, params: dict[str, Any], root: Path,
          ex: Executor) -> tuple[str, Finish | None]:
    """The job's work: its outcome in words, and what its closing transaction also does (a
    :class:`TallyproofError` fails the job)."""
    if kind == AUDIT_START:
        p = audit_control.start(root, ex, float(params["risk_limit"]), str(params["seed"]),
                                str(params["kind"]),
                                [str(c) for c in params.get("polling_counties") or []])
        polling = (f", polling counties {', '.join(p.polling_counties)}"
                   if p.polling_counties else "")
        return (f"{p.kind}, risk limit {p.risk_limit:g}, seed {p.seed}{polling}: "
                f"{len(p.contests)} contest(s), {len(p.assertions)} assertion(s)"), None
    if kind == AUDIT_ROUND:
        want = int(params["round"])
        with runner.sessions() as db:
            if audit_control.check_round(db, root) != want:
                raise audit_control.BoardError(f"round {want} is no longer the next round")
        r = audit_control.launch_round(root, ex)
        return (f"round {r.number}: {sum(r.new_cards.values())} card(s) in "
                f"{len(r.new_cards)} county(ies)"), None
    n = int(params["round"])
    with runner.sessions() as db:
        if audit_control.check_close(db, root) != n:
            raise audit_control.BoardError(f"round {n} is no longer the open round")
    summary = audit_control.measure(root, ex)  # no database transaction held meanwhile

    def closed(db: Session, job: Job) -> None:
        if job.user_id is None:
            raise audit_control.BoardError("the job has no administrator to close the round")
        audit_control.record_closed(db, root, n, job.user_id, runner.settings.now())

    return f"round {n}: {summary}", closed


def _set(runner: Any, job_id: int, fn: Callable[[Session, Job], Any]) -> Any:
    from .jobs import _set as set_job

    return set_job(runner, job_id, fn)


def close(db: Session, settings: Any, job: Job, ok: bool, message: str,
          username: str | None) -> None:
    """Close a statewide job (releasing the statewide lock) and log it; a success is also
    logged under the administrator's action (``audit_started``...), as they asked it."""
    now = settings.now()
    message = public_message(settings, message)
    finish_job(db, job, ok, now, message)
    job.progress = "done" if ok else "failed"
    record(db, now, None, "job_done" if ok else "job_failed", None,
           f"job {job.id}: {job.kind}: {message}")
    if ok and username is not None:
        record(db, now, username, DONE_ACTION[job.kind], None, message)


def recover(db: Session, settings: Any, job: Job) -> bool:
    """A statewide job a stopped server left ``running``: closed done if its result is on disk
    (True: nothing to run), else queued to run again (False)."""
    root, params, now = Path(settings.state_dir), _params(job), settings.now()
    done: str | None = None
    if job.kind == AUDIT_START and audit_control.params_or_none(root) is not None:
        done = "the audit's parameters (audit/audit.json) were written before the server stopped"
    elif job.kind == AUDIT_ROUND and len(load_state_rounds(root)) >= int(params["round"]):
        done = f"round {params['round']} was drawn before the server stopped"
    elif job.kind == AUDIT_CLOSE and is_closed(db, int(params["round"])):
        done = f"round {params['round']} was closed before the server stopped"
    if done is not None:
        user = db.get(User, job.user_id) if job.user_id is not None else None
        close(db, settings, job, True, done, user.username if user else None)
        return True
    job.status, job.progress = JobStatus.QUEUED.value, "resumed after a restart"
    record(db, now, None, "job_resumed", None,
           f"job {job.id}: {job.kind}: the server stopped while it ran")
    return False

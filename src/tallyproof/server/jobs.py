"""Jobs: the control room's background work on one county (ingest of an upload, commit of
the county log), with progress, on the state layer's executor seam
(:mod:`tallyproof.state.executor`: in this process by default, Dask when a scheduler is set).

A job row is queued in the request that asks for it (its open row is the county's lock,
:func:`.activity.start_job`), then run by :class:`JobRunner` on a thread pool: the thread
marks it running, hands the county task to the executor, and closes it done or failed with
the task's own error (the reader's message for a malformed export). Each county task writes
the county's store or inputs atomically, so a job is never half-done on disk.

After a crash, :func:`recover` (at server start) closes or resumes what was left open:

- ``queued`` jobs never started: run them.
- ``running`` **ingest**: failed with a message. The store's write is one transaction, so the
  export is either wholly in the store or not at all; the upload is made ingestible again,
  and ingesting it twice is refused by the store (same files, same SHA-256), so a county can
  never count it twice. It is not re-run by itself: an export that brought the server down
  would bring it down again.
- ``running`` **commit**: resumed (queued and run again). Committing is idempotent: it
  commits only the CVRs not yet in the log.
- ``running`` **statewide audit job**: closed done if its result is already written, else
  resumed (:func:`.audit_jobs.recover`).

The statewide audit's jobs (start, round, close) run on the same runner and executor; their
work is in :mod:`.audit_jobs`, which :func:`run_job` hands them to.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..errors import InputError, UsageError
from ..state.executor import Executor, InProcess
from .activity import finish_job, record, start_job
from .config import Settings
from .db import Job, JobStatus, Upload, UploadKind, UploadStatus, User
from .messages import EXTRACT_PREFIX, public_message
from .uploads import UploadRefused, data_path

INGEST, COMMIT = "ingest", "commit"
KINDS = (INGEST, COMMIT)
#: upload kinds the statewide audit's sample is drawn from (the CVRs, the ballot manifest,
#: a batch county's tallies): once the audit has started, ingesting one would change the
#: population under an audit whose parameters and sample are already fixed
FROZEN_BY_AUDIT = frozenset({UploadKind.CVR_EXPORT.value, UploadKind.MANIFEST.value,
                             UploadKind.BATCH_TALLIES.value})


def audit_started(settings: Settings) -> bool:
    """Whether the statewide audit has started: ``audit/audit.json``, the parameters
    ``state audit start`` fixes (the library has no other test of it)."""
    from ..state.audit_tasks import audit_dir

    return (audit_dir(settings.state_dir) / "audit.json").exists()


def audit_refusal(kind: str) -> str:
    return (f"the statewide audit has started: a {kind.replace('_', ' ')} can no longer be "
            "ingested (it would change the ballots the audit's sample is drawn from)")


# ------------------------------------------------------------------ county tasks (picklable)
@dataclass(frozen=True)
class UploadIngest:
    summary: str


def _export_source(folder: Path) -> Path:
    """What the reader reads from an extracted archive: its one top-level entry (a folder of
    Dominion JSON, one CSV), else the folder itself."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return entries[0] if len(entries) == 1 else folder


def ingest_upload_task(county: str, root: str, path: str, kind: str) -> UploadIngest:
    """Read one verified upload into the county: an export (a zip is extracted first, with
    :func:`tallyproof.bundle_zip.safe_extract`'s checks) or a ballot manifest through
    :func:`tallyproof.ingest.ingest` (one transaction), pollbooks or certified results through
    their readers, then into ``STATE/counties/<id>/inputs/`` atomically; in a county with
    batch tallies only, its batch tallies CSV and ballot manifest
    (:func:`_ingest_batch_county`)."""
    from ..state.batch_county import is_batch_county
    from ..state.spec import load_spec
    from ..state.tasks import ingest_task

    src = Path(path)
    if kind in (UploadKind.POLLBOOKS, UploadKind.OFFICIAL_RESULTS):
        return UploadIngest(_install_input(county, root, src, kind))
    batch = is_batch_county(load_spec(Path(root)), county)
    if batch or kind == UploadKind.BATCH_TALLIES:
        return UploadIngest(_ingest_batch_county(county, root, src, kind, batch))
    if kind == UploadKind.MANIFEST:
        res = ingest_task(county, root, [], manifest=str(src))
        return UploadIngest(f"ballot manifest replaced ({res.cards_total:,} cards in the store)")
    if src.suffix != ".zip":
        res = ingest_task(county, root, [str(src)])
    else:
        from ..bundle_zip import safe_extract

        work = Path(tempfile.mkdtemp(prefix=EXTRACT_PREFIX, dir=src.parent))
        try:
            safe_extract(src, work)
            res = ingest_task(county, root, [str(_export_source(work))])
        finally:
            shutil.rmtree(work)
    if res.already:  # a second upload of one export is the county's mistake to see
        raise InputError("this exact export was already ingested into the county's store; "
                         "nothing was added", file=src)
    return UploadIngest(f"{res.cards_added:,} cards added ({res.format}); "
                        f"{res.cards_total:,} in the store")


#: where a batch county's tallies CSV is kept once ingested, beside its ballot manifest
#: (``exports/ballot_manifest.csv``): the county's exports folder, which
#: ``tallyproof state ingest STATE ID`` reads, so the command line finds what the web took
BATCH_TALLIES_FILE = "batch_tallies.csv"


def _ingest_batch_county(county: str, root: str, src: Path, kind: str, batch: bool) -> str:
    """A county with batch tallies only, as ``tallyproof state ingest`` ingests it: its one
    batch tallies CSV and its ballot manifest, through :func:`~tallyproof.state.tasks.
    ingest_task` (:func:`~tallyproof.state.batch_county.ingest_batch_county`: every error
    names the file, line and column; ``tallies.json`` written atomically, after both files
    are read, so a refused file leaves it as it was).

    The two files arrive as two uploads, in either order. Each, once read, is kept in the
    county's exports folder (``batch_tallies.csv``, ``ballot_manifest.csv``, atomically,
    after the county's tallies were written from it): a manifest read before any tallies is
    only kept; a tallies CSV needs the kept manifest; a manifest sent after the tallies is
    read again with them (a corrected manifest replaces the county's batches)."""
    from ..formats.manifest import read_manifest
    from ..fsutil import atomic_copy
    from ..state.tasks import MANIFEST_FILE, county_exports_dir, ingest_task

    if not batch:
        raise UsageError(f"county {county} reports CVRs: batch tallies are for a county "
                         "added as reporting batch tallies only (send its CVR export)")
    if kind not in (UploadKind.BATCH_TALLIES, UploadKind.MANIFEST):
        raise UsageError(f"county {county} reports batch tallies only: send its batch "
                         "tallies CSV (batch_tallies) and its ballot manifest, not a "
                         f"{kind.replace('_', ' ')}")
    exports = county_exports_dir(root, county)
    kept_manifest, kept_tallies = exports / MANIFEST_FILE, exports / BATCH_TALLIES_FILE
    if kind == UploadKind.MANIFEST:
        if not kept_tallies.exists():
            rows = len(read_manifest(src))
            exports.mkdir(parents=True, exist_ok=True)
            atomic_copy(src, kept_manifest)
            return (f"ballot manifest read ({rows:,} batch(es)) and kept; now send the "
                    "county's batch tallies")
        res = ingest_task(county, root, [str(kept_tallies)], manifest=str(src))
        atomic_copy(src, kept_manifest)
        return (f"ballot manifest replaced; the county's batch tallies read again with it: "
                f"{res.cards_total:,} ballots")
    if not kept_manifest.exists():
        raise UsageError(f"county {county} reports batch tallies: send and ingest its ballot "
                         "manifest first (the tallies are read against its batches)")
    res = ingest_task(county, root, [str(src)], manifest=str(kept_manifest))
    exports.mkdir(parents=True, exist_ok=True)
    atomic_copy(src, kept_tallies)
    return f"batch tallies read with the ballot manifest: {res.cards_total:,} ballots"


def _install_input(county: str, root: str, src: Path, kind: str) -> str:
    from ..formats.results import read_official_results
    from ..fsutil import atomic_copy
    from ..reconcile_inputs import read_pollbooks
    from ..state.accounting import POLLBOOKS, RESULTS, county_inputs
    from ..state.tasks import county_store_dir
    from ..store import Store

    if kind == UploadKind.POLLBOOKS:
        rows = len(read_pollbooks(src))
        target, what = county_inputs(root, county) / POLLBOOKS, f"pollbooks: {rows:,} rows"
    else:
        store = county_store_dir(root, county)
        election = None
        if (store / "store.json").exists():
            with Store.open_readonly(store) as st:
                election = st.election
        res = read_official_results(src, election)
        target = county_inputs(root, county) / RESULTS
        what = f"certified results ({res.format}): {len(res.counts):,} contest(s)"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_copy(src, target)
    return f"{what}, installed for the next reconciliation"


def commit_county_task(county: str, root: str) -> UploadIngest:
    from ..state.tasks import commit_task

    res = commit_task(county, root)
    return UploadIngest(f"{'committed' if res.committed else 'nothing new to commit'}: "
                        f"log size {res.tree_size:,}, root {res.root}")


# ------------------------------------------------------------------------------ the runner
@dataclass
class JobRunner:
    """Runs queued jobs on a thread pool; each job's county work goes to ``executor``."""

    sessions: sessionmaker
    settings: Settings
    executor: Executor

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.settings.job_workers,
                                        thread_name_prefix="tallyproof-job")
        self._futures: list[Future[None]] = []

    def submit(self, job_id: int) -> None:
        self._futures.append(self._pool.submit(run_job, self, job_id))

    def wait(self) -> None:
        """Wait for every submitted job (tests, and a clean shutdown); a bug in a job is
        raised here."""
        while self._futures:
            self._futures.pop(0).result()

    def shutdown(self) -> None:
        """Finish running jobs; those not started stay queued and run at the next start."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(settings: Settings) -> Executor:
    if settings.job_scheduler is None:
        return InProcess()
    from ..state.executor import DaskExecutor

    return DaskExecutor(settings.job_scheduler)


def queue(db: Session, settings: Settings, county: str, kind: str, upload_id: int | None,
          user_id: int, username: str, now: datetime) -> Job:
    """Queue a job (taking the county's lock: :class:`.activity.CountyBusy` if held); the
    caller submits it to the runner once this transaction is committed."""
    if kind not in KINDS:
        raise UploadRefused(422, f"unknown job kind {kind!r}; one of: {', '.join(KINDS)}")
    if kind == INGEST:
        up = db.get(Upload, upload_id) if upload_id is not None else None
        if up is None or up.county != county:
            raise UploadRefused(404, f"no upload {upload_id} in county {county}")
        if up.status != UploadStatus.VERIFIED.value:
            raise UploadRefused(409, f"upload {up.id} is {up.status}: only a verified upload "
                                     "can be ingested")
        if up.kind in FROZEN_BY_AUDIT and audit_started(settings):
            raise UploadRefused(409, f"upload {up.id}: {audit_refusal(up.kind)}")
    elif upload_id is not None:
        raise UploadRefused(422, f"a {kind} job takes no upload")
    job = start_job(db, county, kind, user_id, now)
    job.upload_id, job.progress = upload_id, "queued"
    db.flush()
    record(db, now, username, "job_queued", county,
           f"job {job.id}: {kind}" + (f" of upload {upload_id}" if upload_id else ""))
    return job


def _set(runner: JobRunner, job_id: int, fn: Callable[[Session, Job], Any]) -> Any:
    with runner.sessions.begin() as db:
        job = db.get(Job, job_id)
        assert job is not None
        return fn(db, job)


def run_job(runner: JobRunner, job_id: int) -> None:
    """Run one queued job to its end (see the module docstring)."""
    settings = runner.settings
    now = settings.now

    def begin(db: Session, job: Job) -> tuple[str, str, tuple[Any, ...]] | None:
        if job.status != JobStatus.QUEUED.value:
            return None  # already run (a second submit of the same job)
        job.status, job.started_at = JobStatus.RUNNING.value, now()
        record(db, now(), None, "job_started", job.county, f"job {job.id}: {job.kind}")
        root = str(settings.state_dir)
        if job.kind == COMMIT:
            job.progress = "committing the county's new CVRs to its log"
            return job.kind, job.county, (root,)
        up = db.get(Upload, job.upload_id)
        assert up is not None
        job.progress = f"reading {up.kind} {up.filename} ({up.received:,} bytes)"
        return job.kind, job.county, (root, str(data_path(settings, up)), up.kind)

    from . import audit_jobs

    with runner.sessions() as db:
        job = db.get(Job, job_id)
        statewide = job is not None and job.kind in audit_jobs.KINDS
    if statewide:
        audit_jobs.run(runner, job_id)
        return
    plan = _set(runner, job_id, begin)
    if plan is None:
        return
    kind, county, args = plan
    if kind == INGEST and args[2] in FROZEN_BY_AUDIT and audit_started(settings):
        # queued before the audit started, run after: refused as a new request would be
        refused = audit_refusal(args[2])
        _set(runner, job_id, lambda db, job: close(db, settings, job, False, refused))
        return
    task = commit_county_task if kind == COMMIT else ingest_upload_task
    try:
        (outcome,) = runner.executor.map_each(task, [(county, args)])
    except BaseException as exc:  # a bug: close the job, then let it propagate
        failure = f"internal error: {type(exc).__name__}"
        _set(runner, job_id, lambda db, job: close(db, settings, job, False, failure))
        raise
    ok = outcome.ok and outcome.value is not None
    message = outcome.value.summary if ok else str(outcome.error)
    _set(runner, job_id, lambda db, job: close(db, settings, job, ok, message))


def close(db: Session, settings: Settings, job: Job, ok: bool, message: str) -> None:
    """Close a job (releasing the county's lock), mark its upload, log it."""
    now = settings.now()
    up = db.get(Upload, job.upload_id) if job.upload_id is not None else None
    # stored as shown: no server path (state folder, key, temp or home folder) in any job's
    # message, upload's message or activity row, and so on no page or API answer
    message = public_message(settings, message, county=job.county, upload=up)
    if up is not None:
        up.status = (UploadStatus.INGESTED if ok else UploadStatus.FAILED).value
        up.message = message
    finish_job(db, job, ok, now, message)
    job.progress = "done" if ok else "failed"
    record(db, now, None, "job_done" if ok else "job_failed", job.county,
           f"job {job.id}: {job.kind}: {message}")


RESTART_INGEST = ("the server stopped while this ingest ran. The store's write is one "
                  "transaction, so the export is either wholly in the county's store or not "
                  "at all (the county page shows its cards); the upload can be ingested "
                  "again, and the store refuses files it already holds")


def recover(runner: JobRunner) -> list[int]:
    """At server start: fail or resume the jobs a stopped server left open (module
    docstring); returns the ids of the jobs to run, which the caller submits."""
    from . import audit_jobs

    settings, now = runner.settings, runner.settings.now()
    rerun: list[int] = []
    with runner.sessions.begin() as db:
        for job in db.scalars(select(Job).where(Job.status.in_(
                (JobStatus.QUEUED.value, JobStatus.RUNNING.value))).order_by(Job.id)):
            if job.status == JobStatus.RUNNING.value and job.kind == INGEST:
                up = db.get(Upload, job.upload_id) if job.upload_id is not None else None
                close(db, settings, job, False, RESTART_INGEST)
                if up is not None:
                    up.status = UploadStatus.VERIFIED.value  # ingestible again
                continue
            if job.status == JobStatus.RUNNING.value and job.kind in audit_jobs.KINDS:
                if not audit_jobs.recover(db, settings, job):
                    rerun.append(job.id)
                continue
            if job.status == JobStatus.RUNNING.value:
                job.status, job.progress = JobStatus.QUEUED.value, "resumed after a restart"
                record(db, now, None, "job_resumed", job.county,
                       f"job {job.id}: {job.kind}: the server stopped while it ran")
            rerun.append(job.id)
    for stale in sorted(settings.uploads_root.glob(f"*/{EXTRACT_PREFIX}*")):
        shutil.rmtree(stale)  # an archive extracted by a job the stop interrupted
    return rerun


def for_county(db: Session, county: str | None, limit: int = 50) -> list[Job]:
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    return list(db.scalars(q if county is None else q.where(Job.county == county)))


def to_json(job: Job, usernames: dict[int, str] | None = None) -> dict[str, Any]:
    return {"id": job.id, "county": job.county, "kind": job.kind, "status": job.status,
            "progress": job.progress, "message": job.message, "upload": job.upload_id,
            "started_by": (usernames or {}).get(job.user_id or -1),
            "created_at": job.created_at.isoformat(),
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}


def usernames(db: Session) -> dict[int, str]:
    return {uid: name for uid, name in db.execute(select(User.id, User.username))}


def check_county(settings: Settings, county: str) -> None:
    """404 for a county the state does not have (asked after the role check)."""
    from ..state.spec import load_spec

    try:
        load_spec(settings.state_dir).county(county)
    except UsageError as exc:
        raise UploadRefused(404, str(exc)) from exc

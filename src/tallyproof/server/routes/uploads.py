"""County uploads and jobs: the county page's upload and job forms, and the JSON API a script
uses to upload resumably (docs/server.md, "Uploads").

Only the county's own administrator sends files or starts jobs; a state administrator sees
every county's uploads and jobs; another county's administrator is refused (403) before the
county is looked up, and an upload id of another county answers 404.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from typing import Annotated, Any, BinaryIO

from fastapi import (APIRouter, BackgroundTasks, Form, Header, HTTPException, Path,
                     Request)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from .. import alerts, jobs, uploads
from ..activity import CountyBusy, record
from ..db import Job, Role, UploadStatus
from ..formstream import StreamingForm
from ..deps import (CSRF, DB, ApiCSRF, ApiCSRFBriefly, SignedIn, SignedInBriefly, StateAdmin,
                    may_see_county, settings)
from ..sessions import Current
from ..uploads import UploadRefused

router = APIRouter(tags=["county"])
#: row ids fit the databases' INTEGER (PostgreSQL's is 32-bit)
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: slack over the largest file for the form's other fields and multipart framing
FORM_SLACK = 64 << 10


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _refused(exc: UploadRefused | CountyBusy) -> HTTPException:
    return HTTPException(getattr(exc, "status", 409), str(exc))


def _viewer_of(request: Request, who: Current, county: str) -> None:
    if not may_see_county(who, county):
        raise HTTPException(403, "not your county")
    try:
        jobs.check_county(settings(request), county)
    except UploadRefused as exc:
        raise _refused(exc) from exc


def _sender(request: Request, who: Current, county: str) -> None:
    """Only the county's own administrator changes its uploads and jobs."""
    _viewer_of(request, who, county)
    if who.role != Role.COUNTY_ADMIN:
        raise HTTPException(403, "only the county's administrator uploads and starts jobs")


# ----------------------------------------------------------------------------------- pages
@router.post("/county/{county}/uploads", include_in_schema=False)
async def form_upload(request: Request, county: str, who: SignedInBriefly) -> Response:
    """The county page's plain HTML form (works without script): the file streams to disk.

    No database session is held while the file arrives: the viewer was checked in a short
    transaction (:func:`..deps.signed_in_briefly`), the upload's row is made in another when
    the file begins, and the verdict is written in a third after the last byte, each in a
    worker thread. A long or stalled transfer thus holds no pooled connection and no
    database lock, and the event loop never waits for SQLite."""
    await run_in_threadpool(_sender, request, who, county)
    conf = settings(request)
    length = request.headers.get("content-length")
    if length is None:
        raise HTTPException(411, "the upload needs a Content-Length")
    if not length.isdigit() or int(length) > conf.max_upload + FORM_SLACK:
        raise HTTPException(413, f"the file is larger than {conf.max_upload:,} bytes")
    opened: dict[str, Any] = {}

    def create(fields: dict[str, str], filename: str) -> Any:
        with request.app.state.sessionmaker.begin() as db:
            up = uploads.create(db, conf, county, fields.get("kind", ""), filename, None,
                                fields.get("sha256", ""), who.user_id, conf.now())
            _record(request, db, who, "upload_started", up, "from the county page's form")
        return up

    async def open_file(fields: dict[str, str], filename: str) -> BinaryIO:
        if not secrets.compare_digest(fields.get("csrf", ""), who.csrf):
            raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
        up = await run_in_threadpool(create, fields, filename)
        opened["up"], opened["f"] = up, open(uploads.data_path(conf, up), "xb")  # noqa: SIM115
        return opened["f"]

    try:
        form = StreamingForm(request.headers.get("content-type", ""), open_file,
                             conf.max_upload)
    except UploadRefused as exc:  # not multipart: refused before a byte is read
        raise _refused(exc) from exc
    try:
        await form.parse(request.stream())
        if "up" not in opened:
            raise UploadRefused(400, "the form carried no file")
        opened["f"].flush()
        os.fsync(opened["f"].fileno())
    except BaseException as exc:
        if "f" in opened:  # the row exists: it says why the transfer stopped
            opened["f"].close()
            await run_in_threadpool(_abandon, request, who, opened["up"], exc)
        if isinstance(exc, UploadRefused):
            raise _refused(exc) from exc
        raise
    finally:
        if "f" in opened:
            opened["f"].close()
    snap = opened["up"]
    snap.size = snap.received = form.file_bytes
    await run_in_threadpool(_complete, request, who, snap)
    return RedirectResponse(f"/county/{county}", status_code=303)


def _record(request: Request, db: Any, who: Current, action: str, up: Any,
            detail: str = "") -> None:
    record(db, settings(request).now(), who.username, action, up.county,
           f"upload {up.id} ({up.kind}) {up.filename}: {up.received:,} bytes"
           + (f", SHA-256 {up.sha256}" if up.sha256 else "")
           + (f": {detail}" if detail else ""), _client(request))


def _abandon(request: Request, who: Current, up: Any, exc: BaseException) -> None:
    """A form transfer that stopped part way: the upload is rejected, its bytes deleted."""
    why = (exc.detail if isinstance(exc, HTTPException) else str(exc)
           if isinstance(exc, UploadRefused) else "the transfer was cut short")
    with request.app.state.sessionmaker.begin() as db:
        row = db.merge(up)
        uploads.reject(settings(request), row, str(why))
        _record(request, db, who, "upload_rejected", row, row.message)


def _complete(request: Request, who: Current, snap: Any) -> Any:
    """Every byte of a (detached) upload is in: check it with no session open (hashing a
    large file takes a while), then write the verdict in a short transaction. Runs in a
    worker thread."""
    conf = settings(request)
    if snap.received == 0:
        uploads.reject(conf, snap, "the file is empty")
    else:
        uploads.finish(conf, snap, conf.now())
    with request.app.state.sessionmaker.begin() as db:
        up = db.merge(snap)
        verified = up.status == UploadStatus.VERIFIED.value
        _record(request, db, who, "upload_verified" if verified else "upload_rejected", up,
                up.message)
        return uploads.to_json(up)


def _save_offset(request: Request, snap: Any) -> dict[str, Any]:
    """Record how many bytes of an upload are on disk (a short transaction, in a worker
    thread)."""
    with request.app.state.sessionmaker.begin() as db:
        return uploads.to_json(db.merge(snap))


@router.post("/county/{county}/jobs", include_in_schema=False, dependencies=[CSRF])
def form_job(request: Request, county: str, s: DB, who: SignedIn, background: BackgroundTasks,
             kind: Annotated[str, Form()] = "",
             upload: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None
             ) -> Response:
    _start(request, s, who, county, kind, upload, background)
    return RedirectResponse(f"/county/{county}", status_code=303)


def _start(request: Request, s: Any, who: Current, county: str, kind: str,
           upload: int | None, background: BackgroundTasks) -> Job:
    _sender(request, who, county)
    conf = settings(request)
    try:
        job = jobs.queue(s, conf, county, kind, upload, who.user_id, who.username, conf.now())
    except (UploadRefused, CountyBusy) as exc:
        raise _refused(exc) from exc
    background.add_task(request.app.state.jobs.submit, job.id)  # after this commit
    return job


# ------------------------------------------------------------------------------------- API
class NewUpload(BaseModel):
    kind: str = Field(description="cvr_export, manifest, pollbooks, official_results or "
                                  "batch_tallies (a county without CVRs)")
    filename: str = Field(max_length=1000, description="shown only; never a path")
    size: int = Field(description="the file's size in bytes")
    sha256: str = Field(description="the SHA-256 the county computed (64 hex digits)")


class NewJob(BaseModel):
    kind: str = Field(description="ingest (of a verified upload) or commit")
    upload: int | None = Field(default=None, ge=1, le=2**31 - 1)


@router.get("/api/session")
def session_info(who: SignedIn) -> dict[str, Any]:
    """The signed-in user, and the CSRF token the API's writes carry in ``X-CSRF-Token``."""
    return {"username": who.username, "role": who.role, "county": who.county,
            "csrf": who.csrf}


@router.get("/api/county/{county}/uploads")
def list_uploads(request: Request, county: str, s: DB, who: SignedIn) -> list[dict[str, Any]]:
    _viewer_of(request, who, county)
    return [uploads.to_json(u) for u in uploads.for_county(s, county)]


@router.post("/api/county/{county}/uploads", status_code=201, dependencies=[ApiCSRF])
def create_upload(request: Request, county: str, body: NewUpload, s: DB,
                  who: SignedIn) -> dict[str, Any]:
    """Declare a file (kind, name, size, SHA-256); then send its bytes with ``PUT``."""
    _sender(request, who, county)
    conf = settings(request)
    try:
        up = uploads.create(s, conf, county, body.kind, body.filename, body.size, body.sha256,
                            who.user_id, conf.now())
    except UploadRefused as exc:
        raise _refused(exc) from exc
    _record(request, s, who, "upload_started", up, f"{up.size:,} bytes declared")
    return uploads.to_json(up)


@router.get("/api/county/{county}/uploads/{upload_id}")
def get_upload(request: Request, county: str, upload_id: RowId, s: DB,
               who: SignedIn) -> dict[str, Any]:
    """An upload's state; ``received`` is the offset to resume from."""
    _viewer_of(request, who, county)
    try:
        return uploads.to_json(uploads.get(s, county, upload_id))
    except UploadRefused as exc:
        raise _refused(exc) from exc


@router.put("/api/county/{county}/uploads/{upload_id}", dependencies=[ApiCSRFBriefly])
async def put_bytes(request: Request, county: str, upload_id: RowId, who: SignedInBriefly,
                    content_range: Annotated[str | None, Header()] = None) -> Any:
    """Bytes ``START-END`` of the file (``Content-Range: bytes START-END/TOTAL``), START being
    the offset received so far. A transfer cut short keeps what arrived: ask ``GET`` for the
    offset and go on from there. The last byte triggers the SHA-256 check. No database
    session is held while the bytes arrive: the row is read in a short session before and
    written in another after, each in a worker thread (a long or dropped transfer holds no
    pooled connection nor lock, and the event loop never waits for the database)."""
    await run_in_threadpool(_sender, request, who, county)
    conf = settings(request)
    try:
        snap = await run_in_threadpool(_snapshot, request, county, upload_id)
        start, end = uploads.parse_range(content_range, snap)
    except UploadRefused as exc:
        raise _refused(exc) from exc
    path = uploads.data_path(conf, snap)
    limit, written = end - start + 1, 0
    with open(path, "r+b" if path.exists() else "w+b") as f:
        try:  # one transfer per upload at a time: a lock on the file itself
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise HTTPException(409, f"another transfer of upload {snap.id} is under way"
                                ) from exc
        held = os.fstat(f.fileno()).st_size
        if held < start:  # the file lost bytes the database counted: resume from the file
            snap.received = held
            await run_in_threadpool(_save_offset, request, snap)
            return JSONResponse({"detail": f"upload {snap.id} has {held} bytes: send from "
                                           f"offset {held}"}, status_code=409)
        f.truncate(start)  # bytes past the recorded offset were never acknowledged
        f.seek(start)
        try:
            async for chunk in request.stream():
                if written + len(chunk) > limit:
                    f.truncate(start)
                    raise HTTPException(400, f"the body is longer than the range's {limit:,} "
                                             "bytes")
                f.write(chunk)
                written += len(chunk)
        except ClientDisconnect:
            pass  # keep what arrived; the client resumes from the offset
        f.flush()
        os.fsync(f.fileno())
        # recorded while the file lock is held: a resumed transfer reads this offset
        snap.received = start + written
        if snap.received == snap.size:
            return await run_in_threadpool(_complete, request, who, snap)
        return await run_in_threadpool(_save_offset, request, snap)


def _snapshot(request: Request, county: str, upload_id: int) -> Any:
    """The upload's row, read in a short session and detached from it."""
    with request.app.state.sessionmaker() as db:
        return uploads.get(db, county, upload_id)


@router.get("/api/county/{county}/jobs")
def list_jobs(request: Request, county: str, s: DB, who: SignedIn) -> list[dict[str, Any]]:
    _viewer_of(request, who, county)
    names = jobs.usernames(s)
    return [jobs.to_json(j, names) for j in jobs.for_county(s, county)]


@router.post("/api/county/{county}/jobs", status_code=202, dependencies=[ApiCSRF])
def create_job(request: Request, county: str, body: NewJob, s: DB, who: SignedIn,
               background: BackgroundTasks) -> dict[str, Any]:
    """Queue an ingest of a verified upload, or a commit of the county's log."""
    job = _start(request, s, who, county, body.kind, body.upload, background)
    return jobs.to_json(job, {who.user_id: who.username})


@router.get("/api/alerts")
def list_alerts(s: DB, who: SignedIn) -> dict[str, Any]:
    """The alerts not yet acknowledged (county jobs that finished or failed): every county's
    for a state administrator, a county administrator's own county's only."""
    county = None if who.role == Role.STATE_ADMIN else who.county
    if county is None and who.role != Role.STATE_ADMIN:
        raise HTTPException(403, "no county")
    return {"total": alerts.count(s, county),
            "alerts": [alerts.to_json(j) for j in alerts.pending(s, county)]}


@router.get("/api/jobs")
def all_jobs(s: DB, who: StateAdmin) -> list[dict[str, Any]]:
    """Every county's recent jobs (state administrators)."""
    names = jobs.usernames(s)
    return [jobs.to_json(j, names) for j in jobs.for_county(s, None, 200)]

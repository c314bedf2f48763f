"""County uploads: what a county administrator sends (CVR exports, ballot manifests, pollbook
counts, certified results), kept under names the server chooses.

A file arrives either in pieces through the API (``PUT`` with ``Content-Range``, resumable
from the offset the server reports) or whole from the county page's plain HTML form; either
way the bytes are written to ``UPLOADS/<county>/<id><suffix>`` as they arrive, never held
whole in memory. The client's file name is shown, never used as a path: the suffix comes from
a fixed list. When the last byte is in, the SHA-256 is computed from the file on disk and
compared with the one the county typed (as ColoradoRLA does); a zip's entries are checked
(no absolute path, no ``..``, no link) from its central directory. A mismatch or a refused
archive rejects the upload and deletes its bytes. Reading the file into the county's store is
a job (:mod:`.jobs`).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..bundle_zip import check_members
from ..errors import InputError, TallyproofError
from ..store import sha256_file
from .config import Settings
from .db import Upload, UploadKind, UploadStatus
from .messages import public_message

#: suffixes a stored upload may keep (the readers recognise some formats by them)
SUFFIXES = (".zip", ".csv", ".json", ".xml", ".txt", ".tsv", ".xlsx")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
NAME_MAX = 200


class UploadRefused(TallyproofError):
    """An upload request the server will not take; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def county_folder(settings: Settings, county: str) -> Path:
    return settings.uploads_root / county


def data_path(settings: Settings, up: Upload) -> Path:
    """Where the upload's bytes are: every part of the name is the server's own."""
    return county_folder(settings, up.county) / f"{up.id}{up.suffix}"


def display_name(filename: str) -> str:
    """The client's file name as shown: its last component, without control characters."""
    base = re.split(r"[\\/]", filename)[-1]
    clean = "".join(ch for ch in base if ch.isprintable()).strip()
    return clean[:NAME_MAX] or "upload"


def suffix_of(filename: str) -> str:
    m = re.search(r"\.[A-Za-z0-9]{1,5}$", filename)
    suffix = m.group(0).lower() if m else ""
    return suffix if suffix in SUFFIXES else ""


def checked_sha256(value: str) -> str:
    digest = value.strip().lower()
    if not SHA256.match(digest):
        raise UploadRefused(422, "the SHA-256 must be 64 hexadecimal digits (as sha256sum "
                                 "prints it)")
    return digest


def checked_kind(kind: str) -> str:
    if kind not in {k.value for k in UploadKind}:
        raise UploadRefused(422, f"unknown upload kind {kind!r}; one of: "
                                 f"{', '.join(k.value for k in UploadKind)}")
    return kind


def create(db: Session, settings: Settings, county: str, kind: str, filename: str,
           size: int | None, sha256: str, user_id: int | None, now: datetime) -> Upload:
    """A new upload row (its id names its file). ``size`` is the declared size; None when a
    browser form sends the file (then it is known at the end)."""
    if size is not None and not 0 < size <= settings.max_upload:
        raise UploadRefused(413 if size > 0 else 422,
                            f"a file must be 1 to {settings.max_upload:,} bytes; this one "
                            f"declares {size:,}")
    up = Upload(county=county, kind=checked_kind(kind), filename=display_name(filename),
                suffix=suffix_of(filename), size=size, received=0,
                declared_sha256=checked_sha256(sha256), sha256=None,
                status=UploadStatus.RECEIVING.value, message="", user_id=user_id,
                created_at=now)
    db.add(up)
    db.flush()
    county_folder(settings, county).mkdir(parents=True, exist_ok=True)
    return up


def parse_range(header: str | None, up: Upload) -> tuple[int, int]:
    """``Content-Range: bytes START-END/TOTAL`` checked against the upload: START must be the
    offset received so far (409 otherwise, naming it), TOTAL the declared size."""
    if up.status != UploadStatus.RECEIVING.value:
        raise UploadRefused(409, f"upload {up.id} is {up.status}: it takes no more bytes")
    m = CONTENT_RANGE.match(header or "")
    if m is None:
        raise UploadRefused(400, "a Content-Range header 'bytes START-END/TOTAL' is required")
    start, end, total = (int(g) for g in m.groups())
    if total != up.size or end < start or end >= total:
        raise UploadRefused(416, f"the range {start}-{end}/{total} does not fit the declared "
                                 f"size {up.size}")
    if start != up.received:
        raise UploadRefused(409, f"upload {up.id} has {up.received} bytes: send from offset "
                                 f"{up.received}")
    return start, end


def finish(settings: Settings, up: Upload, now: datetime) -> None:
    """Every byte is in: compute the SHA-256 from the file on disk and compare it with the
    declared one, then check a zip's entries. Either passes (``verified``) or the upload is
    ``rejected`` and its bytes deleted."""
    path = data_path(settings, up)
    up.sha256 = sha256_file(path)
    up.finished_at = now
    if up.sha256 != up.declared_sha256:
        reject(settings, up, f"SHA-256 mismatch: the county declared {up.declared_sha256}, "
                             f"the server computed {up.sha256} from the {up.received:,} bytes "
                             "received")
        return
    if up.suffix == ".zip":
        try:
            check_members(path)
        except InputError as exc:
            reject(settings, up, f"archive refused: "
                                 f"{public_message(settings, str(exc), upload=up)}")
            return
    up.status = UploadStatus.VERIFIED.value


def reject(settings: Settings, up: Upload, message: str) -> None:
    up.status, up.message = UploadStatus.REJECTED.value, message
    data_path(settings, up).unlink(missing_ok=True)


def for_county(db: Session, county: str, limit: int = 200) -> list[Upload]:
    return list(db.scalars(select(Upload).where(Upload.county == county)
                           .order_by(Upload.id.desc()).limit(limit)))


def get(db: Session, county: str, upload_id: int) -> Upload:
    up = db.get(Upload, upload_id)
    if up is None or up.county != county:  # another county's upload: as if it did not exist
        raise UploadRefused(404, f"no upload {upload_id} in county {county}")
    return up


def to_json(up: Upload) -> dict[str, Any]:
    return {"id": up.id, "county": up.county, "kind": up.kind, "filename": up.filename,
            "size": up.size, "received": up.received, "declared_sha256": up.declared_sha256,
            "sha256": up.sha256, "status": up.status, "message": up.message,
            "created_at": up.created_at.isoformat(),
            "finished_at": up.finished_at.isoformat() if up.finished_at else None}

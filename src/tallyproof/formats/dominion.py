"""Dominion Democracy Suite CVR exports: a folder of ``CvrExport.json`` / ``CvrExport_N.json``
files beside the ``*Manifest.json`` files that name contests, candidates and precincts.

Why a folder: Dominion's Results Tally & Reporting writes one JSON per batch when
"split files per batch" is on (the file numbers are internal and skip), and the CVRs only carry
numeric ids that the manifests resolve. Each export file is decoded whole by msgspec into typed
structs holding only the fields read (the rest is skipped without being built, and a wrong type
is reported with its JSON path) — or, in a large export, read straight into arrays by a compiled
scanner that leaves to msgspec any file outside the JSON it handles (:mod:`.dominion_scan`) —
turned into CVR-table rows column by column (:mod:`.dominion_rows`) and dropped before the next
is opened, so memory is bounded by the largest single file, not by the election. A large export is decoded by a pool of worker
processes (:mod:`.dominion_pool`), a bounded number of files ahead, and put back in file
order, so the table is the same whatever the workers' timing.

Decisions (also in docs/formats-vendor.md):

* one CVR-table row per card; ``ballot_id`` = ``"{TabulatorId}-{BatchId}-{RecordId}"`` when the
  session has one card, ``"{TabulatorId}-{BatchId}-{RecordId}-{k}"`` (k = 1-based position in
  ``Cards``) when it has several, so ids are unique and stable across re-exports;
* the session's current version is used: ``Original`` when its ``IsCurrent`` is true, else
  ``Modified`` (adjudicated); a session with neither current is an error;
* ambiguous marks (``IsAmbiguous``) are not votes; ``IsVote`` is ignored, as RCTab does: in the
  samples it is false on valid later rankings too, so what counts is left to the tabulator's
  rules; several marks at one rank are an overvote (codes ascending, repeats dropped);
* a contest whose ``OutstackConditionIds`` contain the "InvalidContest" condition (id 7, the
  partial-ballot marker RCTab excludes) is left off the card (null);
* the ``countingGroupId`` option keeps only sessions of that counting group.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from ..errors import InputError
from ..model import OVERVOTE_UNKNOWN, Candidate, Contest, ContestKind, Election
from . import dominion_pool, dominion_scan
from .base import FormatSpec, ParsedExport, register
from .dominion_pool import FilesRows, default_workers
from .dominion_rows import INVALID_CONTEST_CONDITION, make_job, rows_of_files, vote_type_of
from .options import UWI_NAME

__all__ = [
    "FORMAT", "INVALID_CONTEST_CONDITION", "default_workers", "export_files", "read", "sniff",
    "vote_type_of",
]

FORMAT = "dominion"

#: Sanity bound on a contest's rank positions (each card row holds that many lists).
MAX_RANKS = 1000

_EXPORT_RE = re.compile(r"^CvrExport(?:_(\d+))?\.json$")

# ---------------------------------------------------------------------------------------------
# manifests


def _load_json(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from exc
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc})", file=path) from exc


def _manifest(folder: Path, name: str, required: bool) -> list[dict[str, Any]]:
    path = folder / f"{name}.json"
    if not path.is_file():
        if required:
            raise InputError(f"missing {name}.json beside the CVR export", file=folder)
        return []
    doc = _load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("List"), list):
        raise InputError("expected an object with a List array", file=path, field="List")
    rows = doc["List"]
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError("expected an object", file=path, record=f"List[{i}]")
    return rows


def _field(
    row: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path, rec: str
) -> Any:
    value = row.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise InputError(
            f"expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}",
            file=path,
            record=rec,
            field=key,
        )
    if kind is int and not -(1 << 63) <= value < 1 << 63:  # ids are looked up as int64
        raise InputError("beyond 64 bits", file=path, record=rec, field=key)
    return value


def _names(folder: Path, name: str) -> dict[int, str]:
    """Id → Description of a simple manifest (absent manifest → empty map)."""
    path = folder / f"{name}.json"
    out: dict[int, str] = {}
    for i, row in enumerate(_manifest(folder, name, required=False)):
        out[_field(row, "Id", int, path, f"List[{i}]")] = _field(
            row, "Description", str, path, f"List[{i}]"
        )
    return out


@dataclass(frozen=True)
class _ContestPlan:
    """What the hot loop needs to know about one contest, precomputed once."""

    id: str
    index: int  # position among the election's contests (= its column)
    ranked: bool
    ranks: int  # rank positions in the CVR table (1 for a vote-for-N contest)
    codes: dict[int, int]  # Dominion CandidateId → candidate code in the contest


@dataclass(frozen=True)
class _Manifests:
    election: Election
    plans: dict[int, _ContestPlan]
    known_contests: frozenset[int]
    precincts: dict[int, str]
    ballot_types: dict[int, str]
    groups: dict[int, str]
    invalid_condition: int
    files: list[Path]


def _read_manifests(folder: Path, options: Mapping[str, Any]) -> _Manifests:
    contest_path = folder / "ContestManifest.json"
    cand_path = folder / "CandidateManifest.json"
    uwi_label = str(options.get("undeclaredWriteInLabel") or "").strip()
    only = str(options.get("contestId") or "").strip()

    candidates: dict[int, list[tuple[int, Candidate]]] = {}
    for i, row in enumerate(_manifest(folder, "CandidateManifest", required=True)):
        rec = f"List[{i}]"
        cid = _field(row, "Id", int, cand_path, rec)
        contest_id = _field(row, "ContestId", int, cand_path, rec)
        name = _field(row, "Description", str, cand_path, rec)
        ctype = row.get("Type", "Regular")
        if not isinstance(ctype, str):
            raise InputError("expected str", file=cand_path, record=rec, field="Type")
        write_in = ctype != "Regular" or str(cid) == uwi_label
        if str(cid) == uwi_label:
            name = UWI_NAME  # the name RCTab reports it under, as the other readers do
        listed = candidates.setdefault(contest_id, [])
        if any(d == cid for d, _ in listed) or len(listed) >= OVERVOTE_UNKNOWN:
            raise InputError(
                f"candidate {cid} listed twice (or too many candidates) in contest {contest_id}",
                file=cand_path, record=rec, field="Id",
            )  # fmt: skip
        listed.append((cid, Candidate(str(cid), name, write_in)))

    contests: list[Contest] = []
    plans: dict[int, _ContestPlan] = {}
    known: set[int] = set()
    for i, row in enumerate(_manifest(folder, "ContestManifest", required=True)):
        rec = f"List[{i}]"
        cid = _field(row, "Id", int, contest_path, rec)
        name = _field(row, "Description", str, contest_path, rec)
        vote_for = _field(row, "VoteFor", int, contest_path, rec)
        ranks = row.get("NumOfRanks", 0)
        if not isinstance(ranks, int) or isinstance(ranks, bool) or ranks < 0:
            raise InputError("expected a count", file=contest_path, record=rec, field="NumOfRanks")
        if ranks > MAX_RANKS:
            raise InputError(
                f"{ranks} ranks is more than the {MAX_RANKS} a ballot can offer",
                file=contest_path, record=rec, field="NumOfRanks",
            )  # fmt: skip
        if vote_for < 1:
            raise InputError("must be at least 1", file=contest_path, record=rec, field="VoteFor")
        if cid in known:
            raise InputError(
                f"contest id {cid} listed twice", file=contest_path, record=rec, field="Id"
            )
        known.add(cid)
        if only and str(cid) != only:
            continue
        cands = candidates.get(cid, [])
        ranked = ranks > 0
        kind = (
            (ContestKind.STV if vote_for > 1 else ContestKind.IRV)
            if ranked
            else ContestKind.PLURALITY
        )
        contest = Contest(
            id=str(cid),
            name=name,
            kind=kind,
            seats=vote_for,
            vote_for=vote_for,
            candidates=tuple(c for _, c in cands),
            max_rankings=ranks if ranked else None,
        )
        contests.append(contest)
        plans[cid] = _ContestPlan(
            id=contest.id,
            index=len(contests) - 1,
            ranked=ranked,
            ranks=ranks if ranked else 1,
            codes={d: k for k, (d, _) in enumerate(cands)},
        )
    if only and not plans:
        raise InputError(f"contestId {only!r} is not in ContestManifest.json", file=contest_path)

    invalid = INVALID_CONTEST_CONDITION
    oc_path = folder / "OutstackConditionManifest.json"
    for i, row in enumerate(_manifest(folder, "OutstackConditionManifest", required=False)):
        if row.get("Description") == "InvalidContest":
            invalid = _field(row, "Id", int, oc_path, f"List[{i}]")

    event = _manifest(folder, "ElectionEventManifest", required=False)
    name, jurisdiction, date = folder.name, "jurisdiction", None
    if event:
        ev = event[0]
        name = str(ev.get("Description") or name)
        jurisdiction = str(ev.get("Jurisdiction") or jurisdiction)
        raw = str(ev.get("ElectionDate") or "")
        if re.fullmatch(r"\d{8}", raw):
            date = f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"

    files = sorted(p for p in folder.glob("*Manifest.json")) + [
        p for p in (folder / "Configuration.json",) if p.is_file()
    ]
    return _Manifests(
        election=Election(
            name=name, jurisdiction=jurisdiction, date=date, contests=tuple(contests)
        ),
        plans=plans,
        known_contests=frozenset(known),
        precincts=_names(folder, "PrecinctPortionManifest"),
        ballot_types=_names(folder, "BallotTypeManifest"),
        groups=_names(folder, "CountingGroupManifest"),
        invalid_condition=invalid,
        files=files,
    )


def export_files(folder: Path) -> list[Path]:
    """The folder's CVR export files: ``CvrExport.json`` first, then ``CvrExport_N.json`` by N
    (numbers may skip; that is how Dominion writes them)."""
    found: list[tuple[int, Path]] = []
    with os.scandir(folder) as entries:  # a county has thousands: no stat() for each
        for entry in entries:
            m = _EXPORT_RE.match(entry.name)
            if m and entry.is_file():
                found.append((int(m.group(1)) if m.group(1) else -1, folder / entry.name))
    return [p for _, p in sorted(found)]


def _group_filter(options: Mapping[str, Any]) -> int | None:
    """The ``countingGroupId`` option: keep only sessions of this counting group."""
    group_opt = str(options.get("countingGroupId") or "").strip()
    if not group_opt:
        return None
    try:
        return int(group_opt)
    except ValueError:
        raise InputError(
            f"countingGroupId {group_opt!r} is not an integer", field="countingGroupId"
        ) from None


def _batches(
    exports: list[Path],
    man: _Manifests,
    options: Mapping[str, Any],
    chunk_rows: int = 65_536,
    workers: int | None = None,
    digests: dict[Path, str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The CVR table of ``exports`` in batches of ``chunk_rows`` cards; ``workers`` decoding
    processes (None: :func:`default_workers`; 1: in this process). With workers, decoding
    starts here, before the first batch is asked for. Each export file's SHA-256 is put in
    ``digests`` as its rows are yielded."""
    digests = {} if digests is None else digests
    groups = dominion_pool.file_groups(exports)
    size = sum(group_size for _, group_size in groups)
    job = make_job(man, _group_filter(options), chunk_rows, scan=dominion_scan.wanted(size))
    n = default_workers(exports, size) if workers is None else workers
    if n < 1:
        raise ValueError(f"workers must be at least 1, got {n}")
    rows: Iterable[FilesRows] = (
        (rows_of_files(paths, job) for paths, _ in groups)
        if n == 1
        else dominion_pool.FilePool(groups, rows_of_files, job, n)
    )
    checked = dominion_pool.checked_batches(rows, digests)
    return dominion_pool.rechunk(checked, job.schema, chunk_rows)


def read(path: Path, options: Mapping[str, Any], *, workers: int | None = None) -> ParsedExport:
    """Read a Dominion export folder (or one ``CvrExport*.json`` inside one); ``workers`` as
    in :func:`_batches` (the default picks from the export's size and the cores)."""
    path = Path(path)
    if path.is_file():
        folder, exports = path.parent, [path]
    elif path.is_dir():
        folder, exports = path, export_files(path)
        if not exports:
            raise InputError("no CvrExport.json or CvrExport_N.json in this folder", file=path)
    else:
        raise InputError("no such file or folder", file=path)
    man = _read_manifests(folder, options)
    digests: dict[Path, str] = {}
    return ParsedExport(
        election=man.election,
        batches=_batches(exports, man, options, workers=workers, digests=digests),
        format=FORMAT,
        source_files=[*exports, *man.files],
        digests=digests,
        definition_files=[f for f in man.files if f.name.endswith("Manifest.json")],
    )


def sniff(path: Path) -> bool:
    """A folder with ContestManifest.json and a CvrExport*.json, or such a file itself."""
    path = Path(path)
    if path.is_file():
        return (
            bool(_EXPORT_RE.match(path.name)) and (path.parent / "ContestManifest.json").is_file()
        )
    if not path.is_dir() or not (path / "ContestManifest.json").is_file():
        return False
    return any(_EXPORT_RE.match(p.name) for p in path.iterdir())


register(
    FormatSpec(
        name=FORMAT,
        read=read,
        sniff=sniff,
        description="Dominion Democracy Suite CVR export (CvrExport*.json + manifests)",
    )
)

"""Dominion Democracy Suite CVR exports: a folder of ``CvrExport.json`` / ``CvrExport_N.json``
files beside the ``*Manifest.json`` files that name contests, candidates and precincts.

Why a folder: Dominion's Results Tally & Reporting writes one JSON per batch when
"split files per batch" is on (the file numbers are internal and skip), and the CVRs only carry
numeric ids that the manifests resolve. Each export file is decoded whole by msgspec into typed
structs holding only the fields read (the rest is skipped without being built, and a wrong type
is reported with its JSON path), turned into CVR-table rows and dropped before the next is
opened, so memory is bounded by the largest single file, not by the election. A large export is
decoded by a pool of worker processes (:mod:`.dominion_pool`), a bounded number of files
ahead, and put back in file order, so the table is the same whatever the workers' timing.

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

import gc
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import orjson
import pyarrow as pa

from ..cvr_table import MARKS_TYPE, METADATA_FIELDS, METADATA_NAMES, cvr_schema
from ..errors import InputError
from ..model import OVERVOTE_UNKNOWN, Candidate, Contest, ContestKind, Election, VoteType
from . import dominion_pool
from .base import FormatSpec, ParsedExport, register
from .dominion_pool import FileKeys, FilesRows, default_workers
from .options import UWI_NAME

FORMAT = "dominion"

#: Outstack condition RCTab treats as "this contest was only partly read": id 7, described as
#: "InvalidContest" in newer manifests. Used when the manifest does not name it.
INVALID_CONTEST_CONDITION = 7

#: Sanity bound on a contest's rank positions (each card row holds that many lists).
MAX_RANKS = 1000

#: Most cards in one record batch, and in one session (a batch is cut after a session, so
#: its rows stay below the 2**17 that a packed mark has room for).
MAX_CHUNK_ROWS = 1 << 16
MAX_SESSION_CARDS = 1 << 16

_EXPORT_RE = re.compile(r"^CvrExport(?:_(\d+))?\.json$")

_VOTE_TYPE_WORDS: tuple[tuple[str, VoteType], ...] = (
    ("provisional", VoteType.PROVISIONAL),
    ("question", VoteType.PROVISIONAL),  # Alaska's "questioned" ballots are provisional ballots
    ("early", VoteType.EARLY),
    ("absentee", VoteType.MAIL),
    ("mail", VoteType.MAIL),
    ("election day", VoteType.ELECTION_DAY),
    ("in person", VoteType.ELECTION_DAY),
    ("polling", VoteType.ELECTION_DAY),
)


def vote_type_of(description: str) -> VoteType:
    """Map a counting group's free-text name onto :class:`VoteType` (first matching word wins)."""
    text = description.lower()
    for word, vt in _VOTE_TYPE_WORDS:
        if word in text:
            return vt
    return VoteType.UNKNOWN


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
    for p in folder.iterdir():
        m = _EXPORT_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)) if m.group(1) else -1, p))
    return [p for _, p in sorted(found)]


# ---------------------------------------------------------------------------------------------
# sessions: typed decoding (msgspec skips every field not named here without building it, which
# is most of a Dominion CVR) and columnar accumulation straight into Arrow buffers.


class _Mark(msgspec.Struct, gc=False):
    CandidateId: int
    Rank: int
    IsAmbiguous: bool


class _CvrContest(msgspec.Struct, gc=False):
    Id: int
    Marks: list[_Mark]
    OutstackConditionIds: list[int] = []


class _Card(msgspec.Struct, gc=False):
    Contests: list[_CvrContest]


class _Version(msgspec.Struct, gc=False):
    IsCurrent: bool
    Cards: list[_Card]
    PrecinctPortionId: int | None = None
    BallotTypeId: int | None = None


class _Session(msgspec.Struct, gc=False):
    TabulatorId: int
    BatchId: int
    RecordId: int
    Original: _Version
    Modified: _Version | None = None
    CountingGroupId: int | None = None


class _Export(msgspec.Struct, gc=False):
    Sessions: list[_Session]


_DECODER = msgspec.json.Decoder(_Export)
_MSG_PATH = re.compile(r" - at `\$\.?(.*)`$")
_MSG_FIELD = re.compile(r"missing required field `([^`]+)`")


def _decode(path: Path) -> _Export:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from exc
    # The decoded export is a tree of lists (no cycles); pausing the cyclic garbage collector
    # while it is built halves decoding time, since otherwise every few hundred new lists
    # trigger a collection that walks all of them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _DECODER.decode(data)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _MSG_PATH.search(text)
        where = m.group(1) if m else None
        fm = _MSG_FIELD.search(text)
        field = fm.group(1) if fm else None
        if field is None and where:
            tail = where.rsplit(".", 1)[-1]
            field, where = (
                (tail, where[: -len(tail) - 1] or None) if "[" not in tail else (None, where)
            )
        message = _MSG_PATH.sub("", text)
        raise InputError(
            f"wrong JSON structure: {message}", file=path, record=where, field=field
        ) from None
    except msgspec.DecodeError as exc:  # after ValidationError, which subclasses it
        raise InputError(f"not valid JSON ({exc})", file=path) from None
    finally:
        if collecting:
            gc.enable()


class _Bad(Exception):
    """Internal: a well-typed but impossible value, re-raised as InputError with its JSON path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _Chunk:
    """Rows of one record batch, kept columnar so the hot loop only appends integers: each
    contest on a card is one key ``(row << 20) | contest column``; each mark is one
    ``key << 26 | rank position << 16 | candidate code`` (rank positions < 1024 >
    ``MAX_RANKS``, rows < 2**17, so it fits in 63 bits). The nested lists are
    built from these with numpy."""

    def __init__(self, contests: tuple[Contest, ...], ranks: list[int]) -> None:
        self.contests = contests
        self.ranks = ranks  # rank positions of each contest column
        self.meta: dict[str, list[Any]] = {n: [] for n in METADATA_NAMES}
        self.rows = 0
        self.p_key = array("q")  # one per (card, contest) present
        self.marks = array("q")  # one per mark

    def appenders(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """Bound methods for the hot loop: metadata list appends; key and mark appends."""
        return (
            tuple(self.meta[n].append for n in METADATA_NAMES),
            (self.p_key.append, self.marks.append),
        )

    def to_batch(self, schema: pa.Schema) -> pa.RecordBatch:
        arrays = [pa.array(self.meta[f.name], type=f.type) for f in METADATA_FIELDS]
        key = np.frombuffer(self.p_key, dtype=np.int64)
        ordered = np.sort(key)
        dup = np.flatnonzero(np.diff(ordered) == 0)
        if dup.size:  # checked here, for all cards at once, rather than per contest in the loop
            row = int(ordered[dup[0]] >> 20)
            contest = self.contests[int(ordered[dup[0]] & 0xFFFFF)]
            raise InputError(
                f"contest {contest.id} appears twice on the card",
                file=self.meta["source_file"][row],
                record=self.meta["source_record"][row],
                field="Id",
            )
        p_contest = key & 0xFFFFF
        p_row = key >> 20
        packed = np.frombuffer(self.marks, dtype=np.int64)
        m_key = packed >> 26
        m_contest = m_key & 0xFFFFF
        m_row = m_key >> 20
        m_rank = (packed >> 16) & 0x3FF
        m_code = packed & 0xFFFF
        p_order = np.argsort(p_contest, kind="stable")
        m_order = np.argsort(m_contest, kind="stable")
        edges = np.arange(len(self.contests) + 1)
        p_bounds = np.searchsorted(p_contest[p_order], edges)
        m_bounds = np.searchsorted(m_contest[m_order], edges)
        for c, width in enumerate(self.ranks):
            rows_present = p_row[p_order[p_bounds[c] : p_bounds[c + 1]]]
            sel = m_order[m_bounds[c] : m_bounds[c + 1]]
            arrays.append(
                _marks_array(self.rows, width, rows_present, m_row[sel], m_rank[sel], m_code[sel])
            )
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _marks_array(
    rows: int, width: int, present: np.ndarray, row: np.ndarray, rank: np.ndarray, code: np.ndarray
) -> pa.Array:
    """The ``list<list<uint16>>`` column from flat marks: each present row gets ``width`` rank
    positions; within a position, codes are ascending and duplicates dropped."""
    valid = np.zeros(rows, dtype=bool)
    valid[present] = True
    outer = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.where(valid, width, 0), out=outer[1:])
    slot = outer[row] + rank
    order = np.lexsort((code, slot))
    slot, code = slot[order], code[order]
    keep = np.ones(len(slot), dtype=bool)
    keep[1:] = (slot[1:] != slot[:-1]) | (code[1:] != code[:-1])
    slot, code = slot[keep], code[keep]
    inner = np.zeros(int(outer[-1]) + 1, dtype=np.int32)
    np.cumsum(np.bincount(slot, minlength=int(outer[-1])), out=inner[1:])
    inner_arr = pa.ListArray.from_arrays(pa.array(inner), pa.array(code.astype(np.uint16)))
    return pa.ListArray.from_arrays(
        pa.array(outer.astype(np.int32)), inner_arr, type=MARKS_TYPE, mask=pa.array(~valid)
    )


def _rows_of_file(
    path: Path, job: _Job, chunk: _Chunk, batches: list[pa.RecordBatch]
) -> tuple[FileKeys, _Chunk]:
    """Rows of one export file added to ``chunk``, each chunk that fills moved to ``batches``;
    returns the keys of the sessions read (for the duplicate check across files, which needs
    all files) and the chunk to go on with.

    The hot loop: everything it needs is bound to locals first, and errors carry the objects
    being read, whose JSON path :func:`_where` recovers only when there is an error."""
    export = _decode(path)
    man = job.man
    plans = man.plans
    # plain tuples: one unpacking instead of four attribute lookups per contest on a card
    fast = {k: (p.index, p.ranked, p.ranks, p.codes) for k, p in plans.items()}
    known = man.known_contests
    precincts, ballot_types, groups = man.precincts, man.ballot_types, man.groups
    invalid = man.invalid_condition
    fname = path.name
    seen: set[tuple[int, int, int]] = set()
    group_filter = job.group_filter
    group_types: dict[int | None, str] = {None: VoteType.UNKNOWN.value}
    names_cache: dict[tuple[int | None, int | None], tuple[str | None, str | None]] = {}
    index = array("q")  # position in Sessions of each session read
    tabs, bats, recs = array("q"), array("q"), array("q")
    add_index, add_tab, add_bat, add_rec = index.append, tabs.append, bats.append, recs.append
    (m_id, m_tab, m_bat, m_rec, m_pre, m_sty, m_vt, m_src, m_srec), (p_key, m_add) = (
        chunk.appenders()
    )
    for i, s in enumerate(export.Sessions):
        version = "Original"
        card = ct = mk = None
        try:
            tab, bat, rec = s.TabulatorId, s.BatchId, s.RecordId
            group = s.CountingGroupId
            if group_filter is not None and group != group_filter:
                continue
            key = (tab, bat, rec)
            if key in seen:
                raise _Bad("RecordId", f"session {tab}-{bat}-{rec} appears twice in the export")
            seen.add(key)
            try:
                add_tab(tab)
                add_bat(bat)
                add_rec(rec)
            except OverflowError:  # an id beyond 64 bits: never seen in an export
                raise _Bad(_too_big(tab, bat), f"id beyond 64 bits in {tab}-{bat}-{rec}") from None
            add_index(i)
            data = s.Original
            if not data.IsCurrent:
                version = "Modified"
                if s.Modified is None:
                    raise _Bad(
                        "Modified", "Original is not current and there is no Modified version"
                    )
                data = s.Modified
                if not data.IsCurrent:
                    raise _Bad("IsCurrent", "neither Original nor Modified is current")
            nkey = (data.PrecinctPortionId, data.BallotTypeId)
            named = names_cache.get(nkey)
            if named is None:
                named = names_cache[nkey] = (
                    _lookup(nkey[0], precincts, "PrecinctPortionId"),
                    _lookup(nkey[1], ballot_types, "BallotTypeId"),
                )
            precinct, style = named
            vtype = group_types.get(group)
            if vtype is None:
                vtype = group_types[group] = vote_type_of(groups.get(group, "")).value
            cards = data.Cards
            n_cards = len(cards)
            if not 0 < n_cards <= MAX_SESSION_CARDS:
                raise _Bad("Cards", f"a session with {n_cards or 'no'} cards")
            multi = n_cards > 1
            tab_s, bat_s = str(tab), str(bat)
            base = f"{tab_s}-{bat_s}-{rec}"
            for j, card in enumerate(cards):
                ct = mk = None
                row = chunk.rows
                rowkey = row << 20
                for ct in card.Contests:
                    mk = None
                    plan = fast.get(ct.Id)
                    if plan is None:
                        if ct.Id not in known:
                            raise _Bad("Id", f"contest {ct.Id} is not in ContestManifest.json")
                        continue  # filtered out by the contestId option
                    if invalid in ct.OutstackConditionIds:
                        continue
                    c, ranked, n_ranks, codes = plan
                    ck = rowkey | c
                    p_key(ck)
                    ck <<= 26
                    for mk in ct.Marks:
                        if mk.IsAmbiguous:
                            continue
                        code = codes.get(mk.CandidateId)
                        if code is None:
                            raise _Bad(
                                "CandidateId",
                                f"candidate {mk.CandidateId} is not in contest {ct.Id}",
                            )
                        if ranked:
                            r = mk.Rank
                            if not 0 < r <= n_ranks:
                                raise _Bad("Rank", f"rank {r} outside 1..{n_ranks}")
                            m_add(ck | ((r - 1) << 16) | code)
                        else:
                            m_add(ck | code)
                ct = mk = None
                m_id(f"{base}-{j + 1}" if multi else base)
                m_tab(tab_s)
                m_bat(bat_s)
                m_rec(rec)
                m_pre(precinct)
                m_sty(style)
                m_vt(vtype)
                m_src(fname)
                m_srec(f"Sessions[{i}].{version}.Cards[{j}]")
                chunk.rows += 1
        except _Bad as exc:
            raise InputError(
                exc.message,
                file=path,
                record=_where(s, i, version, card, ct, mk),
                field=exc.field,
            ) from None
        if chunk.rows >= job.chunk_rows:
            batches.append(chunk.to_batch(job.schema))
            chunk = job.new_chunk()
            (m_id, m_tab, m_bat, m_rec, m_pre, m_sty, m_vt, m_src, m_srec), (p_key, m_add) = (
                chunk.appenders()
            )
    keys = FileKeys(
        path=path,
        index=np.frombuffer(index, dtype=np.int64),
        keys=np.stack([np.frombuffer(a, dtype=np.int64) for a in (tabs, bats, recs)], axis=1),
    )
    return keys, chunk


def _rows_of_files(paths: list[Path], job: _Job) -> FilesRows:
    """Rows of consecutive export files sharing record batches (a Dominion file often holds a
    few hundred cards; a batch per file would cost more to build than the rows in it)."""
    batches: list[pa.RecordBatch] = []
    chunk = job.new_chunk()
    keys: list[FileKeys] = []
    for path in paths:
        file_keys, chunk = _rows_of_file(path, job, chunk, batches)
        keys.append(file_keys)
    if chunk.rows:
        batches.append(chunk.to_batch(job.schema))
    return FilesRows(batches, keys)


def _too_big(tab: int, bat: int) -> str:
    """Which session id did not fit in 64 bits (checked in key order)."""
    fits = range(-(1 << 63), 1 << 63)
    return "TabulatorId" if tab not in fits else "BatchId" if bat not in fits else "RecordId"


def _lookup(value: int | None, names: dict[int, str], field: str) -> str | None:
    """Name of a manifest id; the id itself when that manifest is absent from the export."""
    if value is None:
        return None
    if not names:
        return str(value)
    name = names.get(value)
    if name is None:
        raise _Bad(field, f"id {value} is not in the manifest")
    return name


def _index_of(items: list[Any], item: Any) -> int:
    return next(n for n, x in enumerate(items) if x is item)


def _where(
    s: _Session, i: int, version: str, card: _Card | None, ct: _CvrContest | None, mk: _Mark | None
) -> str:
    """JSON path of the object being read when an error was found (indices found by identity,
    so the hot loop need not count)."""
    path = f"Sessions[{i}]"
    if card is None:
        return path
    data = s.Modified if version == "Modified" and s.Modified is not None else s.Original
    path += f".{version}.Cards[{_index_of(data.Cards, card)}]"
    if ct is None:
        return path
    path += f".Contests[{_index_of(card.Contests, ct)}]"
    if mk is None:
        return path
    return path + f".Marks[{_index_of(ct.Marks, mk)}]"


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs to read any export file of one folder (sent once per worker)."""

    man: _Manifests
    schema: pa.Schema
    ranks: tuple[int, ...]
    group_filter: int | None
    chunk_rows: int

    def new_chunk(self) -> _Chunk:
        return _Chunk(self.man.election.contests, list(self.ranks))


def _job(man: _Manifests, options: Mapping[str, Any], chunk_rows: int) -> _Job:
    group_opt = str(options.get("countingGroupId") or "").strip()
    group_filter: int | None = None
    if group_opt:
        try:
            group_filter = int(group_opt)
        except ValueError:
            raise InputError(
                f"countingGroupId {group_opt!r} is not an integer", field="countingGroupId"
            ) from None
    contests = man.election.contests
    ranks = [0] * len(contests)
    for plan in man.plans.values():
        ranks[plan.index] = plan.ranks
    if not 0 < chunk_rows <= MAX_CHUNK_ROWS:
        raise ValueError(f"chunk_rows must be in 1..{MAX_CHUNK_ROWS}, got {chunk_rows}")
    return _Job(man, cvr_schema(contests), tuple(ranks), group_filter, chunk_rows)


def _batches(
    exports: list[Path],
    man: _Manifests,
    options: Mapping[str, Any],
    chunk_rows: int = 65_536,
    workers: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """The CVR table of ``exports`` in batches of ``chunk_rows`` cards; ``workers`` decoding
    processes (None: :func:`default_workers`; 1: in this process). With workers, decoding
    starts here, before the first batch is asked for."""
    job = _job(man, options, chunk_rows)
    n = default_workers(exports) if workers is None else workers
    if n < 1:
        raise ValueError(f"workers must be at least 1, got {n}")
    groups = dominion_pool.file_groups(exports)
    rows: Iterable[FilesRows] = (
        (_rows_of_files(paths, job) for paths, _ in groups)
        if n == 1
        else dominion_pool.FilePool(groups, _rows_of_files, job, n)
    )
    return dominion_pool.rechunk(dominion_pool.checked_batches(rows), job.schema, chunk_rows)


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
    return ParsedExport(
        election=man.election,
        batches=_batches(exports, man, options, workers=workers),
        format=FORMAT,
        source_files=[*exports, *man.files],
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

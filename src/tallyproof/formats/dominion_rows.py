"""Dominion sessions turned into CVR-table rows, level by level rather than mark by mark.

Why columnar: a county export holds some 15-20 marks on each of a million cards, and a Python
loop that visits every mark (look up its candidate, check its rank, pack it) costs more than
decoding the JSON. Here each level of the decoded tree — sessions, cards, contests, marks — is
flattened with C-level iteration (``map`` over ``attrgetter``, ``itertools.chain``) into numpy
arrays, and every rule is applied to whole arrays: which version is current, which contests
count, which marks are votes, candidate codes, rank bounds, repeated sessions and contests. The
only per-object Python left is for the rare object that needs it (a session whose Original is
not current, a contest with outstack conditions).

Errors are found the same way. Each check reports the first offending object *of its kind* in
document order, with its JSON path (``Sessions[i].Original.Cards[j].Contests[k].Marks[m]``)
computed from the flattened positions; checks run in a fixed order (session ids, repeated
sessions, versions, manifest names, card counts, contests, marks, contests repeated on a card),
so the same bad file always gets the same message.

The rules themselves are the reader's (see :mod:`.dominion`); this module only decides how
fast they are applied.
"""

from __future__ import annotations

import bisect

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain, compress
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..cvr_table import MARKS_TYPE, cvr_schema
from ..errors import InputError
from ..memory import gc_paused
from ..model import Contest, VoteType
from . import dominion_scan
from .dominion_pool import FileKeys, FilesRows

if TYPE_CHECKING:
    from .dominion import _Manifests

#: Most cards in one record batch, and in one session (a batch is cut after a session, so
#: its rows stay below 2**17).
MAX_CHUNK_ROWS = 1 << 16
MAX_SESSION_CARDS = 1 << 16

_INT64 = range(-(1 << 63), 1 << 63)


# ---------------------------------------------------------------------------------------------
# typed decoding: msgspec skips every field not named here without building it, which is most
# of a Dominion CVR, and reports a wrong type with its JSON path. Tuples, not lists: one
# allocation instead of two, and every empty one (most outstack lists) is the same object.


class _Mark(msgspec.Struct, gc=False):
    CandidateId: int
    Rank: int
    IsAmbiguous: bool


class _CvrContest(msgspec.Struct, gc=False):
    Id: int
    Marks: tuple[_Mark, ...]
    OutstackConditionIds: tuple[int, ...] = ()


class _Card(msgspec.Struct, gc=False):
    Contests: tuple[_CvrContest, ...]


class _Version(msgspec.Struct, gc=False):
    IsCurrent: bool
    Cards: tuple[_Card, ...]
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


#: Outstack condition RCTab treats as "this contest was only partly read": id 7, described as
#: "InvalidContest" in newer manifests. Used when the manifest does not name it.
INVALID_CONTEST_CONDITION = 7

# The same structs, except that a contest's outstack conditions may be any small id *but*
# INVALID_CONTEST_CONDITION. A file this accepts has no partly read contest, so its contests
# need not be visited again to look for one (a pass over every contest, 4% of the reading
# time); a file it refuses is decoded again by _DECODER, which also names any real fault.
_WholeCondition = Literal[tuple(i for i in range(256) if i != INVALID_CONTEST_CONDITION)]


class _WholeContest(_CvrContest, gc=False):
    OutstackConditionIds: tuple[_WholeCondition, ...] = ()


class _WholeCard(_Card, gc=False):
    Contests: tuple[_WholeContest, ...]


class _WholeVersion(_Version, gc=False):
    Cards: tuple[_WholeCard, ...]


class _WholeSession(_Session, gc=False):
    Original: _WholeVersion
    Modified: _WholeVersion | None = None


class _WholeExport(_Export, gc=False):
    Sessions: list[_WholeSession]


_DECODER = msgspec.json.Decoder(_Export)
_WHOLE_DECODER = msgspec.json.Decoder(_WholeExport)
_MSG_PATH = re.compile(r" - at `\$\.?(.*)`$")
_MSG_FIELD = re.compile(r"missing required field `([^`]+)`")

_TAB, _BAT, _REC = attrgetter("TabulatorId"), attrgetter("BatchId"), attrgetter("RecordId")
_GROUP, _ORIGINAL = attrgetter("CountingGroupId"), attrgetter("Original")
_IS_CURRENT, _CARDS = attrgetter("IsCurrent"), attrgetter("Cards")
_PRECINCT, _STYLE = attrgetter("PrecinctPortionId"), attrgetter("BallotTypeId")
_CONTESTS, _ID = attrgetter("Contests"), attrgetter("Id")
_OUTSTACK, _MARKS = attrgetter("OutstackConditionIds"), attrgetter("Marks")
_CANDIDATE, _RANK, _AMBIGUOUS = attrgetter("CandidateId"), attrgetter("Rank"), attrgetter("IsAmbiguous")


def read_file(path: Path) -> tuple[bytes, str]:
    """The export file's bytes and their SHA-256 (an unreadable file is an
    :class:`InputError`)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from exc
    return data, hashlib.sha256(data).hexdigest()


def decode(data: bytes, path: Path, whole_first: bool = False) -> tuple[_Export, bool]:
    """The export file's sessions, typed; and whether a contest may be partly read (False
    only when ``whole_first`` and the stricter decoder accepted the file). A file with the
    wrong structure is an :class:`InputError` naming the JSON path msgspec reports."""
    # under rows_of_file's pause of the garbage collector, which halves decoding time
    if whole_first:
        try:
            return _WHOLE_DECODER.decode(data), False
        except msgspec.DecodeError:
            pass  # a partly read contest, or a fault: decoded again below, which names it
    return _decode_all(data, path), True


def _decode_all(data: bytes, path: Path) -> _Export:
    """``data`` decoded by the decoder that accepts every valid export."""
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


# ---------------------------------------------------------------------------------------------
# what every worker needs, precomputed once per export


#: Ids below this are looked up in a table indexed by id (Dominion numbers its contests and
#: candidates from 1, a few thousand at most); larger ones by binary search.
DIRECT_IDS = 1 << 20


@dataclass(frozen=True)
class _IdIndex:
    """Position of each id in an ascending list of distinct int64 ids, -1 when absent.

    Why a table: a card has a dozen contests and more marks, each looked up; indexing a table
    costs a few nanoseconds a lookup, a binary search several times that. The table is
    shifted by one so that every negative id lands on slot 0 and every id past the last on
    the final slot, both -1."""

    ids: np.ndarray
    table: np.ndarray | None  # None: the ids are too large or negative for a table

    @classmethod
    def of(cls, ids: list[int]) -> _IdIndex:
        arr = np.array(ids, dtype=np.int64)
        if not len(arr) or (arr[0] >= 0 and arr[-1] < DIRECT_IDS):
            top = int(arr[-1]) if len(arr) else -1
            table = np.full(top + 3, -1, dtype=np.int32)
            table[arr + 1] = np.arange(len(arr), dtype=np.int32)
            return cls(arr, table)
        return cls(arr, None)

    def positions(self, values: np.ndarray) -> np.ndarray:
        if self.table is not None:
            shifted = values + 1  # int64 wraps at the very top: negative, so slot 0, so -1
            return self.table.take(shifted, mode="clip").astype(np.int64, copy=False)
        pos = np.minimum(np.searchsorted(self.ids, values), len(self.ids) - 1)
        return np.where(self.ids[pos] == values, pos, -1)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to read any export file of one folder (sent once per worker):
    the manifests, and their contests and candidates as lookup arrays."""

    man: _Manifests
    schema: pa.Schema
    ranks: np.ndarray  # per contest column: rank positions (1 for a vote-for-N contest)
    ranked: np.ndarray  # per contest column: is it ranked
    planned: _IdIndex  # Dominion contest ids that have a column
    plan_cols: np.ndarray  # ...and that column, by their position
    known_ids: np.ndarray  # every contest id in ContestManifest.json (some filtered out)
    candidates: _IdIndex  # Dominion candidate ids of any contest
    codes: np.ndarray  # (candidate position, column) → candidate code in the contest, or -1
    group_filter: int | None
    chunk_rows: int
    plan: _DecodePlan

    @property
    def contests(self) -> tuple[Contest, ...]:
        return self.man.election.contests

    def new_chunk(self) -> _Chunk:
        return _Chunk(self)


@dataclass
class _DecodePlan:
    """Which decoder a process tries first for the files of one export (each worker has its
    own copy): the stricter, faster one until a file of the export turns out to have a partly
    read contest; from then on the one that accepts them, as such exports have many. Either
    way the rows are the same; only the time differs. ``scan``: files are first read by the
    compiled scanner (:mod:`.dominion_scan`), msgspec decoding only the files it gives up."""

    whole_first: bool
    scan: bool = False


def make_job(man: _Manifests, group_filter: int | None, chunk_rows: int, scan: bool = False) -> Job:
    """Lookup arrays for ``man``'s contests (its ids are int64: the manifest reader checks);
    ``scan``: read files with the compiled scanner first (:mod:`.dominion_scan`)."""
    if not 0 < chunk_rows <= MAX_CHUNK_ROWS:
        raise ValueError(f"chunk_rows must be in 1..{MAX_CHUNK_ROWS}, got {chunk_rows}")
    contests = man.election.contests
    if len(contests) >= 1 << 20:  # a card's contests are keyed (row << 20) | column
        raise InputError(f"{len(contests)} contests is more than a ballot can hold")
    ranks = np.zeros(len(contests), dtype=np.int64)
    ranked = np.zeros(len(contests), dtype=bool)
    for plan in man.plans.values():
        ranks[plan.index], ranked[plan.index] = plan.ranks, plan.ranked
    ids = sorted(man.plans)
    plan_cols = np.array([man.plans[i].index for i in ids], dtype=_column_type(len(contests)))
    known_ids = np.array(sorted(man.known_contests), dtype=np.int64)
    cand_ids = sorted({d for p in man.plans.values() for d in p.codes})
    at = {cand: i for i, cand in enumerate(cand_ids)}
    codes = np.full((len(cand_ids), len(contests)), -1, dtype=np.int32)  # codes are uint16
    for plan in man.plans.values():
        for cand, code in plan.codes.items():
            codes[at[cand], plan.index] = code
    return Job(
        man, cvr_schema(contests), ranks, ranked, _IdIndex.of(ids), plan_cols, known_ids,
        _IdIndex.of(cand_ids), codes, group_filter, chunk_rows,
        _DecodePlan(whole_first=man.invalid_condition == INVALID_CONTEST_CONDITION, scan=scan),
    )  # fmt: skip


def _column_type(columns: int) -> type[np.integer]:
    """Type of contest column numbers: 16 bits for any real ballot, which also lets numpy sort
    them by radix."""
    return np.uint16 if columns <= 1 << 16 else np.int32


def _column_of(job: Job, cid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column of each Dominion contest id (meaningless where it has none), and whether it has
    one."""
    pos = job.planned.positions(cid)
    found = pos >= 0
    if not len(job.plan_cols):
        return np.zeros(len(cid), dtype=job.plan_cols.dtype), found
    return job.plan_cols[pos], found  # (position -1: the last column, not found)


def _code_of(job: Job, cand: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Candidate code of each (Dominion candidate id, contest column); -1 when not in it."""
    pos = job.candidates.positions(cand)
    if not len(job.codes):
        return pos  # all -1
    return np.where(pos >= 0, job.codes[pos, col], -1)


# ---------------------------------------------------------------------------------------------
# helpers


class _Bad(Exception):
    """Internal: a well-typed but impossible value, re-raised as InputError with its JSON path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _int64s(values: Iterable[int], count: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The integers as int64, and which did not fit (None when all did: the usual case; JSON
    integers are unbounded and msgspec keeps them so, but no Dominion id comes near 2**63)."""
    try:
        return np.fromiter(values, dtype=np.int64, count=count), None
    except OverflowError:
        pass
    listed = list(values) if not isinstance(values, list) else values
    big = np.fromiter((v not in _INT64 for v in listed), dtype=bool, count=count)
    return np.fromiter((0 if v not in _INT64 else v for v in listed), np.int64, count), big


def _ints(getter: Callable[[Any], int], objs: list[Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """An integer attribute of every object, as :func:`_int64s` gives it."""
    try:
        return np.fromiter(map(getter, objs), dtype=np.int64, count=len(objs)), None
    except OverflowError:
        values = list(map(getter, objs))
        return _int64s(values, len(values))


def _positions_of_true(values: Iterable[object], count: int) -> list[int]:
    """Positions of the truthy values (a non-empty tuple, ``True``): one C-level pass that
    keeps only the rare hits, where testing ``any`` and then building a mask would be two."""
    return list(compress(range(count), values))


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


def _starts(counts: np.ndarray) -> np.ndarray:
    """Where each group starts in the flattened level below (counts → exclusive cumsum)."""
    return _bounds(counts)[:-1]


def _bounds(counts: np.ndarray) -> np.ndarray:
    """Where each group starts in the level below, and the end after the last."""
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


@dataclass
class _Where:
    """JSON paths of one file's objects, from flattened positions."""

    path: Path
    index: np.ndarray  # position in Sessions of each session read (the group filter skips some)
    modified: np.ndarray | None = None  # per session read: the Modified version is current

    def session(self, s: int) -> str:
        return f"Sessions[{int(self.index[s])}]"

    def card(self, s: int, j: int) -> str:
        version = "Modified" if self.modified is not None and self.modified[s] else "Original"
        return f"{self.session(s)}.{version}.Cards[{j}]"

    def error(self, record: str, field: str, message: str) -> InputError:
        return InputError(message, file=self.path, record=record, field=field)


# ---------------------------------------------------------------------------------------------
# one file


def rows_of_file(
    path: Path, job: Job, chunk: _Chunk, batches: list[pa.RecordBatch]
) -> tuple[FileKeys, _Chunk]:
    """Rows of one export file added to ``chunk``, each chunk that fills moved to ``batches``;
    returns the keys of the sessions read (for the duplicate check across files, which needs
    all files) and the chunk to go on with.

    The cyclic garbage collector is paused throughout: the decoded tree holds millions of
    tracked tuples, and with the collector on, every few hundred new ones (while decoding) and
    the lists and arrays made while flattening trigger collections that walk the whole tree
    (and promote it, so that later collections walk it again). Nothing here makes a reference
    cycle; the tree is freed by reference counting when this returns."""
    with gc_paused():
        return _rows_of_file(path, job, chunk, batches)


def _rows_of_file(
    path: Path, job: Job, chunk: _Chunk, batches: list[pa.RecordBatch]
) -> tuple[FileKeys, _Chunk]:
    data, digest = read_file(path)
    scanned = dominion_scan.scan(data, job.man.invalid_condition) if job.plan.scan else None
    file: _ScannedFile | _DecodedFile
    if scanned is not None:
        file = _ScannedFile(scanned)
    else:
        export, partial = decode(data, path, job.plan.whole_first)
        if partial:
            job.plan.whole_first = False
        file = _DecodedFile(export.Sessions, partial)
        del export
    del data
    index = np.arange(file.sessions, dtype=np.int64)
    if job.group_filter is not None:
        index = file.keep_group(job.group_filter)
    n = len(index)
    where = _Where(path, index)
    keys = file.keys(where)
    _check_repeats(keys, where)
    where.modified = file.current_versions(where)
    labels, label_names = _labels(*file.label_ids(), job.man, where)
    n_cards = file.n_cards()
    bad = np.flatnonzero((n_cards < 1) | (n_cards > MAX_SESSION_CARDS))
    if bad.size:
        s = int(bad[0])
        raise where.error(
            where.session(s), "Cards", f"a session with {int(n_cards[s]) or 'no'} cards"
        )
    sess = _FileSessions(path, where, keys, n_cards, labels, label_names)
    total = np.cumsum(n_cards)
    start = 0
    while start < n:
        # the sessions that fill the chunk to chunk_rows, the last one possibly past it
        before = int(total[start - 1]) if start else 0
        stop = min(int(np.searchsorted(total, before + job.chunk_rows - chunk.rows)) + 1, n)
        _add_sessions(chunk, job, sess, file.cards(start, stop), start, stop)
        if chunk.rows >= job.chunk_rows:
            batches.append(chunk.to_batch())
            chunk = job.new_chunk()
        start = stop
    return FileKeys(path=path, index=index, keys=keys, sha256=digest), chunk


def rows_of_files(paths: list[Path], job: Job) -> FilesRows:
    """Rows of consecutive export files sharing record batches (a Dominion file often holds a
    few hundred cards; a batch per file would cost more to build than the rows in it)."""
    batches: list[pa.RecordBatch] = []
    chunk = job.new_chunk()
    keys: list[FileKeys] = []
    for path in paths:
        file_keys, chunk = rows_of_file(path, job, chunk, batches)
        keys.append(file_keys)
    if chunk.rows:
        batches.append(chunk.to_batch())
    return FilesRows(batches, keys)


def _session_keys(sessions: list[_Session], where: _Where) -> np.ndarray:
    """(sessions, 3) int64: TabulatorId, BatchId, RecordId."""
    columns = [_ints(get, sessions) for get in (_TAB, _BAT, _REC)]
    if any(big is not None for _, big in columns):
        s = min(int(np.argmax(big)) for _, big in columns if big is not None)
        s_ = sessions[s]
        field = next(
            name
            for name, (_, big) in zip(("TabulatorId", "BatchId", "RecordId"), columns)
            if big is not None and big[s]
        )
        raise where.error(
            where.session(s), field,
            f"id beyond 64 bits in {s_.TabulatorId}-{s_.BatchId}-{s_.RecordId}",
        )  # fmt: skip
    return np.stack([values for values, _ in columns], axis=1) if sessions else np.zeros(
        (0, 3), dtype=np.int64
    )


def _check_repeats(keys: np.ndarray, where: _Where) -> None:
    """A session (tabulator, batch, record) read twice in the file: the later one is named."""
    if len(keys) < 2:
        return
    order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))  # stable: equal keys in file order
    ordered = keys[order]
    same = (ordered[1:] == ordered[:-1]).all(axis=1)
    if same.any():
        s = int(order[1:][same].min())
        tab, bat, rec = (int(v) for v in keys[s])
        raise where.error(
            where.session(s), "RecordId", f"session {tab}-{bat}-{rec} appears twice in the export"
        )


def _current_versions(
    sessions: list[_Session], where: _Where
) -> tuple[list[_Version], np.ndarray]:
    """Each session's current version (``Original`` unless it is not current, then
    ``Modified``), and which sessions use ``Modified``."""
    versions = list(map(_ORIGINAL, sessions))
    modified = ~np.fromiter(map(_IS_CURRENT, versions), dtype=bool, count=len(versions))
    for s in np.flatnonzero(modified).tolist():
        version = sessions[s].Modified
        if version is None or not version.IsCurrent:
            raise _no_current_version(where, s, version is not None)
        versions[s] = version
    return versions, modified


def _no_current_version(where: _Where, s: int, has_modified: bool) -> InputError:
    """Session ``s`` has no current version to read."""
    if not has_modified:
        return where.error(
            where.session(s), "Modified", "Original is not current and there is no Modified version"
        )
    return where.error(where.session(s), "IsCurrent", "neither Original nor Modified is current")


#: A session's precinct portion name, ballot type name and vote type.
_Label = tuple[str | None, str | None, str]


def _labels(
    precincts: list[int | None],
    styles: list[int | None],
    groups: list[int | None],
    man: _Manifests,
    where: _Where,
) -> tuple[np.ndarray, list[_Label]]:
    """Each session's label (as a number into the list returned with it): the precinct
    portion and ballot type of its current version, and the vote type of its counting group.
    A file has a handful of distinct labels, so each is looked up once, and the rows get them
    by number rather than a string per card."""
    ids = list(zip(precincts, styles, groups, strict=True))
    number = dict.fromkeys(ids, 0)  # distinct, in order of first use
    labels: list[_Label] = []
    for precinct, style, group in number:
        try:
            labels.append((
                _lookup(precinct, man.precincts, "PrecinctPortionId"),
                _lookup(style, man.ballot_types, "BallotTypeId"),
                VoteType.UNKNOWN.value if group is None
                else vote_type_of(man.groups.get(group, "")).value,
            ))  # fmt: skip
        except _Bad as exc:
            first = ids.index((precinct, style, group))
            raise where.error(where.session(first), exc.field, exc.message) from None
        number[precinct, style, group] = len(labels) - 1
    return np.fromiter(map(number.__getitem__, ids), dtype=np.int32, count=len(ids)), labels


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


@dataclass(frozen=True)
class _FileSessions:
    """Per-session facts of one file, computed once for all its slices."""

    path: Path
    where: _Where
    keys: np.ndarray
    n_cards: np.ndarray
    labels: np.ndarray  # per session: its label's number in label_names
    label_names: list[_Label]


def _add_sessions(
    chunk: _Chunk, job: Job, sess: _FileSessions, cards: _DecodedCards | _ScannedCards, a: int, b: int
) -> None:
    """Add the cards of sessions ``a:b`` of a file to ``chunk``, checking contests and marks."""
    where = sess.where
    n_cards = sess.n_cards[a:b]
    n = int(n_cards.sum())
    card_session = np.repeat(np.arange(a, b), n_cards)
    card_pos = np.arange(n) - np.repeat(_starts(n_cards), n_cards)

    n_ct = cards.n_contests
    ct_card = np.repeat(np.arange(n), n_ct)
    ct_pos = np.arange(len(ct_card)) - np.repeat(_starts(n_ct), n_ct)

    def contest_path(k: int) -> str:
        c = int(ct_card[k])
        return f"{where.card(int(card_session[c]), int(card_pos[c]))}.Contests[{int(ct_pos[k])}]"

    cid, cid_big = cards.contest_ids()
    col, found = _column_of(job, cid)
    unknown = ~found
    if unknown.any():  # a contest without a column: filtered out (contestId), or unknown
        unknown &= ~np.isin(cid, job.known_ids)
    if cid_big is not None:
        found &= ~cid_big
        unknown |= cid_big
    if unknown.any():
        k = int(np.argmax(unknown))
        raise where.error(
            contest_path(k), "Id", f"contest {cards.contest_id(k)} is not in ContestManifest.json"
        )
    keep = found.copy()  # contests that go on the card
    keep[cards.partly_read(job.man.invalid_condition)] = False  # left off, as RCTab does

    # marks of the contests that go on the card only: the others are not read at all
    kept = np.flatnonzero(keep)
    n_m = cards.mark_counts(keep, kept)
    m_ct = np.repeat(kept, n_m)
    m_col = col[m_ct]
    m_ranked = job.ranked[m_col]
    cand, cand_big, rank, rank_big, ambiguous = cards.marks(job.ranked[col[kept]], m_ranked)
    votes = np.ones(len(m_ct), dtype=bool)
    votes[ambiguous] = False
    # (ambiguous marks are not votes, and are not checked either)
    code = _code_of(job, cand, m_col)
    if cand_big is not None:
        code[cand_big] = -1
    bad_cand = votes & (code < 0)
    out_of_range = (rank < 1) | (rank > job.ranks[m_col])
    if rank_big is not None:
        out_of_range |= rank_big
    bad_rank = votes & m_ranked & out_of_range
    bad = bad_cand | bad_rank
    if bad.any():
        m = int(np.argmax(bad))
        k = int(m_ct[m])
        first_mark = int(_starts(n_m)[np.searchsorted(kept, k)])
        record = f"{contest_path(k)}.Marks[{m - first_mark}]"
        if bad_cand[m]:
            message = f"candidate {cards.mark_field(m, 'CandidateId')} is not in contest {cards.contest_id(k)}"
            raise where.error(record, "CandidateId", message)
        raise where.error(
            record, "Rank", f"rank {cards.mark_field(m, 'Rank')} outside 1..{job.ranks[m_col[m]]}"
        )

    row0 = chunk.rows
    present = np.flatnonzero(keep)
    chunk.p_row.append((row0 + ct_card[present]).astype(np.int32))  # rows < 2**17
    chunk.p_col.append(col[present])
    voted = np.flatnonzero(votes)
    chunk.m_row.append((row0 + ct_card[m_ct[voted]]).astype(np.int32))
    chunk.m_col.append(m_col[voted])
    chunk.m_pos.append(np.where(m_ranked[voted], rank[voted] - 1, 0).astype(np.int32))
    chunk.m_code.append(code[voted])  # int32 (uint16 values: -1 was refused above)
    chunk.add_cards(sess, a, b, card_session - a, card_pos)


# ---------------------------------------------------------------------------------------------
# a file's sessions and cards, as msgspec decoded them or as the scanner read them: the same
# facts either way, so that the rules above and below are applied by one piece of code


class _DecodedFile:
    """A file's sessions as msgspec structs."""

    def __init__(self, sessions: list[_Session], partial: bool) -> None:
        self._sessions = sessions
        self._partial = partial  # a contest may be partly read (decode)
        self._groups: list[int | None] = list(map(_GROUP, sessions))
        self._versions: list[_Version] = []  # each session's current one
        self._card_lists: list[tuple[_Card, ...]] = []

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def keep_group(self, group: int) -> np.ndarray:
        """Only the sessions of one counting group from now on; their positions."""
        wanted = [i for i, g in enumerate(self._groups) if g == group]
        self._sessions = [self._sessions[i] for i in wanted]
        self._groups = [group] * len(wanted)
        return np.array(wanted, dtype=np.int64)

    def keys(self, where: _Where) -> np.ndarray:
        return _session_keys(self._sessions, where)

    def current_versions(self, where: _Where) -> np.ndarray:
        self._versions, modified = _current_versions(self._sessions, where)
        return modified

    def label_ids(self) -> tuple[list[int | None], list[int | None], list[int | None]]:
        return list(map(_PRECINCT, self._versions)), list(map(_STYLE, self._versions)), self._groups

    def n_cards(self) -> np.ndarray:
        self._card_lists = list(map(_CARDS, self._versions))
        return np.fromiter(map(len, self._card_lists), dtype=np.int64, count=len(self._card_lists))

    def cards(self, a: int, b: int) -> _DecodedCards:
        return _DecodedCards(list(chain.from_iterable(self._card_lists[a:b])), self._partial)


class _DecodedCards:
    """Cards of some sessions as msgspec structs, flattened level by level on demand."""

    def __init__(self, cards: list[_Card], partial: bool) -> None:
        ct_lists = list(map(_CONTESTS, cards))
        self.n_contests = np.fromiter(map(len, ct_lists), dtype=np.int64, count=len(cards))
        self._contests: list[_CvrContest] = list(chain.from_iterable(ct_lists))
        self._partial = partial
        self._marks: list[_Mark] = []
        self._mark_lists: list[tuple[_Mark, ...]] = []

    def contest_ids(self) -> tuple[np.ndarray, np.ndarray | None]:
        return _ints(_ID, self._contests)

    def contest_id(self, k: int) -> int:
        return self._contests[k].Id

    def partly_read(self, invalid: int) -> list[int]:
        contests = self._contests
        if not self._partial:
            return []
        flagged = _positions_of_true(map(_OUTSTACK, contests), len(contests))
        # a few contests in ten have some outstack condition
        conditions = map(_OUTSTACK, map(contests.__getitem__, flagged))
        return [k for k, ids in zip(flagged, conditions) if invalid in ids]

    def mark_counts(self, keep: np.ndarray, kept: np.ndarray) -> np.ndarray:
        contests = self._contests
        self._mark_lists = list(
            map(_MARKS, contests if len(kept) == len(contests) else compress(contests, keep.tolist()))
        )
        self._marks = list(chain.from_iterable(self._mark_lists))
        return np.fromiter(map(len, self._mark_lists), dtype=np.int64, count=len(kept))

    def marks(
        self, contest_ranked: np.ndarray, mark_ranked: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None, list[int]]:
        marks = self._marks
        cand, cand_big = _ints(_CANDIDATE, marks)
        rank, rank_big = _ranks(marks, self._mark_lists, contest_ranked, mark_ranked)
        return cand, cand_big, rank, rank_big, _positions_of_true(map(_AMBIGUOUS, marks), len(marks))

    def mark_field(self, m: int, name: str) -> int:
        return int(getattr(self._marks[m], name))


def _ranks(
    marks: list[_Mark],
    mark_lists: list[tuple[_Mark, ...]],
    contest_ranked: np.ndarray,
    mark_ranked: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``Rank`` of each mark, as :func:`_ints` gives it, read only where it means something:
    in ranked contests (a vote-for-N mark's rank is ignored; 1 stands in). Each pass over the
    marks costs a cache miss per mark, so the marks of vote-for-N contests are not visited."""
    if mark_ranked.all():
        return _ints(_RANK, marks)
    rank = np.ones(len(marks), dtype=np.int64)
    if not mark_ranked.any():
        return rank, None
    at = np.flatnonzero(mark_ranked)
    ranked = list(chain.from_iterable(compress(mark_lists, contest_ranked.tolist())))
    values, big = _ints(_RANK, ranked)
    rank[at] = values
    if big is None:
        return rank, None
    too_big = np.zeros(len(marks), dtype=bool)
    too_big[at] = big
    return rank, too_big


class _ScannedFile:
    """A file's sessions as the compiled scanner read them (:mod:`.dominion_scan`): arrays,
    every integer within 64 bits (the scanner gives up a file with a larger one)."""

    def __init__(self, scanned: dominion_scan.Scanned) -> None:
        self._use(scanned)

    def _use(self, scanned: dominion_scan.Scanned) -> None:
        self._s = scanned
        # where each session's cards, contests and marks start, one past the end last
        self._card_at = _bounds(scanned.n_cards)
        self._contest_at = _bounds(scanned.n_contests)
        self._mark_at = _bounds(scanned.n_marks)

    @property
    def sessions(self) -> int:
        return len(self._s.keys)

    def keep_group(self, group: int) -> np.ndarray:
        """Only the sessions of one counting group from now on; their positions."""
        s = self._s
        wanted = np.flatnonzero(s.group_given & (s.group == group))
        cards = dominion_scan.ranges(self._card_at[wanted], self._card_at[wanted + 1])
        contests = dominion_scan.ranges(self._contest_at[cards], self._contest_at[cards + 1])
        marks = dominion_scan.ranges(self._mark_at[contests], self._mark_at[contests + 1])
        self._use(dominion_scan.take(s, wanted, cards, contests, marks))
        return wanted.astype(np.int64)

    def keys(self, where: _Where) -> np.ndarray:
        return self._s.keys

    def current_versions(self, where: _Where) -> np.ndarray:
        s = self._s
        modified = ~s.original_current
        bad = modified & ~(s.modified_present & s.modified_current)
        if bad.any():
            first = int(np.argmax(bad))
            raise _no_current_version(where, first, bool(s.modified_present[first]))
        return modified

    def label_ids(self) -> tuple[list[int | None], list[int | None], list[int | None]]:
        s = self._s
        return (_given(s.precinct, s.precinct_given), _given(s.style, s.style_given),
                _given(s.group, s.group_given))  # fmt: skip

    def n_cards(self) -> np.ndarray:
        return self._s.n_cards

    def cards(self, a: int, b: int) -> _ScannedCards:
        c0, c1 = int(self._card_at[a]), int(self._card_at[b])
        k0, k1 = int(self._contest_at[c0]), int(self._contest_at[c1])
        return _ScannedCards(self._s, c0, c1, k0, k1, self._mark_at)


def _given(values: np.ndarray, given: np.ndarray) -> list[int | None]:
    """The values as Python ints, ``None`` where not given."""
    if given.all():
        return values.tolist()
    return [v if g else None for v, g in zip(values.tolist(), given.tolist(), strict=True)]


class _ScannedCards:
    """Cards ``c0:c1`` of a scanned file (contests ``k0:k1``)."""

    def __init__(
        self, s: dominion_scan.Scanned, c0: int, c1: int, k0: int, k1: int, mark_at: np.ndarray
    ) -> None:
        self._s, self._k0, self._k1, self._mark_at = s, k0, k1, mark_at
        self.n_contests = s.n_contests[c0:c1]
        self._marks: np.ndarray | slice = slice(0, 0)

    def contest_ids(self) -> tuple[np.ndarray, None]:
        return self._s.contest_id[self._k0 : self._k1], None

    def contest_id(self, k: int) -> int:
        return int(self._s.contest_id[self._k0 + k])

    def partly_read(self, invalid: int) -> np.ndarray:
        return self._s.partly_read[self._k0 : self._k1]

    def mark_counts(self, keep: np.ndarray, kept: np.ndarray) -> np.ndarray:
        at = self._mark_at
        if len(kept) == self._k1 - self._k0:
            self._marks = slice(int(at[self._k0]), int(at[self._k1]))
            return self._s.n_marks[self._k0 : self._k1]
        contests = kept + self._k0
        self._marks = dominion_scan.ranges(at[contests], at[contests + 1])
        return self._s.n_marks[contests]

    def marks(
        self, contest_ranked: np.ndarray, mark_ranked: np.ndarray
    ) -> tuple[np.ndarray, None, np.ndarray, None, np.ndarray]:
        s, at = self._s, self._marks
        return s.candidate[at], None, s.rank[at], None, s.ambiguous[at]

    def mark_field(self, m: int, name: str) -> int:
        values = self._s.candidate if name == "CandidateId" else self._s.rank
        return int(values[self._marks][m])


# ---------------------------------------------------------------------------------------------
# one record batch


class _Chunk:
    """Rows of one record batch, kept as arrays: per session (ids, names), per card (its
    session and position), per contest on a card (row, column) and per vote (row, column,
    rank position, candidate code). :meth:`to_batch` builds the Arrow columns from them."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.rows = 0
        self.sessions = 0
        self.s_keys: list[np.ndarray] = []
        self.s_index: list[np.ndarray] = []
        self.s_modified: list[np.ndarray] = []
        self.s_cards: list[np.ndarray] = []
        self.s_label: list[np.ndarray] = []  # per session: its number in self.labels
        self.labels: dict[tuple[str | None, str | None, str, str], int] = {}  # and its file
        self.c_session: list[np.ndarray] = []
        self.c_pos: list[np.ndarray] = []
        self.p_row: list[np.ndarray] = []
        self.p_col: list[np.ndarray] = []
        self.m_row: list[np.ndarray] = []
        self.m_col: list[np.ndarray] = []
        self.m_pos: list[np.ndarray] = []
        self.m_code: list[np.ndarray] = []
        self.files: list[tuple[int, Path]] = []  # (first row, file): for error messages

    def add_cards(
        self, sess: _FileSessions, a: int, b: int, card_session: np.ndarray, card_pos: np.ndarray
    ) -> None:
        where = sess.where
        assert where.modified is not None
        self.files.append((self.rows, sess.path))
        self.s_keys.append(sess.keys[a:b])
        self.s_index.append(where.index[a:b])
        self.s_modified.append(where.modified[a:b])
        self.s_cards.append(sess.n_cards[a:b])
        name, labels = sess.path.name, self.labels
        numbers = [labels.setdefault((*label, name), len(labels)) for label in sess.label_names]
        self.s_label.append(np.array(numbers, dtype=np.int32)[sess.labels[a:b]])
        self.c_session.append(self.sessions + card_session)
        self.c_pos.append(card_pos)
        self.sessions += b - a
        self.rows += len(card_pos)

    def to_batch(self) -> pa.RecordBatch:
        cat = np.concatenate
        keys, index = cat(self.s_keys), cat(self.s_index)
        modified, n_cards = cat(self.s_modified), cat(self.s_cards)
        c_session, c_pos = cat(self.c_session), cat(self.c_pos)
        p_row, p_col = cat(self.p_row), cat(self.p_col)
        n_cols = len(self.job.contests)
        present, repeats = _presence(p_row, p_col, n_cols, self.rows)
        if repeats:  # a contest twice on some card
            self._check_contests_once(p_row, p_col, index, modified, c_session, c_pos)
        one_each = len(c_session) == len(keys)  # one card per session (the usual)

        def per_card(values: np.ndarray) -> np.ndarray:
            """A per-session array, one value per card."""
            return values if one_each else values[c_session]

        label = pa.array(per_card(cat(self.s_label)))
        # the labels' precinct, ballot style, vote type and file, each as a column
        names = list(zip(*self.labels, strict=True)) or [()] * 4
        tab = pa.array(per_card(keys[:, 0])).cast(pa.string())
        bat = pa.array(per_card(keys[:, 1])).cast(pa.string())
        record = pa.array(per_card(keys[:, 2]), type=pa.int64())
        ballot_id = pc.binary_join_element_wise(tab, bat, record.cast(pa.string()), "-")
        multi = per_card(n_cards > 1)
        if multi.any():  # "-k" (1-based position) on the cards of multi-card sessions
            numbered = pc.binary_join_element_wise(ballot_id, pa.array(c_pos + 1).cast(pa.string()), "-")
            ballot_id = pc.if_else(pa.array(multi), numbered, ballot_id)
        version = pc.if_else(
            pa.array(per_card(modified)), "].Modified.Cards[", "].Original.Cards["
        )
        source_record = pc.binary_join_element_wise(
            "Sessions[", pa.array(per_card(index)).cast(pa.string()), version,
            pa.array(c_pos).cast(pa.string()), "]", "",
        )  # fmt: skip
        arrays: list[pa.Array] = [
            ballot_id,
            tab,
            bat,
            record,
            *(pa.array(column, type=pa.string()).take(label) for column in names),
            source_record,
        ]

        # votes grouped by column, in row order within each: one radix sort (columns are
        # 16-bit), then every column's votes are a slice
        m_col = cat(self.m_col)
        m_order = np.argsort(m_col, kind="stable")
        m_bounds = np.searchsorted(m_col[m_order], np.arange(n_cols + 1))
        m_row, m_pos, m_code = (cat(a)[m_order] for a in (self.m_row, self.m_pos, self.m_code))
        for c in range(n_cols):
            p, q = m_bounds[c], m_bounds[c + 1]
            width = int(self.job.ranks[c])
            arrays.append(_marks_array(width, present(c), m_row[p:q], m_pos[p:q], m_code[p:q]))
        return pa.RecordBatch.from_arrays(arrays, schema=self.job.schema)

    def _check_contests_once(
        self,
        p_row: np.ndarray,
        p_col: np.ndarray,
        index: np.ndarray,
        modified: np.ndarray,
        c_session: np.ndarray,
        c_pos: np.ndarray,
    ) -> None:
        """Raise for a contest twice on one card, if some card has one, naming the first such
        card and on it the first such contest."""
        key = (p_row.astype(np.int64) << 20) | p_col  # columns < 2**20 (make_job checks)
        ordered = np.sort(key)
        repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
        if not repeated.size:
            return
        first = int(ordered[repeated[0]])
        row, col = first >> 20, first & 0xFFFFF
        s = int(c_session[row])
        version = "Modified" if modified[s] else "Original"
        starts = [r for r, _ in self.files]
        path = self.files[bisect.bisect_right(starts, row) - 1][1]
        raise InputError(
            f"contest {self.job.contests[col].id} appears twice on the card",
            file=path,
            record=f"Sessions[{int(index[s])}].{version}.Cards[{int(c_pos[row])}]",
            field="Id",
        )


#: Largest (contest × card) mask a batch builds at once (bytes): a county's few dozen contests
#: fit many times over; an export with thousands is handled contest by contest instead.
PRESENCE_MASK_BYTES = 1 << 26


def _presence(
    row: np.ndarray, col: np.ndarray, n_cols: int, rows: int
) -> tuple[Callable[[int], np.ndarray], bool]:
    """Which rows hold each contest column, given one (row, column) per contest on a card;
    and whether some pair may have come twice (a contest twice on a card): exactly, from the
    mask; always, contest by contest, where the caller's own search answers.

    One mask for every column at once when it is small enough: no sort by column, and a repeat
    shows as fewer distinct pairs than pairs."""
    if n_cols * rows <= PRESENCE_MASK_BYTES:
        mask = np.zeros((n_cols, rows), dtype=bool)
        mask.reshape(-1)[col.astype(np.int64) * rows + row] = True
        return mask.__getitem__, int(np.count_nonzero(mask)) < len(row)
    order = np.argsort(col, kind="stable")
    bounds = np.searchsorted(col[order], np.arange(n_cols + 1))
    ordered = row[order]

    def column(c: int) -> np.ndarray:
        valid = np.zeros(rows, dtype=bool)
        valid[ordered[bounds[c] : bounds[c + 1]]] = True
        return valid

    return column, True


def _marks_array(
    width: int, valid: np.ndarray, row: np.ndarray, pos: np.ndarray, code: np.ndarray
) -> pa.Array:
    """The ``list<list<uint16>>`` column from flat votes: each row where the contest is
    present (``valid``) gets ``width`` rank positions; within a position, codes are ascending
    and repeats dropped."""
    rows = len(valid)
    outer = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.where(valid, width, 0), out=outer[1:])
    # one sortable key per vote: its slot (row's first slot + rank position), then its code
    key = ((outer[row] + pos) << 16) | code
    if len(key) > 1 and not (key[1:] > key[:-1]).all():  # usually already strictly ascending
        key = np.unique(key)  # sorts and drops repeats
    slot, code = key >> 16, key & 0xFFFF
    inner = np.zeros(int(outer[-1]) + 1, dtype=np.int32)
    np.cumsum(np.bincount(slot, minlength=int(outer[-1])), out=inner[1:])
    inner_arr = pa.ListArray.from_arrays(pa.array(inner), pa.array(code.astype(np.uint16)))
    return pa.ListArray.from_arrays(
        pa.array(outer.astype(np.int32)), inner_arr, type=MARKS_TYPE, mask=pa.array(~valid)
    )

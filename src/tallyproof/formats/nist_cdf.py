"""Reader for NIST SP 1500-103 Cast Vote Record CDF (v1.0.0), JSON or XML, strict and RCTab-style.

XML files are decoded by :mod:`.nist_cdf_xml` into the JSON form's objects (the two schemas
describe one model), so every rule below applies to both.

One ``CVR.CastVoteRecordReport`` file becomes one :class:`~tallyproof.formats.base.ParsedExport`.
The rules below are the documented contract (docs/formats.md, "NIST CVR CDF JSON"):

* Contests are the ``Election[*].Contest`` entries (candidate, ballot-measure, party and
  retention contests); contest id = ``Contest/@id``. Option ``contestId`` keeps one contest,
  matched by ``@id`` or by ``Name`` (RCTab's configurations name the contest).
* Candidate id = the ``Candidate/@id`` a ``ContestSelection`` names in ``CandidateIds`` when it
  names exactly one candidate that no other selection of the contest also names; otherwise
  (tickets, ballot-measure / party selections, write-in slots, cross-endorsements) it is the
  ``ContestSelection/@id``. :func:`contest_selections` is shared with the SP 1500-100
  results reader so CVR tallies and official results compare key for key.
* Only the CVR's *current* snapshot (``CurrentSnapshotId``) is read. A ``SelectionPosition``
  is a mark when ``HasIndication`` is not ``"no"``, ``NumberVotes`` ≥ 1 and ``IsAllocable`` is
  ``"yes"`` or ``"unknown"``. ``"unknown"`` counts because the spec defines it as "not yet
  determined" and RCTab writes it on every ranking of its own CDF exports and counts it (it
  skips only ``"no"``); option ``allocableUnknown: "exclude"`` drops such marks instead.
* Overvotes stay visible: when a CVRContest reports an overvote (``Overvotes`` > 0 or status
  ``overvoted``) its non-allocable indicated marks are kept, so the tabulator sees more marks
  than ``VotesAllowed`` and counts an overvote, not a vote; if even those do not exceed
  ``VotesAllowed`` (an open-primary cross-party overvote, ``invalidated-rules``)
  :data:`~tallyproof.model.OVERVOTE_UNKNOWN` is added for the same effect.
* A contest is ranked when ``VoteVariation`` is a ranked variation (``rcv``, ``irv``, ``stv``,
  ``borda``…) or any of its positions carries ``Rank``. Ranked contests are ``irv`` unless
  ``NumberElected`` or option ``numberOfWinners``/``seats`` is above 1 (``stv``).
* Ballot id = ``UniqueId``, else ``BallotPrePrintedId``, else ``@id`` (the NIST test files have
  only ``BallotPrePrintedId``); a JSON CVR with none of them is refused, an XML one (the NIST XML
  examples have none) gets RCTab's id ``<file name>(<position from 1>)``.
* A ``CVRContestSelection`` whose ``Status`` includes ``needs-adjudication`` is skipped (as
  RCTab does): its mark is not yet decided.
* precinct = ``BallotStyleUnitId``, ballot_style = ``BallotStyleId``, tabulator =
  ``CreatingDeviceId``, batch = ``BatchId``, record = ``BatchSequenceId``; ``vote_type`` is
  ``unknown`` (the CDF has no vote-type field) unless option ``voteType`` says otherwise.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import orjson

from ..cvr_table import CvrBuilder, Marks
from ..errors import InputError
from ..model import OVERVOTE_UNKNOWN, Candidate, Contest, ContestKind, Election, VoteType
from .base import FormatSpec, ParsedExport, register
from .detect import BOM, read_head, utf8_error
from .nist_cdf_xml import is_xml_report, load_xml, looks_like_xml, sniff_head

FORMAT = "nist_cdf"
RANKED_VARIATIONS = frozenset({"rcv", "irv", "stv", "borda", "bucklin", "ranked", "instant-runoff"})
MAX_RANK = 1000  # far above any real ballot; bounds memory on hostile input
SNIFF_BYTES = 16_384
INT64_MAX = 2**63 - 1
NEEDS_ADJUDICATION = "needs-adjudication"  # a CVRContestSelection status: skipped
_YES_NO_UNKNOWN = ("yes", "no", "unknown", None)  # None: field absent (defaults to "yes")
# a report's own "@type", or a CVR's snapshot array (the JSON schema merely mentions both words)
_SNIFF = re.compile(rb'"@type"\s*:\s*"CVR\.CastVoteRecordReport"|"CVRSnapshot"\s*:\s*\[')


# ---------------------------------------------------------------- typed field access
class JsonFields:
    """Typed access to decoded JSON that raises :class:`InputError` naming file, path and field.

    Shared by the CVR and the results readers so every message has the same shape.
    """

    def __init__(self, file: Path) -> None:
        self.file = file

    def error(self, message: str, record: str, field: str | None = None) -> InputError:
        return InputError(message, file=self.file, record=record, field=field)

    def obj(self, value: Any, record: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(f"expected a JSON object, found {_kind(value)}", record)
        return value

    def array(
        self, d: Mapping[str, Any], key: str, record: str, required: bool = False
    ) -> list[Any]:
        value = d.get(key)
        if value is None:
            if required:
                raise self.error("required field is missing", record, key)
            return []
        if not isinstance(value, list):
            raise self.error(f"expected a JSON array, found {_kind(value)}", record, key)
        return value

    def text(
        self, d: Mapping[str, Any], key: str, record: str, required: bool = False
    ) -> str | None:
        value = d.get(key)
        if value is None:
            if required:
                raise self.error("required field is missing", record, key)
            return None
        if not isinstance(value, str):
            raise self.error(f"expected a string, found {_kind(value)}", record, key)
        return value

    def req_text(self, d: Mapping[str, Any], key: str, record: str) -> str:
        value = self.text(d, key, record, required=True)
        if value is None or value == "":
            raise self.error("required field is empty", record, key)
        return value

    def integer(self, d: Mapping[str, Any], key: str, record: str, minimum: int = 0) -> int | None:
        value = d.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"expected an integer, found {_kind(value)}", record, key)
        if value < minimum:
            raise self.error(f"must be at least {minimum}, found {value}", record, key)
        if value > INT64_MAX:
            raise self.error(f"{value} is too large (the maximum is {INT64_MAX})", record, key)
        return value

    def flag(self, d: Mapping[str, Any], key: str, record: str) -> bool | None:
        value = d.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, found {_kind(value)}", record, key)
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def load_report(path: Path) -> Any:
    """A CDF report file, JSON or XML (told apart by the first character), decoded into the JSON
    form's objects (:mod:`.nist_cdf_xml` maps XML onto them)."""
    head = read_head(path, 64)
    if head is not None and looks_like_xml(head):
        return load_xml(path)
    return load_json(path)


def load_json(path: Path) -> Any:
    """Decode a JSON file, turning decoding failures (bad UTF-8 included) into InputError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=path) from exc
    data = data.removeprefix(BOM)  # some Windows tools write one; JSON itself has none
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise utf8_error(path, data) from exc
        raise InputError(
            f"not valid UTF-8 JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            file=path,
            record=f"line {exc.lineno}",
        ) from exc


# ---------------------------------------------------------------- election definition
@dataclass(frozen=True)
class Selection:
    """One ContestSelection of a CDF contest and the candidate id tallyproof gives it."""

    id: str
    candidate_id: str
    candidate_ids: tuple[str, ...]
    write_in: bool
    raw: Mapping[str, Any]


def contest_selections(
    fields: JsonFields, contest: Mapping[str, Any], record: str
) -> list[Selection]:
    """The contest's selections with their candidate ids (rule in the module docstring).

    This is the one place that rule lives; the SP 1500-100 results reader uses it too.
    """
    rows: list[tuple[str, tuple[str, ...], bool, Mapping[str, Any]]] = []
    seen: set[str] = set()
    for j, raw in enumerate(fields.array(contest, "ContestSelection", record)):
        rec = f"{record}.ContestSelection[{j}]"
        sel = fields.obj(raw, rec)
        sid = fields.req_text(sel, "@id", rec)
        if sid in seen:
            raise fields.error(f"selection id {sid!r} appears twice in the contest", rec, "@id")
        seen.add(sid)
        cids = fields.array(sel, "CandidateIds", rec)
        for k, c in enumerate(cids):
            if not isinstance(c, str) or not c:
                raise fields.error(
                    "candidate ids must be non-empty strings", rec, f"CandidateIds[{k}]"
                )
        rows.append((sid, tuple(cids), bool(fields.flag(sel, "IsWriteIn", rec)), sel))
    single = Counter(c[0] for _, c, _, _ in rows if len(c) == 1)
    out = [
        Selection(
            id=sid,
            candidate_id=cids[0] if len(cids) == 1 and single[cids[0]] == 1 else sid,
            candidate_ids=cids,
            write_in=write_in,
            raw=sel,
        )
        for sid, cids, write_in, sel in rows
    ]
    clash = [k for k, n in Counter(s.candidate_id for s in out).items() if n > 1]
    if clash:
        raise fields.error(
            f"candidate id {clash[0]!r} would name two selections (a selection @id equals "
            "another selection's candidate id)",
            record,
            "ContestSelection",
        )
    return out


@dataclass
class _ContestInfo:
    """What the card loop needs about one CDF contest."""

    raw_id: str
    name: str
    vote_variation: str | None
    votes_allowed: int
    number_elected: int | None
    selection_code: dict[str, int]
    candidates: list[Candidate]
    ranked: bool = False
    max_rank_seen: int = 0


def _election_contests(fields: JsonFields, report: Mapping[str, Any]) -> dict[str, _ContestInfo]:
    names: dict[str, str] = {}
    elections = fields.array(report, "Election", "CastVoteRecordReport", required=True)
    for i, raw in enumerate(elections):
        rec = f"Election[{i}]"
        e = fields.obj(raw, rec)
        for j, rawc in enumerate(fields.array(e, "Candidate", rec)):
            crec = f"{rec}.Candidate[{j}]"
            c = fields.obj(rawc, crec)
            names[fields.req_text(c, "@id", crec)] = fields.text(
                c, "Name", crec
            ) or fields.req_text(c, "@id", crec)
    parties: dict[str, str] = {}
    for j, rawp in enumerate(fields.array(report, "Party", "CastVoteRecordReport")):
        prec = f"Party[{j}]"
        p = fields.obj(rawp, prec)
        pid = fields.req_text(p, "@id", prec)
        parties[pid] = fields.text(p, "Name", prec) or pid
    contests: dict[str, _ContestInfo] = {}
    for i, raw in enumerate(elections):
        e = fields.obj(raw, f"Election[{i}]")
        for j, rawc in enumerate(fields.array(e, "Contest", f"Election[{i}]")):
            rec = f"Election[{i}].Contest[{j}]"
            c = fields.obj(rawc, rec)
            cid = fields.req_text(c, "@id", rec)
            if cid in contests:
                raise fields.error(f"contest id {cid!r} is defined twice", rec, "@id")
            codes: dict[str, int] = {}
            cands: list[Candidate] = []
            for selection in contest_selections(fields, c, rec):
                sid, cand_id, cids = selection.id, selection.candidate_id, selection.candidate_ids
                sel, write_in = selection.raw, selection.write_in
                if cand_id != sid:
                    label = names.get(cand_id, cand_id)
                elif cids:
                    label = " / ".join(names.get(x, x) for x in cids)
                elif isinstance(sel.get("Selection"), str):
                    label = sel["Selection"]
                elif isinstance(sel.get("PartyIds"), list) and sel["PartyIds"]:
                    label = " / ".join(parties.get(str(x), str(x)) for x in sel["PartyIds"])
                else:
                    label = "Write-in" if write_in else sid
                codes[sid] = len(cands)
                cands.append(Candidate(id=cand_id, name=label, write_in=write_in))
            contests[cid] = _ContestInfo(
                raw_id=cid,
                name=fields.text(c, "Name", rec) or cid,
                vote_variation=fields.text(c, "VoteVariation", rec),
                votes_allowed=fields.integer(c, "VotesAllowed", rec, minimum=1) or 1,
                number_elected=fields.integer(c, "NumberElected", rec, minimum=1),
                selection_code=codes,
                candidates=cands,
                ranked=(fields.text(c, "VoteVariation", rec) or "").lower() in RANKED_VARIATIONS,
            )
    return contests


def _pick_contests(
    contests: dict[str, _ContestInfo], options: Mapping[str, Any], path: Path
) -> dict[str, _ContestInfo]:
    wanted = options.get("contestId")
    if wanted in (None, ""):
        return contests
    wanted = str(wanted)
    if wanted in contests:
        return {wanted: contests[wanted]}
    by_name = [c for c in contests.values() if c.name == wanted]
    if len(by_name) == 1:
        return {by_name[0].raw_id: by_name[0]}
    raise InputError(
        f"contestId {wanted!r} matches no contest id or name "
        f"(contests: {', '.join(sorted(contests)) or 'none'})",
        file=path,
        field="contestId",
    )


def _seats_option(options: Mapping[str, Any], path: Path) -> int | None:
    for key in ("numberOfWinners", "seats"):
        raw = options.get(key)
        if raw in (None, ""):
            continue
        try:
            seats = int(str(raw))
        except ValueError as exc:
            raise InputError(
                f"option {key} must be a whole number, got {raw!r}", file=path, field=key
            ) from exc
        if seats < 1:
            raise InputError(f"option {key} must be at least 1, got {seats}", file=path, field=key)
        return seats
    return None


def _max_rankings_option(options: Mapping[str, Any], path: Path) -> int | None:
    """RCTab's ``maxRankingsAllowed``: a whole number, or ``max``/empty for "as many as seen"."""
    raw = str(options.get("maxRankingsAllowed") or "").strip()
    if raw in ("", "max"):
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(
            f"option maxRankingsAllowed must be a whole number ≥ 1 or 'max', got {raw!r}",
            file=path,
            field="maxRankingsAllowed",
        )
    return int(raw)


def _to_contest(info: _ContestInfo, seats_opt: int | None, max_rankings: int | None) -> Contest:
    if info.ranked:
        seats = seats_opt or info.number_elected or 1
        return Contest(
            id=info.raw_id,
            name=info.name,
            kind=ContestKind.STV if seats > 1 else ContestKind.IRV,
            seats=seats,
            vote_for=1,
            candidates=tuple(info.candidates),
            max_rankings=max_rankings or max(info.max_rank_seen, 1),
        )
    approval = (info.vote_variation or "").lower() == "approval"
    return Contest(
        id=info.raw_id,
        name=info.name,
        kind=ContestKind.APPROVAL if approval else ContestKind.PLURALITY,
        seats=info.number_elected or (1 if approval else info.votes_allowed),
        vote_for=len(info.candidates) if approval else info.votes_allowed,
        candidates=tuple(info.candidates),
    )


# ---------------------------------------------------------------- cards
@dataclass(frozen=True)
class _Card:
    ballot_id: str
    tabulator: str | None
    batch: str | None
    record: int | None
    precinct: str | None
    ballot_style: str | None
    source_record: str
    votes: dict[str, Marks]


class _CardParser:
    """Turns one CVR object into a card; collects which contests are ranked on the way."""

    def __init__(
        self,
        fields: JsonFields,
        contests: dict[str, _ContestInfo],
        all_ids: set[str],
        count_unknown: bool,
        positional_ids: bool = False,
    ) -> None:
        self.f = fields
        self.contests = contests
        self.all_ids = all_ids
        self.count_unknown = count_unknown
        self.positional_ids = positional_ids

    def card(self, raw: Any, i: int) -> _Card:
        f = self.f
        rec = f"CVR[{i}]"
        cvr = f.obj(raw, rec)
        ballot_id = (
            f.text(cvr, "UniqueId", rec)
            or f.text(cvr, "BallotPrePrintedId", rec)
            or f.text(cvr, "@id", rec)
        )
        if not ballot_id and self.positional_ids:
            ballot_id = f"{f.file.name}({i + 1})"  # RCTab's own id for such a CVR
        if not ballot_id:
            raise f.error(
                "CVR has no UniqueId, BallotPrePrintedId or @id to use as ballot id",
                rec,
                "UniqueId",
            )
        snaps = f.array(cvr, "CVRSnapshot", rec, required=True)
        current = f.text(cvr, "CurrentSnapshotId", rec)
        snap_rec, snap = None, None
        for k, rs in enumerate(snaps):
            s = f.obj(rs, f"{rec}.CVRSnapshot[{k}]")
            if current is None or f.text(s, "@id", f"{rec}.CVRSnapshot[{k}]") == current:
                if snap is not None:
                    raise f.error(
                        "several snapshots match the current snapshot", rec, "CurrentSnapshotId"
                    )
                snap_rec, snap = f"{rec}.CVRSnapshot[{k}]", s
        if snap is None or snap_rec is None:
            raise f.error(f"no CVRSnapshot has @id {current!r}", rec, "CurrentSnapshotId")
        votes: dict[str, Marks] = {}
        for k, rawc in enumerate(f.array(snap, "CVRContest", snap_rec)):
            crec = f"{snap_rec}.CVRContest[{k}]"
            cc = f.obj(rawc, crec)
            cid = f.req_text(cc, "ContestId", crec)
            info = self.contests.get(cid)
            if info is None:
                if cid in self.all_ids:
                    continue  # filtered out by contestId
                raise f.error(
                    f"contest {cid!r} is not defined in Election.Contest", crec, "ContestId"
                )
            if cid in votes:
                raise f.error(f"contest {cid!r} appears twice on this card", crec, "ContestId")
            votes[cid] = self._marks(cc, info, crec)
        return _Card(
            ballot_id=ballot_id,
            tabulator=f.text(cvr, "CreatingDeviceId", rec),
            batch=f.text(cvr, "BatchId", rec),
            record=f.integer(cvr, "BatchSequenceId", rec),
            precinct=f.text(cvr, "BallotStyleUnitId", rec),
            ballot_style=f.text(cvr, "BallotStyleId", rec),
            source_record=rec,
            votes=votes,
        )

    def _marks(self, cc: Mapping[str, Any], info: _ContestInfo, crec: str) -> Marks:
        """Marks by rank. The loop checks types inline (it runs once per position) and only
        builds JSON paths for messages when something is wrong."""
        f = self.f
        by_rank: dict[int, set[int]] = {}
        withheld: dict[int, set[int]] = {}  # indicated but not allocable, by rank
        for m, sel in enumerate(f.array(cc, "CVRContestSelection", crec)):
            if type(sel) is dict and "Status" in sel and NEEDS_ADJUDICATION in _statuses(
                    f, sel, f"{crec}.CVRContestSelection[{m}]"):
                continue  # not yet decided: RCTab skips such a selection, and so does this
            sid = sel.get("ContestSelectionId") if type(sel) is dict else None
            code = info.selection_code.get(sid) if type(sid) is str else None
            positions = sel.get("SelectionPosition") if type(sel) is dict else None
            if code is None or type(positions) is not list:
                self._selection_error(sel, info, f"{crec}.CVRContestSelection[{m}]")
            for n, pos in enumerate(positions):
                get = pos.get if type(pos) is dict else None
                if get is None:
                    self._position_error(pos, f"{crec}.CVRContestSelection[{m}]", n)
                indication, allocable = get("HasIndication"), get("IsAllocable")
                number, rank = get("NumberVotes"), get("Rank")
                if (
                    indication not in _YES_NO_UNKNOWN
                    or allocable not in _YES_NO_UNKNOWN
                    or type(number) is not int
                    or not 0 <= number <= 1
                    or (rank is not None and (type(rank) is not int or not 1 <= rank <= MAX_RANK))
                ):
                    self._position_error(pos, f"{crec}.CVRContestSelection[{m}]", n)
                if rank is not None:
                    info.ranked = True
                    if rank > info.max_rank_seen:
                        info.max_rank_seen = rank
                if indication == "no" or number == 0:
                    continue
                counted = allocable in ("yes", None) or (
                    allocable == "unknown" and self.count_unknown
                )
                (by_rank if counted else withheld).setdefault(rank or 1, set()).add(code)
        overvoted = (f.integer(cc, "Overvotes", crec) or 0) > 0 or "overvoted" in _statuses(
            f, cc, crec
        )
        if overvoted and withheld and not info.ranked:
            marks = by_rank.setdefault(1, set())
            marks |= withheld.get(1, set())
            if len(marks) <= info.votes_allowed:
                marks.add(OVERVOTE_UNKNOWN)
        if not by_rank:
            return [] if info.ranked else [[]]
        top = max(by_rank)
        return [sorted(by_rank.get(r, ())) for r in range(1, top + 1)]

    def _selection_error(self, raw: Any, info: _ContestInfo, srec: str) -> NoReturn:
        f = self.f
        sel = f.obj(raw, srec)
        sid = f.req_text(sel, "ContestSelectionId", srec)
        f.array(sel, "SelectionPosition", srec, required=True)
        raise f.error(
            f"selection {sid!r} is not a ContestSelection of contest {info.raw_id!r}",
            srec,
            "ContestSelectionId",
        )

    def _position_error(self, raw: Any, srec: str, n: int) -> NoReturn:
        """Say precisely what is wrong with a SelectionPosition the fast checks rejected."""
        f = self.f
        prec = f"{srec}.SelectionPosition[{n}]"
        pos = f.obj(raw, prec)
        for key in ("HasIndication", "IsAllocable"):
            value = f.text(pos, key, prec)
            if value not in _YES_NO_UNKNOWN:
                raise f.error(f"expected yes, no or unknown, found {value!r}", prec, key)
        number = f.integer(pos, "NumberVotes", prec)
        if number is None:
            raise f.error("required field is missing", prec, "NumberVotes")
        if number > 1:
            raise f.error(
                "cumulative voting (NumberVotes > 1) is not supported", prec, "NumberVotes"
            )
        rank = f.integer(pos, "Rank", prec, minimum=1)
        if rank is not None and rank > MAX_RANK:
            raise f.error(f"rank {rank} is above the supported maximum {MAX_RANK}", prec, "Rank")
        raise f.error("invalid selection position", prec)


def _statuses(f: JsonFields, d: Mapping[str, Any], rec: str) -> list[str]:
    return [s for s in f.array(d, "Status", rec) if isinstance(s, str)]


# ---------------------------------------------------------------- reader
def read(path: Path, options: Mapping[str, Any]) -> ParsedExport:
    """Read one CDF CVR report; the whole file is decoded at once (see module docstring)."""
    path = Path(path)
    fields = JsonFields(path)
    decoded = load_report(path)
    report = fields.obj(decoded, "CastVoteRecordReport")
    if "Sessions" in report and "CVR" not in report:
        raise InputError("this is a Dominion CvrExport, not a NIST CDF report", file=path)
    cvrs = fields.array(report, "CVR", "CastVoteRecordReport", required=True)
    all_contests = _election_contests(fields, report)
    chosen = _pick_contests(all_contests, options, path)
    seats = _seats_option(options, path)
    max_rankings = _max_rankings_option(options, path)
    unknown_rule = str(options.get("allocableUnknown", "count"))
    if unknown_rule not in ("count", "exclude"):
        raise InputError(
            "option allocableUnknown must be 'count' or 'exclude'",
            file=path,
            field="allocableUnknown",
        )
    vote_type = str(options.get("voteType") or VoteType.UNKNOWN.value)
    if vote_type not in {v.value for v in VoteType}:
        raise InputError(
            f"option voteType {vote_type!r} is not one of {', '.join(v.value for v in VoteType)}",
            file=path,
            field="voteType",
        )
    parser = _CardParser(fields, chosen, set(all_contests), unknown_rule == "count",
                         positional_ids=is_xml_report(decoded))
    # Parse every card first: whether a contest is ranked (and its depth) is only known once
    # all positions have been seen, and the election must be final before batches are built.
    cards = [parser.card(raw, i) for i, raw in enumerate(cvrs)]
    contests = tuple(_to_contest(info, seats, max_rankings) for info in chosen.values())
    election = Election(
        name=_election_name(report, path),
        jurisdiction=_jurisdiction(report),
        contests=contests,
    )
    return ParsedExport(
        election=election,
        batches=CvrBuilder(contests).batches(_cards(contests, cards, path.name, vote_type)),
        format=FORMAT,
        source_files=[path],
    )


def _election_name(report: Mapping[str, Any], path: Path) -> str:
    elections = report.get("Election")
    if isinstance(elections, list) and elections and isinstance(elections[0], dict):
        name = elections[0].get("Name")
        if isinstance(name, str) and name:
            return name
    return path.stem


def _jurisdiction(report: Mapping[str, Any]) -> str:
    """Name of the GpUnit that is the election's scope, when the report says which it is."""
    elections, units = report.get("Election"), report.get("GpUnit")
    if not (isinstance(elections, list) and elections and isinstance(elections[0], dict)):
        return "jurisdiction"
    scope = elections[0].get("ElectionScopeId")
    for unit in units if isinstance(units, list) else []:
        if isinstance(unit, dict) and unit.get("@id") == scope:
            name = unit.get("Name")
            return name if isinstance(name, str) and name else str(scope)
    return str(scope) if isinstance(scope, str) else "jurisdiction"


def _cards(
    contests: tuple[Contest, ...], cards: list[_Card], source: str, vote_type: str
) -> Iterator[dict[str, Any]]:
    ranked = {c.id for c in contests if c.ranked}
    for card in cards:
        votes = card.votes
        for cid in ranked & votes.keys():
            if votes[cid] == [[]]:
                votes = {**votes, cid: []}
        yield dict(
            ballot_id=card.ballot_id,
            tabulator=card.tabulator,
            batch=card.batch,
            record=card.record,
            precinct=card.precinct,
            ballot_style=card.ballot_style,
            vote_type=vote_type,
            source_file=source,
            source_record=card.source_record,
            votes=votes,
        )


def sniff(path: Path) -> bool:
    """A JSON object whose first 16 KB are a CDF CVR report's (and not Dominion's Sessions), or
    an XML document whose root is a CastVoteRecordReport."""
    head = read_head(path, SNIFF_BYTES)
    if head is None:
        return False
    if looks_like_xml(head):
        return sniff_head(head)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"{") or b'"Sessions"' in head:
        return False
    return _SNIFF.search(head) is not None


register(
    FormatSpec(
        name=FORMAT,
        read=read,
        sniff=sniff,
        description="NIST SP 1500-103 Cast Vote Record CDF, JSON or XML (also RCTab's CDF "
        "exports and Unisyn's XML CDF)",
    )
)

"""Hart Verity CVR archives: a folder of XML files, one per scanned sheet (card).

Why two passes: a Hart CVR names contests and candidates only by GUID and name on the sheets
that carry them, so the contest list (and each ranked contest's number of ranks, the length of
its rank bit-strings) is known only after every sheet has been seen. The first pass collects
contests and candidates, the second emits rows; each file is parsed on its own, so memory is
bounded by the contest list, not by the number of sheets.

Decisions (also in docs/formats-vendor.md):

* one row per XML file (a sheet = a card); ``ballot_id`` = ``CvrGuid``; ``batch`` =
  ``BatchNumber``; ``record`` = ``BatchSequence``; ``precinct`` = ``PrecinctSplit/Name``;
  Hart sheets carry no tabulator or ballot style, so those are null;
* an option's ``Value`` is a bit-string, character *i* (from the left) = rank *i*+1; a contest
  whose values are longer than one character is ranked (IRV, or STV when the ``numberOfWinners``
  option is above 1), else vote-for-N with N from the ``voteFor`` option (default 1: the CVR
  does not say);
* a write-in option has an ``Id`` and no ``Name``: the ``undeclaredWriteInLabel`` GUID is the
  undeclared write-in; other write-in GUIDs are write-in candidates named "Write-in";
* candidate names come from the RCTab ``candidates`` option (matched by GUID alias or name)
  when given, else from the XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cvr_table import CvrBuilder
from ..errors import InputError
from ..model import Candidate, Contest, ContestKind, Election, VoteType
from .base import FormatSpec, ParsedExport, register
from .options import UWI_NAME, RctabCandidates, option_count, option_text

FORMAT = "hart"
NS = "{http://tempuri.org/CVRDesign.xsd}"


@dataclass
class _Option:
    id: str
    name: str | None
    value: str


@dataclass
class _Sheet:
    guid: str
    batch: str | None
    sequence: int | None
    precinct: str | None
    contests: list[tuple[str, str, list[_Option]]]


def _text(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    return (el.text or "").strip()


def _parse(path: Path) -> _Sheet:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(
            f"not well-formed XML ({exc})", file=path, record=f"line {exc.position[0]}"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError, LookupError) as exc:  # LookupError: unknown encoding
        raise InputError(f"cannot read ({exc})", file=path) from None
    if root.tag != f"{NS}Cvr":
        raise InputError(f"root element is {root.tag!r}, expected Cvr in {NS[1:-1]}", file=path)
    guid = _text(root.find(f"{NS}CvrGuid"))
    if not guid:
        raise InputError("missing CvrGuid", file=path, record="Cvr", field="CvrGuid")
    seq_text = _text(root.find(f"{NS}BatchSequence"))
    sequence = None
    if seq_text:
        try:
            sequence = int(seq_text)
        except ValueError:
            raise InputError(
                f"not an integer: {seq_text!r}", file=path, record="Cvr", field="BatchSequence"
            ) from None
    contests: list[tuple[str, str, list[_Option]]] = []
    box = root.find(f"{NS}Contests")
    for i, ct in enumerate(box if box is not None else ()):
        where = f"Cvr/Contests/Contest[{i}]"
        if ct.tag != f"{NS}Contest":
            raise InputError(f"unexpected element {ct.tag!r}", file=path, record=where)
        cid = _text(ct.find(f"{NS}Id"))
        if not cid:
            raise InputError("missing contest Id", file=path, record=where, field="Id")
        cname = _text(ct.find(f"{NS}Name")) or cid
        options: list[_Option] = []
        opts = ct.find(f"{NS}Options")
        for j, op in enumerate(opts if opts is not None else ()):
            owhere = f"{where}/Options/Option[{j}]"
            oid = _text(op.find(f"{NS}Id"))
            if not oid:
                raise InputError("missing option Id", file=path, record=owhere, field="Id")
            value = _text(op.find(f"{NS}Value")) or ""
            if not value or value.strip("01"):
                raise InputError(
                    f"Value {value!r} is not a bit-string of 0 and 1",
                    file=path,
                    record=owhere,
                    field="Value",
                )
            options.append(_Option(oid, _text(op.find(f"{NS}Name")), value))
        contests.append((cid, cname, options))
    ps = root.find(f"{NS}PrecinctSplit")
    return _Sheet(
        guid=guid,
        batch=_text(root.find(f"{NS}BatchNumber")),
        sequence=sequence,
        precinct=_text(ps.find(f"{NS}Name")) if ps is not None else None,
        contests=contests,
    )


@dataclass
class _ContestAcc:
    id: str
    name: str
    width: int = 1
    candidates: list[Candidate] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)


def _collect(files: list[Path], options: Mapping[str, Any]) -> list[_ContestAcc]:
    rctab = RctabCandidates.from_options(options)
    uwi = option_text(options, "undeclaredWriteInLabel")
    only = option_text(options, "contestId")
    accs: dict[str, _ContestAcc] = {}
    for path in files:
        sheet = _parse(path)
        for cid, cname, opts in sheet.contests:
            if only and cid != only:
                continue
            acc = accs.get(cid)
            if acc is None:
                acc = accs[cid] = _ContestAcc(cid, cname)
                if rctab is not None:  # config order first, as RCTab reports them
                    for name in rctab.names:
                        acc.codes[name] = len(acc.candidates)
                        acc.candidates.append(Candidate(name, name))
            for op in opts:
                acc.width = max(acc.width, len(op.value))
                if op.id in acc.codes:
                    continue
                if op.id == uwi:
                    cand = Candidate(op.id, UWI_NAME, True)
                elif rctab is not None and (
                    op.id in rctab.by_label or (op.name or "") in rctab.by_label
                ):
                    name = rctab.by_label.get(op.id) or rctab.by_label[op.name or ""]
                    acc.codes[op.id] = acc.codes[name]
                    continue
                elif op.name is None:
                    cand = Candidate(op.id, "Write-in", True)
                else:
                    cand = Candidate(op.id, op.name, False)
                acc.codes[op.id] = len(acc.candidates)
                acc.candidates.append(cand)
                if len(acc.candidates) >= 0xFFFF:
                    raise InputError(
                        "more candidates than a uint16 code can hold", file=path, field=cid
                    )
    if only and only not in accs:
        raise InputError(f"contestId {only!r} is on no sheet", field="contestId")
    return list(accs.values())


def _cards(
    files: list[Path], accs: list[_ContestAcc], contests: tuple[Contest, ...]
) -> Iterator[dict[str, Any]]:
    by_id = {a.id: a for a in accs}
    ranked = {c.id: c.ranked for c in contests}
    seen: set[str] = set()
    for path in files:
        sheet = _parse(path)
        if sheet.guid in seen:
            raise InputError(
                f"CvrGuid {sheet.guid} appears on two sheets", file=path, field="CvrGuid"
            )
        seen.add(sheet.guid)
        votes: dict[str, list[list[int]]] = {}
        for i, (cid, _, opts) in enumerate(sheet.contests):
            acc = by_id.get(cid)
            if acc is None:
                continue
            if cid in votes:
                raise InputError(
                    f"contest {cid} twice on one sheet",
                    file=path,
                    record=f"Cvr/Contests/Contest[{i}]",
                )
            width = acc.width if ranked[cid] else 1
            marks: list[list[int]] = [[] for _ in range(width)]
            for op in opts:
                code = acc.codes[op.id]
                if ranked[cid]:
                    for r, bit in enumerate(op.value):
                        if bit == "1" and code not in marks[r]:
                            marks[r].append(code)
                elif "1" in op.value and code not in marks[0]:
                    marks[0].append(code)
            votes[cid] = marks
        yield dict(
            ballot_id=sheet.guid,
            batch=sheet.batch,
            record=sheet.sequence,
            vote_type=VoteType.UNKNOWN.value,
            precinct=sheet.precinct,
            source_file=path.name,
            source_record=sheet.guid,
            votes=votes,
        )


def read(path: Path, options: Mapping[str, Any]) -> ParsedExport:
    """Read a folder of Hart per-sheet XML CVRs (or a single one)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
        if not files:
            raise InputError("no .xml files in this folder", file=path)
    elif path.is_file():
        files = [path]
    else:
        raise InputError("no such file or folder", file=path)
    accs = _collect(files, options)
    seats = option_count(options, "numberOfWinners") or 1
    vote_for = option_count(options, "voteFor") or 1
    contests = tuple(
        Contest(
            id=a.id,
            name=a.name,
            kind=(ContestKind.STV if seats > 1 else ContestKind.IRV)
            if a.width > 1
            else ContestKind.PLURALITY,
            seats=seats if a.width > 1 else vote_for,
            vote_for=seats if a.width > 1 else vote_for,
            candidates=tuple(a.candidates),
            max_rankings=a.width if a.width > 1 else None,
        )
        for a in accs
    )
    return ParsedExport(
        election=Election(name=path.stem, contests=contests),
        batches=CvrBuilder(contests).batches(_cards(files, accs, contests)),
        format=FORMAT,
        source_files=files,
    )


def _looks_like_hart(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:  # unreadable: not ours to claim; reading it will say why
        return False
    return b"<Cvr" in head and b"tempuri.org/CVRDesign.xsd" in head


def sniff(path: Path) -> bool:
    """An XML file (or a folder whose first XML file) has a Cvr root in Hart's namespace."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".xml" and _looks_like_hart(path)
    if path.is_dir():
        first = min(
            (p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file()), default=None
        )
        return first is not None and _looks_like_hart(first)
    return False


register(
    FormatSpec(
        name=FORMAT, read=read, sniff=sniff, description="Hart Verity per-sheet XML CVRs (folder)"
    )
)

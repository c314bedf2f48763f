"""The four header rows of Dominion's ``CvrExport.csv`` (see :mod:`.dominion_csv`): the
contests and choices they name, the metadata column titles, and the plan that puts each
contest in its CVR-table column — with the ids of the export's manifests when they lie beside
the file, else with names as ids. Every error names the file, the header line and the column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..model import Candidate, Contest, ContestKind, Election
from . import dominion
from .options import UWI_NAME, option_text

HEADER_ROWS = 4

REQUIRED = ("CvrNumber", "TabulatorNum", "BatchId", "RecordId")
#: Metadata columns Dominion writes besides the required ones (read or ignored by name).
OPTIONAL = (
    "ImprintedId", "CountingGroup", "PrecinctPortion", "BallotType", "ImagePath",
    "SessionType", "VoterFlag", "Modified", "CardInfo", "PdfName", "UniqueVotingIdentifier",
    "VotingSessionIdentifier",
)  # fmt: skip

_VOTE_FOR = re.compile(r"^(?P<name>.*?)\s*\(Vote For=(?P<n>\d+)\)$")
_RANKED = re.compile(
    r"^(?P<name>.*?)\s*\(Number of positions=(?P<p>\d+),\s*Number of ranks=(?P<r>\d+)\)$"
)
_RANKED_CHOICE = re.compile(r"^(?P<name>.*?)\s*\((?P<r>\d+)\)$")
_WRITE_IN = re.compile(r"^write[- ]?in$", re.IGNORECASE)
_MAX_RANKS = dominion.MAX_RANKS

#: Longest header read (a county's four header rows take some tens of kilobytes): past it the
#: header is taken to be broken (e.g. a quote that is never closed), not read to the end.
MAX_HEADER_BYTES = 1 << 26


# ---------------------------------------------------------------------------------------------
# the four header rows


def _header_end(data: bytes) -> int | None:
    """Offset just past the fourth CSV record of ``data`` (a newline outside quotes), or None
    when ``data`` holds fewer: header cells may be quoted and hold newlines."""
    rows, quoted = 0, False
    for m in re.finditer(rb'["\n]', data):
        if m.group() == b'"':
            quoted = not quoted  # "" inside a quoted cell toggles twice
        elif not quoted:
            rows += 1
            if rows == HEADER_ROWS:
                return m.end()
    return None


def read_header(path: Path) -> tuple[list[list[str]], int, int]:
    """The four header rows, the byte offset where the cards start, and how many lines the
    header takes (a contest name may hold a line break)."""
    size = 1 << 16
    try:
        with open(path, "rb") as fh:
            while True:
                data = fh.read(size)
                end = _header_end(data)
                if end is not None or len(data) < size:
                    break
                if size >= MAX_HEADER_BYTES:
                    raise InputError(
                        f"no end to the {HEADER_ROWS} header rows in the first {size:,} bytes "
                        "(a quote never closed?)", file=path, record="line 1",
                    )  # fmt: skip
                fh.seek(0)
                size *= 4
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=path) from exc
    if end is None:
        if not data.strip():
            raise InputError("empty file", file=path)
        end = len(data)  # fewer than four rows: reported below, by the row that is missing
    try:
        text = data[:end].decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}",
            file=path, record=f"line {line}",
        ) from None  # fmt: skip
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InputError(f"malformed CSV header: {exc}", file=path, record="line 1") from None
    lines = data.count(b"\n", 0, end)
    if len(rows) < HEADER_ROWS:
        what = ("the election name", "the contests", "the choices", "the column titles")
        raise InputError(
            f"expected {HEADER_ROWS} header rows; row {len(rows) + 1} ({what[len(rows)]}) is "
            "missing", file=path, record=f"line {lines + 1}",
        )  # fmt: skip
    return rows, end, lines


@dataclass
class CsvContest:
    """One contest's run of columns as the header gives it."""

    name: str
    first: int  # first column (0-based)
    vote_for: int
    ranks: int  # 0: vote-for-N
    choices: list[str] = field(default_factory=list)  # candidate names in column order (unique)
    cells: list[tuple[int, int, int]] = field(default_factory=list)  # (column, rank pos, choice)


def column_name(rows: list[list[str]], col: int) -> str:
    """A column as a person finds it: its title, or its contest and choice."""
    contest = _cell(rows[1], col)
    if contest:
        return f"column {col + 1} ({_one_line(contest)} / {_cell(rows[2], col).strip()})"
    return _cell(rows[3], col).strip() or f"column {col + 1}"


def _cell(row: list[str], col: int) -> str:
    return row[col] if col < len(row) else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def parse_contests(path: Path, rows: list[list[str]], width: int, first: int) -> list[CsvContest]:
    """The contests of the choice columns ``first..width-1``, in column order."""
    contests: list[CsvContest] = []
    seen: set[str] = set()
    current: CsvContest | None = None
    header = ""
    for col in range(first, width):
        text = _one_line(rows[1][col])
        where = column_name(rows, col)
        if text != header or current is None:
            header = text
            vf, rk = _VOTE_FOR.match(text), _RANKED.match(text)
            if vf is not None:
                name, vote_for, ranks = vf.group("name").strip(), int(vf.group("n")), 0
            elif rk is not None:
                name, vote_for, ranks = (
                    rk.group("name").strip(),
                    int(rk.group("p")),
                    int(rk.group("r")),
                )
            else:
                raise InputError(
                    "expected a contest as 'Name (Vote For=N)' or 'Name (Number of positions=P, "
                    f"Number of ranks=R)', found {text!r}", file=path, record="line 2", field=where,
                )  # fmt: skip
            if not name or vote_for < 1 or (rk is not None and not 1 <= ranks <= _MAX_RANKS):
                raise InputError(
                    f"contest {text!r} has no name, or an impossible Vote For / number of ranks",
                    file=path, record="line 2", field=where,
                )  # fmt: skip
            if name in seen:
                raise InputError(
                    f"contest {name!r} appears again after other contests' columns",
                    file=path, record="line 2", field=where,
                )  # fmt: skip
            seen.add(name)
            current = CsvContest(name, col, vote_for, ranks)
            contests.append(current)
        _add_choice(path, rows, current, col)
    for contest in contests:
        _check_choices(path, rows, contest)
    return contests


def _add_choice(path: Path, rows: list[list[str]], contest: CsvContest, col: int) -> None:
    choice = _one_line(_cell(rows[2], col))
    where = column_name(rows, col)
    rank = 1
    if contest.ranks:
        m = _RANKED_CHOICE.match(choice)
        if m is None or not 1 <= int(m.group("r")) <= contest.ranks:
            raise InputError(
                f"a ranked contest's choice must be 'name(rank)' with a rank in "
                f"1..{contest.ranks}, found {choice!r}", file=path, record="line 3", field=where,
            )  # fmt: skip
        choice, rank = m.group("name").strip(), int(m.group("r"))
    if not choice:
        raise InputError("empty choice name", file=path, record="line 3", field=where)
    if choice not in contest.choices:
        contest.choices.append(choice)
    code = contest.choices.index(choice)
    if any(p == rank - 1 and c == code for _, p, c in contest.cells):
        raise InputError(
            f"choice {choice!r} has two columns" + (f" for rank {rank}" if contest.ranks else ""),
            file=path, record="line 3", field=where,
        )  # fmt: skip
    contest.cells.append((col, rank - 1, code))


def _check_choices(path: Path, rows: list[list[str]], contest: CsvContest) -> None:
    """A ranked contest has one column for every candidate at every rank."""
    if contest.ranks and len(contest.cells) != len(contest.choices) * contest.ranks:
        raise InputError(
            f"ranked contest {contest.name!r} has {len(contest.cells)} columns, expected one per "
            f"candidate and rank ({len(contest.choices)} × {contest.ranks})",
            file=path, record="line 3", field=column_name(rows, contest.first),
        )  # fmt: skip


def metadata_columns(path: Path, titles: list[str]) -> dict[str, int]:
    """Column of each metadata title; unknown, repeated or missing required titles are errors."""
    known = {*REQUIRED, *OPTIONAL}
    meta: dict[str, int] = {}
    for col, raw in enumerate(titles):
        title = raw.strip()
        where = title or f"column {col + 1}"
        if title not in known:
            raise InputError(
                f"unknown column title {title!r} before the first contest (expected "
                f"{', '.join(REQUIRED)} and some of {', '.join(OPTIONAL)})",
                file=path, record="line 4", field=where,
            )  # fmt: skip
        if title in meta:
            raise InputError("column title appears twice", file=path, record="line 4", field=where)
        meta[title] = col
    for title in REQUIRED:
        if title not in meta:
            raise InputError("missing required column", file=path, record="line 4", field=title)
    return meta


# ---------------------------------------------------------------------------------------------
# the election: from the manifests beside the file when there are some, else from the header


@dataclass(frozen=True)
class Plan:
    """Where each CSV contest goes: its column in the CVR table and its choices' codes."""

    election: Election
    contests: list[tuple[CsvContest, int, np.ndarray]]  # (contest, table column, choice codes)
    manifests: list[Path]


def _from_header(csv_contests: list[CsvContest], uwi: str) -> list[Contest]:
    out = []
    for c in csv_contests:
        write_in = False
        cands = []
        for choice in c.choices:
            write_in = write_in or bool(_WRITE_IN.match(choice))  # and the qualified ones after
            if uwi and choice == uwi:
                cands.append(Candidate(choice, UWI_NAME, True))
            else:
                cands.append(Candidate(choice, choice, write_in))
        out.append(_contest(c, c.name, c.name, tuple(cands)))
    return out


def _contest(c: CsvContest, cid: str, name: str, cands: tuple[Candidate, ...]) -> Contest:
    kind = (
        (ContestKind.STV if c.vote_for > 1 else ContestKind.IRV)
        if c.ranks
        else ContestKind.PLURALITY
    )
    return Contest(
        id=cid, name=name, kind=kind, seats=c.vote_for, vote_for=c.vote_for,
        candidates=cands, max_rankings=c.ranks or None,
    )  # fmt: skip


def make_plan(
    path: Path, rows: list[list[str]], csv_contests: list[CsvContest], options: Mapping[str, Any]
) -> Plan:
    """The election, and where each of the file's contests goes in its CVR table; options
    ``contestId`` (keep only that contest) and ``undeclaredWriteInLabel`` as for the JSON
    export."""
    folder = path.parent
    only = option_text(options, "contestId").strip()
    if option_text(options, "countingGroupId").strip():
        raise InputError(
            "countingGroupId is not supported for the CSV export (its rows name counting groups, "
            "not ids): read the JSON export, or filter the CSV", field="countingGroupId",
        )  # fmt: skip
    has_manifests = (folder / "ContestManifest.json").is_file() and (
        folder / "CandidateManifest.json"
    ).is_file()
    if not has_manifests:
        election = Election(
            name=_cell(rows[0], 0).strip() or path.stem,
            contests=tuple(
                _from_header(csv_contests, option_text(options, "undeclaredWriteInLabel"))
            ),
        )
        manifests: list[Path] = []
    else:
        man = dominion._read_manifests(folder, {**options, "contestId": ""})
        election, manifests = man.election, man.files
    keep = [c for c in election.contests if not only or c.id == only]
    if only and not keep:
        raise InputError(f"contestId {only!r} is not in this export", field="contestId")
    election = replace(election, contests=tuple(keep))
    column = {c.id: i for i, c in enumerate(election.contests)}
    described = _manifest_names(folder) if has_manifests else None
    planned = []
    for c in csv_contests:
        where = column_name(rows, c.first)
        if described is None:
            cid = c.name
            codes = np.arange(len(c.choices), dtype=np.int64)
        else:
            cid, codes = _match_manifest(path, rows, c, described)
        if cid not in column:
            continue  # filtered out by contestId
        contest = election.contests[column[cid]]
        if described is not None and (
            contest.vote_for != c.vote_for or (contest.max_rankings or 0) != c.ranks
        ):
            raise InputError(
                f"contest {c.name!r}: the header says vote for {c.vote_for}, {c.ranks or 'no'} "
                f"ranks; ContestManifest.json says vote for {contest.vote_for}, "
                f"{contest.max_rankings or 'no'} ranks", file=path, record="line 2", field=where,
            )  # fmt: skip
        planned.append((c, column[cid], codes))
    return Plan(election, planned, manifests)


def _manifest_names(folder: Path) -> tuple[dict[str, list[int]], dict[int, list[tuple[int, str]]]]:
    """Contest ids by description, and per contest id its candidates (id, description) in
    manifest order: the order the JSON reader numbers them in."""
    contests: dict[str, list[int]] = {}
    for row in dominion._manifest(folder, "ContestManifest", required=True):
        contests.setdefault(_one_line(str(row.get("Description", ""))), []).append(row["Id"])
    candidates: dict[int, list[tuple[int, str]]] = {}
    for row in dominion._manifest(folder, "CandidateManifest", required=True):
        candidates.setdefault(row["ContestId"], []).append(
            (row["Id"], _one_line(str(row.get("Description", ""))))
        )
    return contests, candidates


def _match_manifest(
    path: Path,
    rows: list[list[str]],
    c: CsvContest,
    described: tuple[dict[str, list[int]], dict[int, list[tuple[int, str]]]],
) -> tuple[str, np.ndarray]:
    """The manifest id of a CSV contest and the candidate code (in the JSON reader's order) of
    each of its choices, matched by name."""
    contests, candidates = described
    ids = contests.get(c.name, [])
    if len(ids) != 1:
        raise InputError(
            f"contest {c.name!r} is " + ("not in" if not ids else "named twice in")
            + " ContestManifest.json", file=path, record="line 2", field=column_name(rows, c.first),
        )  # fmt: skip
    listed = candidates.get(ids[0], [])
    codes = np.zeros(len(c.choices), dtype=np.int64)
    for col, _, k in c.cells:
        found = [code for code, (_, name) in enumerate(listed) if name == c.choices[k]]
        if len(found) != 1:
            raise InputError(
                f"choice {c.choices[k]!r} is "
                + ("not a candidate of" if not found else "named twice in")
                + f" contest {c.name!r} in CandidateManifest.json",
                file=path, record="line 3", field=column_name(rows, col),
            )  # fmt: skip
        codes[k] = found[0]
    return str(ids[0]), codes

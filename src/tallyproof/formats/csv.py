"""CSV CVR readers: tallyproof's own documented CSV (``csv``) and RCTab's generic CSV
(``generic_csv``). Both stream the file with the stdlib ``csv`` module (twice for ``csv``: the
first pass collects candidates so the election is known before any card is built).

**tallyproof CSV** (full description in docs/formats.md): one row per card. Metadata columns
are recognised by name — ``ballot_id`` (required), ``tabulator``, ``batch``, ``record``,
``precinct``, ``ballot_style``, ``vote_type`` — and every other column belongs to a contest:

* header ``<contest id>`` or ``<contest id> [<attributes>]`` where attributes, separated by
  ``;``, are ``vote for N``, ``approval``, ``seats S`` and ``rank K``. A ranked contest has one
  column per rank: ``Mayor [rank 1]``, ``Mayor [rank 2]``…; ``seats S`` on any of them makes it
  STV.
* a cell lists the candidates marked in that column, separated by ``|`` (several in a ranked
  column = an overvote at that rank); empty = no mark; ``-`` in every column of the contest =
  the contest is not on this card; the overvote label (option ``overvoteLabel``, default
  ``overvote``) = an overvote whose candidates are not named.
* candidates are identified by the text written (id = name), numbered in order of first
  appearance; the write-in label (option ``undeclaredWriteInLabel``, default ``Write-in``) is
  a write-in candidate.

**RCTab generic CSV** (RCTab's ``genericCsv`` provider): one row per ballot, one column per
candidate from ``firstVoteColumnIndex`` on (1-based), each cell holding the rank the voter gave
that candidate (blank = not ranked; two candidates with the same rank = overvote at that rank).
Options as in RCTab's ``cvrFileSources``: ``firstVoteColumnIndex`` (required),
``firstVoteRowIndex`` (1-based first data row, default 2; the row before it names the
candidates), ``idColumnIndex``, ``precinctColumnIndex``, ``batchColumnIndex``, ``contestId``
(the contest's id and name, default the file's stem), ``undeclaredWriteInLabel``; and from
RCTab's rules ``numberOfWinners`` and ``maxRankingsAllowed``. Without an id column the ballot
id is ``<file name>#<line>``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cvr_table import METADATA_NAMES, CvrBuilder, Marks
from ..errors import InputError
from ..model import OVERVOTE_UNKNOWN, Candidate, Contest, ContestKind, Election, VoteType
from .base import FormatSpec, ParsedExport, register
from .detect import read_head, utf8_error

FORMAT = "csv"
GENERIC_FORMAT = "generic_csv"
MAX_RANK = 1000
NOT_ON_CARD = "-"
_HEADER = re.compile(r"^(?P<id>.*?)\s*(?:\[(?P<attrs>[^\[\]]*)\])?\s*$")
_ATTR = re.compile(r"^(?:(?P<key>vote for|seats|rank)\s+(?P<n>\d+)|(?P<flag>approval))$")
_VOTE_TYPES = {v.value for v in VoteType}
_META = tuple(n for n in METADATA_NAMES if n not in ("source_file", "source_record"))


# ---------------------------------------------------------------- shared plumbing
def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row; decoding and quoting errors → InputError."""
    try:
        fh = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=path) from exc
    with fh:
        reader = csv.reader(fh, strict=True)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield reader.line_num, row
        except UnicodeDecodeError as exc:
            raise utf8_error(path) from exc
        except csv.Error as exc:
            raise InputError(
                f"malformed CSV: {exc}", file=path, record=f"line {reader.line_num}"
            ) from exc


def _int_option(
    options: Mapping[str, Any], key: str, path: Path, default: int | None = None, minimum: int = 1
) -> int | None:
    raw = options.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip()
    if not text.isdigit() or int(text) < minimum:
        raise InputError(
            f"option {key} must be a whole number ≥ {minimum}, got {raw!r}", file=path, field=key
        )
    return int(text)


# ---------------------------------------------------------------- tallyproof CSV
@dataclass
class _ContestCols:
    id: str
    vote_for: int = 1
    approval: bool = False
    seats: int | None = None
    rank_cols: dict[int, int] = field(default_factory=dict)  # rank -> column index
    plain_col: int | None = None
    names: dict[str, int] = field(default_factory=dict)  # candidate text -> code

    @property
    def ranked(self) -> bool:
        return bool(self.rank_cols)


def _header_error(message: str, path: Path, column: str) -> InputError:
    return InputError(message, file=path, record="line 1", field=column)


def _parse_header(header: list[str], path: Path) -> tuple[dict[str, int], dict[str, _ContestCols]]:
    meta: dict[str, int] = {}
    contests: dict[str, _ContestCols] = {}
    for i, raw in enumerate(header):
        name = raw.strip()
        where = name or f"column {i + 1}"
        if name in _META:
            if name in meta:
                raise _header_error("column appears twice", path, where)
            meta[name] = i
            continue
        m = _HEADER.match(name)
        if not name or m is None or not m.group("id"):
            raise _header_error(
                "column has no contest id (see the header convention in docs/formats.md)",
                path,
                where,
            )
        cid = m.group("id")
        info = contests.setdefault(cid, _ContestCols(id=cid))
        rank = None
        for attr in filter(None, (a.strip().lower() for a in (m.group("attrs") or "").split(";"))):
            am = _ATTR.match(" ".join(attr.split()))
            if am is None:
                raise _header_error(
                    f"unknown column attribute {attr!r} (use vote for N, approval, "
                    "seats S, rank K)",
                    path,
                    where,
                )
            if am.group("flag"):
                info.approval = True
                continue
            n = int(am.group("n"))
            if n < 1 or n > MAX_RANK:
                raise _header_error(
                    f"{am.group('key')} must be between 1 and {MAX_RANK}", path, where
                )
            if am.group("key") == "vote for":
                info.vote_for = n
            elif am.group("key") == "seats":
                info.seats = n
            else:
                rank = n
        if rank is None:
            if info.plain_col is not None or info.rank_cols:
                raise _header_error(
                    f"contest {cid!r} has more than one column without a rank", path, where
                )
            info.plain_col = i
        else:
            if info.plain_col is not None or rank in info.rank_cols:
                raise _header_error(f"contest {cid!r} has two columns for rank {rank}", path, where)
            info.rank_cols[rank] = i
    if "ballot_id" not in meta:
        raise InputError("missing required column", file=path, record="line 1", field="ballot_id")
    for info in contests.values():
        if info.ranked and sorted(info.rank_cols) != list(range(1, len(info.rank_cols) + 1)):
            raise InputError(
                f"ranked contest {info.id!r} must have columns for ranks 1..N without gaps",
                file=path,
                record="line 1",
                field=info.id,
            )
    return meta, contests


def _split(cell: str) -> list[str]:
    return [p.strip() for p in cell.split("|") if p.strip()]


def _contest_cells(info: _ContestCols, row: list[str]) -> list[str]:
    if info.ranked:
        return [row[info.rank_cols[r]].strip() for r in sorted(info.rank_cols)]
    return [row[info.plain_col].strip()] if info.plain_col is not None else []


def read_tallyproof_csv(path: Path, options: Mapping[str, Any]) -> ParsedExport:
    """Read a tallyproof CSV (module docstring); candidates are collected in a first pass."""
    path = Path(path)
    over_label = str(options.get("overvoteLabel") or "overvote")
    wi_label = str(options.get("undeclaredWriteInLabel") or "Write-in")
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise InputError("the file is empty; expected a header row", file=path, record="line 1")
    header = first[1]
    meta, contests = _parse_header(header, path)
    for line, row in rows:  # pass 1: validate shape, collect candidates in order of appearance
        if len(row) != len(header):
            raise InputError(
                f"expected {len(header)} fields, found {len(row)}", file=path, record=f"line {line}"
            )
        for info in contests.values():
            for cell in _contest_cells(info, row):
                for name in _split(cell):
                    if name not in (over_label, NOT_ON_CARD):
                        info.names.setdefault(name, len(info.names))
    model = tuple(_csv_contest(info, wi_label) for info in contests.values())
    election = Election(name=path.stem, contests=model)
    cards = _csv_cards(path, header, meta, contests, over_label)
    return ParsedExport(
        election=election,
        batches=CvrBuilder(model).batches(cards),
        format=FORMAT,
        source_files=[path],
    )


def _csv_contest(info: _ContestCols, wi_label: str) -> Contest:
    cands = tuple(Candidate(id=n, name=n, write_in=n == wi_label) for n in info.names)
    if info.ranked:
        seats = info.seats or 1
        return Contest(
            id=info.id,
            name=info.id,
            kind=ContestKind.STV if seats > 1 else ContestKind.IRV,
            seats=seats,
            vote_for=1,
            candidates=cands,
            max_rankings=len(info.rank_cols),
        )
    if info.approval:
        return Contest(
            id=info.id,
            name=info.id,
            kind=ContestKind.APPROVAL,
            seats=info.seats or 1,
            vote_for=max(len(cands), 1),
            candidates=cands,
        )
    return Contest(
        id=info.id,
        name=info.id,
        kind=ContestKind.PLURALITY,
        seats=info.seats or info.vote_for,
        vote_for=info.vote_for,
        candidates=cands,
    )


def _csv_cards(
    path: Path,
    header: list[str],
    meta: dict[str, int],
    contests: dict[str, _ContestCols],
    over_label: str,
) -> Iterator[dict[str, Any]]:
    rows = _rows(path)
    next(rows, None)
    for line, row in rows:
        if len(row) != len(header):  # the file changed between the two passes
            raise InputError(
                f"expected {len(header)} fields, found {len(row)}", file=path, record=f"line {line}"
            )
        get = {k: row[i].strip() or None for k, i in meta.items()}
        rec = f"line {line}"
        if not get.get("ballot_id"):
            raise InputError("empty ballot id", file=path, record=rec, field="ballot_id")
        record = get.get("record")
        if record is not None and not record.isdigit():
            raise InputError(
                f"record must be a whole number, found {record!r}",
                file=path,
                record=rec,
                field="record",
            )
        vote_type = get.get("vote_type") or VoteType.UNKNOWN.value
        if vote_type not in _VOTE_TYPES:
            raise InputError(
                f"vote_type {vote_type!r} is not one of {', '.join(sorted(_VOTE_TYPES))}",
                file=path,
                record=rec,
                field="vote_type",
            )
        votes: dict[str, Marks] = {}
        for info in contests.values():
            cells = _contest_cells(info, row)
            absent = [c == NOT_ON_CARD for c in cells]
            if all(absent):
                continue
            if any(absent):
                raise InputError(
                    f"'-' (not on card) must fill every column of contest {info.id!r}",
                    file=path,
                    record=rec,
                    field=info.id,
                )
            marks = [
                sorted(
                    OVERVOTE_UNKNOWN if n == over_label else info.names[n] for n in set(_split(c))
                )
                for c in cells
            ]
            if info.ranked:
                while marks and not marks[-1]:
                    marks.pop()
            votes[info.id] = marks
        yield {
            "ballot_id": get["ballot_id"],
            "tabulator": get.get("tabulator"),
            "batch": get.get("batch"),
            "record": int(record) if record is not None else None,
            "precinct": get.get("precinct"),
            "ballot_style": get.get("ballot_style"),
            "vote_type": vote_type,
            "source_file": path.name,
            "source_record": rec,
            "votes": votes,
        }


def sniff_tallyproof_csv(path: Path) -> bool:
    """The first line is a header that starts with the ``ballot_id`` column."""
    head = read_head(path, 4096)
    if head is None:
        return False
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].strip()
    return first.startswith(b"ballot_id,") or first == b"ballot_id"


# ---------------------------------------------------------------- RCTab generic CSV
def read_generic_csv(path: Path, options: Mapping[str, Any]) -> ParsedExport:
    """Read an RCTab generic CSV (module docstring): candidate columns hold ranks."""
    path = Path(path)
    first_col = _int_option(options, "firstVoteColumnIndex", path)
    if first_col is None:
        raise InputError(
            "option firstVoteColumnIndex is required for an RCTab generic CSV",
            file=path,
            field="firstVoteColumnIndex",
        )
    first_row = _int_option(options, "firstVoteRowIndex", path) or 2
    cols = {
        k: _int_option(options, k, path)
        for k in ("idColumnIndex", "precinctColumnIndex", "batchColumnIndex")
    }
    seats = (
        _int_option(options, "numberOfWinners", path) or _int_option(options, "seats", path) or 1
    )
    wi_label = str(options.get("undeclaredWriteInLabel") or "")
    contest_id = str(options.get("contestId") or "").strip() or path.stem
    header: list[str] | None = None
    rows = _rows(path)
    for line, row in rows:
        if line >= first_row - 1:
            header = row if line == first_row - 1 else None
            break
    if header is None or first_row < 2:
        raise InputError(
            "no header row naming the candidates before firstVoteRowIndex",
            file=path,
            record=f"line {max(first_row - 1, 1)}",
            field="firstVoteRowIndex",
        )
    if first_col > len(header):
        raise InputError(
            f"firstVoteColumnIndex {first_col} is past the last column ({len(header)})",
            file=path,
            field="firstVoteColumnIndex",
        )
    for key, col in cols.items():
        if col is not None and col > len(header):
            raise InputError(
                f"{key} {col} is past the last column ({len(header)})", file=path, field=key
            )
    names = [h.strip() for h in header[first_col - 1 :]]
    for i, name in enumerate(names):
        if not name or names.index(name) != i:
            raise InputError(
                "candidate column names must be non-empty and distinct",
                file=path,
                record=f"line {first_row - 1}",
                field=f"column {first_col + i}",
            )
    max_rank_opt = (
        None
        if str(options.get("maxRankingsAllowed") or "").strip() == "max"
        else _int_option(options, "maxRankingsAllowed", path)
    )
    contest = Contest(
        id=contest_id,
        name=contest_id,
        kind=ContestKind.STV if seats > 1 else ContestKind.IRV,
        seats=seats,
        vote_for=1,
        candidates=tuple(
            Candidate(id=n, name=n, write_in=bool(wi_label) and n == wi_label) for n in names
        ),
        max_rankings=max_rank_opt or len(names),
    )
    election = Election(name=contest_id, contests=(contest,))
    cards = _generic_cards(path, rows, len(header), first_row, first_col, cols, contest)
    return ParsedExport(
        election=election,
        batches=CvrBuilder((contest,)).batches(cards),
        format=GENERIC_FORMAT,
        source_files=[path],
    )


def _generic_cards(
    path: Path,
    rows: Iterator[tuple[int, list[str]]],
    width: int,
    first_row: int,
    first_col: int,
    cols: dict[str, int | None],
    contest: Contest,
) -> Iterator[dict[str, Any]]:
    for line, row in rows:
        if line < first_row:
            continue
        rec = f"line {line}"
        if len(row) != width:
            raise InputError(f"expected {width} fields, found {len(row)}", file=path, record=rec)
        by_rank: dict[int, list[int]] = {}
        for code, cell in enumerate(row[first_col - 1 :]):
            text = cell.strip()
            if not text:
                continue
            if not text.isdigit() or not 1 <= int(text) <= MAX_RANK:
                raise InputError(
                    f"rank must be a whole number 1..{MAX_RANK}, found {text!r}",
                    file=path,
                    record=rec,
                    field=contest.candidates[code].name,
                )
            by_rank.setdefault(int(text), []).append(code)
        top = max(by_rank, default=0)
        marks = [by_rank.get(r, []) for r in range(1, top + 1)]

        def col(key: str, row: list[str] = row) -> str | None:
            i = cols[key]
            return (row[i - 1].strip() or None) if i is not None else None

        yield {
            "ballot_id": col("idColumnIndex") or f"{path.name}#{line}",
            "tabulator": None,
            "batch": col("batchColumnIndex"),
            "record": None,
            "precinct": col("precinctColumnIndex"),
            "ballot_style": None,
            "vote_type": VoteType.UNKNOWN.value,
            "source_file": path.name,
            "source_record": rec,
            "votes": {contest.id: marks},
        }


def _never(path: Path) -> bool:
    """A generic CSV has no signature of its own: it is chosen with ``--format generic_csv``."""
    return False


register(
    FormatSpec(
        name=FORMAT,
        read=read_tallyproof_csv,
        sniff=sniff_tallyproof_csv,
        description="tallyproof CSV: one row per card, one column per contest or rank",
    )
)
register(
    FormatSpec(
        name=GENERIC_FORMAT,
        read=read_generic_csv,
        sniff=_never,
        description="RCTab generic CSV: one column per candidate holding ranks "
        "(needs option firstVoteColumnIndex)",
    )
)

"""ES&S ranked-choice CVR spreadsheets (``.xlsx``): one row per ballot, one column per rank,
each cell a candidate's name or a label (``overvote``, ``undervote``, an undeclared write-in
label such as ``UWI``).

Why a spreadsheet reader with RCTab's options: ES&S EVS exports RCV CVRs this way and RCTab's
``cvrFileSources`` say where the columns are (1-based ``firstVoteColumnIndex``,
``idColumnIndex``, ``precinctColumnIndex``, ``batchColumnIndex``, 1-based ``firstVoteRowIndex``)
and what the labels are, so an RCTab configuration reads the same file the same way.

Decisions (also in docs/formats-vendor.md):

* rank columns run from ``firstVoteColumnIndex`` for ``maxRankingsAllowed`` columns when that
  option is a number (or to the last column when the sheet has fewer, as RCTab reads it), else
  to the last column, leaving out a trailing ``Count`` column (whose every value must then be
  1: a row that stands for several ballots cannot get unique ids);
* an overvote label → :data:`~tallyproof.model.OVERVOTE_UNKNOWN` at that rank; the skipped-rank
  label (``skippedRankLabel``, or ``undervoteLabel``) and blank cells → an empty rank (a blank is
  an undeclared write-in when ``treatBlankAsUndeclaredWriteIn`` is true); with an
  ``overvoteDelimiter`` a cell naming several candidates is an overvote with those candidates;
* candidates: the ``candidates`` option (RCTab candidate objects, in their order; a cell may hold
  the name, the ``code`` or one of the ``aliases``) followed by names first seen in the cells;
  when that option is given, a name it does not list is an error, as in RCTab;
* ``ballot_id`` = the id column's value, else ``"<file stem>-<spreadsheet row number>"``;
* RCTab's behaviour, reproduced: a row the sheet lists after its last row with values but with
  no cell at all (spreadsheet programs write such rows, e.g. formatted empty rows) is a ballot
  that ranks nobody — an undervote — with id ``"<file stem>-<row number>"``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from ..cvr_table import CvrBuilder, marks_from_cells
from ..errors import InputError
from ..fsutil import ZIP_READ_ERRORS
from ..model import OVERVOTE_UNKNOWN, Candidate, Contest, ContestKind, Election, VoteType
from .base import FormatSpec, ParsedExport, register
from .options import (
    UWI_NAME,
    RctabCandidates,
    option_bool,
    option_count,
    option_index,
    option_text,
)

FORMAT = "ess"

_XLSX_MAGIC = b"PK\x03\x04"


class CandidateTable:
    """Assigns stable codes to candidates as labels are met (config order first)."""

    def __init__(self, rctab: RctabCandidates | None, uwi_label: str) -> None:
        self.rctab = rctab
        self.uwi_label = uwi_label
        self.candidates: list[Candidate] = []
        self._code: dict[str, int] = {}
        if rctab is not None:
            for name in rctab.names:
                self._add(name, Candidate(id=name, name=name))

    def _add(self, key: str, cand: Candidate) -> int:
        code = len(self.candidates)
        if code >= OVERVOTE_UNKNOWN:
            raise ValueError("more candidates than a uint16 code can hold")
        self.candidates.append(cand)
        self._code[key] = code
        return code

    def code(self, label: str, *, write_in: bool = False) -> int:
        """Code of the candidate a cell label names; raises KeyError for a name the RCTab
        candidate list does not know."""
        if self.uwi_label and label == self.uwi_label:
            key = "\x00uwi"
            found = self._code.get(key)
            return found if found is not None else self._add(key, Candidate(label, UWI_NAME, True))
        name = label
        if self.rctab is not None:
            name = self.rctab.by_label[label]
        found = self._code.get(name)
        if found is not None:
            return found
        return self._add(name, Candidate(id=name, name=name, write_in=write_in))


# ---------------------------------------------------------------------------------------------
# the reader


def _cell_text(value: Any) -> str | None:
    """A cell as text (numbers written as integers when they are whole); None if not text-like."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


_SHEET_REL = re.compile(rb'<sheet\b[^>]*?\br:id="([^"]+)"')
_ROW_NUMBER = re.compile(rb'<row\b[^>]*?\br="(\d+)"')
_CHUNK = 1 << 20


def _first_sheet_part(zf: zipfile.ZipFile) -> str | None:
    """Zip member name of the workbook's first sheet (the one calamine reads as index 0)."""
    try:
        book = zf.read("xl/workbook.xml")
        rels = zf.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return None
    first = _SHEET_REL.search(book)
    if first is None:
        return None
    rid = re.escape(first.group(1))
    target = re.search(rb'<Relationship\b[^>]*?\bId="' + rid + rb'"[^>]*?\bTarget="([^"]+)"', rels) \
        or re.search(rb'<Relationship\b[^>]*?\bTarget="([^"]+)"[^>]*?\bId="' + rid + rb'"', rels)
    if target is None:
        return None
    name = target.group(1).decode("utf-8", "replace").lstrip("/")
    return name if name.startswith("xl/") else f"xl/{name}"


def _row_elements_after(path: Path, last: int) -> list[int]:
    """Row numbers above ``last`` that the first sheet still lists as ``<row>`` elements (rows a
    spreadsheet program wrote with no cell values). RCTab counts each such row as a ballot
    with no rankings; calamine drops them, so they are found by scanning the sheet's XML (a
    regular expression over the decompressed stream: no XML parser is involved)."""
    if path.suffix.lower() != ".xlsx":
        return []
    try:
        with zipfile.ZipFile(path) as zf:
            part = _first_sheet_part(zf)
            if part is None:
                return []
            found: list[int] = []
            tail = b""
            with zf.open(part) as fh:
                while chunk := fh.read(_CHUNK):
                    data = tail + chunk
                    cut = data.rfind(b"<")  # keep a possibly cut tag for the next chunk
                    cut = len(data) if cut < 0 else cut
                    # findall + map(int): a sheet lists every row, this runs once per row
                    found += [n for n in map(int, _ROW_NUMBER.findall(data, 0, cut)) if n > last]
                    tail = data[cut:]
                found += [n for n in map(int, _ROW_NUMBER.findall(tail)) if n > last]
    except (OSError, KeyError, *ZIP_READ_ERRORS) as exc:
        raise InputError(f"not a readable spreadsheet ({exc})", file=path) from None
    return sorted(set(found))


def _load_rows(path: Path) -> list[list[Any]]:
    try:
        wb = CalamineWorkbook.from_path(str(path))
        if not wb.sheet_names:
            raise InputError("the workbook has no sheets", file=path)
        rows: list[list[Any]] = wb.get_sheet_by_index(0).to_python()
    except CalamineError as exc:
        raise InputError(
            f"not a readable spreadsheet ({type(exc).__name__}: {exc})", file=path
        ) from None
    except (OSError, ValueError, IndexError) as exc:
        raise InputError(f"not a readable spreadsheet ({exc})", file=path) from None
    return rows


@dataclass(frozen=True)
class _Layout:
    first_row: int
    ranks: range
    id_col: int | None
    precinct_col: int | None
    batch_col: int | None
    count_col: int | None


def _layout(path: Path, header: list[Any], options: Mapping[str, Any]) -> _Layout:
    width = len(header)
    first_vote = option_index(options, "firstVoteColumnIndex")
    if first_vote is None:
        for i, h in enumerate(header):
            if isinstance(h, str) and "choice" in h.lower():
                first_vote = i
                break
        else:
            raise InputError(
                "no firstVoteColumnIndex option and no header containing 'choice'",
                file=path,
                record=1,
                field="firstVoteColumnIndex",
            )
    if first_vote >= width:
        raise InputError(
            f"firstVoteColumnIndex {first_vote + 1} is beyond the {width} columns",
            file=path,
            field="firstVoteColumnIndex",
        )
    count_col = None
    last = width
    if (
        isinstance(header[-1], str)
        and header[-1].strip().lower() == "count"
        and width - 1 > first_vote
    ):
        count_col = width - 1
        last = width - 1
    n_ranks = option_count(options, "maxRankingsAllowed")
    if n_ranks is not None:
        # a sheet with fewer rank columns than maxRankingsAllowed is read as it is (RCTab
        # tabulates it: the missing ranks are simply never marked)
        last = min(last, first_vote + n_ranks)
    cols: dict[str, int | None] = {}
    for key in ("idColumnIndex", "precinctColumnIndex", "batchColumnIndex"):
        idx = option_index(options, key)
        if idx is not None and idx >= width:
            raise InputError(f"{key} {idx + 1} is beyond the {width} columns", file=path, field=key)
        cols[key] = idx
    first_row = option_index(options, "firstVoteRowIndex")
    return _Layout(
        first_row=1 if first_row is None else first_row,
        ranks=range(first_vote, last),
        id_col=cols["idColumnIndex"],
        precinct_col=cols["precinctColumnIndex"],
        batch_col=cols["batchColumnIndex"],
        count_col=count_col,
    )


def _label(options: Mapping[str, Any], key: str, default: str, *alt: str) -> str:
    for k in (key, *alt):
        if k in options:
            return option_text(options, k)
    return default


def read(path: Path, options: Mapping[str, Any]) -> ParsedExport:
    """Read an ES&S RCV spreadsheet: first sheet, one contest.

    Columnar: each rank column's distinct values are mapped to marks once, in the order the
    row-by-row reading meets them (so candidate codes are the same), and the cards are built
    as columns. A sheet with any problem is read again row by row (:func:`_refuse`) so that the
    error raised is the first one in row order, with its precise row and column."""
    path = Path(path)
    if not path.is_file():
        raise InputError("not a file", file=path)
    rows = _load_rows(path)
    if not rows:
        raise InputError("the sheet is empty", file=path)
    lay = _layout(path, rows[0], options)
    labels = _labels(options)
    table = CandidateTable(RctabCandidates.from_options(options), labels.uwi)
    data = rows[lay.first_row :]
    found = _rank_cells(path, rows[0], data, lay, labels, table)
    if found is None:
        _refuse(path, rows, lay, labels, CandidateTable(RctabCandidates.from_options(options),
                                                        labels.uwi))
        raise RuntimeError(f"{path}: the columnar read refused a sheet that the row-by-row "
                           "check accepts (a bug in the ES&S reader)")
    cells, distinct = found
    # rows written with no cell at all after the last row with values: RCTab reads each as a
    # ballot ranking nobody (an undervote), so they are ballots here too
    extras: list[int] = []
    if len(lay.ranks):
        extras = [n for n in _row_elements_after(path, len(rows)) if n > lay.first_row]
        if extras:
            distinct.append([])
            blank = np.full((len(extras), len(lay.ranks)), len(distinct) - 1, dtype=np.int32)
            cells = np.concatenate([cells, blank])

    stem = path.stem
    seats = option_count(options, "numberOfWinners") or option_count(options, "seats") or 1
    cid = option_text(options, "contestId") or stem
    contest = Contest(
        id=cid,
        name=option_text(options, "contestName") or cid,
        kind=ContestKind.STV if seats > 1 else ContestKind.IRV,
        seats=seats,
        vote_for=seats,
        candidates=tuple(table.candidates),
        max_rankings=len(lay.ranks),
    )
    election = Election(name=option_text(options, "contestName") or stem, contests=(contest,))
    return ParsedExport(
        election=election,
        batches=_batches(path, contest, rows, lay, cells, distinct, extras),
        format=FORMAT,
        source_files=[path],
    )


@dataclass(frozen=True)
class _Labels:
    over: str
    skip: str
    uwi: str
    delim: str
    blank_uwi: bool

    def seed(self) -> dict[str, list[int]]:
        """Cell texts whose marks the labels fix (no candidate is coded for them)."""
        cells: dict[str, list[int]] = {} if self.blank_uwi else {"": []}
        if self.skip:
            cells[self.skip] = []
        if self.over:
            cells[self.over] = [OVERVOTE_UNKNOWN]
        return cells


def _labels(options: Mapping[str, Any]) -> _Labels:
    over = _label(options, "overvoteLabel", "overvote")
    skip = _label(options, "skippedRankLabel", "undervote", "undervoteLabel")
    if "undervoteLabel" in options and option_text(options, "undervoteLabel"):
        skip = option_text(options, "undervoteLabel")
    uwi = _label(options, "undeclaredWriteInLabel", "")
    delim = option_text(options, "overvoteDelimiter")
    blank_uwi = option_bool(options, "treatBlankAsUndeclaredWriteIn")
    if blank_uwi and not uwi:
        raise InputError(
            "treatBlankAsUndeclaredWriteIn needs an undeclaredWriteInLabel",
            field="undeclaredWriteInLabel",
        )
    return _Labels(over, skip, uwi, delim, blank_uwi)


_TEXT_TYPES = frozenset({str, int, float})


def _first_rows(column: list[Any]) -> dict[Any, int] | None:
    """Each distinct value of a column → the index of the first row holding it; None when a
    value is not text-like. (Types are checked first: as dict keys ``True`` equals ``1``.)
    Equal keys of different types (``1``, ``1.0``) have the same :func:`_cell_text`."""
    if not set(map(type, column)) <= _TEXT_TYPES:
        return None
    wanted = len(dict.fromkeys(column))
    firsts: dict[Any, int] = {}
    for i, value in enumerate(column):  # stops at the last distinct value's first row: early
        if value not in firsts:         # in a rank column, which holds a few names
            firsts[value] = i
            if len(firsts) == wanted:
                break
    return firsts


def _texts(column: list[Any]) -> list[str | None]:
    """:func:`_cell_text` of every value of a column (``str.strip`` when all are text)."""
    if set(map(type, column)) <= {str}:
        return list(map(str.strip, column))
    return [_cell_text(v) for v in column]


def _rank_cells(
    path: Path,
    header: list[Any],
    data: list[list[Any]],
    lay: _Layout,
    labels: _Labels,
    table: CandidateTable,
) -> tuple[np.ndarray, list[list[int]]] | None:
    """The rank cells as a rows × ranks array of indexes into a list of distinct cell marks,
    or None when some row has a problem (:func:`_refuse` then says which, row by row).

    Candidates are coded in the order the row-by-row reading meets them (row by row, rank
    column by rank column), so codes do not depend on reading by column."""
    width = len(header)
    if not set(map(len, data)) <= {width}:
        return None
    if lay.count_col is not None:
        counts = _first_rows(list(map(itemgetter(lay.count_col), data)))
        if counts is None or any(_cell_text(v) not in ("1", "") for v in counts):
            return None
    first_seen: dict[str, tuple[int, int]] = {}  # cell text → (row, rank) where first met
    columns: list[tuple[list[Any], dict[Any, str]]] = []
    for j, c in enumerate(lay.ranks):
        column = list(map(itemgetter(c), data))
        firsts = _first_rows(column)
        if firsts is None:
            return None
        texts: dict[Any, str] = {}
        for raw, i in firsts.items():
            text = texts[raw] = _cell_text(raw) or ""  # never None: the types are text-like
            seen = first_seen.get(text)
            if seen is None or (i, j) < seen:
                first_seen[text] = (i, j)
        columns.append((column, texts))
    cells = labels.seed()
    order = sorted(first_seen, key=first_seen.__getitem__)
    for text in order:
        if text in cells:
            continue
        i, j = first_seen[text]
        try:
            if text:
                cells[text] = _marks_of(text, table, labels.delim, path, lay.first_row + 1 + i,
                                        str(header[lay.ranks[j]]))
            else:  # blank as an undeclared write-in
                cells[text] = [table.code(labels.uwi)]
        except (InputError, ValueError):
            return None  # an earlier row may have another problem: _refuse finds the first
    index = {text: k for k, text in enumerate(order)}
    out = np.empty((len(data), len(lay.ranks)), dtype=np.int32)
    for j, (column, texts) in enumerate(columns):
        ids = {raw: index[text] for raw, text in texts.items()}
        out[:, j] = np.fromiter(map(ids.__getitem__, column), dtype=np.int32, count=len(column))
    return out, [cells[text] for text in order]


def _refuse(
    path: Path, rows: list[list[Any]], lay: _Layout, labels: _Labels, table: CandidateTable
) -> None:
    """Raise the first problem of the sheet in row order (within a row: its width, then each
    rank cell's type and label, then the Count cell). The row-by-row reading, kept for its
    errors: :func:`_rank_cells` only tells that there is a problem."""
    header = rows[0]
    width = len(header)
    cells = labels.seed()
    for n, row in enumerate(rows[lay.first_row :], start=lay.first_row + 1):
        if len(row) != width:
            raise InputError(f"row has {len(row)} cells, header has {width}", file=path, record=n)
        for c in lay.ranks:
            value = row[c]
            text = _cell_text(value)
            if text is None:
                raise InputError(
                    f"unexpected cell type {type(value).__name__}",
                    file=path,
                    record=n,
                    field=str(header[c]),
                )
            if text not in cells:
                if text:
                    cells[text] = _marks_of(text, table, labels.delim, path, n, str(header[c]))
                else:  # blank as an undeclared write-in, coded when first met
                    cells[text] = [table.code(labels.uwi)]
        if lay.count_col is not None and _cell_text(row[lay.count_col]) not in ("1", ""):
            raise InputError(
                "a row standing for several ballots cannot be given unique ballot ids",
                file=path,
                record=n,
                field=str(header[lay.count_col]),
            )


def _marks_of(
    text: str, table: CandidateTable, delim: str, path: Path, n: int, column: str
) -> list[int]:
    labels = [t.strip() for t in text.split(delim)] if delim and delim in text else [text]
    codes: list[int] = []
    for label in labels:
        try:
            code = table.code(label)
        except KeyError:
            raise InputError(
                f"candidate {label!r} is not in the candidates option",
                file=path,
                record=n,
                field=column,
            ) from None
        except ValueError as exc:
            raise InputError(str(exc), file=path, record=n, field=column) from None
        if code not in codes:
            codes.append(code)
    return codes


def _bad_id(
    path: Path, header: list[Any], lay: _Layout, bids: list[str | None], numbers: list[int],
    n_data: int,
) -> tuple[int, InputError] | None:
    """The first card (index and error) whose ballot id is empty or already used, if any."""
    if all(bids[:n_data]) and len(set(bids)) == len(bids):
        return None
    seen: set[str | None] = set()
    for i, (bid, n) in enumerate(zip(bids, numbers, strict=True)):
        if i < n_data and not bid:
            assert lay.id_col is not None  # generated ids are never empty
            return i, InputError("empty ballot id", file=path, record=n,
                                 field=str(header[lay.id_col]))
        if bid in seen:
            return i, InputError(f"ballot id {bid!r} appears twice", file=path, record=n)
        seen.add(bid)
    raise RuntimeError(f"{path}: a repeated ballot id was not found again (a bug)")


def _batches(
    path: Path,
    contest: Contest,
    rows: list[list[Any]],
    lay: _Layout,
    cells: np.ndarray,
    distinct: list[list[int]],
    extras: list[int],
) -> Iterator[pa.RecordBatch]:
    """The cards' record batches. Lazy, as a per-card reader is: an empty or repeated ballot
    id is raised while iterating, after the batches of the cards before it."""
    builder = CvrBuilder((contest,))
    data = rows[lay.first_row :]
    n_data = len(data)
    stem = path.stem
    numbers = [*range(lay.first_row + 1, lay.first_row + 1 + n_data), *extras]
    total = len(numbers)
    no_cells = [None] * len(extras)
    if lay.id_col is not None:
        bids = _texts(list(map(itemgetter(lay.id_col), data)))
    else:
        bids = [f"{stem}-{n}" for n in numbers[:n_data]]
    bids += [f"{stem}-{n}" for n in extras]  # rows without cells (see _row_elements_after)
    meta: dict[str, list[Any]] = {
        "ballot_id": bids,
        "record": numbers,
        "vote_type": [VoteType.UNKNOWN.value] * total,
        "source_file": [path.name] * total,
        "source_record": [f"row {n}" for n in numbers[:n_data]]
        + [f"row {n} (no cells)" for n in extras],
    }
    for key, col in (("batch", lay.batch_col), ("precinct", lay.precinct_col)):
        if col is not None:
            meta[key] = _texts(list(map(itemgetter(col), data))) + no_cells
    bad = _bad_id(path, rows[0], lay, bids, numbers, n_data)
    # the per-card reader emitted every full chunk before the bad card, then raised
    n_ok = total if bad is None else bad[0] - bad[0] % builder.chunk_rows
    yield from builder.column_batches(
        n_ok, meta, {contest.id: lambda a, b: marks_from_cells(cells[a:b], distinct)}
    )
    if bad is not None:
        raise bad[1]


def sniff(path: Path) -> bool:
    """An ``.xlsx`` file (zip magic). ES&S is the only spreadsheet CVR format read here."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() != ".xlsx":
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4) == _XLSX_MAGIC
    except OSError:  # unreadable: not ours to claim; reading it will say why
        return False


register(
    FormatSpec(
        name=FORMAT,
        read=read,
        sniff=sniff,
        description="ES&S RCV cast vote record spreadsheet (.xlsx)",
    )
)

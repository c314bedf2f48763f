"""Dominion Democracy Suite's CSV cast vote record export, ``CvrExport.csv`` (the file Arlo
and ColoradoRLA read): one row per card, four header rows, one 0/1 column per choice.

Layout (learnt from Arlo's ``parse_dominion_cvrs`` and ColoradoRLA's
``DominionCVRExportParser``; written out in docs/formats-vendor.md):

1. the election's name and the software version (``"2020 General",5.10.50.85,,,…``);
2. empty over the metadata columns, then over each choice column its contest:
   ``Mayor (Vote For=1)``, or for a ranked contest
   ``Mayor (Number of positions=1, Number of ranks=4)``;
3. the choice of each column: a name (``Yes``, ``Write-in``), or for a ranked contest
   ``name(rank)``, one column per candidate and rank;
4. the metadata column titles — ``CvrNumber``, ``TabulatorNum``, ``BatchId``, ``RecordId``,
   ``ImprintedId``, optionally ``CountingGroup``, ``PrecinctPortion``, ``BallotType`` and a few
   more — then each choice's party (ignored);

then the cards: metadata (Excel-style ``="…"`` quoting removed), and in each choice column
``1`` (marked), ``0`` (not marked) or empty (the contest is not on this card's ballot style).

Decisions (also in docs/formats-vendor.md):

* the same CVR table as the JSON reader (:mod:`.dominion`) gives for the same cards:
  ``ballot_id`` = ``"{TabulatorNum}-{BatchId}-{RecordId}"``; consecutive rows with the same
  three are the cards of one session, numbered ``-1``, ``-2``… as the JSON reader numbers a
  session's ``Cards`` (each row has its own ``CvrNumber``: a repeated ``CvrNumber``, or a
  session that comes back after another, is an error);
* the export's manifests, when they lie beside the CSV (``ContestManifest.json`` and
  ``CandidateManifest.json``, as the JSON export writes them), give contest and candidate ids,
  candidate order, names and the election's name, matched by name; without them a contest's
  id is its name and a candidate's id its name (as the other name-only readers do), a choice
  called ``Write-in`` and the choices after it (qualified write-ins) are write-ins;
* more marks than the contest allows is an overvote, kept for the tabulator, never an error;
  a contest's cells are all 0/1 or all empty, a mix is a damaged row;
* the header is read by :mod:`.dominion_csv_header`; the cards are parsed by ``pyarrow.csv``
  in blocks, so memory is bounded by a block, and each contest's marks are built from its
  columns with numpy.

Every error names the file, the line and the column (its title, or contest and choice).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..cvr_table import MARKS_TYPE, cvr_schema, map_distinct
from ..errors import InputError
from ..model import VoteType
from . import dominion
from .base import FormatSpec, ParsedExport, register
from .detect import BOM, read_head
from .dominion_csv_header import (
    CsvContest,
    Plan,
    column_name,
    metadata_columns,
    parse_contests,
    make_plan,
    read_header,
)
from .dominion_rows import _marks_array, vote_type_of

__all__ = ["FORMAT", "read", "sniff"]

FORMAT = "dominion_csv"
EXPORT_NAME = "CvrExport.csv"

#: Bytes pyarrow parses at a time (a block of rows; a county's rows are some 1-2 KB each).
BLOCK_BYTES = 16 << 20

_EXCEL_QUOTED = r'^\s*="(.*)"\s*$'
_NUMBER = r"^\d{1,18}$"


# ---------------------------------------------------------------------------------------------
# the cards


@dataclass
class _Layout:
    """What reading the cards needs: the file, the header and the plan."""

    path: Path
    rows: list[list[str]]
    width: int
    meta: dict[str, int]
    plan: Plan
    offset: int  # byte where the cards start
    header_lines: int  # lines the header takes (the first card is on the next)

    def line(self, index: int | np.integer) -> int:
        """The line of the ``index``-th card (0-based); a card never spans lines (pyarrow
        is told that values hold no line breaks)."""
        return self.header_lines + int(index) + 1

    def error(self, index: int | np.integer, col: int, message: str) -> InputError:
        return InputError(
            message, file=self.path, record=f"line {self.line(index)}",
            field=column_name(self.rows, col),
        )  # fmt: skip


@dataclass
class _Seen:
    """Every session and CvrNumber read so far, checked for repeats at the end of the file."""

    names: dict[str, int] = field(default_factory=dict)  # tabulator / batch text → number
    keys: list[np.ndarray] = field(default_factory=list)  # (sessions, 3): tab, batch, record
    key_rows: list[np.ndarray] = field(default_factory=list)  # card index of each session
    numbers: list[np.ndarray] = field(default_factory=list)  # CvrNumber of each card

    def number(self, values: pa.Array) -> np.ndarray:
        """``values`` (text) as numbers, the same text always the same number."""
        enc = pc.dictionary_encode(values)
        ids = np.array(
            [self.names.setdefault(v, len(self.names)) for v in enc.dictionary.to_pylist()],
            dtype=np.int64,
        )
        return (
            ids[enc.indices.to_numpy(zero_copy_only=False)] if len(ids) else np.zeros(0, np.int64)
        )


def _text(column: pa.Array) -> pa.Array:
    """Metadata text: Excel's ``="…"`` quoting and surrounding blanks removed."""
    if pc.any(pc.match_substring(column, '="')).as_py():  # the regex only where it may apply
        column = pc.replace_substring_regex(column, _EXCEL_QUOTED, r"\1")
    return pc.utf8_trim_whitespace(column)


def _first_false(mask: pa.Array) -> int | None:
    bad = np.flatnonzero(~mask.to_numpy(zero_copy_only=False))
    return int(bad[0]) if bad.size else None


def _numbers(
    lay: _Layout, batch: pa.RecordBatch, title: str, start: int
) -> tuple[pa.Array, np.ndarray]:
    col = lay.meta[title]
    text = _text(batch.column(col))
    bad = _first_false(pc.match_substring_regex(text, _NUMBER))
    if bad is not None:
        raise lay.error(start + bad, col, f"expected a whole number, found {text[bad].as_py()!r}")
    return text, pc.cast(text, pa.int64()).to_numpy()


def _nonempty(lay: _Layout, batch: pa.RecordBatch, title: str, start: int) -> pa.Array:
    col = lay.meta[title]
    text = _text(batch.column(col))
    bad = _first_false(pc.not_equal(text, ""))
    if bad is not None:
        raise lay.error(start + bad, col, "empty")
    return text


def _optional(lay: _Layout, batch: pa.RecordBatch, title: str) -> pa.Array:
    n = batch.num_rows
    if title not in lay.meta:
        return pa.nulls(n, pa.string())
    text = _text(batch.column(lay.meta[title]))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _vote_types(lay: _Layout, batch: pa.RecordBatch) -> pa.Array:
    if "CountingGroup" not in lay.meta:
        return pa.array([VoteType.UNKNOWN.value] * batch.num_rows, pa.string())
    return map_distinct(_text(batch.column(lay.meta["CountingGroup"])),
                        lambda v: vote_type_of(v).value)


def _cells(lay: _Layout, column: pa.Array, col: int, start: int) -> np.ndarray:
    """A choice column as int8: 1 marked, 0 not marked, -1 empty (not on the ballot style);
    straight from Arrow's buffers, as a valid cell is one byte or none."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[
        column.offset : column.offset + len(column) + 1
    ]
    data = column.buffers()[2]
    chars = (
        np.frombuffer(data, dtype=np.uint8)
        if data is not None and data.size
        else np.zeros(1, np.uint8)
    )
    length = np.diff(offsets)
    first = chars[np.minimum(offsets[:-1], len(chars) - 1)]
    value = np.where(length == 0, -1, first.astype(np.int16) - ord("0"))
    bad = (length > 1) | ((length == 1) & ((value < 0) | (value > 1)))
    if bad.any():
        i = int(np.argmax(bad))
        raise lay.error(start + i, col, f"expected 1, 0 or nothing, found {column[i].as_py()!r}")
    return value.astype(np.int8)


def _contest_column(
    lay: _Layout, batch: pa.RecordBatch, c: CsvContest, codes: np.ndarray, start: int
) -> pa.Array:
    """A contest's ``list<list<uint16>>`` column from its choice columns."""
    cols = [col for col, _, _ in c.cells]
    cells = np.stack([_cells(lay, batch.column(col), col, start) for col in cols], axis=1)
    on_card = cells >= 0
    present = on_card.any(axis=1)
    mixed = present & ~on_card.all(axis=1)
    if mixed.any():
        i = int(np.argmax(mixed))
        j = int(np.argmax(~on_card[i]))
        raise lay.error(
            start + i, cols[j], f"empty beside 0/1 cells of contest {c.name!r} (a damaged row)"
        )
    row, j = np.nonzero(cells == 1)
    pos = np.array([p for _, p, _ in c.cells], dtype=np.int64)[j]
    code = codes[np.array([k for _, _, k in c.cells], dtype=np.int64)][j]
    return _marks_array(max(c.ranks, 1), present, row, pos, code)


def _batch(lay: _Layout, batch: pa.RecordBatch, start: int, seen: _Seen) -> pa.RecordBatch:
    """The CVR-table rows of ``batch``, whole sessions from card ``start`` of the file on."""
    n = batch.num_rows
    number_text, number = _numbers(lay, batch, "CvrNumber", start)
    tab = _nonempty(lay, batch, "TabulatorNum", start)
    bat = _nonempty(lay, batch, "BatchId", start)
    _, record = _numbers(lay, batch, "RecordId", start)
    tab_n, bat_n = seen.number(tab), seen.number(bat)
    same = np.zeros(n, dtype=bool)
    same[1:] = (tab_n[1:] == tab_n[:-1]) & (bat_n[1:] == bat_n[:-1]) & (record[1:] == record[:-1])
    starts = np.flatnonzero(~same)
    run = np.cumsum(~same) - 1
    card = np.arange(n) - starts[run] + 1  # 1-based position of the card in its session
    multi = np.diff(np.append(starts, n))[run] > 1
    seen.keys.append(np.stack([tab_n[starts], bat_n[starts], record[starts]], axis=1))
    seen.key_rows.append(starts + start)
    seen.numbers.append(number)
    record_arr = pa.array(record, pa.int64())
    # the record as a number ("007" → 7), as the JSON export writes it
    ballot_id = pc.binary_join_element_wise(tab, bat, record_arr.cast(pa.string()), "-")
    if multi.any():
        numbered = pc.binary_join_element_wise(ballot_id, pa.array(card).cast(pa.string()), "-")
        ballot_id = pc.if_else(pa.array(multi), numbered, ballot_id)
    lines = pa.array(np.arange(start, start + n) + lay.header_lines + 1).cast(pa.string())
    source_record = pc.binary_join_element_wise(
        "line ", lines, " (CvrNumber ", number_text, ")", ""
    )
    contests = lay.plan.election.contests
    columns: list[pa.Array] = [pa.nulls(n, MARKS_TYPE)] * len(contests)
    for c, index, codes in lay.plan.contests:
        columns[index] = _contest_column(lay, batch, c, codes, start)
    arrays = [
        ballot_id, tab, bat, record_arr,
        _optional(lay, batch, "PrecinctPortion"), _optional(lay, batch, "BallotType"),
        _vote_types(lay, batch), pa.array([lay.path.name] * n, pa.string()), source_record,
        *columns,
    ]  # fmt: skip
    return pa.RecordBatch.from_arrays(arrays, schema=cvr_schema(contests))


def _check_repeats(lay: _Layout, seen: _Seen) -> None:
    """A CvrNumber used twice, or a session that comes back after other sessions: the later
    line is named."""
    if seen.numbers:
        numbers = np.concatenate(seen.numbers)
        order = np.argsort(numbers, kind="stable")
        twice = np.flatnonzero(numbers[order][1:] == numbers[order][:-1])
        if twice.size:
            i = int(order[1:][twice].min())
            raise lay.error(i, lay.meta["CvrNumber"], f"CvrNumber {int(numbers[i])} appears twice")
    if seen.keys:
        keys, rows = np.concatenate(seen.keys), np.concatenate(seen.key_rows)
        order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
        twice = np.flatnonzero((keys[order][1:] == keys[order][:-1]).all(axis=1))
        if twice.size:
            i = int(rows[order[1:][twice]].min())
            raise lay.error(
                i, lay.meta["RecordId"],
                "this tabulator, batch and record come back after other sessions (a session's "
                "cards are consecutive rows)",
            )  # fmt: skip


def _open_cards(lay: _Layout, source: pa.NativeFile) -> Any:
    """A pyarrow CSV stream over the cards (every cell as text, exactly as written); None when
    the file holds no card. A row with the wrong number of cells stops it (see
    :func:`_arrow_error`, which finds the line): pyarrow's handler of such rows cannot be
    used, as it decodes the row's text, which fails on the very rows that are not UTF-8."""
    names = [f"c{i}" for i in range(lay.width)]
    source.seek(lay.offset)
    try:
        return pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=False, block_size=BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return None
        raise _arrow_error(lay, exc) from None


def _card_batches(lay: _Layout) -> Iterator[pa.RecordBatch]:
    """The file's cards, a block at a time, cut after whole sessions (a session's cards may
    straddle two blocks: its rows wait for the next block). Blank lines may end the file."""
    try:
        source = pa.OSFile(str(lay.path))
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read file: {exc}", file=lay.path) from None
    with source:
        reader = _open_cards(lay, source)
        if reader is None:
            return
        seen = _Seen()
        carry: pa.Table | None = None
        start = 0  # card index of carry's (or else the next block's) first row
        blank_from: int | None = None  # line of a blank line after the last card so far
        while True:
            try:
                block = reader.read_next_batch()
            except StopIteration:
                block = None
            except pa.ArrowInvalid as exc:
                raise _arrow_error(lay, exc) from None
            if block is None:
                if carry is not None and carry.num_rows:
                    yield _batch(lay, carry.combine_chunks().to_batches()[0], start, seen)
                break
            parts = [pa.Table.from_batches([block])]
            table = pa.concat_tables([carry, *parts]) if carry is not None else parts[0]
            table, blank_from = _blank_lines(lay, table, start, blank_from)
            cut = _last_session_start(table, lay)
            if cut > 0:
                yield _batch(lay, table.slice(0, cut).combine_chunks().to_batches()[0], start, seen)
                start += cut
            carry = table.slice(cut)
        _check_repeats(lay, seen)


def _blank_lines(
    lay: _Layout, table: pa.Table, start: int, blank_from: int | None
) -> tuple[pa.Table, int | None]:
    """``table`` without the blank lines that end it, and the line of the first of them; a
    blank line followed by a card is an error."""
    n = table.num_rows
    first = table.column(lay.meta["CvrNumber"])
    maybe = np.flatnonzero(pc.equal(pc.binary_length(first), 0).to_numpy(zero_copy_only=False))
    blank = maybe
    if maybe.size:  # only rows with no CvrNumber are looked at whole
        rows = table.take(pa.array(maybe))
        empty = np.ones(len(maybe), dtype=bool)
        for column in rows.columns:
            empty &= pc.equal(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
        blank = maybe[empty]
    tail = 0
    while tail < blank.size and blank[blank.size - 1 - tail] == n - 1 - tail:
        tail += 1
    if blank_from is not None and n > tail:
        raise InputError("empty line among the cards", file=lay.path, record=f"line {blank_from}")
    if blank.size > tail:  # a blank line with a card after it
        line = lay.line(start + int(blank[0]))
        raise InputError("empty line among the cards", file=lay.path, record=f"line {line}")
    if tail:
        blank_from = blank_from or lay.line(start + n - tail)
        table = table.slice(0, n - tail)
    return table, blank_from


def _last_session_start(table: pa.Table, lay: _Layout) -> int:
    """Row where the table's last session starts (its cards may go on in the next block):
    only the last rows are looked at, more if they are all one session."""
    n = table.num_rows
    tail = min(n, 64)
    while True:
        keys = [
            _text(table.column(lay.meta[t]).slice(n - tail).combine_chunks())
            for t in ("TabulatorNum", "BatchId", "RecordId")
        ]
        same = np.ones(tail, dtype=bool)
        for key in keys:
            same &= pc.equal(key, key[tail - 1]).to_numpy(zero_copy_only=False)
        differ = np.flatnonzero(~same)
        if differ.size:
            return n - tail + int(differ[-1]) + 1
        if tail == n:
            return 0
        tail = min(n, tail * 8)


def _arrow_error(lay: _Layout, exc: pa.ArrowInvalid) -> InputError:
    """What pyarrow refused, located: the first line of the cards that is not UTF-8, is not
    CSV, or has the wrong number of cells, found line by line (only once something is wrong)."""
    with open(lay.path, "rb") as fh:
        fh.seek(lay.offset)
        for number, raw in enumerate(fh, start=lay.header_lines + 1):
            where = f"line {number}"
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                return InputError(
                    f"not UTF-8 text: byte 0x{raw[err.start]:02x} at column {err.start + 1}",
                    file=lay.path, record=where,
                )  # fmt: skip
            if not text:
                continue  # a blank line is a row of empty cells to pyarrow
            try:
                cells = next(csv.reader([text], strict=True))
            except csv.Error as err:
                return InputError(f"malformed CSV: {err}", file=lay.path, record=where)
            if len(cells) != lay.width:
                return InputError(
                    f"row has {len(cells)} cells, the header has {lay.width}",
                    file=lay.path, record=where,
                )  # fmt: skip
    return InputError(f"malformed CSV: {exc}", file=lay.path)


# ---------------------------------------------------------------------------------------------
# the reader


def _export_file(path: Path) -> Path:
    if path.is_dir():
        if not (path / EXPORT_NAME).is_file():
            raise InputError(f"no {EXPORT_NAME} in this folder", file=path)
        return path / EXPORT_NAME
    if not path.is_file():
        raise InputError("no such file or folder", file=path)
    return path


def read(path: Path, options: Mapping[str, Any]) -> ParsedExport:
    """Read a Dominion ``CvrExport.csv`` (or a folder holding one): the header is checked
    here, the cards as the batches are iterated."""
    path = _export_file(Path(path))
    rows, offset, header_lines = read_header(path)
    titles, contests_row = rows[3], rows[1]
    width = len(contests_row)
    while width and not contests_row[width - 1].strip():
        width -= 1
    first = next((i for i, v in enumerate(contests_row[:width]) if v.strip()), width)
    if first == width:
        raise InputError("no contest columns", file=path, record="line 2")
    for i, row in enumerate(rows[2:4], start=3):
        if len(row) < width or any(v.strip() for v in row[width:]):
            raise InputError(
                f"row has {len(row)} cells, the contest row has {width}",
                file=path,
                record=f"line {i}",
            )
    meta = metadata_columns(path, titles[:first])
    csv_contests = parse_contests(path, rows, width, first)
    plan = make_plan(path, rows, csv_contests, options)
    lay = _Layout(path, rows, width, meta, plan, offset, header_lines)
    return ParsedExport(
        election=plan.election,
        batches=_card_batches(lay),
        format=FORMAT,
        source_files=[path, *plan.manifests],
    )


def sniff(path: Path) -> bool:
    """A ``.csv`` file (or a folder holding ``CvrExport.csv`` and no JSON export) whose second
    row starts with empty metadata cells and then names contests the Dominion way."""
    path = Path(path)
    if path.is_dir():
        if dominion.export_files(path) if (path / "ContestManifest.json").is_file() else False:
            return False
        path = path / EXPORT_NAME
    if path.suffix.lower() != ".csv":
        return False
    head = read_head(path)
    if head is None:
        return False
    lines = head.removeprefix(BOM).split(b"\n")
    if len(lines) < 3:
        return False
    second = lines[1]
    return second.startswith(b",") and (b"(Vote For=" in second or b"Number of ranks=" in second)


register(
    FormatSpec(
        name=FORMAT,
        read=read,
        sniff=sniff,
        description="Dominion Democracy Suite CVR export as CSV (CvrExport.csv)",
    )
)

"""The CVR table: one row per ballot card (DESIGN.md), built in Arrow record batches.

Metadata columns come first, then one ``list<list<uint16>>`` column per contest named
``contest:<contest id>``: the outer list holds rank positions (a single position for a
vote-for-N or approval contest), the inner list the candidate codes marked at that position
(empty = skipped, more than one = overvote at that rank; :data:`~tallyproof.model.OVERVOTE_UNKNOWN`
= an overvote whose candidates the export does not name). Null = the contest is not on the card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .model import Contest

CVR_TABLE_SCHEMA_VERSION = 1

MARKS_TYPE = pa.list_(pa.list_(pa.uint16()))

METADATA_FIELDS: tuple[pa.Field, ...] = (
    pa.field("ballot_id", pa.string(), nullable=False),  # unique, stable
    pa.field("tabulator", pa.string()),
    pa.field("batch", pa.string()),
    pa.field("record", pa.int64()),  # position of the card in its batch (vendor record number)
    pa.field("precinct", pa.string()),
    pa.field("ballot_style", pa.string()),
    pa.field("vote_type", pa.string()),
    pa.field("source_file", pa.string()),  # base name of the export file it came from
    pa.field("source_record", pa.string()),  # the vendor's own record id / line, for tracing
)
METADATA_NAMES: tuple[str, ...] = tuple(f.name for f in METADATA_FIELDS)

Marks = list[list[int]]


def cvr_schema(contests: Iterable[Contest]) -> pa.Schema:
    """Arrow schema of the CVR table for these contests (in this order)."""
    return pa.schema(
        [*METADATA_FIELDS, *(pa.field(c.column, MARKS_TYPE) for c in contests)],
        metadata={b"tallyproof.cvr_table_schema_version": str(CVR_TABLE_SCHEMA_VERSION).encode()},
    )


def map_distinct(column: pa.Array, fn: Callable[[str], str]) -> pa.StringArray:
    """``fn`` of every value of a text column, nulls kept: applied once per distinct value
    (a column of a million cards holds a handful, e.g. file names or counting groups), not
    once per card."""
    enc = pc.dictionary_encode(column)
    mapped = pa.array([fn(v) for v in enc.dictionary.to_pylist()], pa.string())
    return pc.take(mapped, enc.indices)


def marks_from_cells(cells: np.ndarray, distinct: Sequence[list[int]]) -> pa.ListArray:
    """The marks column of cards whose every cell is one of a few distinct cell contents.

    ``cells`` is a rows × ranks integer array, each entry an index into ``distinct`` (the
    candidate codes one cell marks). Why: a spreadsheet or CSV column holds a handful of
    distinct labels over a million cards, so a reader maps each distinct label to its marks
    once and this builds the nested Arrow array with array arithmetic, not one Python list per
    card. The result equals ``pa.array(<the nested lists>, type=MARKS_TYPE)`` (no nulls).
    """
    n_rows, n_ranks = cells.shape
    flat = cells.reshape(-1)
    lens = np.fromiter((len(m) for m in distinct), dtype=np.int64, count=len(distinct))
    starts = np.zeros(len(distinct), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    pool = np.fromiter((c for m in distinct for c in m), dtype=np.uint16, count=int(lens.sum()))
    cell_lens = lens[flat]
    inner_offsets = np.zeros(len(flat) + 1, dtype=np.int32)
    np.cumsum(cell_lens, out=inner_offsets[1:])
    total = int(inner_offsets[-1])
    take = np.repeat(starts[flat] - inner_offsets[:-1], cell_lens) + np.arange(total, dtype=np.int64)
    inner = pa.ListArray.from_arrays(pa.array(inner_offsets), pa.array(pool[take], pa.uint16()))
    outer_offsets = np.arange(n_rows + 1, dtype=np.int32) * np.int32(n_ranks)
    return pa.ListArray.from_arrays(pa.array(outer_offsets), inner, type=MARKS_TYPE)


class CvrBuilder:
    """Accumulates cards row by row (readers are per-record by nature) and emits record batches.

    Readers call :meth:`add` per card and yield whatever :meth:`add` returns when it is not
    ``None``, then yield :meth:`finish`'s batch if any: memory stays bounded by ``chunk_rows``.
    A reader that already holds whole columns (a spreadsheet) uses :meth:`column_batches`
    instead: the same batches without a Python call per card.
    """

    def __init__(self, contests: Sequence[Contest], chunk_rows: int = 65_536) -> None:
        self.contests = tuple(contests)
        self.schema = cvr_schema(self.contests)
        self.chunk_rows = chunk_rows
        self._index = {c.id: i for i, c in enumerate(self.contests)}
        self._reset()

    def _reset(self) -> None:
        self._meta: dict[str, list[object]] = {n: [] for n in METADATA_NAMES}
        self._marks: list[list[Marks | None]] = [[] for _ in self.contests]
        self._rows = 0

    def add(
        self,
        *,
        ballot_id: str,
        tabulator: str | None = None,
        batch: str | None = None,
        record: int | None = None,
        precinct: str | None = None,
        ballot_style: str | None = None,
        vote_type: str | None = None,
        source_file: str | None = None,
        source_record: str | None = None,
        votes: dict[str, Marks],
    ) -> pa.RecordBatch | None:
        """Add one card; ``votes`` maps contest id → marks for each contest on the card."""
        m = self._meta
        m["ballot_id"].append(ballot_id)
        m["tabulator"].append(tabulator)
        m["batch"].append(batch)
        m["record"].append(record)
        m["precinct"].append(precinct)
        m["ballot_style"].append(ballot_style)
        m["vote_type"].append(vote_type)
        m["source_file"].append(source_file)
        m["source_record"].append(source_record)
        for col in self._marks:
            col.append(None)
        for cid, marks in votes.items():
            self._marks[self._index[cid]][-1] = marks
        self._rows += 1
        if self._rows >= self.chunk_rows:
            return self.finish()
        return None

    def batches(self, cards: Iterable[Mapping[str, Any]]) -> Iterator[pa.RecordBatch]:
        """Record batches of ``cards`` (each the keyword arguments of :meth:`add`), every
        ``chunk_rows`` rows and the remainder: what a reader's ``batches`` iterator yields."""
        for card in cards:
            out = self.add(**card)
            if out is not None:
                yield out
        last = self.finish()
        if last is not None:
            yield last

    def column_batches(
        self,
        n_rows: int,
        meta: Mapping[str, Sequence[object]],
        marks: Mapping[str, Callable[[int, int], pa.Array]],
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of ``n_rows`` cards given as columns, cut as :meth:`batches` cuts them
        (every ``chunk_rows`` rows, then the remainder), each built afresh rather than sliced
        from one table (consumers may read a list array's offsets and values directly).

        ``meta`` maps metadata names to full-length sequences (a name left out is all null);
        ``marks`` maps a contest id to a function giving its marks array for rows
        ``[start, stop)`` (a contest left out is on no card). Why columns: a reader whose
        input is columnar (a spreadsheet) should not pay one Python call per card.
        """
        unknown = (set(meta) - set(METADATA_NAMES)) | (set(marks) - set(self._index))
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}")
        for start in range(0, n_rows, self.chunk_rows):
            stop = min(start + self.chunk_rows, n_rows)
            size = stop - start
            arrays = [
                pa.array(meta[f.name][start:stop], type=f.type) if f.name in meta
                else pa.array([None] * size, type=f.type)
                for f in METADATA_FIELDS
            ]
            arrays += [
                marks[c.id](start, stop) if c.id in marks
                else pa.array([None] * size, type=MARKS_TYPE)
                for c in self.contests
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def finish(self) -> pa.RecordBatch | None:
        """The batch of rows added since the last emitted one (``None`` if there are none)."""
        if self._rows == 0:
            return None
        arrays = [pa.array(self._meta[f.name], type=f.type) for f in METADATA_FIELDS]
        arrays += [pa.array(col, type=MARKS_TYPE) for col in self._marks]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self._reset()
        return batch

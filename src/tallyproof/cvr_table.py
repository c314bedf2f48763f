"""The CVR table: one row per ballot card (DESIGN.md), built in Arrow record batches.

Metadata columns come first, then one ``list<list<uint16>>`` column per contest named
``contest:<contest id>``: the outer list holds rank positions (a single position for a
vote-for-N or approval contest), the inner list the candidate codes marked at that position
(empty = skipped, more than one = overvote at that rank; :data:`~tallyproof.model.OVERVOTE_UNKNOWN`
= an overvote whose candidates the export does not name). Null = the contest is not on the card.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

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


class CvrBuilder:
    """Accumulates cards row by row (readers are per-record by nature) and emits record batches.

    Readers call :meth:`add` per card and yield whatever :meth:`add` returns when it is not
    ``None``, then yield :meth:`finish`'s batch if any: memory stays bounded by ``chunk_rows``.
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

    def finish(self) -> pa.RecordBatch | None:
        """The batch of rows added since the last emitted one (``None`` if there are none)."""
        if self._rows == 0:
            return None
        arrays = [pa.array(self._meta[f.name], type=f.type) for f in METADATA_FIELDS]
        arrays += [pa.array(col, type=MARKS_TYPE) for col in self._marks]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self._reset()
        return batch

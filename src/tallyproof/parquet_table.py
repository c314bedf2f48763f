"""A Parquet file used as a table whose columns and row ranges are read when asked for.

Why: committing and verifying the log encode every CVR, row range by row range
(:func:`tallyproof.ledger.canonical.encode_and_hash`), and otherwise need only a few columns
(ids, batch keys). Reading the whole CVR table first held all of it at once: about 1.5 GB at
5,000,000 cards, the largest part of the pipeline's peak memory. :class:`ParquetTable` answers
the few :class:`pyarrow.Table` calls those steps make (``num_rows``, ``schema``, ``column``,
``select``, ``slice``, ``take``) from the file: a column is read alone, a row range from the
row groups that hold it (the store writes row groups of 65,536 cards, the encoder's chunk).
A forked hashing child reads its own row ranges from the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["ParquetTable"]


class ParquetTable:
    """The table in the Parquet file at ``path``, read on demand (module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        pf = pq.ParquetFile(self.path)
        meta = pf.metadata
        self.schema: pa.Schema = pf.schema_arrow
        self.num_rows = int(meta.num_rows)
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        #: first row of every row group, and the end of the last
        self._starts = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))

    def __len__(self) -> int:
        return self.num_rows

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    def column(self, name: str) -> pa.ChunkedArray:
        """One column, read alone."""
        return pq.read_table(self.path, columns=[name]).column(name)

    def select(self, names: Sequence[str]) -> pa.Table:
        """The named columns, read alone."""
        return pq.read_table(self.path, columns=list(names))

    def slice(self, offset: int = 0, length: int | None = None) -> pa.Table:
        """Rows ``offset .. offset+length`` (every column), read from the row groups that
        hold them."""
        offset = max(0, min(offset, self.num_rows))
        stop = self.num_rows if length is None else min(self.num_rows, offset + max(length, 0))
        if stop <= offset:
            return self.schema.empty_table()
        first = int(np.searchsorted(self._starts, offset, side="right")) - 1
        last = int(np.searchsorted(self._starts, stop, side="left"))
        groups = list(range(first, last))
        part = pq.ParquetFile(self.path).read_row_groups(groups)
        return part.slice(offset - int(self._starts[first]), stop - offset)

    def read(self) -> pa.Table:
        """Every row and column."""
        return pq.read_table(self.path)

    def filter(self, mask: pa.Array | np.ndarray) -> pa.Table:
        """The rows where ``mask`` is true (reads the whole table, as :meth:`take`)."""
        return self.read().filter(mask)

    def take(self, indices: pa.Array | np.ndarray | Sequence[int]) -> pa.Table:
        """The rows at ``indices`` (every column; reads the whole table: for the rare paths,
        such as cards added after a commit)."""
        return self.read().take(indices)

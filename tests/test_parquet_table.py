"""ParquetTable answers like the table it reads: columns, row ranges across row groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tallyproof.parquet_table import ParquetTable


@pytest.fixture
def written(tmp_path: Path) -> tuple[pa.Table, ParquetTable]:
    n = 1000
    table = pa.table({"id": [f"b-{i}" for i in range(n)], "x": np.arange(n) * 3,
                      "marks": pa.array([[[i % 5]] for i in range(n)],
                                        pa.list_(pa.list_(pa.uint16())))})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=128)  # 8 groups of 128, one of 104
    return table, ParquetTable(path)


def test_shape_schema_and_columns(written: tuple[pa.Table, ParquetTable]) -> None:
    table, lazy = written
    assert lazy.num_rows == len(lazy) == 1000
    assert lazy.schema == table.schema and lazy.column_names == ["id", "x", "marks"]
    assert lazy.column("x").combine_chunks().equals(table.column("x").combine_chunks())
    assert lazy.select(["marks", "id"]).equals(table.select(["marks", "id"]))
    assert lazy.read().equals(table)


@pytest.mark.parametrize(("offset", "length"), [(0, 128), (0, 1000), (100, 300), (127, 2),
                                                (896, 200), (999, 1), (500, 0), (1200, 5),
                                                (0, None), (640, None)])
def test_slices_match_across_row_groups(written: tuple[pa.Table, ParquetTable], offset: int,
                                        length: int | None) -> None:
    table, lazy = written
    want = table.slice(offset, length)
    got = lazy.slice(offset, length)
    assert got.num_rows == want.num_rows
    assert got.equals(want)


def test_take_and_filter(written: tuple[pa.Table, ParquetTable]) -> None:
    table, lazy = written
    rows = pa.array([999, 0, 128, 5])
    assert lazy.take(rows).equals(table.take(rows))
    mask = pa.array(np.arange(1000) % 7 == 0)
    assert lazy.filter(mask).equals(table.filter(mask))

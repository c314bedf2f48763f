"""Ballot manifest CSV (Arlo's column names) → the store's manifest table.

Columns, matched case-insensitively with surrounding and repeated spaces ignored, in any order:
``Container`` (optional), ``Tabulator`` (optional), ``Batch Name`` (required) and
``Number of Ballots`` (required); other columns are ignored. UTF-8 with or without a BOM.
Each (tabulator, batch) pair may appear once; counts are whole numbers ≥ 0 (thousands
separators ``1,234`` are accepted because spreadsheet exports write them). Every error names the
file, the line and the column, in the spirit of Arlo's chained CSV checks.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyarrow as pa

from ..errors import InputError
from ..store import MANIFEST_SCHEMA
from .detect import read_text

REQUIRED = ("batch name", "number of ballots")
OPTIONAL = ("container", "tabulator")
_COUNT = re.compile(r"\d{1,3}(,\d{3})+|\d+")


def _norm(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).lower()


def read_manifest(path: Path) -> pa.Table:
    """Read and validate a ballot manifest; returns a table with ``store.MANIFEST_SCHEMA``."""
    path = Path(path)
    _, text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    cols: dict[str, list[object]] = {f.name: [] for f in MANIFEST_SCHEMA}
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise InputError("the file is empty; expected a header row", file=path, record="line 1")
        names = [_norm(h) for h in header]
        for name in REQUIRED:
            if name not in names:
                have = ", ".join(h.strip() for h in header)
                raise InputError(
                    f"missing required column {name.title()!r} (have: {have})",
                    file=path,
                    record="line 1",
                    field=name.title(),
                )
        for name in set(names):
            if name in REQUIRED + OPTIONAL and names.count(name) > 1:
                raise InputError(
                    f"column {name.title()!r} appears twice",
                    file=path,
                    record="line 1",
                    field=name.title(),
                )
        idx = {n: names.index(n) for n in REQUIRED + OPTIONAL if n in names}
        seen: dict[tuple[str, str], int] = {}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise InputError(
                    f"expected {len(header)} fields, found {len(row)}",
                    file=path,
                    record=f"line {line}",
                )
            cell = {n: row[i].strip() for n, i in idx.items()}
            batch = cell["batch name"]
            if not batch:
                raise InputError(
                    "empty batch name", file=path, record=f"line {line}", field="Batch Name"
                )
            count_text = cell["number of ballots"]
            if not _COUNT.fullmatch(count_text):
                what = "negative" if count_text.startswith("-") else "not a whole number"
                raise InputError(
                    f"number of ballots {count_text!r} is {what}",
                    file=path,
                    record=f"line {line}",
                    field="Number of Ballots",
                )
            tabulator = cell.get("tabulator", "")
            key = (tabulator, batch)
            if key in seen:
                raise InputError(
                    f"batch {batch!r}"
                    + (f" of tabulator {tabulator!r}" if tabulator else "")
                    + f" already appears on line {seen[key]}",
                    file=path,
                    record=f"line {line}",
                    field="Batch Name",
                )
            seen[key] = line
            cols["container"].append(cell.get("container") or None)
            cols["tabulator"].append(tabulator or None)
            cols["batch"].append(batch)
            cols["ballots"].append(int(count_text.replace(",", "")))
    except csv.Error as exc:
        raise InputError(
            f"malformed CSV: {exc}", file=path, record=f"line {reader.line_num}"
        ) from exc
    return pa.table(
        {f.name: pa.array(cols[f.name], type=f.type) for f in MANIFEST_SCHEMA},
        schema=MANIFEST_SCHEMA,
    )

"""Readers for the voter files election offices publish or hold, streamed into Arrow tables.

Four kinds of file, each normalised to one canonical schema (see docs/voters.md):

- ``roll``     voter registration list: county, voter_id, first, last, birth_year,
               birth_date (optional: public files carry only the year), precinct, status,
               registration_date;
- ``history``  voter history (pollbook credit), one row per voter per election: county,
               voter_id, election_date, method (in_person | early | mail | provisional),
               precinct, voted_date (optional);
- ``mail``     mail-ballot file: county, voter_id, issued, returned, accepted, status,
               reason, postmark, uocava;
- ``deaths``   death records (the fields of a death master file): first, last, birth_date,
               death_date, state.

Layouts: ``tallyproof`` (the documented CSV, the column names above), ``nc`` (North Carolina
``ncvoter`` roll and ``ncvhis`` voter history, tab-separated) and ``ga`` (Georgia's
pipe-delimited voter list and its voter history CSV: :mod:`.georgia`). Files are read
in batches with every column as text, then converted column by column; the first bad value is
reported with file, line and field (:class:`~tallyproof.errors.InputError`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import InputError
from . import georgia

Kind = str  # "roll" | "history" | "mail" | "deaths"

METHODS = ("in_person", "early", "mail", "provisional")

#: Canonical columns per kind: name -> (arrow type, required).
SCHEMAS: dict[str, dict[str, tuple[pa.DataType, bool]]] = {
    "roll": {
        "county": (pa.string(), True), "voter_id": (pa.string(), True),
        "first": (pa.string(), True), "last": (pa.string(), True),
        "birth_year": (pa.int32(), True), "birth_date": (pa.date32(), False),
        "precinct": (pa.string(), False), "status": (pa.string(), False),
        "registration_date": (pa.date32(), False),
    },
    "history": {
        "county": (pa.string(), True), "voter_id": (pa.string(), True),
        "election_date": (pa.date32(), True), "method": (pa.string(), True),
        "precinct": (pa.string(), False), "voted_date": (pa.date32(), False),
    },
    "mail": {
        "county": (pa.string(), True), "voter_id": (pa.string(), True),
        "issued": (pa.date32(), False), "returned": (pa.date32(), False),
        "accepted": (pa.date32(), False), "status": (pa.string(), True),
        "reason": (pa.string(), False), "postmark": (pa.date32(), False),
        "uocava": (pa.bool_(), False),
    },
    "deaths": {
        "first": (pa.string(), True), "last": (pa.string(), True),
        "birth_date": (pa.date32(), True), "death_date": (pa.date32(), True),
        "state": (pa.string(), False),
    },
}

DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")


@dataclass(frozen=True)
class Layout:
    """How a published file's columns map onto the canonical ones."""

    name: str
    kind: Kind
    delimiter: str
    columns: dict[str, str]  # canonical name -> column in the file
    methods: dict[str, str] | None = None  # file's voting method -> canonical method
    # turns the file's own columns ("_"-prefixed) into canonical ones: (columns, file, line)
    derive: Callable[[dict[str, pa.Array], Path, int], None] | None = None


LAYOUTS: dict[tuple[str, str], Layout] = {}
for _kind, _schema in SCHEMAS.items():
    LAYOUTS[("tallyproof", _kind)] = Layout("tallyproof", _kind, ",", {c: c for c in _schema})

# North Carolina voter history (ncvhis, layout_ncvhis.txt): tab-separated, quoted.
LAYOUTS[("nc", "history")] = Layout(
    "nc", "history", "\t",
    {"county": "county_desc", "voter_id": "voter_reg_num", "election_date": "election_lbl",
     "method": "voting_method", "precinct": "pct_label"},
    methods={"IN-PERSON": "in_person", "ABSENTEE ONESTOP": "early", "ABSENTEE BY MAIL": "mail",
             "PROVISIONAL": "provisional", "ABSENTEE CURBSIDE": "early",
             "CURBSIDE": "in_person", "TRANSFER": "in_person", "ELIGIBLE DID NOT VOTE": "",
             "NO VOTE": ""},
)
# North Carolina voter registration (ncvoter, layout_ncvoter.txt): tab-separated; public
# file carries the birth year only.
LAYOUTS[("nc", "roll")] = Layout(
    "nc", "roll", "\t",
    {"county": "county_desc", "voter_id": "voter_reg_num", "first": "first_name",
     "last": "last_name", "birth_year": "birth_year", "precinct": "precinct_abbrv",
     "status": "voter_status_desc", "registration_date": "registr_dt"},
)
# Georgia voter history (statewide file, one row per voter per election).
LAYOUTS[("ga", "history")] = Layout(
    "ga", "history", ",",
    {"county": "County Name", "voter_id": "Voter Registration #",
     "election_date": "Election Date", "_absentee": "Absentee",
     "_provisional": "Provisional"},
    derive=georgia.history,
)
# Georgia voter list (Georgia_Daily_VoterBase): pipe-delimited, birth year only.
LAYOUTS[("ga", "roll")] = Layout(
    "ga", "roll", "|",
    {"_county_code": "COUNTY_CODE", "voter_id": "REGISTRATION_NUMBER",
     "first": "FIRST_NAME", "last": "LAST_NAME", "birth_year": "BIRTHDATE",
     "precinct": "COUNTY_PRECINCT_ID", "status": "VOTER_STATUS",
     "registration_date": "REGISTRATION_DATE"},
    derive=georgia.roll,
)


def layout_for(name: str, kind: Kind) -> Layout:
    try:
        return LAYOUTS[(name, kind)]
    except KeyError:
        known = sorted(f"{n}/{k}" for n, k in LAYOUTS)
        raise InputError(f"no layout {name!r} for {kind} files (known: {', '.join(known)})"
                         ) from None


def _parse_dates(arr: pa.Array, path: Path, field: str, line0: int) -> pa.Array:
    text = pc.utf8_trim_whitespace(arr)
    empty = pc.or_kleene(pc.is_null(text), pc.equal(text, ""))
    out = pa.nulls(len(arr), pa.timestamp("s"))
    for fmt in DATE_FORMATS:
        parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        out = pc.coalesce(out, parsed)
    bad = pc.and_(pc.invert(empty), pc.is_null(out))
    if pc.any(bad).as_py():
        i = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
        raise InputError(f"not a date: {text[i].as_py()!r} (expected YYYY-MM-DD, MM/DD/YYYY "
                         "or YYYYMMDD)", file=path, record=f"line {line0 + i}", field=field)
    return pc.cast(out, pa.date32())


def _convert(name: str, arr: pa.Array, typ: pa.DataType, path: Path, field: str,
             line0: int, required: bool) -> pa.Array:
    if required:
        text = pc.utf8_trim_whitespace(arr)
        missing = pc.or_kleene(pc.is_null(text), pc.equal(text, ""))
        if pc.any(missing).as_py():
            i = int(np.flatnonzero(missing.to_numpy(zero_copy_only=False))[0])
            raise InputError("empty value", file=path, record=f"line {line0 + i}", field=field)
    if typ == pa.string():
        return pc.utf8_trim_whitespace(arr)
    if typ == pa.date32():
        return _parse_dates(arr, path, field, line0)
    if typ == pa.int32():
        text = pc.utf8_trim_whitespace(arr)
        ok = pc.match_substring_regex(text, r"^\d{1,4}$")
        bad = pc.and_(pc.invert(pc.fill_null(ok, False)), pc.not_equal(text, ""))
        if pc.any(bad).as_py():
            i = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
            raise InputError(f"not a year: {text[i].as_py()!r}", file=path,
                             record=f"line {line0 + i}", field=field)
        return pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.int32())
    if typ == pa.bool_():
        text = pc.utf8_upper(pc.utf8_trim_whitespace(arr))
        true = pc.is_in(text, pa.array(["Y", "YES", "TRUE", "1"]))
        false = pc.is_in(text, pa.array(["N", "NO", "FALSE", "0", ""]))
        bad = pc.invert(pc.or_(true, false))
        if pc.any(bad).as_py():
            i = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
            raise InputError(f"not yes/no: {text[i].as_py()!r}", file=path,
                             record=f"line {line0 + i}", field=field)
        return true
    raise AssertionError(name)  # unreachable: every schema type is handled above


def read_voter_file(path: str | Path, kind: Kind, layout: str = "tallyproof",
                    block_size: int = 16 << 20) -> pa.Table:
    """Read a voter file of ``kind`` in ``layout`` into the canonical Arrow table.

    Streams the file in blocks of ``block_size`` bytes (a statewide file of 8 million rows is
    never held as text); raises :class:`InputError` naming the file, line and field of the
    first bad value. Lines are counted from 1 with the header as line 1 (a quoted value with
    a line break inside shifts the count; the published layouts have none).
    """
    path = Path(path)
    if kind not in SCHEMAS:
        raise InputError(f"unknown kind of voter file {kind!r}", file=path)
    lay = layout_for(layout, kind)
    schema = SCHEMAS[kind]
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next(csv.reader(f, delimiter=lay.delimiter), [])
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read the header: {exc}", file=path, record="line 1") from None
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=block_size),
            parse_options=pacsv.ParseOptions(delimiter=lay.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in first},  # every column as text
                strings_can_be_null=False, include_columns=None),
        )
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read as {layout} {kind} file: {exc}", file=path) from None
    header = reader.schema.names
    # optional canonical columns may be absent from the file (read as empty)
    needed = {c: f for c, f in lay.columns.items()
              if c.startswith("_") or c not in schema or schema[c][1]}
    missing = [f for f in needed.values() if f not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)} (header has "
                         f"{', '.join(header)})", file=path, record="line 1")
    batches: list[pa.RecordBatch] = []
    line0 = 2
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise InputError(f"malformed CSV after line {line0}: {exc}", file=path) from None
        cols: dict[str, pa.Array] = {c: batch.column(f) for c, f in lay.columns.items()
                                     if f in header}
        if lay.derive is not None:
            lay.derive(cols, path, line0)
        if lay.methods is not None:
            upper = pc.utf8_upper(pc.utf8_trim_whitespace(cols["method"]))
            known = pc.is_in(upper, pa.array(list(lay.methods)))
            if not pc.all(known).as_py():
                i = int(np.flatnonzero(pc.invert(known).to_numpy(zero_copy_only=False))[0])
                raise InputError(f"unknown voting method {upper[i].as_py()!r}", file=path,
                                 record=f"line {line0 + i}", field=lay.columns["method"])
            keys = pa.array(list(lay.methods))
            vals = pa.array(list(lay.methods.values()))
            cols["method"] = pc.take(vals, pc.index_in(upper, keys))
            keep = pc.not_equal(cols["method"], "")  # "did not vote" rows are dropped
        elif "method" in cols and lay.derive is None:
            m = pc.utf8_lower(pc.utf8_trim_whitespace(cols["method"]))
            ok = pc.is_in(m, pa.array(list(METHODS)))
            if not pc.all(ok).as_py():
                i = int(np.flatnonzero(pc.invert(ok).to_numpy(zero_copy_only=False))[0])
                raise InputError(f"unknown voting method {m[i].as_py()!r} (expected one of "
                                 f"{', '.join(METHODS)})", file=path,
                                 record=f"line {line0 + i}", field="method")
            cols["method"] = m
        if lay.methods is None:
            keep = None
        out = {}
        n = batch.num_rows
        for name, (typ, required) in schema.items():
            if name in cols:
                field = lay.columns.get(name, name)
                out[name] = _convert(name, cols[name], typ, path, field, line0, required)
            else:
                out[name] = pa.nulls(n, typ)
        rb = pa.RecordBatch.from_pydict(out, schema=_arrow_schema(kind))
        batches.append(rb if keep is None else rb.filter(keep))
        line0 += n
    return pa.Table.from_batches(batches, schema=_arrow_schema(kind))


def _arrow_schema(kind: Kind) -> pa.Schema:
    return pa.schema([(n, t) for n, (t, _) in SCHEMAS[kind].items()])

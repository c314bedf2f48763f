"""One results snapshot, whatever its format, as the same two small tables.

Election offices publish unofficial results many times after the polls close. To say what
changed from one publication to the next, every snapshot becomes

* ``counts``: ``contest``, ``choice``, ``vote_type`` (``""`` when the format has none),
  ``unit`` (county or precinct; ``ALL`` for a jurisdiction total) and ``votes``;
* ``reporting``: per unit, precincts reported and ballots cast where the format gives them
  (``null`` where it does not).

Formats: Clarity XML (:mod:`.clarity`; its own timestamp), NIST SP 1500-100 JSON and the results
CSV (:mod:`.results`; the timestamp is given by the user, or read from SP 1500-100's
``GeneratedDate``). A contest's and a choice's key is its *name* for Clarity (names are stable
across Clarity publications; keys are not always) and its id for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pyarrow as pa

from ..errors import InputError, UsageError
from .clarity import read_clarity
from .detect import read_head
from .results import read_official_results

COUNTS_SCHEMA = pa.schema([("contest", pa.string()), ("choice", pa.string()),
                           ("vote_type", pa.string()), ("unit", pa.string()),
                           ("votes", pa.int64())])
REPORTING_SCHEMA = pa.schema([("unit", pa.string()), ("precincts_reported", pa.int64()),
                              ("ballots_cast", pa.int64())])
FORMATS = ("clarity", "nist_err", "csv")


@dataclass(frozen=True)
class Snapshot:
    path: str
    sha256: str
    format: str
    timestamp: str  # ISO 8601 UTC, "YYYY-MM-DDTHH:MM:SSZ"
    counts: pa.Table
    reporting: pa.Table


def normalize_timestamp(text: str) -> str:
    """An ISO 8601 time with a zone (``2020-11-04T02:15:00-05:00``, ``…Z``) in UTC."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"timestamp {text!r} is not ISO 8601 (e.g. 2020-11-04T02:15:00-05:00)"
                         ) from exc
    if t.tzinfo is None:
        raise UsageError(f"timestamp {text!r} has no time zone: say which (e.g. -05:00 or Z)")
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def detect_format(path: Path) -> str:
    head = (read_head(path, 2048) or b"").lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "clarity"
    if head.startswith(b"{"):
        return "nist_err"
    return "csv"


def read_snapshot(path: Path, timestamp: str | None = None) -> Snapshot:
    """Read one published results file as a :class:`Snapshot`."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "clarity":
        c = read_clarity(path)
        if timestamp is not None and normalize_timestamp(timestamp) != c.timestamp_utc:
            raise UsageError(f"{path} carries its own timestamp ({c.timestamp}); --timestamp "
                             f"{timestamp} disagrees with it")
        v = c.votes
        counts = pa.table({"contest": v.column("contest"), "choice": v.column("choice"),
                           "vote_type": v.column("vote_type"), "unit": v.column("unit"),
                           "votes": v.column("votes")}, schema=COUNTS_SCHEMA)
        t = c.turnout
        reporting = pa.table({"unit": t.column("unit"),
                              "precincts_reported": t.column("precincts_reported"),
                              "ballots_cast": t.column("ballots_cast")}, schema=REPORTING_SCHEMA)
        return Snapshot(str(path), c.sha256, fmt, c.timestamp_utc, counts, reporting)
    res = read_official_results(path)
    if timestamp is None and fmt == "nist_err":
        timestamp = _generated_date(path)
    if timestamp is None:
        raise UsageError(f"{path}: a {fmt} results file carries no timestamp; give --timestamp")
    rows: dict[str, list[object]] = {f.name: [] for f in COUNTS_SCHEMA}
    for contest, units in sorted(res.counts.items()):
        for unit, cands in sorted(units.items()):
            for cand, votes in sorted(cands.items()):
                for col, value in zip(COUNTS_SCHEMA.names, (contest, cand, "", unit, votes),
                                      strict=True):
                    rows[col].append(value)
    return Snapshot(str(path), res.sha256, fmt, normalize_timestamp(timestamp),
                    pa.table(rows, schema=COUNTS_SCHEMA), REPORTING_SCHEMA.empty_table())


def _generated_date(path: Path) -> str | None:
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:  # read_official_results already read it: unreachable
        raise InputError(f"not valid JSON: {exc}", file=path) from exc
    report = doc.get("ElectionReport", doc) if isinstance(doc, dict) else None
    value = report.get("GeneratedDate") if isinstance(report, dict) else None
    return value if isinstance(value, str) else None

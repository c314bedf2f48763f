"""Arlo's audit report CSV: the record an Arlo audit leaves behind.

Arlo (VotingWorks) writes one file made of several CSV tables, each after a line
``######## NAME ########``. The sections read here are

* ``ELECTION INFO``   organisation, election name, state;
* ``CONTESTS``        name, targeted or opportunistic, winners, votes allowed, ballots cast and
  the tabulated (machine) votes as ``Choice: N; Choice: N``;
* ``AUDIT SETTINGS``  audit name and type (``BALLOT_POLLING``, ``BATCH_COMPARISON``, ...), math
  type (``BRAVO``, ``MINERVA``, ``SUPERSIMPLE``, ``MACRO``), risk limit, random seed;
* ``ROUNDS``          per round and contest: sample size, whether the risk limit was met, the
  p-value, start and end time and the audited (hand) votes;
* ``BATCH RESULTS``   one row per hand-tallied batch: jurisdiction, batch name, batch type, then
  one column per choice (a full hand count, as Georgia's 2020 audit, is this section);
* ``SAMPLED BALLOTS`` one row per sampled ballot of a ballot-level audit (kept as text columns).

Other sections (``AUDIT BOARDS``, ``SURVEYS``...) are kept as raw rows under their name, so a
newer Arlo's report still reads. Every error names the file, the line and the column.
Batch results become an Arrow table (``jurisdiction``, ``batch``, ``batch_type`` and one
``int64`` column per choice) for DuckDB, so a statewide report of 40,000+ batches is one
columnar table, not 40,000 Python objects.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..errors import InputError
from .detect import read_text

SECTION = re.compile(r"^#{3,}\s*(?P<name>[A-Z][A-Z _/-]*?)\s*#{3,}\s*$")
BATCH_KEY_COLUMNS = ("Jurisdiction Name", "Batch Name", "Batch Type")


@dataclass(frozen=True)
class ArloContest:
    name: str
    targeted: bool
    winners: int
    votes_allowed: int
    ballots_cast: int | None
    tabulated_votes: dict[str, int]


@dataclass(frozen=True)
class ArloRound:
    number: int
    contest: str
    sample_size: int
    risk_limit_met: bool
    p_value: float | None
    start: str
    end: str
    audited_votes: dict[str, int]


@dataclass(frozen=True)
class ArloSettings:
    audit_name: str
    audit_type: str
    math_type: str
    risk_limit: float  # a fraction: "10%" -> 0.1
    seed: str
    online: bool | None


@dataclass(frozen=True)
class ArloReport:
    """Everything one Arlo audit report says, with the file's SHA-256 for the evidence."""

    path: str
    sha256: str
    election: dict[str, str]
    contests: tuple[ArloContest, ...]
    settings: ArloSettings
    rounds: tuple[ArloRound, ...]
    batch_results: pa.Table | None  # jurisdiction, batch, batch_type, <choice>... (int64)
    sampled_ballots: tuple[dict[str, str], ...] = ()
    other_sections: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)

    @property
    def choices(self) -> tuple[str, ...]:
        """The hand-count columns of the batch results, in the report's order."""
        if self.batch_results is None:
            return ()
        return tuple(self.batch_results.column_names[3:])


@dataclass
class _Section:
    name: str
    line: int  # 1-based line of the ``######## NAME ########`` marker
    rows: list[tuple[int, list[str]]]  # (line number, cells), blank rows dropped


def _split_sections(path: Path, text: str) -> list[_Section]:
    sections: list[_Section] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            m = SECTION.match(cells[0].strip()) if len(cells) == 1 else None
            if m:
                sections.append(_Section(m["name"].strip(), line, []))
            elif not sections:
                raise InputError("an Arlo audit report starts with a '######## NAME ########' "
                                 "section line", file=path, record=f"line {line}")
            else:
                sections[-1].rows.append((line, cells))
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", file=path,
                         record=f"line {reader.line_num}") from exc
    return sections


class _Table:
    """One section's header and rows, with errors that name the line and the column."""

    def __init__(self, path: Path, sec: _Section, required: tuple[str, ...]) -> None:
        self.path, self.sec = path, sec
        if not sec.rows:
            raise InputError(f"section {sec.name} has no header row", file=path,
                             record=f"line {sec.line}")
        self.header_line, header = sec.rows[0]
        self.header = [h.strip() for h in header]
        missing = [c for c in required if c not in self.header]
        if missing:
            raise InputError(f"section {sec.name} lacks column(s) {', '.join(missing)}",
                             file=path, record=f"line {self.header_line}")
        self.records: list[tuple[int, dict[str, str]]] = []
        for line, cells in sec.rows[1:]:
            if len(cells) != len(self.header):
                raise InputError(f"section {sec.name}: {len(cells)} cells where the header has "
                                 f"{len(self.header)}", file=path, record=f"line {line}")
            # values are kept exactly as written: Arlo's batch names differ by a trailing
            # space ("Box 3 Batch 12 W/I" and "Box 3 Batch 12 W/I "), so stripping merges batches
            self.records.append((line, dict(zip(self.header, cells, strict=True))))

    def fail(self, line: int, column: str, message: str) -> InputError:
        return InputError(message, file=self.path, record=f"line {line}", field=column)

    def int_(self, line: int, row: dict[str, str], column: str, optional: bool = False) -> int:
        raw = row[column].strip().replace(",", "")
        if optional and raw == "":
            return -1
        if not re.fullmatch(r"\d+", raw):
            raise self.fail(line, column, f"not a whole number: {row[column]!r}")
        return int(raw)

    def votes(self, line: int, row: dict[str, str], column: str) -> dict[str, int]:
        """``"Choice A: 12; Choice B: 3"`` as ``{choice: votes}`` (names may hold colons)."""
        out: dict[str, int] = {}
        text = row[column]
        if not text:
            return out
        for part in text.split(";"):
            name, sep, count = part.rpartition(":")
            name, count = name.strip(), count.strip()
            if not sep or not name or not re.fullmatch(r"\d+", count):
                raise self.fail(line, column, f"expected 'Choice: votes', got {part.strip()!r}")
            if name in out:
                raise self.fail(line, column, f"choice {name!r} is listed twice")
            out[name] = int(count)
        return out


def _one_row(t: _Table) -> tuple[int, dict[str, str]]:
    if len(t.records) != 1:
        raise InputError(f"section {t.sec.name} must have exactly one row, not "
                         f"{len(t.records)}", file=t.path, record=f"line {t.sec.line}")
    return t.records[0]


def _yes_no(t: _Table, line: int, row: dict[str, str], column: str) -> bool:
    value = row[column].strip().lower()
    if value not in ("yes", "no"):
        raise t.fail(line, column, f"expected Yes or No, got {row[column]!r}")
    return value == "yes"


def _settings(path: Path, sec: _Section) -> ArloSettings:
    t = _Table(path, sec, ("Audit Type", "Audit Math Type", "Risk Limit", "Random Seed"))
    line, row = _one_row(t)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", row["Risk Limit"])
    if not m:
        raise t.fail(line, "Risk Limit", f"expected a percentage like '10%', got "
                                         f"{row['Risk Limit']!r}")
    online = row.get("Online Data Entry?")
    return ArloSettings(
        audit_name=row.get("Audit Name", ""),
        audit_type=row["Audit Type"],
        math_type=row["Audit Math Type"],
        risk_limit=float(m[1]) / 100.0,
        seed=row["Random Seed"],
        online=None if not online else _yes_no(t, line, row, "Online Data Entry?"),
    )


def _contests(path: Path, sec: _Section) -> tuple[ArloContest, ...]:
    t = _Table(path, sec, ("Contest Name", "Targeted?", "Number of Winners", "Votes Allowed"))
    out = []
    for line, row in t.records:
        cast = t.int_(line, row, "Total Ballots Cast", optional=True) \
            if "Total Ballots Cast" in row else -1
        out.append(ArloContest(
            name=row["Contest Name"],
            targeted=row["Targeted?"].strip().lower() == "targeted",
            winners=t.int_(line, row, "Number of Winners"),
            votes_allowed=t.int_(line, row, "Votes Allowed"),
            ballots_cast=None if cast < 0 else cast,
            tabulated_votes=t.votes(line, row, "Tabulated Votes") if "Tabulated Votes" in row
            else {},
        ))
    return tuple(out)


def _rounds(path: Path, sec: _Section) -> tuple[ArloRound, ...]:
    t = _Table(path, sec, ("Round Number", "Contest Name", "Sample Size", "Risk Limit Met?"))
    out = []
    for line, row in t.records:
        p_raw = row.get("P-Value", "").strip()
        try:
            p = float(p_raw) if p_raw else None
        except ValueError:
            raise t.fail(line, "P-Value", f"not a number: {p_raw!r}") from None
        out.append(ArloRound(
            number=t.int_(line, row, "Round Number"),
            contest=row["Contest Name"],
            sample_size=t.int_(line, row, "Sample Size"),
            risk_limit_met=_yes_no(t, line, row, "Risk Limit Met?"),
            p_value=p,
            start=row.get("Start Time", ""),
            end=row.get("End Time", ""),
            audited_votes=t.votes(line, row, "Audited Votes") if "Audited Votes" in row else {},
        ))
    return tuple(out)


def _batch_results(path: Path, sec: _Section) -> pa.Table:
    t = _Table(path, sec, BATCH_KEY_COLUMNS)
    if t.header[:3] != list(BATCH_KEY_COLUMNS):
        raise InputError(f"section {sec.name} must start with the columns "
                         f"{', '.join(BATCH_KEY_COLUMNS)}", file=path,
                         record=f"line {t.header_line}")
    choices = t.header[3:]
    if not choices or len(set(choices)) != len(choices) or "" in choices:
        raise InputError(f"section {sec.name}: choice columns must be named and distinct",
                         file=path, record=f"line {t.header_line}")
    keys: dict[str, list[str]] = {c: [] for c in BATCH_KEY_COLUMNS}
    counts: dict[str, list[int]] = {c: [] for c in choices}
    seen: dict[tuple[str, str], int] = {}
    for line, row in t.records:
        key = (row["Jurisdiction Name"], row["Batch Name"])
        for col in ("Jurisdiction Name", "Batch Name", "Batch Type"):
            if not row[col]:
                raise t.fail(line, col, "is empty")
        if key in seen:
            raise t.fail(line, "Batch Name", f"batch {key[1]!r} of {key[0]} is listed twice "
                                             f"(first at line {seen[key]})")
        seen[key] = line
        for col in BATCH_KEY_COLUMNS:
            keys[col].append(row[col])
        for c in choices:
            counts[c].append(t.int_(line, row, c))
    return pa.table({
        "jurisdiction": pa.array(keys["Jurisdiction Name"], pa.string()),
        "batch": pa.array(keys["Batch Name"], pa.string()),
        "batch_type": pa.array(keys["Batch Type"], pa.string()),
        **{c: pa.array(counts[c], pa.int64()) for c in choices},
    })


def read_arlo_report(path: Path) -> ArloReport:
    """Read an Arlo audit report CSV; :class:`InputError` names file, line and column."""
    path = Path(path)
    raw, text = read_text(path)
    sections = _split_sections(path, text)
    by_name: dict[str, _Section] = {}
    for sec in sections:
        if sec.name in by_name:
            raise InputError(f"section {sec.name} appears twice (lines {by_name[sec.name].line} "
                             f"and {sec.line})", file=path, record=f"line {sec.line}")
        by_name[sec.name] = sec
    for needed in ("ELECTION INFO", "CONTESTS", "AUDIT SETTINGS", "ROUNDS"):
        if needed not in by_name:
            raise InputError(f"not an Arlo audit report: no {needed} section", file=path)
    info_t = _Table(path, by_name["ELECTION INFO"], ("Election Name",))
    _, info = _one_row(info_t)
    known = {"ELECTION INFO", "CONTESTS", "AUDIT SETTINGS", "ROUNDS", "BATCH RESULTS",
             "SAMPLED BALLOTS"}
    sampled: tuple[dict[str, str], ...] = ()
    if "SAMPLED BALLOTS" in by_name:
        st = _Table(path, by_name["SAMPLED BALLOTS"], ("Jurisdiction Name",))
        sampled = tuple(row for _, row in st.records)
    return ArloReport(
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        election=dict(info),
        contests=_contests(path, by_name["CONTESTS"]),
        settings=_settings(path, by_name["AUDIT SETTINGS"]),
        rounds=_rounds(path, by_name["ROUNDS"]),
        batch_results=_batch_results(path, by_name["BATCH RESULTS"])
        if "BATCH RESULTS" in by_name else None,
        sampled_ballots=sampled,
        other_sections={s.name: tuple(tuple(c) for _, c in s.rows)
                        for s in sections if s.name not in known},
    )

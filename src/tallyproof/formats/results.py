"""Official (reported) results: NIST SP 1500-100 v2 JSON or a documented CSV.

Both become one :class:`OfficialResults`: vote counts per contest, per reporting unit, per
candidate, keyed by the same ids the CVR readers assign (for NIST files, the rule lives in
:func:`tallyproof.formats.nist_cdf.contest_selections`), so reported and recomputed tallies
compare key for key. The whole-jurisdiction total is always under the key :data:`ALL`.

* SP 1500-100 JSON: every ``Election[*].Contest[*].ContestSelection[*].VoteCounts`` entry of
  ``Type`` ``total`` is read; ``GpUnitId`` = the election's ``ElectionScopeId`` is stored as
  ``ALL``, other units under their own ``@id``. ``OtherCounts`` (overvotes, undervotes) are
  kept in :attr:`OfficialResults.other_counts`.
* CSV: header ``contest,candidate,reporting_unit,votes`` (any case and spacing, UTF-8 with or
  without BOM), one row per count; ``reporting_unit`` is a precinct id or ``ALL``. With an
  :class:`~tallyproof.model.Election`, contests and candidates may be named by id or by name
  and are stored by id; unknown ones are refused.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..model import Election
from ..store import sha256_file
from .detect import read_text
from .nist_cdf import JsonFields, contest_selections, load_json

ALL = "ALL"
CSV_COLUMNS = ("contest", "candidate", "reporting_unit", "votes")

Counts = dict[str, dict[str, dict[str, int]]]  # contest id -> unit -> candidate id -> votes


@dataclass(frozen=True)
class OfficialResults:
    """Reported vote counts: ``counts[contest_id][reporting_unit][candidate_id]``."""

    scope_unit: str  # the source's id for the whole jurisdiction (stored under "ALL")
    counts: Counts
    source_path: str
    sha256: str
    format: str  # "nist_err" or "csv"
    other_counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    def units(self, contest_id: str) -> list[str]:
        """Reporting units with counts for a contest, ``ALL`` first, then sorted."""
        units = self.counts.get(contest_id, {})
        return sorted(units, key=lambda u: (u != ALL, u))


def read_official_results(path: Path, election: Election | None = None) -> OfficialResults:
    """Read an SP 1500-100 JSON report or a results CSV (decided by the first byte)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=path) from exc
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return _read_err(path)
    return _read_csv(path, election)


# ---------------------------------------------------------------- SP 1500-100 JSON
def _read_err(path: Path) -> OfficialResults:
    f = JsonFields(path)
    report = f.obj(load_json(path), "ElectionReport")
    elections = f.array(report, "Election", "ElectionReport", required=True)
    counts: Counts = {}
    other: dict[str, dict[str, dict[str, int]]] = {}
    scope = ""
    for i, raw in enumerate(elections):
        rec = f"Election[{i}]"
        e = f.obj(raw, rec)
        this_scope = f.req_text(e, "ElectionScopeId", rec)
        if scope and this_scope != scope:
            raise f.error("elections in one report have different scopes", rec, "ElectionScopeId")
        scope = this_scope
        for j, rawc in enumerate(f.array(e, "Contest", rec)):
            crec = f"{rec}.Contest[{j}]"
            c = f.obj(rawc, crec)
            cid = f.req_text(c, "@id", crec)
            if cid in counts:
                raise f.error(f"contest {cid!r} appears twice", crec, "@id")
            per_unit: dict[str, dict[str, int]] = {}
            for k, sel in enumerate(contest_selections(f, c, crec)):
                srec = f"{crec}.ContestSelection[{k}]"
                for m, rawv in enumerate(f.array(sel.raw, "VoteCounts", srec)):
                    vrec = f"{srec}.VoteCounts[{m}]"
                    vc = f.obj(rawv, vrec)
                    if f.text(vc, "Type", vrec, required=True) != "total":
                        continue
                    unit = _unit(f.req_text(vc, "GpUnitId", vrec), scope)
                    count = f.integer(vc, "Count", vrec)
                    if count is None:
                        raise f.error("required field is missing", vrec, "Count")
                    bucket = per_unit.setdefault(unit, {})
                    if sel.candidate_id in bucket:
                        raise f.error(f"two 'total' counts for unit {unit!r}", vrec, "GpUnitId")
                    bucket[sel.candidate_id] = count
            counts[cid] = per_unit
            for m, rawo in enumerate(f.array(c, "OtherCounts", crec)):
                orec = f"{crec}.OtherCounts[{m}]"
                oc = f.obj(rawo, orec)
                unit = _unit(f.req_text(oc, "GpUnitId", orec), scope)
                row = {
                    k: v
                    for k in ("Overvotes", "Undervotes", "WriteIns")
                    if (v := f.integer(oc, k, orec)) is not None
                }
                other.setdefault(cid, {})[unit] = {k.lower(): v for k, v in row.items()}
    return OfficialResults(
        scope_unit=scope,
        counts=counts,
        source_path=str(path),
        sha256=sha256_file(path),
        format="nist_err",
        other_counts=other,
    )


def _unit(gp_unit: str, scope: str) -> str:
    return ALL if gp_unit == scope else gp_unit


# ---------------------------------------------------------------- CSV
def _read_csv(path: Path, election: Election | None) -> OfficialResults:
    _, text = read_text(path)
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(rows, None)
        if header is None:
            raise InputError("the file is empty; expected a header row", file=path, record="line 1")
        names = [h.strip().lower() for h in header]
        missing = [c for c in CSV_COLUMNS if c not in names]
        if missing:
            raise InputError(
                f"missing column(s) {', '.join(missing)}; "
                f"the header must be {','.join(CSV_COLUMNS)}",
                file=path,
                record="line 1",
                field=missing[0],
            )
        idx = {c: names.index(c) for c in CSV_COLUMNS}
        counts: Counts = {}
        for row in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(
                    f"expected {len(header)} fields, found {len(row)}",
                    file=path,
                    record=f"line {line}",
                )
            get = {c: row[i].strip() for c, i in idx.items()}
            for c in CSV_COLUMNS:
                if not get[c]:
                    raise InputError("empty value", file=path, record=f"line {line}", field=c)
            contest_id, candidate_id = _resolve(
                election, get["contest"], get["candidate"], path, line
            )
            if not get["votes"].isdigit():
                raise InputError(
                    f"votes must be a whole number ≥ 0, found {get['votes']!r}",
                    file=path,
                    record=f"line {line}",
                    field="votes",
                )
            bucket = counts.setdefault(contest_id, {}).setdefault(get["reporting_unit"], {})
            if candidate_id in bucket:
                raise InputError(
                    f"a second count for {contest_id}/{get['reporting_unit']}/{candidate_id}",
                    file=path,
                    record=f"line {line}",
                    field="candidate",
                )
            bucket[candidate_id] = int(get["votes"])
    except csv.Error as exc:
        raise InputError(
            f"malformed CSV: {exc}", file=path, record=f"line {rows.line_num}"
        ) from exc
    return OfficialResults(
        scope_unit=ALL, counts=counts, source_path=str(path), sha256=sha256_file(path), format="csv"
    )


def _resolve(
    election: Election | None, contest: str, candidate: str, path: Path, line: int
) -> tuple[str, str]:
    """Contest and candidate ids for names or ids as written (kept as is without an election)."""
    if election is None:
        return contest, candidate
    found = _by_id_or_name(election.contests, contest)
    if found is None:
        raise InputError(
            f"no contest with id or name {contest!r} in the election",
            file=path,
            record=f"line {line}",
            field="contest",
        )
    cand = _by_id_or_name(found.candidates, candidate)
    if cand is None:
        raise InputError(
            f"contest {found.id!r} has no candidate with id or name {candidate!r}",
            file=path,
            record=f"line {line}",
            field="candidate",
        )
    return found.id, cand.id


def _by_id_or_name(items: tuple[Any, ...], key: str) -> Any:
    for item in items:
        if item.id == key:
            return item
    named = [item for item in items if item.name == key]
    return named[0] if len(named) == 1 else None


__all__ = ["ALL", "CSV_COLUMNS", "OfficialResults", "read_official_results"]

"""What changed between published results snapshots, and of what kind.

The claim it answers: "results that change after election night mean the count was hacked".
Results change after election night in every election, because counting takes days; what
matters is *how* they change. Between each pair of consecutive snapshots, every count
(contest × choice × vote type × reporting unit) is compared, and the change is described as

* ``ballots_added``: no count went down and some went up: more ballots were counted. Where the
  format reports it, the units whose precincts reported or ballots cast grew are named, and
  units whose votes grew with neither growing are listed (mail and provisional ballots are
  often counted after every precinct has reported, so this is information, not a fault);
* ``vote_type_counted_later``: a vote type (mail, advance, provisional...) that had no votes in
  a contest now has some, e.g. mail ballots counted after election-day ballots;
* ``correction``: a count went down, or disappeared; when, in one unit and vote type, some
  choices lost exactly what others gained it is a *shift between candidates with no new
  ballots*. Corrections happen lawfully (a transcription error fixed, a duplicated upload
  removed), but each needs a person to explain it, so the check flags every one.

The comparison is a DuckDB full outer join of the two snapshots' count tables, so a statewide
snapshot with precinct detail (hundreds of thousands of counts) costs one join.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from ..formats.snapshot import Snapshot
from .checks import Check

KINDS = ("ballots_added", "vote_type_counted_later", "correction")
MAX_LISTED = 50  # corrections listed per change; the counts are always complete


@dataclass(frozen=True)
class CountChange:
    contest: str
    choice: str
    vote_type: str
    unit: str
    before: int | None  # None: the count was not in the earlier snapshot
    after: int | None  # None: the count vanished


@dataclass(frozen=True)
class ResultsChange:
    """The change from snapshot ``from_seq`` to ``to_seq``."""

    from_seq: int
    to_seq: int
    from_time: str
    to_time: str
    kinds: tuple[str, ...]  # a subset of KINDS, in that order; () = nothing changed
    votes_added: int  # sum of increases
    votes_removed: int  # sum of decreases (≥ 0)
    by_contest: dict[str, dict[str, int]]  # contest -> choice -> net change
    vote_types_counted_later: tuple[tuple[str, str], ...]  # (contest, vote type)
    units_reporting_more: int
    units_growing_without_reporting: tuple[str, ...]
    corrections: int  # counts that went down or vanished
    shifts: int  # (contest, unit, vote type) cells where losses equal gains
    correction_list: tuple[CountChange, ...]  # the first MAX_LISTED

    def to_json(self) -> dict[str, object]:
        """Plain JSON data (lists, not tuples): what a JSON round trip gives back unchanged."""
        return _lists(asdict(self))


def _lists(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


def compare_snapshots(a: Snapshot, b: Snapshot, from_seq: int = 1,
                      to_seq: int = 2) -> ResultsChange:
    """Describe the change from ``a`` to ``b`` (see the module docstring)."""
    con = duckdb.connect()
    con.register("a", a.counts)
    con.register("b", b.counts)
    con.register("ra", a.reporting)
    con.register("rb", b.reporting)
    con.execute("""
        create temp table d as
        select coalesce(a.contest, b.contest) contest, coalesce(a.choice, b.choice) choice,
               coalesce(a.vote_type, b.vote_type) vote_type, coalesce(a.unit, b.unit) unit,
               a.votes before, b.votes after,
               coalesce(b.votes, 0) - coalesce(a.votes, 0) delta
        from a full outer join b
          on a.contest = b.contest and a.choice = b.choice and a.vote_type = b.vote_type
         and a.unit = b.unit
    """)
    added, removed = con.execute(
        "select coalesce(sum(delta) filter (where delta > 0), 0), "
        "coalesce(-sum(delta) filter (where delta < 0), 0) from d").fetchone() or (0, 0)
    down_where = "delta < 0 or (after is null and before is not null)"
    corrections = con.execute(f"select count(*) from d where {down_where}").fetchone()[0]  # type: ignore[index]
    listed = con.execute(
        f"select contest, choice, vote_type, unit, before, after from d where {down_where} "
        f"order by delta, contest, choice, vote_type, unit limit {MAX_LISTED}").fetchall()
    shifts = con.execute("""
        select count(*) from (
          select contest, unit, vote_type from d group by all
          having min(delta) < 0 and sum(delta) = 0)
    """).fetchone()[0]  # type: ignore[index]
    later = con.execute("""
        select contest, vote_type from d where vote_type <> '' group by all
        having coalesce(sum(before), 0) = 0 and sum(after) > 0 order by all
    """).fetchall()
    by_contest: dict[str, dict[str, int]] = {}
    for contest, choice, net in con.execute(
            "select contest, choice, sum(delta) from d group by all having sum(delta) <> 0 "
            "order by all").fetchall():
        by_contest.setdefault(contest, {})[choice] = int(net)
    reporting_more = con.execute("""
        select count(*) from ra join rb using (unit)
        where rb.precincts_reported > ra.precincts_reported or rb.ballots_cast > ra.ballots_cast
    """).fetchone()[0]  # type: ignore[index]
    quiet: list[str] = []
    if b.reporting.num_rows:
        quiet = [r[0] for r in con.execute("""
            select unit from d where delta > 0 and unit in (select unit from rb)
            and unit not in (select unit from ra join rb using (unit)
                             where rb.precincts_reported > ra.precincts_reported
                                or rb.ballots_cast > ra.ballots_cast)
            group by unit order by unit
        """).fetchall()]
    kinds = []
    if added > 0 and corrections == 0:
        kinds.append("ballots_added")
    if later:
        kinds.append("vote_type_counted_later")
    if corrections:
        kinds.append("correction")
    return ResultsChange(
        from_seq=from_seq, to_seq=to_seq, from_time=a.timestamp, to_time=b.timestamp,
        kinds=tuple(kinds), votes_added=int(added), votes_removed=int(removed),
        by_contest=by_contest, vote_types_counted_later=tuple((c, v) for c, v in later),
        units_reporting_more=int(reporting_more),
        units_growing_without_reporting=tuple(quiet), corrections=int(corrections),
        shifts=int(shifts),
        correction_list=tuple(CountChange(*r) for r in listed))


def history_changes(snapshots: Sequence[tuple[int, Snapshot]]) -> list[ResultsChange]:
    """The change between each consecutive pair of ``(seq, snapshot)``."""
    return [compare_snapshots(a, b, sa, sb)
            for (sa, a), (sb, b) in zip(snapshots, snapshots[1:], strict=False)]


def results_history_check(snapshots: Sequence[tuple[int, Snapshot]]) -> Check:
    """The ``results_history`` check: fails (for a person to explain) on any correction."""
    n = len(snapshots)
    if n < 2:
        return Check("results_history", "not_run",
                     f"{n} results snapshot{'s' if n != 1 else ''} given; two or more published "
                     "snapshots are needed to say how results changed",
                     {"snapshots": n})
    changes = history_changes(snapshots)
    count = {k: sum(k in c.kinds for c in changes) for k in KINDS}
    unchanged = sum(not c.kinds for c in changes)
    parts = [f"{n} snapshots from {changes[0].from_time} to {changes[-1].to_time}, "
             f"{len(changes)} change{'s' if len(changes) != 1 else ''}:",
             f"{count['ballots_added']} added ballots"]
    if count["vote_type_counted_later"]:
        parts.append(f"{count['vote_type_counted_later']} brought in a vote type counted later")
    if unchanged:
        parts.append(f"{unchanged} changed nothing")
    fixes = [c for c in changes if "correction" in c.kinds]
    if fixes:
        shifts = sum(c.shifts for c in fixes)
        parts.append(
            f"{len(fixes)} corrected counts downwards ({sum(c.corrections for c in fixes)} "
            f"counts, {sum(c.votes_removed for c in fixes):,} votes removed"
            + (f"; {shifts} moved votes between choices with no new ballots" if shifts else "")
            + "): each needs an explanation from the election office")
    summary = parts[0] + " " + "; ".join(parts[1:]) + "."
    return Check("results_history", "fail" if fixes else "pass", summary,
                 {"snapshots": n, "changes": [c.to_json() for c in changes],
                  "kinds": count, "unchanged": unchanged})

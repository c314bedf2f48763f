"""Results snapshots over time: every kind of change, built by hand so the right answer is known."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tallyproof.evidence.results_changes import compare_snapshots, results_history_check
from tallyproof.formats.snapshot import COUNTS_SCHEMA, REPORTING_SCHEMA, Snapshot

Cell = tuple[str, str, str, int]  # choice, vote type, unit, votes


def snap(cells: list[Cell], reporting: dict[str, int] | None = None,
         t: str = "2020-11-04T02:00:00Z") -> Snapshot:
    counts = pa.table({"contest": ["Governor"] * len(cells), "choice": [c[0] for c in cells],
                       "vote_type": [c[1] for c in cells], "unit": [c[2] for c in cells],
                       "votes": [c[3] for c in cells]}, schema=COUNTS_SCHEMA)
    rep = reporting or {}
    rtable = pa.table({"unit": list(rep), "precincts_reported": list(rep.values()),
                       "ballots_cast": [None] * len(rep)}, schema=REPORTING_SCHEMA)
    return Snapshot("s", "0" * 64, "clarity", t, counts, rtable)


NIGHT = [("Ann", "Election Day", "North", 100), ("Bob", "Election Day", "North", 90),
         ("Ann", "Absentee by Mail", "North", 0), ("Bob", "Absentee by Mail", "North", 0)]


def test_ballots_added() -> None:
    later = [("Ann", "Election Day", "North", 150), ("Bob", "Election Day", "North", 120),
             *NIGHT[2:]]
    ch = compare_snapshots(snap(NIGHT, {"North": 5}), snap(later, {"North": 8}))
    assert ch.kinds == ("ballots_added",)
    assert (ch.votes_added, ch.votes_removed, ch.corrections) == (80, 0, 0)
    assert ch.by_contest == {"Governor": {"Ann": 50, "Bob": 30}}
    assert ch.units_reporting_more == 1 and ch.units_growing_without_reporting == ()


def test_growth_without_more_precincts_is_named_not_flagged() -> None:
    later = [("Ann", "Election Day", "North", 110), *NIGHT[1:]]
    ch = compare_snapshots(snap(NIGHT, {"North": 5}), snap(later, {"North": 5}))
    assert ch.kinds == ("ballots_added",)
    assert ch.units_growing_without_reporting == ("North",)


def test_vote_type_counted_later() -> None:
    later = [*NIGHT[:2], ("Ann", "Absentee by Mail", "North", 30),
             ("Bob", "Absentee by Mail", "North", 60)]
    ch = compare_snapshots(snap(NIGHT), snap(later))
    assert ch.kinds == ("ballots_added", "vote_type_counted_later")
    assert ch.vote_types_counted_later == (("Governor", "Absentee by Mail"),)


def test_shift_between_candidates_is_a_correction() -> None:
    shifted = [("Ann", "Election Day", "North", 90), ("Bob", "Election Day", "North", 100),
               *NIGHT[2:]]
    ch = compare_snapshots(snap(NIGHT), snap(shifted))
    assert ch.kinds == ("correction",)
    assert (ch.corrections, ch.shifts, ch.votes_removed) == (1, 1, 10)
    (c,) = ch.correction_list
    assert (c.choice, c.unit, c.before, c.after) == ("Ann", "North", 100, 90)


def test_count_going_down_or_vanishing_is_a_correction() -> None:
    down = [("Ann", "Election Day", "North", 95), *NIGHT[1:3]]  # Bob's mail row vanished
    ch = compare_snapshots(snap(NIGHT), snap(down))
    assert "correction" in ch.kinds and ch.corrections == 2 and ch.shifts == 0
    assert {(c.choice, c.vote_type, c.after) for c in ch.correction_list} == {
        ("Ann", "Election Day", 95), ("Bob", "Absentee by Mail", None)}


def test_correction_hidden_inside_growth_is_still_found() -> None:
    """Statewide totals grow, but one unit's count went down: found at unit level."""
    a = [*NIGHT, ("Ann", "Election Day", "South", 50)]
    b = [("Ann", "Election Day", "North", 90), ("Bob", "Election Day", "North", 150), *NIGHT[2:],
         ("Ann", "Election Day", "South", 80)]
    ch = compare_snapshots(snap(a), snap(b))
    assert ch.kinds == ("correction",) and ch.by_contest["Governor"]["Ann"] == 20


def test_check_verdicts() -> None:
    n1 = snap(NIGHT, t="2020-11-04T02:00:00Z")
    assert results_history_check([(1, n1)]).status == "not_run"
    grown = snap([("Ann", "Election Day", "North", 150), *NIGHT[1:]], t="2020-11-05T02:00:00Z")
    ok = results_history_check([(1, n1), (2, grown)])
    assert ok.status == "pass" and "1 added ballots" in ok.summary
    shifted = snap([("Ann", "Election Day", "North", 140), ("Bob", "Election Day", "North", 100),
                    *NIGHT[2:]], t="2020-11-06T02:00:00Z")
    bad = results_history_check([(1, n1), (2, grown), (3, shifted)])
    assert bad.status == "fail"
    assert "moved votes between choices with no new ballots" in bad.summary
    assert bad.details["kinds"] == {"ballots_added": 1, "vote_type_counted_later": 0,
                                    "correction": 1}


@pytest.mark.parametrize("n_units", [1, 40])
def test_no_change(n_units: int) -> None:
    cells = [(c, "Election Day", f"U{i}", 10) for i in range(n_units) for c in ("Ann", "Bob")]
    ch = compare_snapshots(snap(cells), snap(cells))
    assert ch.kinds == () and ch.votes_added == 0


def test_results_history_files(tmp_path: Path) -> None:
    """The store side: append-only, ordered, one format, committed files unchanged."""
    from tallyproof.errors import StoreError, UsageError
    from tallyproof.results_history import add_snapshot, load_history, load_snapshots
    from tallyproof.store import Store

    from ..formats.georgia_fixtures import CLARITY

    store = Store.create(tmp_path / "store")
    f1 = tmp_path / "night.xml"
    f1.write_text(CLARITY.replace("3:37:06 PM EST", "11:00:00 PM EST").replace("11/20/2020", "11/3/2020"))
    f2 = tmp_path / "final.xml"
    f2.write_text(CLARITY)
    e1 = add_snapshot(store, f1)
    assert e1 is not None and e1.seq == 1 and e1.timestamp == "2020-11-04T04:00:00Z"
    assert add_snapshot(store, f1) is None  # the same file again: nothing added
    e2 = add_snapshot(store, f2)
    assert e2 is not None and e2.seq == 2
    with pytest.raises(UsageError, match="not after the last snapshot"):
        add_snapshot(store, _copy_older(tmp_path, CLARITY))
    csv = tmp_path / "r.csv"
    csv.write_text("contest,candidate,reporting_unit,votes\nGovernor,Ann,ALL,1\n")
    with pytest.raises(UsageError, match="one format per history"):
        add_snapshot(store, csv, "2021-01-01T00:00:00Z")
    assert [e.seq for e, _ in load_snapshots(store)] == [1, 2]
    # the history is append-only: an edited snapshot is refused, not papered over
    stored = store.results_dir / "history" / e1.file
    stored.chmod(0o644)
    stored.write_text(CLARITY.replace('votes="30"', 'votes="31"', 1))
    with pytest.raises(StoreError, match="changed after it was added"):
        load_history(store)


def _copy_older(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "older.xml"
    p.write_text(text.replace("11/20/2020", "11/4/2020"))
    return p

"""Faults the demo can inject, and which check must catch each.

Each fault makes one piece of the published record disagree with the truth the way a real
failure or attack would; the demo then shows the check that notices it:

==================== ============================================== ====================
fault                what goes wrong                                caught by
==================== ============================================== ====================
delete-batch         one batch's CVRs are missing from the export,  reconciliation
                     the manifest and pollbooks still count them
add-ballots          CVRs that no manifest or pollbook accounts for reconciliation
                     are injected into the export
switch-votes         a compromised central-count scanner records    audit
                     the winner's votes as runner-up votes in the
                     closest contest it can flip, reversing the
                     reported outcome; the paper (read by the
                     audit boards) is true
alter-after-commit   one committed CVR is changed in cvrs.parquet   ledger
results-mismatch     the official results file differs from the     official_results
                     count of the CVRs
results-shift        an election-night publication moves votes     results_history
                     with no new ballots
dead-voter           voters credited with a death record dated      voters.deceased
                     before they voted (voter files: voter_files)
double-vote          people registered twice, credited under both   voters.double_voting
late-ballot          mail ballots accepted after the deadline       voters.late_ballots
==================== ============================================== ====================

Official results are what the voting system reported, i.e. the count of the CVRs it exported;
only ``results-mismatch`` makes them differ. So each fault is caught by its own check and a
clean run passes every check.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UsageError
from ..fsutil import fsync_dir, temp_path_for
from ..model import ContestKind
from .choices import FAULTS, check_fault_names
from .county import CardTable, ContestDef, County, valid_votes


#: Cards injected by ``add-ballots``.
ADDED_CARDS = 40
#: Votes moved in the official results by ``results-mismatch``.
MISREPORTED_VOTES = 25


@dataclass
class Scenario:
    """What the county publishes after the faults: reported CVRs, manifest rows, results."""

    faults: tuple[str, ...]
    reported: CardTable
    notes: list[str] = field(default_factory=list)
    switched_tabulator: int | None = None  # switch-votes: paper differs from CVRs here
    results_shift: tuple[int, int, int, int] | None = None  # contest, precinct, from, to


def caught(fault: str, checks: Sequence[dict[str, str]]) -> list[str]:
    """Names of the failed checks that count as catching ``fault``."""
    want = FAULTS[fault].caught_by
    return [
        c["name"]
        for c in checks
        if c["status"] == "fail" and (c["name"] == want or c["name"].startswith(want + "."))
    ]


def apply_faults(county: County, faults: Sequence[str],
                 switch_in: Sequence[str] | None = None) -> Scenario:
    """Derive the reported CVRs from the paper, with the export-side faults applied.

    ``switch_in``: the contests (by name) ``switch-votes`` may switch, and it then switches the
    closest of them whether or not that flips the county's own outcome (a state's county: the
    statewide contests, whose outcome no one county decides)."""
    faults = check_fault_names(faults)
    rng = np.random.Generator(np.random.PCG64([county.seed, 0xFA]))
    sc = Scenario(faults=faults, reported=county.paper)
    if "switch-votes" in faults:
        _switch_votes(county, sc, switch_in)
    if "delete-batch" in faults:
        _delete_batch(county, sc, rng)
    if "add-ballots" in faults:
        _add_ballots(county, sc, rng)
    if "results-mismatch" in faults:
        _plan_results_shift(county, sc)
    return sc


def _winner_runner_up(contest: ContestDef, marks: np.ndarray) -> tuple[int, int]:
    votes = valid_votes(contest, marks).sum(axis=0)
    order = np.argsort(-votes, kind="stable")
    return int(order[0]), int(order[1])


def _switch_votes(county: County, sc: Scenario, only: Sequence[str] | None = None) -> None:
    """A compromised central-count scanner flips an outcome: in the closest county-wide
    single-winner contest that it can flip, every valid vote for the true winner on its cards
    is recorded as a vote for the runner-up. The reported winner is then wrong, so a
    risk-limiting audit may confirm it with probability at most the risk limit; each switched
    card it samples is a two-vote overstatement."""
    paper = sc.reported
    central = [t.id for t in county.tabulators if t.kind == "ImagecastCentral"]
    sizes = {t: int((paper.tabulator == t).sum()) for t in central}
    tab = max(central, key=lambda t: (sizes[t], -t))
    on_tab = paper.tabulator == tab
    options = []
    for c, contest in enumerate(county.contests):
        if contest.geo[0] != "county" or contest.kind != ContestKind.PLURALITY:
            continue
        if contest.vote_for != 1 or (only is not None and contest.name not in only):
            continue
        votes = valid_votes(contest, paper.marks[c])
        win, run = _winner_runner_up(contest, paper.marks[c])
        total = votes.sum(axis=0)
        moved = int(votes[on_tab, win].sum())
        if only is not None or total[win] - moved < total[run] + moved:  # flips the outcome
            options.append((int(total[win] - total[run]), c, win, run))
    if not options:
        raise UsageError(
            f"switch-votes: no contest's outcome can be flipped from tabulator {tab} "
            "(try more cards or another seed)"
        )
    _, c, win, run = min(options)
    contest = county.contests[c]
    marks = paper.marks[c].copy()
    flip = on_tab & valid_votes(contest, marks)[:, win]
    marks[flip, 0, win] = False
    marks[flip, 0, run] = True
    sc.reported = paper.with_marks(c, marks)
    sc.switched_tabulator = tab
    sc.notes.append(
        f"switch-votes: tabulator {tab} records {int(flip.sum())} votes for "
        f"{contest.candidates[win].name} as votes for {contest.candidates[run].name} in "
        f"{contest.name!r}"
        + (", which reverses its reported outcome" if only is None else
           " (a statewide contest: the audit of the paper must find it in this county)")
    )


def _delete_batch(county: County, sc: Scenario, rng: np.random.Generator) -> None:
    """Drop one election-day batch (a mid-sized one) from the export."""
    rep = sc.reported
    candidates = [b for b in county.batches if b.tabulator < 200 and b.cards >= 20]
    if not candidates:
        candidates = list(county.batches)
    b = candidates[int(rng.integers(len(candidates)))]
    keep = ~((rep.tabulator == b.tabulator) & (rep.batch == b.batch))
    sc.reported = rep.select(keep)
    sc.notes.append(
        f"delete-batch: tabulator {b.tabulator} batch {b.batch} ({int((~keep).sum())} cards) "
        "left out of the export"
    )


def _add_ballots(county: County, sc: Scenario, rng: np.random.Generator) -> None:
    """Inject cards (copies of real cards' marks) as a batch the manifest does not list."""
    rep = sc.reported
    tab = min(t.id for t in county.tabulators if t.kind == "ImagecastCentral")
    batch = int(rep.batch[rep.tabulator == tab].max()) + 1
    n = min(ADDED_CARDS, len(rep))
    src = rng.choice(len(rep), size=n, replace=False)
    extra = rep.select(np.sort(src))
    extra = replace(
        extra,
        tabulator=np.full(n, tab, dtype=np.int32),
        batch=np.full(n, batch, dtype=np.int32),
        record=np.arange(1, n + 1, dtype=np.int32),
        counting_group=np.full(n, 2, dtype=np.int8),
    )
    sc.reported = rep.concat(extra)
    sc.notes.append(f"add-ballots: {n} cards injected as tabulator {tab} batch {batch}")


def _plan_results_shift(county: County, sc: Scenario) -> None:
    """Move votes from the winner to the runner-up of the first contest, in one precinct."""
    c = 0
    contest = county.contests[c]
    win, run = _winner_runner_up(contest, sc.reported.marks[c])
    prec = int(np.bincount(sc.reported.precinct.astype(np.int64)).argmax())
    sc.results_shift = (c, prec, win, run)
    sc.notes.append(
        f"results-mismatch: {MISREPORTED_VOTES} votes moved from {contest.candidates[win].name} "
        f"to {contest.candidates[run].name} in {county.precincts[prec].name} (and ALL)"
    )


def shift_results(sc: Scenario, counts: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Apply the planned ``results-mismatch`` to the official counts (a copy)."""
    if sc.results_shift is None:
        return counts
    c, prec, win, run = sc.results_shift
    out = {k: v.copy() for k, v in counts.items()}
    moved = min(MISREPORTED_VOTES, int(out[c][prec, win]))
    out[c][prec, win] -= moved
    out[c][prec, run] += moved
    return out


def alter_committed_cvr(cvrs_path: Path, contest_column: str) -> str:
    """Change one committed CVR in place, as an insider with file access would: the first card
    with a mark in ``contest_column`` gets that mark moved to the next candidate. Returns the
    ballot id. Deliberately bypasses the store's API (that is the attack)."""
    table = pq.read_table(cvrs_path)
    col = table.column(contest_column).to_pylist()
    for i, marks in enumerate(col):
        if marks and marks[0] and len(marks[0]) == 1:
            new = [[(marks[0][0] + 1) % 2]] + marks[1:]
            col[i] = new
            break
    else:
        raise UsageError(f"no card has a single mark in {contest_column} to alter")
    idx = table.schema.get_field_index(contest_column)
    table = table.set_column(
        idx, table.schema.field(idx), pa.array(col, type=table.schema.field(idx).type)
    )
    tmp = temp_path_for(cvrs_path)
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, cvrs_path)
    fsync_dir(cvrs_path.parent)
    return str(table.column("ballot_id")[i].as_py())

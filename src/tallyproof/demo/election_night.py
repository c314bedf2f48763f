"""Election night in the demo county: the unofficial results published as counting goes on.

Offices publish results many times: early votes first, election-day precincts as they report,
mail ballots over the following days. The demo writes one results CSV per publication
(``contest,candidate,reporting_unit,votes``, each precinct and ``ALL``), with the time it was
published, and adds them to the store's results history (``tallyproof results add``), so the
``results_history`` check can say what kind each change was. The last publication is the
count of every card, the same numbers as the official results.

The ``results-shift`` fault publishes, between two of these, a snapshot in which votes moved
from the leading candidate to the runner-up in one precinct with no new ballots, and counting
goes on from the shifted numbers: the kind of change the claim "results that changed after
election night were hacked" imagines, which the check flags as a correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..formats.results import ALL
from ..fsutil import atomic_write_bytes
from .county import CardTable, County
from .side_files import results_counts

#: (publication time, counting groups counted by then, share of election-day precincts in)
PUBLICATIONS = (
    ("2026-11-03T21:00:00-05:00", (3,), 0.0),  # early votes
    ("2026-11-03T23:00:00-05:00", (3, 1), 0.5),  # half the election-day precincts
    ("2026-11-04T02:00:00-05:00", (3, 1), 1.0),  # every precinct
    ("2026-11-06T17:00:00-05:00", (3, 1, 2), 1.0),  # mail ballots: the final count
)
SHIFTED_VOTES = 30
SHIFT_TIME = "2026-11-04T09:00:00-05:00"


@dataclass(frozen=True)
class Snapshot:
    path: Path
    timestamp: str


def _csv(county: County, counts: dict[int, np.ndarray]) -> bytes:
    lines = ["contest,candidate,reporting_unit,votes"]
    for c, table in sorted(counts.items()):
        contest = county.contests[c]
        total = table.sum(axis=0)
        for k, cand in enumerate(contest.candidates):
            lines.append(f"{contest.id},{cand.id},{ALL},{int(total[k])}")
        for i, p in enumerate(county.precincts):
            for k, cand in enumerate(contest.candidates):
                lines.append(f"{contest.id},{cand.id},{p.name},{int(table[i, k])}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _shift(counts: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Move votes from the leader to the runner-up of the first contest, in its largest
    precinct, with nothing else changing."""
    c = min(counts)
    table = counts[c].copy()
    total = table.sum(axis=0)
    leader, runner = np.argsort(-total, kind="stable")[:2]
    p = int(np.argmax(table[:, leader]))
    moved = min(SHIFTED_VOTES, int(table[p, leader]))
    table[p, leader] -= moved
    table[p, runner] += moved
    return {**counts, c: table}


def write_election_night(county: County, cards: CardTable, folder: Path,
                         shift: bool = False) -> list[Snapshot]:
    """Write the publications of election night (and, with ``shift``, the shifted one)."""
    folder.mkdir(parents=True, exist_ok=True)
    precincts = np.unique(cards.precinct)
    first_half = set(precincts[: (len(precincts) + 1) // 2].tolist())
    out: list[Snapshot] = []
    drift: dict[int, np.ndarray] | None = None  # what the shift moved, carried forward
    for n, (stamp, groups, ed_share) in enumerate(PUBLICATIONS, start=1):
        counted = np.isin(cards.counting_group, groups)
        if 1 in groups and ed_share < 1.0:
            ed = cards.counting_group == 1
            counted &= ~ed | np.isin(cards.precinct, list(first_half))
        counts = results_counts(county, cards.select(counted))
        if drift is not None:
            counts = {c: t + drift.get(c, 0) for c, t in counts.items()}
        path = folder / f"results-{n:02d}.csv"
        atomic_write_bytes(path, _csv(county, counts))
        out.append(Snapshot(path, stamp))
        if shift and n == 3:
            shifted = _shift(counts)
            drift = {c: shifted[c] - counts[c] for c in counts}
            path = folder / "results-03b.csv"
            atomic_write_bytes(path, _csv(county, shifted))
            out.append(Snapshot(path, SHIFT_TIME))
    return out

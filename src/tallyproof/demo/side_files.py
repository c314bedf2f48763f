"""The files a county publishes beside its CVR export: ballot manifest, pollbooks, results.

* ballot manifest — Arlo's columns ``Container,Tabulator,Batch Name,Number of Ballots``, one row
  per batch of paper; ``Tabulator``/``Batch Name`` use the Dominion ids as text, the same strings
  the Dominion reader puts in the CVR table's ``tabulator``/``batch`` columns;
* pollbooks — ``precinct,checkins,ballots_issued,mail_received,mail_counted,mail_rejected,
  vote_type``, one row per precinct and vote type (precinct = the precinct portion's name, as
  the reader stores it); on a mail row ``checkins`` = envelopes counted, ``ballots_issued``
  empty (not reported);
* official results — ``contest,candidate,reporting_unit,votes`` (ids as the reader assigns them;
  ``reporting_unit`` a precinct or ``ALL``), for every contest that is not ranked (certified RCV
  results are round tables, which the results check does not compare).

All three describe the *paper* the county holds (manifest, pollbooks) or what its voting system
*reported* (results): the demo's faults make them disagree with the CVRs on purpose.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..fsutil import atomic_write_bytes
from ..model import ContestKind
from .county import COUNTING_GROUPS, BatchInfo, CardTable, County, valid_votes

ALL = "ALL"


def _csv_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def write_ballot_manifest(batches: tuple[BatchInfo, ...], path: Path) -> Path:
    rows: list[list[object]] = [[b.container, b.tabulator, b.batch, b.cards] for b in batches]
    atomic_write_bytes(
        path, _csv_bytes(["Container", "Tabulator", "Batch Name", "Number of Ballots"], rows)
    )
    return path


def write_pollbooks(county: County, path: Path) -> Path:
    """Check-ins and mail envelopes per precinct, from the paper (one card per voter)."""
    paper = county.paper
    n_p = len(county.precincts)
    counts = np.zeros((n_p, 4), dtype=np.int64)
    np.add.at(counts, (paper.precinct.astype(np.int64), paper.counting_group.astype(np.int64)), 1)
    rows: list[list[object]] = []
    for i, p in enumerate(county.precincts):
        for gid, (_, vtype) in sorted(COUNTING_GROUPS.items()):
            n = int(counts[i, gid])
            if vtype == "mail":
                rej = int(county.mail_rejected[i])
                # A counted mail ballot is that voter's check-in; ballots mailed out are not
                # known to the pollbook, so ballots_issued is left empty ("not reported").
                rows.append([p.name, n, "", n + rej, n, rej, vtype])
            else:
                rows.append([p.name, n, n, 0, 0, 0, vtype])
    header = [
        "precinct",
        "checkins",
        "ballots_issued",
        "mail_received",
        "mail_counted",
        "mail_rejected",
        "vote_type",
    ]
    atomic_write_bytes(path, _csv_bytes(header, rows))
    return path


def results_counts(county: County, cards: CardTable) -> dict[int, np.ndarray]:
    """Votes per contest index: int array [precinct, candidate] of valid (not overvoted) marks."""
    n_p = len(county.precincts)
    out: dict[int, np.ndarray] = {}
    prec = cards.precinct.astype(np.int64)
    for c, contest in enumerate(county.contests):
        if contest.kind in (ContestKind.IRV, ContestKind.STV):
            continue
        votes = valid_votes(contest, cards.marks[c]).astype(np.int64)
        table = np.zeros((n_p, votes.shape[1]), dtype=np.int64)
        np.add.at(table, prec, votes)
        out[c] = table
    return out


def write_official_results(county: County, counts: dict[int, np.ndarray], path: Path) -> Path:
    rows: list[list[object]] = []
    for c, table in sorted(counts.items()):
        contest = county.contests[c]
        total = table.sum(axis=0)
        for k, cand in enumerate(contest.candidates):
            rows.append([contest.id, cand.id, ALL, int(total[k])])
        for i, p in enumerate(county.precincts):
            if not table[i].any():
                continue
            for k, cand in enumerate(contest.candidates):
                rows.append([contest.id, cand.id, p.name, int(table[i, k])])
    atomic_write_bytes(path, _csv_bytes(["contest", "candidate", "reporting_unit", "votes"], rows))
    return path

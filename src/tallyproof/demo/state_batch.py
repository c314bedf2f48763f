"""The synthetic state's county with batch tallies only: what it publishes and how it enters
the state (:mod:`tallyproof.state.batch_county`).

The county is drawn like any other (:func:`~tallyproof.demo.county.build_county`), but its
scanners only total by batch: it publishes the ballot manifest, a batch tallies CSV (the
reported cards' valid votes per batch, contest and choice, for every contest that is not
ranked), its pollbooks and its certified results. Faults act on what it reports exactly as on
a CVR county's export: ``delete-batch`` drops a batch's tallies, ``switch-votes`` moves votes
on one scanner's batches, ``results-mismatch`` shifts its certified results,
``alter-after-commit`` changes a committed tally. ``add-ballots`` injects CVRs, which such a
county does not have.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import orjson

from ..fsutil import atomic_write_bytes
from ..model import ContestKind
from .county import CardTable, County, valid_votes

NOT_FOR_BATCH_COUNTY = ("add-ballots",)


def batch_tallies_csv(county: County, cards: CardTable) -> bytes:
    """``Tabulator,Batch Name,Contest,Vote For,Choice,Votes`` for every batch of ``cards``
    and every contest that is not ranked (a batch's row for a contest only where the contest
    is on some card of the batch)."""
    keys = cards.tabulator.astype(np.int64) * (1 << 32) + cards.batch.astype(np.int64)
    uniq, inv = np.unique(keys, return_inverse=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Tabulator", "Batch Name", "Contest", "Vote For", "Choice", "Votes"])
    per_contest = []
    for c, contest in enumerate(county.contests):
        if contest.kind in (ContestKind.IRV, ContestKind.STV):
            continue
        votes = valid_votes(contest, cards.marks[c]).astype(np.int64)
        table = np.zeros((len(uniq), votes.shape[1]), dtype=np.int64)
        np.add.at(table, inv, votes)
        on = np.zeros(len(uniq), dtype=bool)
        on[inv[cards.on_card[:, c]]] = True
        per_contest.append((contest, table, on))
    for b, key in enumerate(uniq.tolist()):
        tab, batch = key >> 32, key & 0xFFFFFFFF
        for contest, table, on in per_contest:
            if not on[b]:
                continue
            for k, cand in enumerate(contest.candidates):
                w.writerow([tab, batch, contest.name, contest.vote_for, cand.name,
                            int(table[b, k])])
    return buf.getvalue().encode()


def write_official_results(root: Path, county: str, drawn: County,
                           counts: dict[int, np.ndarray], path: Path) -> Path:
    """The county's certified results (``contest,candidate,reporting_unit,votes``, county
    totals), named with the ids its batch tallies were given at ingest."""
    from ..state.batch_county import load_batch_county, tallies_dir

    election = load_batch_county(tallies_dir(root, county)).election
    by_name = {c.name: c for c in election.contests}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["contest", "candidate", "reporting_unit", "votes"])
    for c, table in sorted(counts.items()):
        contest = by_name[drawn.contests[c].name]
        total = table.sum(axis=0)
        for k, cand in enumerate(contest.candidates):
            w.writerow([contest.id, cand.id, "ALL", int(total[k])])
    atomic_write_bytes(path, buf.getvalue().encode())
    return path


def alter_committed_tally(root: Path, county: str) -> str:
    """``alter-after-commit`` for a batch county: one committed batch tally gains a vote."""
    from ..state.batch_county import TALLIES_JSON, tallies_dir

    path = tallies_dir(root, county) / TALLIES_JSON
    doc = orjson.loads(path.read_bytes())
    batch = doc["batches"][0]
    contest = next(iter(batch["tallies"]))
    batch["tallies"][contest][0] += 1
    atomic_write_bytes(path, orjson.dumps(doc))
    return f"{batch['tabulator']}/{batch['batch']}"


def hand_tallies(county: County, contest_names: dict[str, str], batches: set[str]
                 ) -> dict[str, dict[str, dict[str, int]]]:
    """What the audit boards count on the paper of ``batches`` (``tabulator/batch``): per
    batch, per county contest id (``contest_names``: county contest id -> name), the votes of
    each choice by name."""
    paper = county.paper
    # each batch's cards once, grouped by (tabulator, batch) codes: the boards count a few
    # batches of a county of any size, so no scan of every card per counted batch
    codes = paper.tabulator.astype(np.int64) * (1 << 32) + paper.batch.astype(np.int64)
    order = np.argsort(codes, kind="stable")
    uniq, starts = np.unique(codes[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    where = {f"{u >> 32}/{u & 0xFFFFFFFF}": (int(a), int(b))
             for u, a, b in zip(uniq.tolist(), starts, ends, strict=True)}
    by_name = {c.name: (i, c) for i, c in enumerate(county.contests)}
    out: dict[str, dict[str, dict[str, int]]] = {}
    for key in sorted(batches):
        lo, hi = where.get(key, (0, 0))
        rows = order[lo:hi]  # the batch's cards in table order (none: a batch not on paper)
        out[key] = {}
        for cid, name in contest_names.items():
            i, contest = by_name[name]
            votes = valid_votes(contest, paper.marks[i][rows]).sum(axis=0)
            out[key][cid] = {cand.name: int(v) for cand, v in zip(contest.candidates, votes,
                                                                  strict=True)}
    return out


def write_batch_county(root: Path, county: str, drawn: County, reported: CardTable,
                       exports: Path) -> tuple[Path, Path]:
    """The county's manifest and batch tallies CSV, as it publishes them."""
    from .side_files import write_ballot_manifest

    manifest = write_ballot_manifest(drawn.batches, exports / "ballot_manifest.csv")
    tallies = exports / "batch_tallies.csv"
    atomic_write_bytes(tallies, batch_tallies_csv(drawn, reported))
    return manifest, tallies

"""The statewide audit's per-county tasks for a county with batch tallies only.

Such a county has no CVRs, so its part of any statewide audit is by whole batches: its
sampling units are its manifest batches (``tabulator/batch``, named statewide
``county/tabulator/batch``), its reported tallies are its committed batch tallies
(:mod:`.batch_county`), and its boards hand count whole batches (the county audit's batch
hand-count CSV). Its "commitment", checked unchanged at every later step, is the hash of its
``tallies.json`` with its latest checkpoint, taken only when its batch log verifies.
These functions return the same typed results as the CVR county tasks in
:mod:`.audit_tasks`, which dispatch to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audit.records import current_readings, load_records
from ..errors import AuditError
from ..fsutil import atomic_write_bytes
from ..store import sha256_file
from .batch_county import (
    TALLIES_JSON,
    BatchCounty,
    latest_checkpoint,
    load_batch_county,
    tallies_dir,
    verify_batch_log,
)
from .spec import ContestMap, StateSpec, map_county


def _maps(bc: BatchCounty, county: str, spec: StateSpec, wanted: Sequence[str]
          ) -> dict[str, ContestMap]:
    return {m.state_contest: m for m in map_county(spec, county, bc.election.contests)
            if m.state_contest in wanted}


def _reported(bc: BatchCounty, m: ContestMap) -> tuple[np.ndarray, np.ndarray]:
    """(rows of the batches holding the contest, their tallies in statewide order)."""
    rows = np.flatnonzero(bc.on_batch[m.county_contest])
    codes = np.asarray(m.codes, dtype=np.int64)
    out = np.zeros((len(rows), len(codes)), dtype=np.int64)
    ok = codes >= 0
    out[:, ok] = bc.tallies[m.county_contest][rows][:, codes[ok]]
    return rows, out


def tallies_sha256(root: str, county: str) -> str:
    return sha256_file(tallies_dir(root, county) / TALLIES_JSON)


def frame(county: str, root: str, spec: StateSpec, contests: Sequence[str]) -> Any:
    """The county's part of each contest's frame (:class:`.audit_tasks.CountyFrame`)."""
    from .audit_tasks import CountyContestFrame, CountyFrame

    folder = tallies_dir(root, county)
    failures = verify_batch_log(folder)
    if failures:
        raise AuditError(f"county {county}: its batch log does not verify against its "
                         f"tallies ({'; '.join(failures)}); the audit starts after the "
                         "commitment")
    bc = load_batch_county(folder)
    digest = tallies_sha256(root, county)
    out = []
    for cid, m in _maps(bc, county, spec, contests).items():
        rows, reported = _reported(bc, m)
        out.append(CountyContestFrame(cid, m.county_contest, int(bc.ballots[rows].sum()),
                                      tuple(int(x) for x in reported.sum(axis=0))))
    commitment = {"cvrs_sha256": digest, "cvr_count": 0, "batches": len(bc.keys),
                  "checkpoint": latest_checkpoint(folder)}
    return CountyFrame(digest, commitment, tuple(out))


def batch_ids(county: str, root: str, spec: StateSpec, contests: Sequence[str]
              ) -> dict[str, list[str]]:
    """Per contest held by the county, its batches holding it (``tabulator/batch``), in
    tallies order: the county's frame of the batch stratum (its tallies read once)."""
    bc = load_batch_county(tallies_dir(root, county))
    keys = np.asarray(bc.keys, dtype=object)
    return {cid: keys[np.flatnonzero(bc.on_batch[m.county_contest])].tolist()
            for cid, m in _maps(bc, county, spec, contests).items()}


def all_batches(county: str, root: str) -> list[str]:
    return sorted(load_batch_county(tallies_dir(root, county)).keys)


def batches(county: str, root: str, spec: StateSpec, contests: Sequence[str],
            records: Path) -> Any:
    """Every batch's reported tallies and the boards' hand counts
    (:class:`.audit_tasks.CountyBatches`)."""
    from .audit_tasks import CountyBatches, contest_batches

    bc = load_batch_county(tallies_dir(root, county))
    readings = current_readings(load_records(records))
    by_id = {c.id: c for c in bc.election.contests}
    keys = np.asarray(bc.keys, dtype=object)  # one id per batch, taken by row (columnar)
    out = []
    for cid, m in _maps(bc, county, spec, contests).items():
        contest = by_id[m.county_contest]
        rows, reported = _reported(bc, m)
        out.append(contest_batches(cid, contest, keys[rows].tolist(), bc.ballots[rows],
                                   reported, readings, m.codes))
    return CountyBatches(tallies_sha256(root, county), tuple(out))


def write_retrieval(county: str, root: str, tickets: dict[str, str], path: Path) -> None:
    """The county's list of whole batches to pull, in the retrieval-CSV form, sorted by
    container, tabulator, batch."""
    from ..audit.worksheets import SheetCard, retrieval_csv

    bc = load_batch_county(tallies_dir(root, county))
    row_of = {k: i for i, k in enumerate(bc.keys)}
    unknown = sorted(set(tickets) - set(row_of))
    if unknown:
        raise AuditError(f"county {county}: drawn batch(es) not in its tallies: "
                         f"{', '.join(unknown[:5])}")
    rows = sorted((bc.containers[row_of[k]], bc.tabulators[row_of[k]], bc.batches[row_of[k]],
                   k, t) for k, t in tickets.items())
    sheet = [SheetCard(1, n, c, tab, b, 0, k, "", t, ())
             for n, (c, tab, b, k, t) in enumerate(rows, start=1)]
    atomic_write_bytes(path, retrieval_csv(sheet, {}, "batch"))


def record_contests(county: str, root: str, spec: StateSpec, wanted: Sequence[str]
                    ) -> dict[str, Any]:
    """The county contests its boards record (county contest id -> Contest)."""
    bc = load_batch_county(tallies_dir(root, county))
    by_id = {c.id: c for c in bc.election.contests}
    return {m.county_contest: by_id[m.county_contest]
            for m in _maps(bc, county, spec, wanted).values()}

"""A small election store for the audit-workflow tests (built with Store.append + CvrBuilder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from tallyproof.cvr_table import CvrBuilder
from tallyproof.model import Candidate, Contest, ContestKind, Election, SourceFile
from tallyproof.store import MANIFEST_SCHEMA, Store

MAYOR = Contest("mayor", "Mayor", ContestKind.PLURALITY,
                candidates=(Candidate("ALICE", "Alice"), Candidate("BOB", "Bob"),
                            Candidate("CAROL", "Carol")))
COUNCIL = Contest("council", "Council", ContestKind.PLURALITY, seats=2, vote_for=2,
                  candidates=tuple(Candidate(x, x.title()) for x in ("DAN", "ERIN", "FAY", "GUS")))
RCV = Contest("rcv", "Ranked seat", ContestKind.IRV, max_rankings=3,
              candidates=tuple(Candidate(x, x.title()) for x in ("HAL", "IDA", "JON")))
CONTESTS = (MAYOR, COUNCIL, RCV)


def build_store(root: Path, *, tabulators: int = 2, batches: int = 4, per_batch: int = 50,
                seed: int = 1, commit: bool = True, no_cvr_batches: int = 0) -> Store:
    """Mayor: Alice ~55%, Bob ~35%, Carol ~10%. Council (vote for 2): Dan & Erin ahead.
    RCV on odd batches only (card style): Hal wins after Jon is eliminated.
    ``no_cvr_batches``: extra manifest batches of tabulator ``HAND`` with no CVRs (hand-counted
    paper only, e.g. for a stratified audit)."""
    rng = np.random.default_rng(seed)
    election = Election("Test election", "Test county", "2026-11-03", CONTESTS)
    b = CvrBuilder(CONTESTS)
    batches_out = []
    manifest = []
    for t in range(1, tabulators + 1):
        for k in range(1, batches + 1):
            manifest.append({"container": f"box-{t}", "tabulator": f"T{t}", "batch": f"B{k}",
                             "ballots": per_batch})
            for r in range(1, per_batch + 1):
                votes: dict[str, list[list[int]]] = {
                    "mayor": [[int(rng.choice(3, p=[0.55, 0.35, 0.10]))]],
                    "council": [sorted(int(x) for x in rng.choice(4, size=2, replace=False,
                                                                  p=[0.35, 0.3, 0.2, 0.15]))],
                }
                if k % 2 == 1:
                    first = int(rng.choice(3, p=[0.45, 0.35, 0.20]))
                    second = 1 if first == 2 and rng.random() < 0.3 else 0 if first == 2 else 2
                    votes["rcv"] = [[first], [second]] if second != first else [[first]]
                got = b.add(ballot_id=f"T{t}-B{k}-{r}", tabulator=f"T{t}", batch=f"B{k}",
                            record=r, precinct="P1", ballot_style="S1",
                            vote_type="election_day", source_file="cvrs.csv",
                            source_record=str(r), votes=votes)
                if got is not None:
                    batches_out.append(got)
    for k in range(1, no_cvr_batches + 1):
        manifest.append({"container": "box-hand", "tabulator": "HAND", "batch": f"H{k}",
                         "ballots": per_batch})
    last = b.finish()
    if last is not None:
        batches_out.append(last)
    n = sum(x.num_rows for x in batches_out)
    store = Store.create(root)
    store.append(election, iter(batches_out),
                 [SourceFile("cvrs.csv", "cvrs.csv", "0" * 64, "test", n)])
    store.write_manifest(pa.Table.from_pylist(manifest, schema=MANIFEST_SCHEMA))
    if commit:  # the real commitment log, as an official would run it before the audit
        from tallyproof.ledger.keys import new_keypair
        from tallyproof.ledger.log import commit_store

        skey, _vkey = new_keypair(root.parent / f"{root.name}-keys", "test-county")
        commit_store(store, skey)
    return store


def run_rounds(store: Store, paper=None, limit: int = 8):
    """Rounds with simulated audit boards until the audit stops asking for another round (or
    ``limit`` rounds, or no further round can be drawn); the last status, None if no round ran."""
    from tallyproof.audit.workflow import (
        ANOTHER_ROUND,
        audit_status,
        next_round,
        record_interpretations,
        simulate_audit_boards,
    )
    from tallyproof.errors import AuditError

    status = None
    for _ in range(limit):
        try:
            r = next_round(store)
        except AuditError:
            break
        record_interpretations(store, simulate_audit_boards(store, r, paper))
        status = audit_status(store)
        if status.status != ANOTHER_ROUND:
            break
    return status

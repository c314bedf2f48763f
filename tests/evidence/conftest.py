"""Small hand-built stores for the evidence tests (a dozen cards, numbers easy to check)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from tallyproof.cvr_table import CvrBuilder
from tallyproof.model import Candidate, Contest, Election, SourceFile
from tallyproof.store import MANIFEST_SCHEMA, Store

MAYOR = Contest(id="mayor", name="Mayor", vote_for=1, candidates=(
    Candidate("alice", "Alice Ames"), Candidate("bob", "Bob Burns"), Candidate("carol", "Carol Chu")))
MEASURE = Contest(id="measure", name="Measure A", vote_for=1, candidates=(
    Candidate("yes", "Yes"), Candidate("no", "No")))
ELECTION = Election(name="Test County General", jurisdiction="Test County", date="2024-11-05",
                    contests=(MAYOR, MEASURE))

# (precinct, batch, vote_type, mayor code or None, measure code or None); mayor: alice 6,
# bob 4, carol 1, 1 undervote; measure: yes 7, no 5.
CARDS: list[tuple[str, str, str, int | None, int | None]] = [
    ("P1", "B1", "election_day", 0, 0), ("P1", "B1", "election_day", 0, 0),
    ("P1", "B1", "election_day", 1, 1), ("P1", "B1", "mail", 0, 0),
    ("P2", "B2", "election_day", 1, 1), ("P2", "B2", "election_day", 1, 0),
    ("P2", "B2", "mail", 0, 1), ("P2", "B2", "mail", None, 0),
    ("P3", "B3", "election_day", 2, 1), ("P3", "B3", "election_day", 0, 0),
    ("P3", "B3", "mail", 1, 0), ("P3", "B3", "mail", 0, 1),
]
TRUE_COUNTS = {"mayor": {"alice": 6, "bob": 4, "carol": 1}, "measure": {"yes": 7, "no": 5}}


def cvr_batches(cards: list[tuple[str, str, str, int | None, int | None]]) -> list[pa.RecordBatch]:
    b = CvrBuilder(ELECTION.contests)
    for i, (precinct, batch, vt, mayor, measure) in enumerate(cards):
        votes: dict[str, list[list[int]]] = {"measure": [[measure]] if measure is not None else [[]]}
        votes["mayor"] = [[mayor]] if mayor is not None else [[]]
        b.add(ballot_id=f"T1-{batch}-{i + 1}", tabulator="T1", batch=batch, record=i + 1,
              precinct=precinct, ballot_style="S1", vote_type=vt, source_file="cvrs.csv",
              source_record=str(i + 2), votes=votes)
    last = b.finish()
    return [last] if last is not None else []


def make_store(root: Path, cards: list | None = None,
               manifest: list[tuple[str, str, str, int]] | None = None) -> Store:
    store = Store.create(root)
    src = SourceFile(path="cvrs.csv", name="cvrs.csv", sha256="0" * 64, format="test", cards=0)
    store.append(ELECTION, iter(cvr_batches(CARDS if cards is None else cards)), [src])
    rows = manifest if manifest is not None else [
        ("C1", "T1", "B1", 4), ("C1", "T1", "B2", 4), ("C2", "T1", "B3", 4)]
    store.write_manifest(pa.Table.from_pylist(
        [{"container": c, "tabulator": t, "batch": b, "ballots": n} for c, t, b, n in rows],
        schema=MANIFEST_SCHEMA))
    return store


POLLBOOKS_OK = (
    "precinct,checkins,ballots_issued,mail_received,mail_counted,mail_rejected,vote_type\n"
    "P1,3,3,,,,election_day\nP1,1,,2,1,1,mail\n"
    "P2,2,2,,,,election_day\nP2,2,,2,2,0,mail\n"
    "P3,2,,,,,election_day\nP3,2,,3,2,1,mail\n"
)


def results_csv(counts: dict[str, dict[str, int]]) -> str:
    lines = ["contest,candidate,reporting_unit,votes"]
    for contest, cands in sorted(counts.items()):
        for cand, n in sorted(cands.items()):
            lines.append(f"{contest},{cand},ALL,{n}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "store")


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return _write


def big_cards(n: int = 200) -> list[tuple[str, str, str, int | None, int | None]]:
    """``n`` cards with wide margins (mayor 60/30/10 %, measure 65/35 %), deterministic."""
    out = []
    for i in range(n):
        precinct = f"P{i % 4 + 1}"
        batch = f"B{i % 4 + 1}"
        vt = "mail" if i % 5 == 0 else "election_day"
        mayor = 0 if i % 10 < 6 else (1 if i % 10 < 9 else 2)
        measure = 0 if i % 20 < 13 else 1
        out.append((precinct, batch, vt, mayor, measure))
    return out


def pipeline_store(root: Path, tmp: Path, *, audit: bool = True) -> Store:
    """A 200-card store taken through commit, reconcile (pollbooks + results) and a
    comparison audit with simulated audit boards that agree with the CVRs."""
    from tallyproof.audit import workflow as wf
    from tallyproof.ledger import commit_store, new_keypair

    cards = big_cards()
    store = make_store(root, cards, manifest=[(f"C{k}", "T1", f"B{k}", 50) for k in (1, 2, 3, 4)])
    key, _ = new_keypair(tmp / "county.key", "county")
    commit_store(store, key)
    lines = ["precinct,checkins"] + [f"P{k},50" for k in (1, 2, 3, 4)]
    pb = tmp / "pollbooks.csv"
    pb.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = tmp / "results.csv"
    counts = {"mayor": {"alice": 120, "bob": 60, "carol": 20}, "measure": {"yes": 130, "no": 70}}
    res.write_text(results_csv(counts), encoding="utf-8")
    from tallyproof.reconcile import reconcile_store

    rep = reconcile_store(store, pollbooks=pb, results=res)
    if not rep.ok:
        raise RuntimeError(f"fixture store does not reconcile: {rep.to_json()['checks']}")
    if audit:
        wf.start_audit(store, risk_limit=0.1, seed="31415926535897932384", kind="comparison",
                       now="2024-11-20T00:00:00Z")
        rnd = wf.next_round(store)
        wf.record_interpretations(store, wf.simulate_audit_boards(store, rnd))
        wf.audit_status(store)
    return store

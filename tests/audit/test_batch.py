"""Batch-level comparison (SHANGRLA §3.3 with batches as the sampling unit)."""

from __future__ import annotations

import numpy as np
import pytest

from tallyproof.audit.assorters import Assertion, AssertionKind, votes_from_marks
from tallyproof.audit.batch import (
    BatchFrame,
    assorter_sums,
    batch_comparison_risk,
    batch_frame,
)
from tallyproof.errors import AuditError
from tallyproof.model import Candidate, Contest, ContestKind

from .workflow_helpers import run_rounds

AB = Assertion("c", AssertionKind.PAIRWISE, 0, 1)


def _frame() -> BatchFrame:
    rng = np.random.default_rng(3)
    cards = rng.integers(80, 120, size=40)
    a = (cards * rng.uniform(0.5, 0.6, size=40)).astype(int)
    b = (cards - a) * 8 // 10
    return BatchFrame(tuple(f"T/{i}" for i in range(40)), cards, np.stack([a, b], axis=1))


def test_assorter_sums_from_tallies() -> None:
    # 10 cards: 6 A, 3 B, 1 blank → Σ A = (10 + 6 − 3)/2 = 6.5
    assert assorter_sums(AB, np.array([[6, 3]]), np.array([10]))[0] == 6.5
    sm = Assertion("c", AssertionKind.SUPERMAJORITY, 0, share=__import__("fractions").Fraction(2, 3))
    # u = 3/4: 6·3/4 + 3·0 + 1·1/2 = 5.0
    assert assorter_sums(sm, np.array([[6, 3]]), np.array([10]))[0] == 5.0
    with pytest.raises(AuditError, match="ballots"):
        assorter_sums(Assertion("c", AssertionKind.NEB, 0, 1), np.array([[1, 1]]), np.array([2]))


def test_row_finds_each_key_as_the_keys_order_has_it() -> None:
    f = _frame()
    assert [f.row(k) for k in reversed(f.keys)] == list(range(len(f.keys)))[::-1]
    twice = BatchFrame(("a/1", "b/1", "a/1"), np.array([1, 2, 3]), np.zeros((3, 2), int))
    assert twice.row("a/1") == 0  # the first, as tuple.index gave it
    with pytest.raises(AuditError, match="no batch 'c/1'"):
        twice.row("c/1")


def test_batch_frame_groups_cvrs() -> None:
    c = Contest("c", "C", ContestKind.PLURALITY, candidates=(Candidate("A", "A"), Candidate("B", "B")))
    v = votes_from_marks(c, [[[0]], [[1]], [[0]], None])
    f = batch_frame(v, ["T1", "T1", "T2", "T2"], ["1", "1", "1", "1"])
    assert f.keys == ("T1/1", "T2/1")
    assert f.cards.tolist() == [2, 2] and f.tallies.tolist() == [[1, 1], [1, 0]]


def test_mean_of_batch_assorter_tracks_true_margin() -> None:
    f = _frame()
    keys = list(f.keys)
    # hand counts equal to reported: every value is 1/(2 − v/τ) > 1/2; 35 of 40 batches confirm
    r = batch_comparison_risk(AB, f, keys[:35], f.tallies[:35])
    assert r.p_value < 0.05 and r.discrepancies.o1 == 0
    # the true tallies reverse the outcome in every batch: the sample never confirms it
    flipped = f.tallies[:, ::-1]
    r2 = batch_comparison_risk(AB, f, keys, flipped)
    assert r2.p_value == 1.0 and r2.discrepancies.o1 == 40


def test_not_found_batch_is_worst_case() -> None:
    f = _frame()
    keys = list(f.keys)[:10]
    ok = batch_comparison_risk(AB, f, keys, f.tallies[:10])
    nf = np.zeros(10, dtype=bool)
    nf[0] = True
    worse = batch_comparison_risk(AB, f, keys, f.tallies[:10], not_found=nf)
    assert worse.p_value > ok.p_value and worse.discrepancies.o1 == 1


def test_impossible_hand_count_refused() -> None:
    f = _frame()
    with pytest.raises(AuditError, match="more votes"):
        batch_comparison_risk(AB, f, [f.keys[0]], np.array([[10_000, 0]]))


# ------------------------------------------------------------------ on a store
def _batch_store(tmp_path):
    from .workflow_helpers import build_store

    return build_store(tmp_path / "store", tabulators=5, batches=6, per_batch=20)


def test_batch_audit_workflow_confirms(tmp_path) -> None:
    import csv

    from tallyproof.audit.workflow import CONFIRMED, next_round, start_audit

    store = _batch_store(tmp_path)
    p = start_audit(store, risk_limit=0.1, seed="12345", kind="batch",
                    contests=["mayor", "council"])
    assert p.frame_sizes == {"mayor": 30, "council": 30}  # batches are the sampling units
    assert p.method == "alpha"
    status = run_rounds(store)
    assert status is not None and status.status == CONFIRMED
    assert all(c.examined < 30 for c in status.contests)
    with (store.audit_dir / "rounds" / "round-1-retrieval.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["position"] == "" and r["imprinted_id"] == "" for r in rows)
    with pytest.raises(AuditError, match="complete"):
        next_round(store)


def test_batch_audit_refuses_irv(tmp_path) -> None:
    from tallyproof.audit.workflow import start_audit

    store = _batch_store(tmp_path)
    with pytest.raises(AuditError, match="ranked"):
        start_audit(store, risk_limit=0.1, seed="12345", kind="batch", contests=["rcv"])


def test_batch_audit_does_not_confirm_switched_tabulator(tmp_path) -> None:
    from tallyproof.audit.workflow import CONFIRMED, start_audit

    store = _batch_store(tmp_path)
    start_audit(store, risk_limit=0.1, seed="12345", kind="batch", contests=["mayor"])
    t = store.cvrs(columns=["ballot_id", "tabulator", "contest:mayor"]).to_pylist()
    by_id = {r["ballot_id"]: r for r in t}

    def paper(bid: str):  # tabulators T1-T3: Alice and Bob swapped on the paper
        r = by_id[bid]
        if r["tabulator"] not in ("T1", "T2", "T3"):
            return {}
        return {"mayor": [[{0: 1, 1: 0}.get(c, c) for c in rank] for rank in r["contest:mayor"]]}

    status = run_rounds(store, paper)
    assert status is not None and status.status != CONFIRMED
    ab = status.contests[0].assertions[0]
    assert ab.risk.p_value > 0.1 and ab.risk.discrepancies.o1 > 0

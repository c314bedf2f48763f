"""The audit workflow on a small store: start, rounds, records, status, escalation."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from tallyproof.audit.records import load_records
from tallyproof.audit.sampler import sample
from tallyproof.audit.workflow import (
    ANOTHER_ROUND,
    CONFIRMED,
    FULL_HAND_COUNT,
    audit_report_data,
    audit_status,
    load_audit,
    next_round,
    record_interpretations,
    simulate_audit_boards,
    start_audit,
)
from tallyproof.audit.worksheets import RETRIEVAL_COLUMNS
from tallyproof.errors import AuditError, InputError, UsageError
from tallyproof.store import Store

from .workflow_helpers import build_store, run_rounds

SEED = "31415926535897932384"


def _switch_mayor(store: Store, tabulator: str):
    """Paper of one tabulator shows Alice where its CVRs say Bob and vice versa."""
    t = store.cvrs(columns=["ballot_id", "tabulator", "contest:mayor"]).to_pylist()
    by_id = {r["ballot_id"]: r for r in t}
    swap = {0: 1, 1: 0, 2: 2}

    def paper(bid: str):
        r = by_id[bid]
        if r["tabulator"] != tabulator:
            return {}
        return {"mayor": [[swap[c] for c in rank] for rank in r["contest:mayor"]]}

    return paper


def test_start_validates_and_fixes_parameters(store: Store) -> None:
    with pytest.raises(UsageError, match="digits"):
        start_audit(store, risk_limit=0.05, seed="")
    with pytest.raises(UsageError, match="digits"):
        start_audit(store, risk_limit=0.05, seed="12ab")
    with pytest.raises(UsageError, match="risk limit"):
        start_audit(store, risk_limit=1.5, seed=SEED)
    with pytest.raises(UsageError, match="no contest"):
        start_audit(store, risk_limit=0.05, seed=SEED, contests=["nope"])
    with pytest.raises(UsageError, match="unknown risk method"):
        start_audit(store, risk_limit=0.05, seed=SEED, method="guess")
    with pytest.raises(UsageError, match="kind"):
        start_audit(store, risk_limit=0.05, seed=SEED, kind="hybrid")
    with pytest.raises(AuditError, match="without CVRs"):
        start_audit(store, risk_limit=0.05, seed=SEED, kind="stratified")
    p = start_audit(store, risk_limit=0.05, seed=SEED)
    assert p.contests == ("mayor", "council", "rcv")
    assert p.frame_sizes == {"mayor": 400, "council": 400, "rcv": 200}  # card style for rcv
    assert p.winners["mayor"] == ["ALICE"] and sorted(p.winners["council"]) == ["DAN", "ERIN"]
    assert all(m > 0 for m in p.margins.values())
    assert load_audit(store) == p
    with pytest.raises(AuditError, match="already started"):
        start_audit(store, risk_limit=0.1, seed=SEED)


def test_start_requires_committed_store(tmp_path: Path) -> None:
    s = build_store(tmp_path / "s", tabulators=1, batches=1, per_batch=10, commit=False)
    with pytest.raises(AuditError, match="not committed"):
        start_audit(s, risk_limit=0.05, seed=SEED)


def test_round_draws_consistent_card_style_sample(store: Store) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED)
    r = next_round(store)
    t = store.cvrs(columns=["ballot_id", "contest:rcv"]).to_pylist()
    rcv_frame = [x["ballot_id"] for x in t if x["contest:rcv"] is not None]
    want = [d.id for d in sample(rcv_frame, SEED, r.targets["rcv"])]
    assert [d["id"] for d in r.draws["rcv"]] == want  # only cards that contain the contest
    with r.retrieval_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == RETRIEVAL_COLUMNS
    assert {x["imprinted_id"] for x in rows} == set(r.new_ballots)
    keys = [(x["container"], x["tabulator"], x["batch"], int(x["position"])) for x in rows]
    assert keys == sorted(keys)  # sorted for retrieval
    assert all(x["container"].startswith("box-") for x in rows)


def test_confirms_when_paper_matches_cvrs(store: Store) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED)
    r = next_round(store)
    assert audit_status(store, write=False).unrecorded  # nothing recorded yet
    record_interpretations(store, simulate_audit_boards(store, r))
    st = audit_status(store)
    assert st.status == CONFIRMED
    for c in st.contests:
        assert c.measured_risk <= 0.05
        for a in c.assertions:
            assert a.risk.discrepancies.to_json() == {"o1": 0, "o2": 0, "u1": 0, "u2": 0}
    on_disk = orjson.loads((store.audit_dir / "status.json").read_bytes())
    assert on_disk["status"] == CONFIRMED
    with pytest.raises(AuditError, match="complete"):
        next_round(store)
    data = audit_report_data(store)
    a0 = data["contests"][0]["assertions"][0]
    assert len(a0["p_history"]) == a0["ballots_examined"] > 0
    assert a0["p_history"][-1] == a0["measured_risk"]


def test_escalates_when_one_tabulator_switches_votes(store: Store) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    paper = _switch_mayor(store, "T2")
    status = run_rounds(store, paper, limit=6)
    assert status is not None and status.status == FULL_HAND_COUNT
    c = status.contests[0]
    assert c.measured_risk > 0.05
    ab = next(a for a in c.assertions if a.assertion_id == "mayor:pairwise:0>1")
    assert ab.risk.discrepancies.o2 > 0 and ab.risk.discrepancies.u2 > 0


def test_not_found_is_worst_case(store: Store, tmp_path: Path) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    r = next_round(store)
    missing = r.draws["mayor"][0]["id"]
    path = simulate_audit_boards(store, r, lambda b: None if b == missing else {})
    record_interpretations(store, path)
    st = audit_status(store, write=False)
    ab = st.contests[0].assertions
    # the missing card counts as a paper vote for the loser: a 2-vote overstatement if its CVR
    # shows Alice, a 1-vote one otherwise
    cvr = {x["ballot_id"]: x["contest:mayor"] for x in
           store.cvrs(columns=["ballot_id", "contest:mayor"]).to_pylist()}
    d = ab[0].risk.discrepancies
    if cvr[missing] == [[0]]:
        assert (d.o2, d.o1) == (1, 0)
    else:
        assert (d.o2, d.o1) == (0, 1)


def test_records_are_append_only_with_corrections(store: Store, tmp_path: Path) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    r = next_round(store)
    first = r.draws["mayor"][0]["id"]
    f1 = tmp_path / "b1.csv"
    f1.write_text(f"ballot_id,contest_id,marks\n{first},mayor,ALICE\n")
    record_interpretations(store, f1)
    before = (store.audit_dir / "records.jsonl").read_bytes()
    f2 = tmp_path / "b2.csv"
    f2.write_text(f"ballot_id,contest_id,marks\n{first},mayor,BOB\n")
    with pytest.raises(AuditError, match="already recorded"):
        record_interpretations(store, f2)
    assert (store.audit_dir / "records.jsonl").read_bytes() == before  # nothing added
    f3 = tmp_path / "b3.csv"
    f3.write_text("ballot_id,contest_id,marks,not_found,correction,reason\n"
                  f"{first},mayor,BOB,,yes,\n")
    with pytest.raises(InputError, match="reason"):
        record_interpretations(store, f3)
    f3.write_text("ballot_id,contest_id,marks,not_found,correction,reason\n"
                  f"{first},mayor,BOB,,yes,second board re-read the card\n")
    record_interpretations(store, f3)
    recs = load_records(store.audit_dir / "records.jsonl")
    assert [(x.seq, x.marks, x.correction) for x in recs] == [
        (1, (("ALICE",),), False), (2, (("BOB",),), True)]
    assert (store.audit_dir / "records.jsonl").read_bytes().startswith(before)


def test_record_rejects_bad_rows(store: Store, tmp_path: Path) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    r = next_round(store)
    b = r.draws["mayor"][0]["id"]
    bad = {
        "was not drawn": "NOT-DRAWN,mayor,ALICE",
        "'ZED' is not a choice in contest 'Mayor'; valid choices: Alice \\(id ALICE\\)":
            f"{b},mayor,ZED",
        "not a contest under audit; contests under audit: Mayor": f"{b},council,DAN",
        "not ranked": f"{b},mayor,ALICE>BOB",
    }
    for message, line in bad.items():
        f = tmp_path / "bad.csv"
        f.write_text(f"ballot_id,contest_id,marks\n{line}\n")
        with pytest.raises(InputError, match=message):
            record_interpretations(store, f)
    assert not (store.audit_dir / "records.jsonl").exists()


def test_cvrs_changed_after_start_refused(store: Store) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    p = store.audit_dir / "audit.json"
    d = orjson.loads(p.read_bytes())
    d["commitment"]["cvrs_sha256"] = "0" * 64
    p.write_bytes(orjson.dumps(d))
    with pytest.raises(AuditError, match="changed"):
        next_round(store)


def test_polling_audit_over_manifest(store: Store) -> None:
    start_audit(store, risk_limit=0.1, seed=SEED, kind="polling", contests=["mayor"])
    r = next_round(store)
    assert all(i.count("/") == 2 for i in r.new_ballots)  # manifest slots
    record_interpretations(store, simulate_audit_boards(store, r))
    st = audit_status(store, write=False)
    assert st.contests[0].examined == r.targets["mayor"]
    assert st.status in (CONFIRMED, ANOTHER_ROUND)


def test_start_refuses_uncommitted_cvrs(tmp_path: Path) -> None:
    """CVRs appended after the last commit make the log disagree: no audit on them."""
    from tallyproof.cvr_table import CvrBuilder
    from tallyproof.model import SourceFile

    from .workflow_helpers import CONTESTS

    s = build_store(tmp_path / "s", tabulators=1, batches=1, per_batch=10)
    b = CvrBuilder(CONTESTS)
    b.add(ballot_id="LATE-1", tabulator="T9", batch="B1", record=1,
          votes={"mayor": [[1]]})
    s.append(s.election, iter([b.finish()]), [SourceFile("late.csv", "late.csv", "1" * 64,
                                                         "test", 1)])
    with pytest.raises(AuditError, match="does not match"):
        start_audit(s, risk_limit=0.05, seed=SEED)


def test_irv_contest_with_unsupported_winner_refused(store: Store) -> None:
    with pytest.raises(AuditError, match="cannot be audited with RAIRE"):
        start_audit(store, risk_limit=0.05, seed=SEED, contests=["rcv"], winners={"rcv": ["JON"]})
    with pytest.raises(UsageError, match="no candidate"):
        start_audit(store, risk_limit=0.05, seed=SEED, contests=["rcv"], winners={"rcv": ["ZED"]})


def _hand_paper(alice_share: float):
    """Paper of the no-CVR cards (slots HAND/Hk/p): Alice on a fixed fraction, else Bob."""
    import hashlib

    def paper(bid: str):
        if not bid.startswith("HAND/"):
            return {}
        u = int(hashlib.sha256(bid.encode()).hexdigest()[:8], 16) / 2**32
        return {"mayor": [[0]] if u < alice_share else [[1]]}

    return paper


def test_stratified_audit_cvr_and_no_cvr_strata(tmp_path: Path) -> None:
    s = build_store(tmp_path / "s", tabulators=2, batches=4, per_batch=50, no_cvr_batches=4)
    p = start_audit(s, risk_limit=0.1, seed=SEED, kind="stratified", contests=["mayor"])
    assert p.frame_sizes == {"mayor": 600} and p.method == "alpha"
    r = next_round(s)
    drawn = [d["id"] for d in r.draws["mayor"]]
    assert any(i.startswith("HAND/") for i in drawn) and any(not i.startswith("HAND/")
                                                                 for i in drawn)
    status = None
    record_interpretations(s, simulate_audit_boards(s, r, _hand_paper(0.6)))
    status = audit_status(s)
    if status.status == ANOTHER_ROUND:
        status = run_rounds(s, _hand_paper(0.6), limit=6)
    assert status is not None and status.status == CONFIRMED


def test_stratified_audit_does_not_confirm_when_paper_stratum_reverses(tmp_path: Path) -> None:
    # CVRs: Alice ~55% of 400; the 600 hand-counted cards are 20% Alice: Bob won overall
    s = build_store(tmp_path / "s", tabulators=2, batches=4, per_batch=50, no_cvr_batches=12)
    start_audit(s, risk_limit=0.1, seed=SEED, kind="stratified", contests=["mayor"])
    status = run_rounds(s, _hand_paper(0.2), limit=6)
    assert status is not None and status.status != CONFIRMED

"""Audit-board worksheets: split among boards, blind, read back by name or id, and the
status that waits for a round's cards."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tallyproof.audit.boards import fill_worksheet
from tallyproof.audit.choices import (
    OVERVOTE_MARK,
    ChoiceError,
    candidate_id,
    contest_for,
    parse_cell,
)
from tallyproof.audit.frames import load_cards
from tallyproof.audit.records import load_records
from tallyproof.audit.worksheet_pdf import SheetHeader, render_worksheet
from tallyproof.audit.worksheets import (
    NOT_TO_READ,
    RETRIEVAL_COLUMNS,
    carried,
    contest_headers,
    sheet_cards,
    worksheet_csv,
)
from tallyproof.audit.workflow import (
    CONFIRMED,
    WAITING,
    audit_status,
    load_rounds,
    next_round,
    record_file,
    start_audit,
)
from tallyproof.errors import InputError, UsageError
from tallyproof.model import Candidate, Contest, ContestKind
from tallyproof.store import Store

from .workflow_helpers import CONTESTS, build_store

SEED = "31415926535897932384"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


# ------------------------------------------------------------------ choices
def test_names_and_ids_match_regardless_of_case_and_spacing() -> None:
    mayor = CONTESTS[0]
    assert candidate_id(mayor, "  alice ") == "ALICE"
    assert candidate_id(mayor, "ALICE") == "ALICE"
    assert parse_cell(mayor, "BLANK").marks == ((),)
    assert parse_cell(mayor, " Overvote ").marks == ((OVERVOTE_MARK,),)
    assert parse_cell(mayor, "not  found").not_found
    council = CONTESTS[1]
    assert parse_cell(council, "dan ;  Erin").marks == (("DAN", "ERIN"),)
    rcv = CONTESTS[2]
    assert parse_cell(rcv, "Hal > blank > ida").marks == (("HAL",), (), ("IDA",))
    with pytest.raises(ChoiceError, match="not ranked"):
        parse_cell(mayor, "Alice > Bob")


def test_unknown_and_ambiguous_names_list_the_valid_choices() -> None:
    c = Contest("sheriff", "Sheriff", ContestKind.PLURALITY, candidates=(
        Candidate("S1", "Ann Lee"), Candidate("W1", "Write-in"), Candidate("W2", "Write-in"),
        Candidate("S2", "A; B")))
    with pytest.raises(ChoiceError, match=r"'Anne Lee' is not a choice.*Ann Lee \(id S1\)"):
        candidate_id(c, "Anne Lee")
    with pytest.raises(ChoiceError, match=r"ambiguous.*Write-in \(id W1\), Write-in \(id W2\); "
                                          r"write the id instead; valid choices: Ann Lee"):
        candidate_id(c, "write-in")
    assert candidate_id(c, "W2") == "W2"
    assert parse_cell(c, "a; b").marks == (("S2",),)  # a whole-cell name wins over splitting


# ------------------------------------------------------------------ round and boards
def test_round_splits_cards_among_boards_by_whole_batches(store: Store) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED)
    with pytest.raises(UsageError, match="at least 1"):
        next_round(store, boards=0)
    r = next_round(store, boards=3)
    assert [p.name for p in r.worksheets] == [
        f"round-1-board-{b}.{ext}" for b in (1, 2, 3) for ext in ("csv", "pdf")]
    retrieval = _rows(r.retrieval_path)
    assert tuple(retrieval[0]) == RETRIEVAL_COLUMNS
    sheets = {b: _rows(r.worksheets[2 * (b - 1)]) for b in (1, 2, 3)}
    on_sheets = [x["ballot_id"] for rows in sheets.values() for x in rows]
    assert sorted(on_sheets) == sorted(r.new_ballots)  # every card once, on one board
    assert all(len(rows) > 0 for rows in sheets.values())
    board_of_batch: dict[tuple[str, str], set[str]] = {}
    for x in retrieval:
        board_of_batch.setdefault((x["tabulator"], x["batch"]), set()).add(x["board"])
    assert all(len(b) == 1 for b in board_of_batch.values())  # a batch is never split
    keys = [(int(x["board"]), x["container"], x["tabulator"], x["batch"], int(x["position"]))
            for x in retrieval]
    assert keys == sorted(keys)  # boards take contiguous runs of the retrieval order
    for b, rows in sheets.items():
        assert [int(x["card"]) for x in rows] == list(range(1, len(rows) + 1))
        assert {x["board"] for x in rows} == {str(b)}
    # the contests to read: those the card carries (the ranked seat only on odd batches)
    by_id = {x["ballot_id"]: x for rows in sheets.values() for x in rows}
    for x in retrieval:
        row = by_id[x["imprinted_id"]]
        odd = int(x["batch"][1:]) % 2 == 1
        assert row["Ranked seat"] == ("" if odd else NOT_TO_READ)
        assert row["Mayor"] == "" and row["Council"] == ""
        assert ("Ranked seat" in x["contests"]) == odd and "Mayor" in x["contests"]
        assert r.retrieval_path.exists()
    assert all(p.read_bytes().startswith(b"%PDF") for p in r.worksheets[1::2])


def test_worksheets_are_blind_to_the_cvr_votes(tmp_path: Path) -> None:
    """Two stores with the same cards but different votes give byte-identical worksheets."""
    a = build_store(tmp_path / "a", seed=1, commit=False)
    b = build_store(tmp_path / "b", seed=2, commit=False)
    assert a.cvrs().column("contest:mayor") != b.cvrs().column("contest:mayor")
    ids = ["T1-B1-3", "T2-B4-9", "T1-B3-50", "T2-B1-1"]
    out = []
    for s in (a, b):
        cards = load_cards(s, CONTESTS)
        sheet = sheet_cards(s, "comparison", cards, dict.fromkeys(ids, "0.5"),
                            carried(cards, CONTESTS, ids), 2)
        head = SheetHeader(s.election, 1, 1, 2, "comparison", datetime(2026, 11, 4, tzinfo=UTC))
        mine = [c for c in sheet if c.board == 1]
        out.append((worksheet_csv(1, mine, CONTESTS), render_worksheet(head, mine, CONTESTS)))
    assert out[0] == out[1]
    rows = list(csv.DictReader(out[0][0].decode().splitlines()))
    assert {rows[0][c.name] for c in CONTESTS} <= {"", NOT_TO_READ}  # nothing pre-filled


# ------------------------------------------------------------------ recording a worksheet
def _round(store: Store, boards: int = 1):
    start_audit(store, risk_limit=0.05, seed=SEED)
    return next_round(store, boards=boards)


def test_status_waits_for_the_rounds_cards(store: Store) -> None:
    r = _round(store, boards=2)
    st = audit_status(store, write=False)
    assert st.status == WAITING and len(st.unrecorded) == len(r.new_ballots)
    for c in st.contests:
        assert c.status == WAITING and c.waiting_for == len(r.draws[c.contest_id])
        assert all(a.status == WAITING for a in c.assertions)
    record_file(store, fill_worksheet(store, r.worksheets[0]))  # board 1 only
    st = audit_status(store, write=False)
    board2 = {x["ballot_id"] for x in _rows(r.worksheets[2])}
    assert st.status == WAITING and set(st.unrecorded) == board2
    for c in st.contests:
        assert c.waiting_for == sum(d["id"] in board2 for d in r.draws[c.contest_id])
    record_file(store, fill_worksheet(store, r.worksheets[2]))
    st = audit_status(store, write=False)
    assert st.status == CONFIRMED and all(c.waiting_for == 0 for c in st.contests)


def test_worksheet_by_names_in_any_case_confirms(store: Store, tmp_path: Path) -> None:
    r = _round(store)
    filled = fill_worksheet(store, r.worksheets[0])
    rows = _rows(filled)
    for x in rows:  # boards type loosely: other case, extra spaces
        x["Mayor"] = f"  {x['Mayor'].upper()} "
        x["Council"] = x["Council"].lower().replace("; ", " ;  ")
    got = record_file(store, _write(tmp_path / "sheet.csv", rows))
    assert got.worksheet and not got.not_filled and got.unchanged == 0
    recs = load_records(store.audit_dir / "records.jsonl")
    assert {r.contest_id for r in recs} == {"mayor", "council", "rcv"}
    stored = {c for r in recs if r.contest_id == "mayor" for m in r.marks or () for c in m}
    assert stored and stored <= {"ALICE", "BOB", "CAROL"}  # stored as ids, not as names
    assert audit_status(store, write=False).status == CONFIRMED


def test_worksheet_errors_name_line_card_column_and_choices(store: Store,
                                                            tmp_path: Path) -> None:
    r = _round(store)
    rows = _rows(fill_worksheet(store, r.worksheets[0]))
    odd = next(i for i, x in enumerate(rows) if x["Ranked seat"] != NOT_TO_READ)
    even = next(i for i, x in enumerate(rows) if x["Ranked seat"] == NOT_TO_READ)
    cases = [
        (odd, "Mayor", "Alise",
         rf"line {odd + 2}, card {odd + 1} \(.*\), field Mayor: 'Alise' is not a choice in "
         r"contest 'Mayor'; valid choices: Alice \(id ALICE\), Bob \(id BOB\), Carol \(id "
         r"CAROL\), blank, overvote, not found"),
        (odd, "Council", "", r"field Council: no reading for contest 'Council'.*'blank'"),
        (even, "Ranked seat", "Hal", r"does not carry contest 'Ranked seat'; leave the cell"),
        (odd, "Mayor", "Alice > Bob", r"field Mayor: contest 'Mayor' is not ranked"),
        (odd, "not_found", "maybe", r"field not_found: expected yes/no"),
    ]
    for i, col, value, message in cases:
        bad = [dict(x) for x in rows]
        bad[i][col] = value
        with pytest.raises(InputError, match=message):
            record_file(store, _write(tmp_path / "bad.csv", bad))
    header_bad = [{("Mayoral" if k == "Mayor" else k): v for k, v in x.items()} for x in rows]
    with pytest.raises(InputError, match=r"record header, field Mayoral: 'Mayoral' is not a "
                                         r"contest under audit; contests under audit: Mayor"):
        record_file(store, _write(tmp_path / "bad.csv", header_bad))
    assert not (store.audit_dir / "records.jsonl").exists()  # nothing stored


def test_partial_worksheet_then_rest_then_correction(store: Store, tmp_path: Path) -> None:
    r = _round(store)
    rows = _rows(fill_worksheet(store, r.worksheets[0]))
    half = len(rows) // 2
    partial = [dict(x) if i < half else {k: (v if k in ("round", "board", "card", "container",
                                                        "tabulator", "batch", "position",
                                                        "ballot_id") or v == NOT_TO_READ
                                             else "") for k, v in x.items()}
               for i, x in enumerate(rows)]
    got = record_file(store, _write(tmp_path / "part.csv", partial))
    assert len(got.not_filled) == len(rows) - half
    assert audit_status(store, write=False).status == WAITING
    got = record_file(store, _write(tmp_path / "all.csv", rows))  # the same sheet, finished
    assert got.unchanged == len({(x.ballot_id, x.contest_id) for x in
                                 load_records(store.audit_dir / "records.jsonl")
                                 if x.source_file == "part.csv"})
    assert not got.not_filled and got.stored
    assert audit_status(store, write=False).status == CONFIRMED
    changed = [dict(rows[0])]
    changed[0]["Mayor"] = "Carol" if rows[0]["Mayor"] != "Carol" else "Bob"
    with pytest.raises(InputError, match="already recorded with another reading; to change "
                                         "it, set correction to yes and give a reason"):
        record_file(store, _write(tmp_path / "fix.csv", changed))
    changed[0].update(correction="yes", reason="second look: the mark is for Carol")
    got = record_file(store, _write(tmp_path / "fix.csv", changed))
    assert {x.contest_id for x in got.stored if x.correction} >= {"mayor"}


def test_overvote_blank_and_not_found_cells(store: Store, tmp_path: Path) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    r = next_round(store)
    rows = _rows(fill_worksheet(store, r.worksheets[0]))
    rows[0]["Mayor"], rows[1]["Mayor"], rows[2]["Mayor"] = "overvote", "BLANK", "Not Found"
    record_file(store, _write(tmp_path / "s.csv", rows))
    recs = {x.ballot_id: x for x in load_records(store.audit_dir / "records.jsonl")}
    assert recs[rows[0]["ballot_id"]].marks == ((OVERVOTE_MARK,),)
    assert recs[rows[1]["ballot_id"]].marks == ((),)
    assert recs[rows[2]["ballot_id"]].not_found and recs[rows[2]["ballot_id"]].marks is None
    st = audit_status(store, write=False)
    assert st.status != WAITING
    d = st.contests[0].assertions[0].risk.discrepancies
    assert d.o1 + d.o2 >= 2  # an overvote and a missing card both count against the winner


def test_polling_worksheet_cards_have_no_imprinted_id(store: Store) -> None:
    start_audit(store, risk_limit=0.1, seed=SEED, kind="polling", contests=["mayor"])
    r = next_round(store)
    rows = _rows(r.worksheets[0])
    assert all(x["ballot_id"].count("/") == 2 for x in rows)
    retrieval = _rows(r.retrieval_path)
    assert all(x["imprinted_id"] == "" for x in retrieval)
    record_file(store, fill_worksheet(store, r.worksheets[0]))
    assert audit_status(store, write=False).status != WAITING
    assert len(load_rounds(store)) == 1


def test_contest_headers_round_trip_when_names_clash() -> None:
    a = Contest("p-a-north", "Proposition A", candidates=(Candidate("Y1", "Yes"),))
    b = Contest("p-a-south", "Proposition A", candidates=(Candidate("Y2", "Yes"),))
    c = Contest("mayor", "Mayor", candidates=(Candidate("M", "Ann"),))
    heads = contest_headers([a, b, c])
    assert heads == {"p-a-north": "Proposition A [p-a-north]",
                     "p-a-south": "Proposition A [p-a-south]", "mayor": "Mayor"}
    audited = {x.id: x for x in (a, b, c)}
    assert {contest_for(audited, h).id for h in heads.values()} == set(audited)
    assert contest_for(audited, " MAYOR ").id == "mayor"
    with pytest.raises(ChoiceError, match=r"ambiguous: it names contests Proposition A \(id "
                                          r"p-a-north\), Proposition A \(id p-a-south\)"):
        contest_for(audited, "proposition a")


def test_batch_audit_tally_sheets(store: Store, tmp_path: Path) -> None:
    start_audit(store, risk_limit=0.1, seed=SEED, kind="batch", contests=["mayor"])
    r = next_round(store, boards=2)
    sheets = [p for p in r.worksheets if p.suffix == ".csv"]
    assert len(sheets) == 2 and all(p.with_suffix(".pdf").exists() for p in r.worksheets)
    rows = [x for p in sheets for x in _rows(p)]
    assert {x["batch_id"] for x in rows} == set(r.new_ballots)
    assert {x["choice"] for x in rows} == {"Alice", "Bob", "Carol"}
    assert {x["votes"] for x in rows} == {""}  # blind: the reported tallies are not shown
    assert audit_status(store, write=False).status == WAITING
    # the hand counts equal the CVR tallies (what simulated boards would count)
    from tallyproof.audit.workflow import simulate_audit_boards

    with simulate_audit_boards(store, r).open(newline="") as f:
        counts = {x["batch_id"]: dict(p.split("=") for p in x["tallies"].split(";"))
                  for x in csv.DictReader(f)}
    names = {"Alice": "ALICE", "Bob": "BOB", "Carol": "CAROL"}
    first = _rows(sheets[0])
    for x in first:
        x["votes"] = counts[x["batch_id"]][names[x["choice"]]]
    bad = [dict(x) for x in first]
    bad[0]["votes"] = ""
    with pytest.raises(InputError, match=r"line 2, batch .*field votes: no count for 'Alice'"):
        record_file(store, _write(tmp_path / "bad.csv", bad))
    bad[0]["votes"] = "many"
    with pytest.raises(InputError, match="whole number or 'not found'"):
        record_file(store, _write(tmp_path / "bad.csv", bad))
    got = record_file(store, _write(tmp_path / "b1.csv", first))
    assert got.stored and all(x.tallies for x in got.stored)
    second = _rows(sheets[1])
    for x in second:
        x["votes"] = counts[x["batch_id"]][names[x["choice"]]]
    record_file(store, _write(tmp_path / "b2.csv", second))
    assert audit_status(store, write=False).status != WAITING


def test_not_found_in_one_cell_marks_the_whole_card(store: Store, tmp_path: Path) -> None:
    r = _round(store)
    rows = _rows(r.worksheets[0])
    odd = next(x for x in rows if x["Ranked seat"] != NOT_TO_READ)
    odd["Mayor"] = "not found"  # Council and Ranked seat left empty
    record_file(store, _write(tmp_path / "s.csv", [odd]))
    recs = load_records(store.audit_dir / "records.jsonl")
    assert {(x.contest_id, x.not_found, x.marks) for x in recs} == {
        ("mayor", True, None), ("council", True, None), ("rcv", True, None)}
    odd["Council"] = "Dan"
    with pytest.raises(InputError, match="'not found' in one contest but read in another"):
        record_file(store, _write(tmp_path / "s.csv", [odd]))


def test_more_boards_than_batches_leaves_some_boards_empty(store: Store) -> None:
    start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    r = next_round(store, boards=12)  # the store has 8 batches
    sheets = r.worksheets[::2]
    sizes = [len(_rows(p)) for p in sheets]
    assert sum(sizes) == len(r.new_ballots) and 0 in sizes
    empty = sheets[sizes.index(0)]
    assert empty.read_text().startswith("round,board,card,")
    got = record_file(store, fill_worksheet(store, empty))
    assert got.stored == [] and got.not_filled == ()


def test_a_card_read_before_is_not_pulled_again(store: Store) -> None:
    """Round 1 reads every contest a card carries; a round-2 draw of such a card for another
    contest finds the reading there, so the card is not on round 2's list."""
    start_audit(store, risk_limit=0.05, seed=SEED)
    t = store.cvrs(columns=["ballot_id", "tabulator", "contest:mayor"]).to_pylist()
    swapped = {r["ballot_id"]: [[{0: 1, 1: 0}.get(c, c) for c in rank]
                                for rank in r["contest:mayor"]]
               for r in t if r["tabulator"] == "T2"}
    r1 = next_round(store)
    record_file(store, fill_worksheet(store, r1.worksheets[0],
                                      lambda b: {"mayor": swapped[b]} if b in swapped else {}))
    assert audit_status(store, write=False).status == "another_round"
    read = {(x.ballot_id, x.contest_id) for x in load_records(store.audit_dir / "records.jsonl")}
    drawn1 = {(d["id"], c) for c, ds in r1.draws.items() for d in ds}
    assert read > drawn1  # contests the cards carry, beyond those they were drawn for
    r2 = next_round(store)
    new_pairs = {(d["id"], c) for c, ds in r2.draws.items() for d in ds} - drawn1
    already = {b for b, c in new_pairs if (b, c) in read}
    pulled = set(r2.new_ballots)
    assert already - pulled  # some round-2 draws were read in round 1: not pulled again
    assert {b for b, c in new_pairs if (b, c) not in read} == pulled

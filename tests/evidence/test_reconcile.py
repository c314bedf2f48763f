"""Ballot accounting on hand-built stores, one kind of difference at a time."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tallyproof.cli import main
from tallyproof.errors import InputError
from tallyproof.reconcile import compute_reconciliation, reconcile_store
from tallyproof.reconcile_inputs import read_pollbooks

from .conftest import CARDS, POLLBOOKS_OK, make_store


def test_clean_store_passes_every_check(store, write):
    rep = reconcile_store(store, pollbooks=write("pb.csv", POLLBOOKS_OK))
    status = {c.name: c.status for c in rep.checks}
    assert status == {
        "reconciliation.duplicates": "pass", "reconciliation.manifest": "pass",
        "reconciliation.pollbooks": "pass", "reconciliation.mail": "pass",
        "reconciliation.log": "not_run", "official_results": "not_run",
    }
    assert rep.ok
    saved = orjson.loads((store.results_dir / "reconciliation.json").read_bytes())
    assert saved["cards"] == 12 and saved["inputs"]["pollbooks"]["file"] == "pollbooks.csv"
    assert (store.results_dir / "inputs" / "pollbooks.csv").read_text() == POLLBOOKS_OK
    assert [p["cvrs"] for p in saved["by_precinct"]] == [4, 4, 4]


def test_missing_batch_is_named_with_its_size(tmp_path):
    cards = [c for c in CARDS if c[1] != "B2"]
    rep = compute_reconciliation(make_store(tmp_path / "s", cards))
    m = rep.check("reconciliation.manifest")
    assert m.status == "fail"
    (d,) = m.details["differences"]
    assert d["kind"] == "manifest_batch_without_cvrs"
    assert d["place"] == {"tabulator": "T1", "batch": "B2", "container": "C1"}
    assert (d["manifest"], d["cvrs"], d["difference"]) == (4, 0, -4)


def test_cvrs_in_no_batch_and_count_differences(tmp_path):
    cards = [*CARDS, ("P3", "B9", "election_day", 0, 0), ("P1", "B1", "mail", 0, 0)]
    rep = compute_reconciliation(make_store(tmp_path / "s", cards))
    diffs = {d["kind"]: d for d in rep.check("reconciliation.manifest").details["differences"]}
    assert diffs["cvrs_in_no_manifest_batch"]["place"]["batch"] == "B9"
    assert diffs["cvrs_in_no_manifest_batch"]["difference"] == 1
    assert diffs["batch_count_differs"]["place"]["batch"] == "B1"
    assert (diffs["batch_count_differs"]["manifest"], diffs["batch_count_differs"]["cvrs"]) == (4, 5)


def test_pollbook_differences_per_precinct_and_vote_type(store, write):
    text = POLLBOOKS_OK.replace("P2,2,2,,,,election_day", "P2,3,2,,,,election_day")
    rep = compute_reconciliation(store, write("pb.csv", text))
    pb = rep.check("reconciliation.pollbooks")
    assert pb.status == "fail"
    kinds = sorted((d["kind"], d["place"]["precinct"], d["difference"])
                   for d in pb.details["differences"])
    assert kinds == [("ballots_issued_differs_from_checkins", "P2", -1),
                     ("cvrs_differ_from_checkins", "P2", -1)]
    assert pb.details["checkins"] == 13 and pb.details["cvrs"] == 12


def test_precinct_without_pollbook_and_untyped_rows(store, write):
    rep = compute_reconciliation(store, write("pb.csv", "precinct,checkins\nP1,4\nP2,4\n"))
    (d,) = rep.check("reconciliation.pollbooks").details["differences"]
    assert d == {"kind": "cvrs_in_precinct_with_no_pollbook", "place": {"precinct": "P3"},
                 "checkins": 0, "cvrs": 4, "difference": 4}
    assert rep.check("reconciliation.mail").status == "not_run"


def test_mail_received_must_equal_counted_plus_rejected(store, write):
    text = POLLBOOKS_OK.replace("P3,2,,3,2,1,mail", "P3,2,,4,2,1,mail")
    mail = compute_reconciliation(store, write("pb.csv", text)).check("reconciliation.mail")
    assert mail.status == "fail"
    (d,) = mail.details["differences"]
    assert d["kind"] == "mail_received_not_counted_plus_rejected"
    assert (d["received"], d["counted_plus_rejected"], d["place"]["pollbook_line"]) == (4, 3, 7)


def test_duplicate_ballot_ids_are_listed(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = make_store(tmp_path / "s")
    t = store.cvrs()
    pq.write_table(pa.concat_tables([t, t.slice(0, 2)]), store.cvrs_path)  # tamper on disk
    dup = compute_reconciliation(store).check("reconciliation.duplicates")
    assert dup.status == "fail"
    assert dup.details["extra_cards"] == 2
    assert [d["ballot_id"] for d in dup.details["duplicates"]] == ["T1-B1-1", "T1-B1-2"]


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("precinct\nP1\n", 1, "checkins"),
        ("precinct,checkins\nP1,x\n", 2, "checkins"),
        ("precinct,checkins\nP1,1\nP1,2\n", 3, "precinct"),
        ("precinct,checkins,vote_type\nP1,1,postal\n", 2, "vote_type"),
        ("precinct,checkins,colour\n", 1, "colour"),
        ("precinct,checkins,vote_type\nP1,1,mail\nP1,2,\n", 3, "vote_type"),
    ],
)
def test_bad_pollbooks_name_file_line_and_column(write, text, line, field):
    path = write("pb.csv", text)
    with pytest.raises(InputError) as exc:
        read_pollbooks(path)
    assert (exc.value.record, exc.value.field) == (line, field)
    assert exc.value.file == str(path)


def test_cli_reconcile_exit_codes(store, write, capsys):
    assert main(["reconcile", "--store", str(store.root), "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["ok"] is True
    bad = write("pb.csv", "precinct,checkins\nP1,9\nP2,4\nP3,4\n")
    assert main(["reconcile", "--store", str(store.root), "--pollbooks", str(bad)]) == 1
    assert "reconciliation.pollbooks" in capsys.readouterr().err
    assert (store.results_dir / "reconciliation.json").exists()
    assert main(["reconcile", "--store", str(store.root), "--pollbooks",
                 str(Path(bad).with_name("nope.csv"))]) == 2


def test_bad_input_leaves_the_previous_reconciliation_and_inputs(store, write):
    reconcile_store(store, pollbooks=write("pb.csv", POLLBOOKS_OK))
    before = (store.results_dir / "reconciliation.json").read_bytes()
    with pytest.raises(InputError):
        reconcile_store(store, pollbooks=write("bad.csv", "precinct,checkins\nP1,x\n"))
    assert (store.results_dir / "reconciliation.json").read_bytes() == before
    assert (store.results_dir / "inputs" / "pollbooks.csv").read_text() == POLLBOOKS_OK
    reconcile_store(store)  # without pollbooks now: the stale copy goes
    assert not (store.results_dir / "inputs" / "pollbooks.csv").exists()
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".reconcile-")] == []


def test_log_names_ids_gone_and_never_committed_in_order(store, tmp_path):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tallyproof.ledger import commit_store, new_keypair

    key, _ = new_keypair(tmp_path / "k.key", "county")
    commit_store(store, key)
    table = pq.read_table(store.cvrs_path)
    ids = table.column("ballot_id").to_pylist()
    renamed = ["Z-9" if i == ids[0] else "A-1" if i == ids[5] else i for i in ids]
    keep = pa.array([i != ids[3] for i in ids])  # and one card deleted
    table = table.set_column(0, table.schema.field(0), pa.array(renamed, pa.string()))
    pq.write_table(table.filter(keep), store.cvrs_path)
    log = compute_reconciliation(store).check("reconciliation.log")
    assert log.status == "fail"
    assert log.details["missing_from_store"] == 3 and log.details["never_committed"] == 2
    gone = [d["place"]["ballot_id"] for d in log.details["differences"]
            if d["kind"] == "committed_cvr_missing"]
    added = [d["place"]["ballot_id"] for d in log.details["differences"]
             if d["kind"] == "cvr_never_committed"]
    assert gone == sorted([ids[0], ids[3], ids[5]]) and added == ["A-1", "Z-9"]
    assert log.details["log_ballot_ids"] == len(ids) and pc.count(table.column(0)).as_py() == 12


def _committed_table(store, tmp_path):
    import pyarrow.parquet as pq

    from tallyproof.ledger import commit_store, new_keypair

    key, _ = new_keypair(tmp_path / "k.key", "county")
    commit_store(store, key)
    return pq.read_table(store.cvrs_path)


def test_log_shortcut_settles_only_the_same_ids_at_their_committed_rows(store, tmp_path):
    """``reconciliation.log`` takes the log's table_row hints as proof of equal id sets only
    when every committed id is at its row: a clean store passes by the shortcut; ids renamed
    with the card count unchanged, or a duplicate in place of a card, are still named."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tallyproof import reconcile
    from tallyproof.ledger.log import SEGMENTS

    table = _committed_table(store, tmp_path)
    ids = table.column("ballot_id").to_pylist()
    segment = next((store.log_dir / SEGMENTS).glob("*.parquet"))
    leaves = pq.read_table(segment)
    cards = leaves.filter(pa.compute.equal(leaves.column("leaf_type"), 1))
    assert reconcile._same_ids(cards, table.column("ballot_id").combine_chunks())
    clean = compute_reconciliation(store).check("reconciliation.log")
    assert clean.status == "pass" and clean.details["log_ballot_ids"] == len(ids)

    renamed = ["Z-9" if i == ids[2] else i for i in ids]  # same number of cards
    pq.write_table(table.set_column(0, table.schema.field(0), pa.array(renamed, pa.string())),
                   store.cvrs_path)
    assert not reconcile._same_ids(cards, pa.array(renamed, pa.string()))
    log = compute_reconciliation(store).check("reconciliation.log")
    assert log.status == "fail"
    assert log.details["missing_from_store"] == 1 and log.details["never_committed"] == 1

    copied = [ids[1] if i == ids[2] else i for i in ids]  # a duplicate in place of a card
    pq.write_table(table.set_column(0, table.schema.field(0), pa.array(copied, pa.string())),
                   store.cvrs_path)
    log = compute_reconciliation(store).check("reconciliation.log")
    assert log.status == "fail"
    assert log.details["missing_from_store"] == 1 and log.details["never_committed"] == 0


def test_log_passes_a_reordered_table_without_the_shortcut(store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = _committed_table(store, tmp_path)
    reordered = table.take(pa.array(list(reversed(range(table.num_rows)))))
    pq.write_table(reordered, store.cvrs_path)
    log = compute_reconciliation(store).check("reconciliation.log")
    assert log.status == "pass" and log.details["log_ballot_ids"] == table.num_rows


def test_ledger_pairing_settles_duplicates_and_log_with_the_same_result(store, tmp_path,
                                                                          monkeypatch):
    """Within one command (:meth:`Store.reading_cvrs_once`) a ledger check that paired every
    card with its leaf leaves that in the store's memo; the reconciliation then skips its own
    comparison of the ids (no DuckDB GROUP BY, no log read) and gives the very same checks.
    A table with a repeated id or an uncommitted card is never marked paired."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tallyproof import reconcile
    from tallyproof.ledger import verify_store

    table = _committed_table(store, tmp_path)
    alone = compute_reconciliation(store).to_json()
    with store.reading_cvrs_once():  # the table not held yet: nothing is left (not decoded
        assert verify_store(store).cards_paired == table.num_rows  # sooner for it)
        assert not reconcile.ids_paired(store, table.num_rows)
    with store.reading_cvrs_once():
        store.cvrs()  # held, as verify holds it before its checks
        assert verify_store(store).cards_paired == table.num_rows
        assert reconcile.ids_paired(store, table.num_rows)
        monkeypatch.setattr(reconcile, "_same_ids", _never)
        monkeypatch.setattr(reconcile, "_id_differences", _never)
        assert compute_reconciliation(store).to_json() == alone
    monkeypatch.undo()
    assert not reconcile.ids_paired(store, table.num_rows)  # the memo ended with the block

    ids = table.column("ballot_id").to_pylist()
    for changed in ([ids[1] if i == ids[2] else i for i in ids],  # a duplicate for a card
                    [*ids[:-1], "NEW-1"]):  # a card never committed
        pq.write_table(table.set_column(0, table.schema.field(0), pa.array(changed)),
                       store.cvrs_path)
        with store.reading_cvrs_once():
            store.cvrs()
            assert verify_store(store).cards_paired == 0
            assert not reconcile.ids_paired(store, table.num_rows)


def test_ledger_pairing_is_not_taken_for_other_log_segments(store, tmp_path):
    """The memo entry names the segments' identity: a segment rewritten after the ledger
    check (or a stray file named like one) and the reconciliation compares the ids itself."""
    import shutil

    from tallyproof import reconcile
    from tallyproof.ledger import verify_store
    from tallyproof.ledger.log import SEGMENTS

    table = _committed_table(store, tmp_path)
    segment = next((store.log_dir / SEGMENTS).glob("*.parquet"))
    with store.reading_cvrs_once():
        store.cvrs()
        assert verify_store(store).cards_paired == table.num_rows
        assert reconcile.ids_paired(store, table.num_rows)
        copy = segment.with_name("copy.tmp")
        shutil.copy2(segment, copy)
        copy.replace(segment)  # the same bytes, a new file
        assert not reconcile.ids_paired(store, table.num_rows)
    stray = segment.with_name("9" * 7 + ".parquet")
    shutil.copy2(segment, stray)
    with store.reading_cvrs_once():
        store.cvrs()
        assert verify_store(store).cards_paired == table.num_rows
        assert not reconcile.ids_paired(store, table.num_rows)


def _never(*args, **kwargs):
    raise AssertionError("compared the ids again")

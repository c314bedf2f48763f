"""The count against certified results: pass, mismatch (exit 1), per reporting unit."""

from __future__ import annotations

import orjson

from tallyproof.cli import main
from tallyproof.evidence.results_check import check_official_results
from tallyproof.reconcile import reconcile_store

from .conftest import TRUE_COUNTS, results_csv


def test_matching_results_pass(store, write):
    res = check_official_results(store, write("r.csv", results_csv(TRUE_COUNTS)))
    assert res.ok
    check = res.to_check()
    assert check.status == "pass"
    assert check.details["contests_compared"] == ["mayor", "measure"]
    # plain words: "all 2 totals compared", not the jargon "2 contest/unit pair(s)"
    assert f"all {check.details['units_compared']} totals compared" in check.summary
    assert "contest/unit" not in check.summary


def test_mismatch_names_contest_unit_candidate_and_numbers(store, write):
    counts = {"mayor": {**TRUE_COUNTS["mayor"], "bob": 5}, "measure": TRUE_COUNTS["measure"]}
    res = check_official_results(store, write("r.csv", results_csv(counts)))
    assert not res.ok
    (m,) = res.mismatches
    assert m.to_json() == {"contest": "mayor", "reporting_unit": "ALL", "candidate": "bob",
                           "certified": 5, "computed": 4, "difference": -1}


def test_per_precinct_units_are_compared(store, write):
    text = ("contest,candidate,reporting_unit,votes\n"
            "measure,yes,P1,3\nmeasure,no,P1,1\nmeasure,yes,P2,1\nmeasure,no,P2,3\n")
    res = check_official_results(store, write("r.csv", text))
    assert [(m.reporting_unit, m.candidate, m.certified, m.computed) for m in res.mismatches] == [
        ("P2", "no", 3, 2), ("P2", "yes", 1, 2)]


def test_candidate_missing_from_certified_results_is_a_mismatch(store, write):
    counts = {"mayor": {"alice": 6, "bob": 4}}
    res = check_official_results(store, write("r.csv", results_csv(counts)))
    assert [(m.candidate, m.certified, m.computed) for m in res.mismatches] == [("carol", 0, 1)]


def test_cli_results_mismatch_exits_1_after_writing(store, write, capsys):
    bad = write("r.csv", results_csv({"measure": {"yes": 8, "no": 4}}))
    assert main(["reconcile", "--store", str(store.root), "--results", str(bad), "--json"]) == 1
    doc = orjson.loads(capsys.readouterr().out)
    official = next(c for c in doc["checks"] if c["name"] == "official_results")
    assert official["status"] == "fail" and len(official["details"]["mismatches"]) == 2
    saved = orjson.loads((store.results_dir / "reconciliation.json").read_bytes())
    assert saved["ok"] is False


def test_reconcile_store_keeps_a_copy_of_the_results(store, write):
    rep = reconcile_store(store, results=write("r.csv", results_csv(TRUE_COUNTS)))
    assert rep.check("official_results").status == "pass"
    assert (store.results_dir / "inputs" / "results.csv").exists()

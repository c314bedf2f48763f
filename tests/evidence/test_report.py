"""The report: reproducible bytes, accessible structure, claims in the page and in --json."""

from __future__ import annotations

import orjson
import pytest

from tallyproof.cli import main
from tallyproof.evidence.claims import build_claims
from tallyproof.evidence.collect import collect
from tallyproof.evidence.report import build_report, render_html, report_context

from .conftest import POLLBOOKS_OK, TRUE_COUNTS, results_csv


def html_of(store) -> str:
    """The report's HTML without writing the PDF (faster; same code path for the HTML)."""
    return render_html(report_context(store, collect(store)))


@pytest.fixture
def reconciled(store, write):
    from tallyproof.reconcile import reconcile_store

    reconcile_store(store, pollbooks=write("pb.csv", POLLBOOKS_OK),
                    results=write("r.csv", results_csv(TRUE_COUNTS)))
    return store


def test_two_builds_are_byte_identical(reconciled, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = build_report(reconciled, tmp_path / "a")
    b = build_report(reconciled, tmp_path / "b")
    assert a.html.read_bytes() == b.html.read_bytes()
    assert a.pdf.read_bytes() == b.pdf.read_bytes()
    assert a.hashes.read_bytes() == b.hashes.read_bytes()
    assert a.pdf.read_bytes().startswith(b"%PDF")
    assert b"2024-11-05 00:00 UTC" in a.html.read_bytes()  # the election date, never "now"


def test_source_date_epoch_is_honoured(reconciled, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1731000000")
    html = html_of(reconciled)
    assert "2024-11-07 17:20 UTC" in html


def test_html_is_self_contained_and_accessible(reconciled, tmp_path):
    html = html_of(reconciled)
    assert "<h1>" in html and html.count("<h2") >= 6
    assert html.count("<caption>") >= 4
    assert 'role="img" aria-label="Stacked bars of vote shares: Mayor: Alice Ames 6 (winner)' in html
    assert "<script" not in html and "<link" not in html and 'src="http' not in html
    assert "<svg" in html  # plots inlined
    assert 'id="check-reconciliation-pollbooks"' in html and 'href="#check-ledger"' not in html
    # the counts in the table are the computed ones
    assert ">6</td>" in html and ">4</td>" in html
    assert "no paper ballots were audited" in html


def test_report_shows_every_difference(store, write, tmp_path):
    from tallyproof.reconcile import reconcile_store

    reconcile_store(store, pollbooks=write("pb.csv", "precinct,checkins\nP1,4\nP2,6\nP3,4\n"))
    html = html_of(store)
    assert "CVRs differ from check-ins" in html and "precinct P2" in html and "-2" in html


def test_claims_in_json(reconciled, tmp_path, capsys):
    assert main(["report", "--store", str(reconciled.root), "--out", str(tmp_path / "r"),
                 "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    claims = {c["id"]: c for c in doc["claims"]}
    assert claims["count_not_certified"]["verdict"] == "no_problem_found"
    assert claims["votes_switched"]["verdict"] == "not_answered"
    assert claims["cvrs_deleted"]["answered_by"] == [
        "reconciliation.manifest", "reconciliation.pollbooks", "reconciliation.mail"]
    assert [c.to_json() for c in build_claims(reconciled)] == doc["claims"]


def test_ranked_contest_shows_its_winner_and_is_not_compared(tmp_path, write):
    from tallyproof.cvr_table import CvrBuilder
    from tallyproof.evidence.results_check import check_official_results
    from tallyproof.model import Candidate, Contest, ContestKind, Election, SourceFile
    from tallyproof.store import Store

    rcv = Contest(id="council", name="City Council", kind=ContestKind.IRV, max_rankings=3,
                  candidates=(Candidate("ann", "Ann"), Candidate("ben", "Ben"),
                              Candidate("cat", "Cat")))
    election = Election(name="RCV test", date="2025-11-04", contests=(rcv,))
    b = CvrBuilder(election.contests)
    rankings = [[[0], [1]]] * 4 + [[[1], [0]]] * 3 + [[[2], [1]]] * 2
    for i, marks in enumerate(rankings):
        b.add(ballot_id=f"b{i}", precinct="P1", votes={"council": marks})
    store = Store.create(tmp_path / "s")
    store.append(election, iter([b.finish()]),
                 [SourceFile(path="x", name="x", sha256="1" * 64, format="test", cards=0)])
    html = html_of(store)
    assert "Winner(s): Ben" in html  # Cat out, her 2 votes go to Ben: 5 to 4
    res = check_official_results(store, write("r.csv", "contest,candidate,reporting_unit,votes\n"
                                                       "council,ann,ALL,4\n"))
    assert res.ok and [(n["contest"], n["reason"].split(":")[0]) for n in res.not_compared] == [
        ("council", "ranked-choice (irv) contest")]
    assert "not compared: City Council (ranked-choice (irv) contest" in res.to_check().summary
    check = res.to_check()
    assert check.status == "not_run" and "not compared: City Council (ranked-choice" in \
        check.summary

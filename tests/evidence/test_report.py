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
    assert "cvrs differ from checkins" in html and "precinct P2" in html and "-2" in html


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


# ------------------------------------------------------------- pages a person reads (#10.9)
@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A demo county (ranked-choice mayor, approval question, 16 contests), reconciled and
    audited as the demo does it."""
    from tallyproof.demo.pipeline import run_demo
    from tallyproof.store import Store

    out = tmp_path_factory.mktemp("rep") / "d"
    run_demo(out, cards=2_000, seed=9, evidence=False)
    return Store.open(out / "store")


def test_pdf_says_what_the_page_says_and_lists_no_file_hashes(demo_store, monkeypatch):
    """Everything written into the PDF is recorded: the legend, the verify line and the plain
    words on the risk limit are there; no input file's SHA-256 is (they are in sources.csv)."""
    from tallyproof.evidence import pdf as pdfmod

    written: list[str] = []
    for name in ("_p", "_h"):
        real = getattr(pdfmod, name)
        monkeypatch.setattr(pdfmod, name, lambda pdf, text, *a, _r=real: (written.append(text),
                                                                         _r(pdf, text, *a))[1])
    real_table = pdfmod._table
    monkeypatch.setattr(pdfmod, "_table", lambda pdf, cap, head, rows, w: (
        written.extend([cap, *head, *(str(c) for r in rows for c in r)]),
        real_table(pdf, cap, head, rows, w))[1])
    ctx = report_context(demo_store, collect(demo_store))
    pdfmod.render_pdf(ctx)
    text = "\n".join(written)
    from tallyproof.evidence.report import LEGEND, RISK_LIMIT_TEXT, VERIFY_LINE

    for must in (LEGEND, VERIFY_LINE, RISK_LIMIT_TEXT, "sources.csv", ctx["sources"]["sha256"]):
        assert must in text
    for s in demo_store.election.sources:
        assert s.sha256 not in text
    # the ranked-choice contest has its round-by-round table
    assert "votes in each round" in text and "elected: " in text


def test_ranked_contest_is_in_both_charts_and_has_rounds(demo_store):
    ctx = report_context(demo_store, collect(demo_store))
    mayor = next(c for c in ctx["contests"] if c["kind"] == "irv")
    assert len(mayor["rounds"]) >= 2 and mayor["margin_pct"] is not None
    assert mayor["name"] in ctx["shares_plot"].alt and mayor["name"] in ctx["margins_plot"].alt
    html = render_html(ctx)
    assert "votes in each round" in html and "No longer counting" in html


def test_sources_appendix_replaces_the_hash_table(demo_store, tmp_path):
    from tallyproof.evidence.report import SOURCES_FILE, sources_csv

    paths = build_report(demo_store, tmp_path / "r")
    appendix = (tmp_path / "r" / SOURCES_FILE).read_bytes()
    assert appendix == sources_csv(demo_store.election)
    assert appendix.count(b"\n") == len(demo_store.election.sources) + 1
    html = paths.html.read_text()
    import hashlib

    assert hashlib.sha256(appendix).hexdigest() in html
    assert not any(s.sha256 in html for s in demo_store.election.sources)


def test_contests_not_compared_with_certified_results_are_named(demo_store):
    check = next(c for c in collect(demo_store).checks if c.name == "official_results")
    assert "not compared: Mayor of Riverton (Ranked Choice)" in check.summary

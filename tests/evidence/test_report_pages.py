"""What a reader sees on the report's pages (issue #10 item 9): hashes in an appendix file,
ranked contests with their rounds and in both charts, each contest's rule, the certified
results' coverage named, the pass/fail legend, the verify line and the risk limit in words."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tallyproof.cvr_table import CvrBuilder
from tallyproof.evidence.collect import collect
from tallyproof.evidence.contest_view import rule_text
from tallyproof.evidence.pdf import render_pdf
from tallyproof.evidence.plots import CHAR_PCT, segment_label
from tallyproof.evidence.report import (
    HASH_APPENDIX,
    LEGEND,
    build_report,
    render_html,
    report_context,
)
from tallyproof.model import Candidate, Contest, ContestKind, Election, SourceFile
from tallyproof.store import Store

RCV = Contest(id="council", name="City Council", kind=ContestKind.IRV, max_rankings=3,
              candidates=(Candidate("ann", "Ann Archer"), Candidate("ben", "Ben Brody"),
                          Candidate("cat", "Cat Cole")))
MEASURE = Contest(id="measure", name="Measure A", vote_for=1,
                  candidates=(Candidate("yes", "Yes"), Candidate("no", "No")))
# council: Ann 4, Ben 3, Cat 2 first choices; Cat out, her 2 go to Ben: Ben 5, Ann 4.
RANKINGS = [[[0], [1]]] * 4 + [[[1], [0]]] * 3 + [[[2], [1]]] * 2
MEASURE_MARKS = [0, 0, 0, 0, 0, 1, 1, 1, 0]  # yes 6, no 3


def _store(root: Path, sources: int = 2) -> Store:
    election = Election(name="Pages test", jurisdiction="Test County", date="2025-11-04",
                        contests=(RCV, MEASURE))
    b = CvrBuilder(election.contests)
    for i, (marks, m) in enumerate(zip(RANKINGS, MEASURE_MARKS, strict=True)):
        b.add(ballot_id=f"b{i}", precinct="P1", votes={"council": marks, "measure": [[m]]})
    store = Store.create(root)
    srcs = [SourceFile(path=f"cvr_{k:03d}.json", name=f"cvr_{k:03d}.json",
                       sha256=hashlib.sha256(str(k).encode()).hexdigest(), format="test",
                       cards=0) for k in range(sources)]
    store.append(election, iter([b.finish()]), srcs)
    return store


@pytest.fixture
def rstore(tmp_path, write) -> Store:
    """The store reconciled against certified results that hold only the measure."""
    from tallyproof.reconcile import reconcile_store

    store = _store(tmp_path / "s")
    reconcile_store(store, results=write(
        "r.csv", "contest,candidate,reporting_unit,votes\nmeasure,yes,ALL,6\nmeasure,no,ALL,3\n"))
    return store


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return " ".join(text.split())  # line breaks fall anywhere


def test_input_hashes_are_in_the_appendix_not_in_the_report(tmp_path):
    few, many = _store(tmp_path / "few", sources=2), _store(tmp_path / "many", sources=300)
    pages = {}
    for name, store in (("few", few), ("many", many)):
        paths = build_report(store, tmp_path / f"out-{name}")
        appendix = paths.hashes.read_bytes()
        html = paths.html.read_text(encoding="utf-8")
        shas = [s.sha256 for s in store.election.sources]
        assert paths.hashes.name == HASH_APPENDIX
        assert appendix.decode().splitlines() == [
            f"{s.sha256}  {s.name}" for s in sorted(store.election.sources, key=lambda s: s.name)]
        assert not any(sha in html for sha in shas)
        assert hashlib.sha256(appendix).hexdigest() in html  # the one summary hash
        pages[name] = _pages(paths.pdf.read_bytes())
    # 300 input files add no page: the PDF no longer lists a row per file
    assert pages["many"] == pages["few"] > 0


def test_ranked_contest_has_a_round_table_with_names(rstore):
    ctx = report_context(rstore, collect(rstore))
    council = next(c for c in ctx["contests"] if c["id"] == "council")
    rounds = council["rounds"]
    assert rounds["headers"] == ["Round 1", "Round 2"]
    by_name = {r["name"]: r for r in rounds["rows"]}
    assert by_name["Ben Brody"]["cells"] == ["3", "5"]
    assert by_name["Ann Archer"]["cells"] == ["4", "4"]
    assert by_name["Cat Cole"]["cells"] == ["2", ""]
    assert by_name["Cat Cole"]["note"] == "eliminated in round 1"
    html = render_html(ctx)
    assert "City Council: votes in each round" in html
    assert ">ben<" not in html and ">ann<" not in html  # names, never bare ids


def test_both_charts_include_the_ranked_contest(rstore):
    ctx = report_context(rstore, collect(rstore))
    assert "City Council (final round): " in ctx["shares_plot"].alt
    assert "Ben Brody 5 (winner)" in ctx["shares_plot"].alt
    council = next(c for c in ctx["contests"] if c["id"] == "council")
    assert council["margin_pct"] == pytest.approx(100 * (5 - 4) / 9)
    assert "City Council (final round)" in ctx["margins_plot"].alt


def test_each_contest_states_its_rule_and_winners(rstore):
    html = render_html(report_context(rstore, collect(rstore)))
    assert rule_text(RCV) in html and rule_text(MEASURE) in html
    assert rule_text(MEASURE).startswith("Plurality, vote for 1, 1 winner")
    assert rule_text(RCV).startswith("Ranked choice (instant runoff), 1 winner")
    stv = Contest(id="s", name="S", kind=ContestKind.STV, seats=3, candidates=())
    assert rule_text(stv).startswith("Ranked choice (single transferable vote), 3 seats")
    approval = Contest(id="a", name="A", kind=ContestKind.APPROVAL, seats=2, candidates=())
    assert rule_text(approval).startswith("Approval, 2 winners")


def test_the_contest_not_compared_with_the_certified_results_is_named_with_why(rstore):
    ctx = report_context(rstore, collect(rstore))
    cov = ctx["results_coverage"]
    assert (cov["compared"], cov["total"]) == (1, 2)
    assert [m["contest"] for m in cov["not_compared"]] == ["City Council"]
    assert "not in the certified results file (results.csv)" in cov["not_compared"][0]["reason"]
    claim = next(c for c in ctx["claims"] if c["id"] == "count_not_certified")
    assert "Not compared: City Council" in claim["finding"]
    assert "Not compared: City Council" in render_html(ctx)


def test_ranked_contest_in_the_certified_results_is_named_as_not_compared(tmp_path, write):
    from tallyproof.reconcile import reconcile_store

    store = _store(tmp_path / "s")
    reconcile_store(store, results=write(
        "r.csv", "contest,candidate,reporting_unit,votes\nmeasure,yes,ALL,6\nmeasure,no,ALL,3\n"
                 "council,ben,ALL,5\ncouncil,ann,ALL,4\n"))
    cov = report_context(store, collect(store))["results_coverage"]
    assert [m["contest"] for m in cov["not_compared"]] == ["City Council"]
    assert cov["not_compared"][0]["reason"].startswith("it is a ranked-choice contest")


def test_pdf_has_legend_verify_line_rounds_coverage_and_risk_limit_words(rstore, tmp_path):
    ctx = report_context(rstore, collect(rstore))
    text = _pdf_text(render_pdf(ctx), tmp_path)
    assert " ".join(LEGEND.split()) in text
    assert "tallyproof verify BUNDLE" in text and "Anyone can re-check this report" in text
    assert "City Council: votes in each round" in text
    assert "Not compared: City Council" in text
    assert "Rule: Ranked choice (instant runoff)" in text
    assert HASH_APPENDIX in text


def test_risk_limit_is_explained_in_plain_words():
    from tallyproof.evidence.report import RISK_LIMIT_TEXT

    text = RISK_LIMIT_TEXT.format(pct="5%", conf="95%")
    assert "A risk limit of 5% means" in text and "at least a 95% chance" in text


@pytest.mark.parametrize("share", [3.0, 8.0, 12.2, 15.6, 30.0])
def test_segment_labels_fit_their_segment(share):
    """A label is drawn only when its longest line fits its segment, so neighbours never
    overlap (the old rule labelled every segment of 12% or more, names up to 14 letters)."""
    label = segment_label("Cruz Ortega", share)
    longest = max((len(line) for line in label.split("\n")), default=0)
    assert longest * CHAR_PCT < share or not label
    if share >= 30:
        assert label.startswith("Cruz Ortega")


def test_audit_rows_follow_the_ballot_and_risks_are_plain_decimals():
    from tallyproof.evidence.report import _audit_view

    audit = {"risk_limit": 0.05, "assertions": [
        {"contest": "10", "id": "10:a", "risk": 0.04, "label": "x"},
        {"contest": "2", "id": "2:a", "risk": 8.8e-05, "label": "y"}]}
    view = _audit_view(audit, {"2": "Senator", "10": "Sheriff"})
    assert [a["contest_name"] for a in view["assertions"]] == ["Senator", "Sheriff"]
    assert [a["risk_text"] for a in view["assertions"]] == ["less than 0.0001", "0.0400"]


def test_pages_with_a_ranked_contest_build_byte_identical(rstore, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1762214400")
    a = build_report(rstore, tmp_path / "a")
    b = build_report(rstore, tmp_path / "b")
    for x, y in ((a.html, b.html), (a.pdf, b.pdf), (a.hashes, b.hashes)):
        assert x.read_bytes() == y.read_bytes()


def test_every_inactive_ballot_kind_of_the_tabulator_has_words():
    """Each inactive-ballot category a round can carry is shown in words, not RCTab's key."""
    import tallyproof.tabulate as tab
    from tallyproof.evidence.contest_view import INACTIVE_TEXT

    src = "".join(p.read_text(encoding="utf-8") for p in Path(tab.__file__).parent.glob("*.py"))
    for key in ("exhaustedChoices", "overvotes", "skippedRankings", "repeatedRankings",
                "undervotes", "finalRoundSurplus"):
        assert f'"{key}"' in src and key in INACTIVE_TEXT


def test_a_certified_results_difference_names_contest_and_candidate(store, write):
    from tallyproof.reconcile import reconcile_store

    from .conftest import TRUE_COUNTS, results_csv

    counts = {"mayor": {**TRUE_COUNTS["mayor"], "bob": 5}, "measure": TRUE_COUNTS["measure"]}
    reconcile_store(store, results=write("r.csv", results_csv(counts)))
    ctx = report_context(store, collect(store))
    (off,) = [c for c in ctx["recon_checks"] if c["name"] == "official_results"]
    assert [d["place"] for d in off["differences"]] == ["Mayor, whole county, Bob Burns"]


def test_difference_kinds_read_as_words():
    from tallyproof.evidence.report import _words

    assert _words("cvrs_differ_from_checkins") == "CVRs differ from check-ins"
    assert _words("manifest_batch_without_cvrs") == "manifest batch without CVRs"

"""Georgia 2020 from its own records: the statewide hand count against the machine count.

The facts asserted here are the ones ``../shared/data/georgia-2020/README.md`` prints (the Arlo
report's ROUNDS section and the certified Clarity snapshot), plus the per-county totals the
public analysis in ``official-vs-hand-count.csv`` published: every number is recomputed from
the raw Arlo batches and the Clarity XML, then compared with those files.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tallyproof.evidence.hand_count import compare_hand_count, fold
from tallyproof.formats.arlo_report import read_arlo_report
from tallyproof.formats.clarity import read_clarity

from ..conftest import require_shared_data

TRUMP, BIDEN, JORGENSEN = "Donald J. Trump (I) (Rep)", "Joseph R. Biden (Dem)", "Jo Jorgensen (Lib)"


@pytest.fixture(scope="module")
def ga() -> Path:
    return require_shared_data("georgia-2020")


@pytest.fixture(scope="module")
def comparison(ga: Path):  # noqa: ANN201
    return compare_hand_count(read_clarity(ga / "clarity-ga-counties-2020-11-20.xml"),
                              read_arlo_report(ga / "arlo-audit-report-2020-11-19.csv"))


def test_arlo_report_facts(ga: Path) -> None:
    r = read_arlo_report(ga / "arlo-audit-report-2020-11-19.csv")
    assert (r.settings.audit_type, r.settings.math_type) == ("BALLOT_POLLING", "BRAVO")
    assert r.settings.risk_limit == pytest.approx(0.10)
    assert r.settings.seed == "12345123451234512345"
    (rnd,) = r.rounds
    assert rnd.audited_votes == {
        "Donald J. Trump": 2_462_857, "Joseph R. Biden": 2_475_141, "Jo Jorgensen": 62_587,
        "Invalid Write-In": 9_086, "Valid Write-iin": 2_983, "Blank/Undervote": 132_554,
        "Overvote": 563}
    assert r.batch_results.num_rows == 41_881


def test_statewide_hand_and_machine_counts(comparison) -> None:  # noqa: ANN001
    s = comparison.statewide
    assert s.hand == {BIDEN: 2_475_141, TRUMP: 2_462_857, JORGENSEN: 62_587}
    assert s.machine == {BIDEN: 2_474_507, TRUMP: 2_461_837, JORGENSEN: 62_138}
    assert s.hand_other == {"Invalid Write-In": 9_086, "Valid Write-iin": 2_983,
                            "Blank/Undervote": 132_554, "Overvote": 563}
    assert comparison.machine_winners == comparison.hand_winners == (BIDEN,)
    assert comparison.outcome_confirmed
    # the margin moves by far less than it is: the hand count cannot change the outcome
    assert abs(s.margin_change) < s.margin_hand


def test_every_county_matches_the_published_analysis(ga: Path, comparison) -> None:  # noqa: ANN001
    with open(ga / "official-vs-hand-count.csv", newline="", encoding="utf-8") as fh:
        published = {fold(r["County"]): r for r in csv.DictReader(fh)}
    assert len(comparison.counties) == 159
    for row in comparison.counties:
        p = published[fold(row.county)]
        assert sum(row.machine.values()) == int(p["Ofc-TBJ"]), row.county
        assert sum(row.hand.values()) == int(p["RLA-TBJ"]), row.county
        assert sum(row.difference.values()) == int(p["Δ-TBJ"]), row.county
        assert row.hand_other["Overvote"] == int(p["RLA-Ovr"]), row.county
    s = comparison.statewide
    assert sum(s.difference.values()) == int(published["all"]["Δ-TBJ"]) == 2_103


def test_cli_writes_the_comparison(ga: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tallyproof", "compare", "hand-count",
         "--machine", str(ga / "clarity-ga-counties-2020-11-20.xml"),
         "--hand", str(ga / "arlo-audit-report-2020-11-19.csv"), "--out", str(tmp_path),
         "--json"], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    doc = orjson.loads(proc.stdout)
    assert doc["outcome_confirmed"] is True
    assert doc["statewide"]["margin_hand"] == 2_475_141 - 2_462_857
    assert orjson.loads((tmp_path / "comparison.json").read_bytes()) == {
        k: v for k, v in doc.items() if k != "schema_version"}


def test_georgia_bundle_rebuilds_from_the_records(ga: Path, tmp_path: Path) -> None:
    from tallyproof.evidence.handcount_report import build_handcount_bundle, verify_handcount_bundle

    b = build_handcount_bundle(ga / "clarity-ga-counties-2020-11-20.xml",
                               ga / "arlo-audit-report-2020-11-19.csv", tmp_path / "ga")
    checks = {c.name: c for c in verify_handcount_bundle(b)}
    assert checks["hand_count.rebuild"].status == "pass"
    assert checks["hand_count"].details["margin_hand"] == 12_284
    html = (b / "report/report.html").read_text()
    assert "2,475,141" in html and "12,670" in html

"""The synthetic state: counties of different sizes and formats, spellings that need aliases,
and faults caught by the right check in the right county."""

from __future__ import annotations

from pathlib import Path

import pytest

from tallyproof.demo.state import StateDemoResult, county_sizes, parse_faults, run_state_demo
from tallyproof.errors import UsageError

from .conftest import CleanStateDemo

#: whole state demo runs
pytestmark = pytest.mark.slow


def test_state_demo_catches_each_fault_in_its_county(tmp_path: Path) -> None:
    r = run_state_demo(tmp_path / "s", counties=4, cards=4_000, in_process=True,
                       faults=["delete-batch@county-02", "results-mismatch@county-03"])
    doc = r.to_json()
    assert doc["ok"]
    assert {c: d["format"] for c, d in doc["counties"].items()}["county-04"] == "dominion_csv"
    assert doc["faults"]["delete-batch@county-02"]["caught_by"][0].startswith(
        "county-02:reconciliation")
    assert doc["faults"]["results-mismatch@county-03"]["caught_by"] == [
        "county-03:official_results"]
    failed = {c["name"].split(":")[0] for c in doc["checks"] if c["status"] == "fail"}
    # no other county is blamed; the statewide checks fail and name the counties
    assert failed == {"county-02", "county-03", "state.reconciliation", "state.official_results",
                      "statewide_tabulation", "verify"}
    by_name = {c["name"]: c for c in doc["checks"]}
    # county-03's certified results were shifted: the statewide count no longer reproduces
    # the certified statewide totals, and the check says so (it is computed, not asserted)
    tab = by_name["statewide_tabulation"]
    assert tab["summary"].startswith(f"{len(tab['details']['differences'])} statewide count(s)")
    assert tab["details"]["differences"] == by_name["state.official_results"]["details"][
        "differences"] != []
    assert by_name["state.reconciliation"]["details"]["failing_counties"] == [
        "county-02", "county-03"]
    assert by_name["state_log"]["status"] == by_name["state_proof"]["status"] == "pass"


def test_switched_votes_are_found_by_the_statewide_audit_in_their_county(tmp_path: Path
                                                                          ) -> None:
    """Votes switched by a scanner in a CVR county and in the county with batch tallies only
    (county-03 of three): the statewide audit's sample of each county's paper disagrees with
    what it reported, and only those two counties' audit checks fail."""
    r = run_state_demo(tmp_path / "s", counties=3, cards=3_000, in_process=True,
                       faults=["switch-votes@county-01", "switch-votes@county-03"],
                       evidence=False)  # the audit catches these; the bundle adds only time
    doc = r.to_json()
    assert doc["counties"]["county-03"]["format"] == "batch_tallies"
    assert doc["ok"], doc["faults"]
    assert doc["faults"]["switch-votes@county-01"]["caught_by"] == ["county-01:audit"]
    assert doc["faults"]["switch-votes@county-03"]["caught_by"] == ["county-03:audit"]
    audits = {c["name"]: c["status"] for c in doc["checks"] if c["name"].endswith(":audit")}
    assert audits == {"county-01:audit": "fail", "county-03:audit": "fail",
                      "county-02:audit": "pass"}


def test_batch_county_faults_are_caught_in_that_county(tmp_path: Path) -> None:
    r = run_state_demo(tmp_path / "s", counties=3, cards=3_000, in_process=True,
                       faults=["delete-batch@county-03", "alter-after-commit@county-03"],
                       evidence=False)  # caught by county checks; the bundle adds only time
    doc = r.to_json()
    assert doc["ok"], doc["faults"]
    assert doc["faults"]["delete-batch@county-03"]["caught_by"] == [
        "county-03:reconciliation.batch_tallies"]
    assert doc["faults"]["alter-after-commit@county-03"]["caught_by"] == ["county-03:ledger"]
    failed = {c["name"].split(":")[0] for c in doc["checks"] if c["status"] == "fail"}
    assert "county-01" not in failed and "county-02" not in failed
    with pytest.raises(UsageError, match="batch tallies only"):
        parse_faults(["add-ballots@county-03"], ["county-01", "county-02", "county-03"])


def test_sizes_and_fault_names() -> None:
    sizes = county_sizes(10_000, 5)
    assert sum(sizes) == 10_000 and sizes == sorted(sizes, reverse=True)
    with pytest.raises(UsageError, match="names its county"):
        parse_faults(["delete-batch"], ["county-01"])
    with pytest.raises(UsageError, match="no county 'county-09' in this demo \\(its counties: "
                                          "county-01\\)"):
        parse_faults(["delete-batch@county-09"], ["county-01"])
    ids = [f"county-{i:02d}" for i in range(1, 13)]
    # the spelling: a county's number without the leading zero
    assert parse_faults(["switch-votes@county-7", "delete-batch@county-07"], ids) == {
        "county-07": ("switch-votes", "delete-batch")}
    assert parse_faults(["delete-batch@county-12"], ids) == {"county-12": ("delete-batch",)}
    for bad in ("county-0", "county-13", "county-x", "7", "County-7"):
        with pytest.raises(UsageError, match="county-01, county-02, .*, county-12"):
            parse_faults([f"delete-batch@{bad}"], ids)


def _demo_json(tmp_path: Path, capsys, *faults: str) -> tuple[int, dict]:  # noqa: ANN001
    import orjson

    from tallyproof.cli import main

    args = ["demo", "--state", "--counties", "3", "--cards", "3000", "--in-process", "--json",
            "--out", str(tmp_path / "demo")]
    for f in faults:
        args += ["--fault", f]
    code = main(args)
    return code, orjson.loads(capsys.readouterr().out)


@pytest.mark.xdist_group("clean-state-demo")  # the session's clean_state_demo is this run
def test_demo_state_json_from_the_command_line(clean_state_demo: CleanStateDemo) -> None:
    """`tallyproof demo --state --json`: the county demo's kind of summary; a clean state
    passes every check and exits 0, its report and bundle on disk. The run is the session's
    ``clean_state_demo``, made by this very command (tests/state/conftest.py)."""
    code, doc = clean_state_demo.cli
    assert code == 0 and doc["ok"] is True and doc["faults"] == {} and doc["seed"] == 2026
    assert doc["cards"] == 3000 and sorted(doc["counties"]) == ["county-01", "county-02",
                                                                "county-03"]
    assert all(set(c) == {"name", "status", "summary", "details"} for c in doc["checks"])
    assert [c["name"] for c in doc["checks"] if c["status"] != "pass"] == []
    names = {c["name"] for c in doc["checks"]}
    assert {"county-01:ledger", "county-03:audit", "state.official_results", "state_log",
            "state_proof", "statewide_tabulation", "verify"} <= names
    tab = next(c for c in doc["checks"] if c["name"] == "statewide_tabulation")
    assert tab["summary"].endswith("the certified statewide totals agree")
    for path in (doc["report"]["html"], doc["report"]["pdf"], doc["bundle"]["folder"],
                 doc["bundle"]["zip"], doc["state"]):
        assert Path(path).exists(), path


def test_demo_state_fault_in_a_county_named_by_its_number(tmp_path: Path,
                                                          capsys) -> None:  # noqa: ANN001
    """``--fault switch-votes@county-2`` (the issue's spelling) lands in county-02, whose
    audit check alone fails; as in the county demo, a caught fault exits 0, and an unknown
    county is a usage error (2) naming the valid ones."""
    code, doc = _demo_json(tmp_path, capsys, "switch-votes@county-2")
    assert doc["counties"]["county-02"]["faults"] == ["switch-votes"]
    assert doc["faults"] == {"switch-votes@county-02": {
        "expected_check": "county-02:audit", "caught_by": ["county-02:audit"]}}
    audits = {c["name"]: c["status"] for c in doc["checks"] if c["name"].endswith(":audit")}
    assert audits == {"county-01:audit": "pass", "county-02:audit": "fail",
                      "county-03:audit": "pass"}
    assert code == 0 and doc["ok"] is True
    from tallyproof.cli import main

    assert main(["demo", "--state", "--counties", "3", "--cards", "3000", "--in-process",
                 "--json", "--out", str(tmp_path / "d2"), "--fault",
                 "switch-votes@county-9"]) == 2
    err = capsys.readouterr().err
    assert "county-9" in err and "county-01, county-02, county-03" in err


@pytest.mark.xdist_group("clean-state-demo")  # with test_dask: one clean_state_demo for both
def test_state_bundle_verifies_and_names_what_was_altered(
        tmp_path: Path, clean_state_demo: StateDemoResult) -> None:
    import shutil

    import orjson

    from tallyproof.evidence.bundle import write_sums
    from tallyproof.verify import verify_bundle

    r = clean_state_demo  # shared: only copies of its bundle are altered below
    assert r.bundle is not None
    by_name = {c["name"]: c for c in r.checks}
    assert by_name["verify"]["status"] == "pass", by_name["verify"]["summary"]
    assert (r.bundle / "report" / "report.pdf").read_bytes().startswith(b"%PDF")
    # the statewide audit in the report: each county's part, the risk per contest per round
    html = (r.bundle / "report" / "report.html").read_text()
    assert "<h2 id=\"state-audit\">The statewide audit</h2>" in html
    assert "Measured risk after each round" in html and "<svg" in html
    status = orjson.loads((r.bundle / "state" / "audit" / "status.json").read_bytes())
    assert status["status"] == "confirmed" and f"{status['rounds']} round(s) drawn" in html
    for county in ("county-01", "county-02", "county-03"):
        assert by_name[f"{county}:audit"]["status"] == "pass"
    assert html.count("recorded; discrepancies: none; in the measured risk") == 3
    # the audit's status altered in the bundle: the re-measured audit and the rebuilt report
    # no longer match it
    b0 = tmp_path / "b0"
    shutil.copytree(r.bundle, b0)
    p0 = b0 / "state" / "audit" / "status.json"
    doc0 = orjson.loads(p0.read_bytes())
    doc0["contests"][0]["measured_risk"] = 0.5
    p0.write_bytes(orjson.dumps(doc0))
    write_sums(b0)
    rep0 = verify_bundle(b0)
    assert not rep0.ok and {f.check for f in rep0.failures} == {"report", "state.audit"}
    # statewide results altered (and SHA256SUMS re-made to match): the recount says where
    b = tmp_path / "b1"
    shutil.copytree(r.bundle, b)
    p = b / "state" / "results" / "statewide.json"
    doc = orjson.loads(p.read_bytes())
    first = doc["contests"][0]
    cand = next(iter(first["votes"]))
    first["votes"][cand] += 7
    p.write_bytes(orjson.dumps(doc))
    write_sums(b)
    rep = verify_bundle(b)
    assert not rep.ok and {f.check for f in rep.failures} >= {"state.results"}
    # one county's CVRs altered inside its bundle (SHA256SUMS re-made): that county is named
    b2 = tmp_path / "b2"
    shutil.copytree(r.bundle, b2)
    from tallyproof.demo.faults import alter_committed_cvr
    from tallyproof.store import Store

    store = Store(b2 / "counties" / "county-02" / "store")  # county-03 has batch tallies
    alter_committed_cvr(store.cvrs_path, store.election.contests[0].column)
    write_sums(b2 / "counties" / "county-02")
    write_sums(b2)
    rep2 = verify_bundle(b2)
    counties = next(c for c in rep2.checks if c.name == "state.counties")
    assert counties.status == "fail" and counties.details["failing"] == ["county-02"]

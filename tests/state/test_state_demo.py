"""The synthetic state: counties of different sizes and formats, spellings that need aliases,
and faults caught by the right check in the right county."""

from __future__ import annotations

from pathlib import Path

import pytest

from tallyproof.demo.state import county_sizes, parse_faults, run_state_demo
from tallyproof.errors import UsageError


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
    assert failed == {"county-02", "county-03", "state.reconciliation", "state.official_results"}
    by_name = {c["name"]: c for c in doc["checks"]}
    assert by_name["state.reconciliation"]["details"]["failing_counties"] == [
        "county-02", "county-03"]
    assert by_name["state_log"]["status"] == by_name["state_proof"]["status"] == "pass"


def test_switch_votes_is_never_called_caught_without_an_audit(tmp_path: Path) -> None:
    r = run_state_demo(tmp_path / "s", counties=3, cards=3_000, in_process=True,
                       faults=["switch-votes@county-01"])
    assert not r.ok
    assert r.fault_outcomes()["switch-votes@county-01"]["caught_by"] == []


def test_sizes_and_fault_names() -> None:
    sizes = county_sizes(10_000, 5)
    assert sum(sizes) == 10_000 and sizes == sorted(sizes, reverse=True)
    with pytest.raises(UsageError, match="names its county"):
        parse_faults(["delete-batch"], ["county-01"])
    with pytest.raises(UsageError, match="no county"):
        parse_faults(["delete-batch@county-09"], ["county-01"])

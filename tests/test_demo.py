"""The demo: determinism, the Dominion export's shape, the side files, and — through the JSON
summary — which check catches each injected fault."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tallyproof.cli import main
from tallyproof.demo.county import build_county, first_choices, valid_votes
from tallyproof.demo.dominion_writer import write_dominion
from tallyproof.demo.faults import FAULTS, apply_faults
from tallyproof.demo.pipeline import PaperBallots, run_demo
from tallyproof.demo.side_files import write_ballot_manifest, write_pollbooks
from tallyproof.model import ContestKind

#: whole demo runs, with and without faults
pytestmark = pytest.mark.slow

CARDS = 2000


def _tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--cards", str(CARDS), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def _checks(summary: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in summary["checks"]}


# ---------------------------------------------------------------------------- the county
def test_county_is_deterministic_and_seed_dependent() -> None:
    a, b, c = build_county(2000, 5), build_county(2000, 5), build_county(2000, 6)
    assert np.array_equal(a.paper.tabulator, b.paper.tabulator)
    assert all(np.array_equal(x, y) for x, y in zip(a.paper.marks, b.paper.marks, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a.paper.marks, c.paper.marks, strict=True))


def test_county_has_the_required_shape() -> None:
    county = build_county(20_000, 1)
    kinds = [c.kind for c in county.contests]
    assert len(county.contests) >= 12
    assert ContestKind.IRV in kinds and ContestKind.APPROVAL in kinds
    assert any(c.vote_for == 2 and c.kind == ContestKind.PLURALITY for c in county.contests)
    assert len(county.precincts) >= 30
    assert len(county.tabulators) >= 4
    assert len(county.batches) > len(county.tabulators)
    assert set(np.unique(county.paper.counting_group).tolist()) == {1, 2, 3}
    ids = county.paper.ballot_ids()
    assert len(set(ids.tolist())) == county.cards == 20_000
    assert sum(b.cards for b in county.batches) == county.cards


def test_county_marks_respect_ballot_styles_and_rules() -> None:
    county = build_county(5000, 3)
    for c, contest in enumerate(county.contests):
        marks = county.paper.marks[c]
        assert not marks[~county.paper.on_card[:, c]].any(), contest.name
        if contest.kind == ContestKind.IRV:
            assert (marks.sum(axis=2) <= 1).all()  # one candidate per rank
            assert (first_choices(marks) >= 0).sum() > 0.8 * county.paper.on_card[:, c].sum()
        else:
            n = marks[:, 0, :].sum(axis=1)
            limit = (
                len(contest.candidates)
                if contest.kind == ContestKind.APPROVAL
                else contest.vote_for + 1
            )
            assert (n <= limit).all()
            # the first-listed candidate of every contest here leads comfortably
            votes = valid_votes(contest, marks).sum(axis=0)
            assert votes.max() > 0


# ---------------------------------------------------------------------------- the export
def test_dominion_export_matches_the_real_layout(tmp_path: Path) -> None:
    county = build_county(1500, 2)
    exp = write_dominion(county, county.paper, tmp_path / "export")
    names = {p.name for p in exp.folder.iterdir()}
    for manifest in (
        "CandidateManifest.json",
        "ContestManifest.json",
        "PrecinctPortionManifest.json",
        "TabulatorManifest.json",
        "CountingGroupManifest.json",
        "BallotTypeManifest.json",
        "BallotTypeContestManifest.json",
        "ElectionEventManifest.json",
    ):
        assert manifest in names
    sessions = []
    for f in exp.cvr_files:
        doc = json.loads(f.read_bytes())
        assert doc["Version"] and doc["ElectionId"]
        sessions += doc["Sessions"]
    assert len(sessions) == 1500
    s = sessions[0]
    assert list(s) == [
        "TabulatorId",
        "BatchId",
        "RecordId",
        "CountingGroupId",
        "ImageMask",
        "SessionType",
        "VotingSessionIdentifier",
        "UniqueVotingIdentifier",
        "Original",
    ]
    card = s["Original"]["Cards"][0]
    contest = card["Contests"][0]
    assert set(contest) == {
        "Id",
        "ManifestationId",
        "Undervotes",
        "Overvotes",
        "OutstackConditionIds",
        "Marks",
    }
    # Every non-ambiguous mark in the export is a mark on the paper, and vice versa.
    cand_ids = {c.id for cd in county.contests for c in cd.candidates}
    total_marks = sum(
        1
        for s in sessions
        for ct in s["Original"]["Cards"][0]["Contests"]
        for m in ct["Marks"]
        if not m["IsAmbiguous"] and m["CandidateId"] in cand_ids
    )
    assert total_marks == sum(int(m.sum()) for m in county.paper.marks)


def test_export_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    county = build_county(800, 9)
    a = write_dominion(county, county.paper, tmp_path / "a")
    b = write_dominion(build_county(800, 9), build_county(800, 9).paper, tmp_path / "b")
    assert _tree_hash(a.folder) == _tree_hash(b.folder)


def test_paper_ballots_finds_every_card_by_its_id() -> None:
    county = build_county(3000, 11)
    paper = PaperBallots.__new__(PaperBallots)  # only the county is needed to look cards up
    paper._county = county
    ids = county.paper.ballot_ids().tolist()
    assert [paper.row(b) for b in ids] == list(range(len(ids)))
    first = ids[0]
    assert paper.row("0" + first) is None  # not as the reader spells ids
    assert paper.row(first + "-1") is None and paper.row("x-1-2") is None
    assert paper.row("999999-1-1") is None and paper.row("1-1-99999999999") is None


def test_side_files(tmp_path: Path) -> None:
    county = build_county(1200, 4)
    m = write_ballot_manifest(county.batches, tmp_path / "m.csv")
    rows = list(csv.DictReader(m.read_text().splitlines()))
    assert list(rows[0]) == ["Container", "Tabulator", "Batch Name", "Number of Ballots"]
    assert sum(int(r["Number of Ballots"]) for r in rows) == 1200
    p = write_pollbooks(county, tmp_path / "p.csv")
    rows = list(csv.DictReader(p.read_text().splitlines()))
    assert sum(int(r["checkins"]) for r in rows) == 1200
    mail = [r for r in rows if r["vote_type"] == "mail"]
    assert all(
        int(r["mail_received"]) == int(r["mail_counted"]) + int(r["mail_rejected"]) for r in mail
    )


def test_faults_change_what_they_should() -> None:
    county = build_county(3000, 2026)
    sc = apply_faults(county, ["delete-batch"])
    assert 0 < county.cards - len(sc.reported) <= max(b.cards for b in county.batches)
    sc = apply_faults(county, ["add-ballots"])
    assert len(sc.reported) == county.cards + 40
    sc = apply_faults(county, ["switch-votes"])
    assert sc.switched_tabulator is not None
    differs = [
        not np.array_equal(a, b) for a, b in zip(county.paper.marks, sc.reported.marks, strict=True)
    ]
    assert any(differs)
    other = county.paper.tabulator != sc.switched_tabulator
    for a, b in zip(county.paper.marks, sc.reported.marks, strict=True):
        assert np.array_equal(a[other], b[other])


# ---------------------------------------------------------------------------- end to end
def test_demo_clean_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = _run(tmp_path, capsys)
    checks = _checks(summary)
    assert summary["cards"] == CARDS and summary["faults"] == {}
    assert Path(summary["store"], "cvrs.parquet").exists()
    # A clean county passes every check, and every stage is wired in.
    for name in (
        "ledger",
        "official_results",
        "reconciliation.manifest",
        "reconciliation.pollbooks",
        "reconciliation.mail",
        "reconciliation.duplicates",
    ):
        assert checks.get(name) == "pass", (name, summary["checks"])
    not_passed = [
        (c["name"], c["status"], c["summary"]) for c in summary["checks"] if c["status"] != "pass"
    ]
    assert not not_passed
    names = {c["name"] for c in summary["checks"]}
    assert {"ledger", "tabulation", "official_results", "audit", "verify"} <= names
    assert {"voters.deceased", "voters.double_voting", "voters.late_ballots",
            "voters.more_votes_than_voters"} <= names
    assert code == 0 and summary["ok"] is True
    assert Path(summary["report"]["html"]).exists()
    assert Path(summary["bundle"]["folder"]).exists()


def test_demo_refuses_a_foreign_out_dir(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--cards", "200", "--json"]) == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_demo_unknown_fault_is_usage_error(tmp_path: Path) -> None:
    assert main(["demo", "--out", str(tmp_path / "d"), "--fault", "nope"]) == 2


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One pipeline run per fault, without report/bundle/verify (they add seconds and catch
    none of these), shared by the tests below."""
    runs = {}
    for fault in FAULTS:
        out = tmp_path_factory.mktemp(fault) / "demo"
        runs[fault] = run_demo(
            out, cards=CARDS, seed=2026, faults=[fault], evidence=False
        ).to_json()
    return runs


@pytest.mark.parametrize(
    ("fault", "catcher"),
    [
        ("delete-batch", "reconciliation.manifest"),
        ("add-ballots", "reconciliation.manifest"),
        ("alter-after-commit", "ledger"),
        ("results-mismatch", "official_results"),
        ("switch-votes", "audit"),
        ("results-shift", "results_history"),
        ("dead-voter", "voters.deceased"),
        ("double-vote", "voters.double_voting"),
        ("late-ballot", "voters.late_ballots"),
    ],
)
def test_each_fault_is_caught_by_its_check(
    fault_runs: dict[str, dict[str, Any]], fault: str, catcher: str
) -> None:
    summary = fault_runs[fault]
    outcome = summary["faults"][fault]
    assert outcome["expected_check"] == FAULTS[fault].caught_by
    assert catcher in outcome["caught_by"]
    assert _checks(summary)[catcher] == "fail"
    assert summary["ok"] is True


def test_faults_leave_the_other_core_checks_passing(fault_runs: dict[str, dict[str, Any]]) -> None:
    """Each fault shows in its own check: switched votes leave the accounting, the ledger and
    the results intact; a deleted batch does not make the ledger fail."""
    switched = _checks(fault_runs["switch-votes"])
    assert switched["reconciliation.manifest"] == switched["ledger"] == "pass"
    assert switched["official_results"] == "pass"
    deleted = _checks(fault_runs["delete-batch"])
    assert deleted["ledger"] == deleted["official_results"] == "pass"
    mismatch = _checks(fault_runs["results-mismatch"])
    assert mismatch["audit"] == mismatch["ledger"] == mismatch["reconciliation.manifest"] == "pass"
    # a voter-file fault fails its own voter check and nothing else that ran
    for fault in ("dead-voter", "double-vote", "late-ballot"):
        failed = {n for n, s in _checks(fault_runs[fault]).items() if s == "fail"}
        assert failed == {FAULTS[fault].caught_by}, (fault, failed)


def test_switch_votes_audit_finds_overstatements(fault_runs: dict[str, dict[str, Any]]) -> None:
    audit = next(c for c in fault_runs["switch-votes"]["checks"] if c["name"] == "audit")
    assert audit["details"]["status"] != "confirmed"
    assert "two-vote" in audit["summary"]
    o2 = sum(
        a["discrepancies"]["o2"] for c in audit["details"]["contests"] for a in c["assertions"]
    )
    assert o2 > 0


def test_alter_after_commit_names_the_ballot(fault_runs: dict[str, dict[str, Any]]) -> None:
    summary = fault_runs["alter-after-commit"]
    ledger = next(c for c in summary["checks"] if c["name"] == "ledger")
    altered = next(n for n in summary["notes"] if n.startswith("alter-after-commit"))
    ballot = altered.split("ballot ")[1].split(" ")[0]
    assert any(ballot in f["ballot_ids"] for f in ledger["details"]["failures"])


def test_cli_fault_run_exits_zero_when_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = _run(tmp_path, capsys, "--fault", "results-mismatch")
    assert summary["faults"]["results-mismatch"]["caught_by"] == ["official_results"]
    assert code == 0


def test_same_seed_same_files(tmp_path: Path) -> None:
    """Everything the demo derives from the seed is byte-identical between two runs into the
    same folder (the log's leaf salts are secret random bytes by design, so not the log)."""
    out = tmp_path / "demo"

    def hashes() -> dict[str, str]:
        paths = [
            *sorted((out / "export").iterdir()),
            *sorted((out / "export-mail").iterdir()),
            out / "ballot_manifest.csv",
            out / "pollbooks.csv",
            out / "official_results.csv",
            out / "store" / "cvrs.parquet",
            out / "store" / "results" / "tabulation.json",
        ]
        return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}

    run_demo(out, cards=400, seed=11, evidence=False)
    first = hashes()
    run_demo(out, cards=400, seed=11, evidence=False)
    assert hashes() == first
    run_demo(out, cards=400, seed=12, evidence=False)
    assert hashes() != first


def test_dominion_reader_reads_back_the_paper(tmp_path: Path) -> None:
    """The project's own Dominion reader recovers every card's marks exactly (faint marks
    ignored), with the ballot ids, tabulators, batches and vote types of the county."""
    import pyarrow as pa

    from tallyproof.ingest import read_export

    county = build_county(600, 8)
    exp = write_dominion(county, county.paper, tmp_path / "export")
    parsed = read_export(exp.folder, "dominion")
    table = pa.Table.from_batches(list(parsed.batches))
    ids = county.paper.ballot_ids().tolist()
    assert table.column("ballot_id").to_pylist() == ids
    assert table.column("vote_type").to_pylist() == county.paper.vote_types().tolist()
    assert table.column("tabulator").to_pylist() == [str(t) for t in county.paper.tabulator]
    for c, cd in enumerate(county.contests):
        col = table.column(f"contest:{cd.id}").to_pylist()
        for i, marks in enumerate(col):
            if not county.paper.on_card[i, c]:
                assert marks is None
                continue
            want = [sorted(np.flatnonzero(r).tolist()) for r in county.paper.marks[c][i]]
            assert [sorted(r) for r in marks] == want, (cd.name, ids[i])


def test_a_fault_is_caught_only_by_a_check_that_ran(tmp_path: Path) -> None:
    """The README's old example: delete-batch stops the comparison audit from starting (the
    manifest no longer matches), so switch-votes was never looked for: not caught, exit 1."""
    from tallyproof.demo.pipeline import run_demo

    r = run_demo(tmp_path / "d", cards=1_500, seed=5, faults=["switch-votes", "delete-batch"],
                 evidence=False)
    audit = next(c for c in r.checks if c["name"] == "audit")
    assert audit["status"] == "not_run" and "could not start" in audit["summary"]
    outcomes = r.fault_outcomes()
    assert outcomes["switch-votes"]["caught_by"] == []
    assert outcomes["delete-batch"]["caught_by"]
    assert not r.ok


def test_election_night_changes_are_ballots_added_and_a_shift_is_a_correction(
        fault_runs: dict[str, dict[str, Any]]) -> None:
    clean = next(c for c in fault_runs["delete-batch"]["checks"] if c["name"] == "results_history")
    assert clean["status"] == "pass"
    assert clean["details"]["kinds"]["ballots_added"] == clean["details"]["snapshots"] - 1
    shifted = next(c for c in fault_runs["results-shift"]["checks"]
                   if c["name"] == "results_history")
    assert shifted["status"] == "fail"
    fixes = [ch for ch in shifted["details"]["changes"] if "correction" in ch["kinds"]]
    assert len(fixes) == 1 and fixes[0]["shifts"] >= 1 and fixes[0]["votes_added"] == \
        fixes[0]["votes_removed"] > 0

"""Synthetic voter files: planted faults are caught, matching scored against the truth, and no
personal field ever reaches a report (only the confidential match list, when asked)."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest

from tallyproof.cli import main
from tallyproof.voters.synth import generate

ARGS = ["--election", "2020-11-03", "--deadline", "2020-11-03"]


def _check_args(d: Path) -> list[str]:
    return ["voters", "check", "--roll", str(d / "roll.csv"), "--history",
            str(d / "history.csv"), "--mail", str(d / "mail.csv"), "--deaths",
            str(d / "deaths.csv"), "--ballots", str(d / "ballots.csv"), *ARGS]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("vdemo")
    assert main(["voters", "demo", "--out", str(d), "--voters", "6000", "--deaths", "3000",
                 "--fault", "dead-voter", "--fault", "double-vote", "--fault",
                 "late-ballot"]) == 0
    return d


def test_generate_is_deterministic_and_faults_plant_more(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", voters=2000, deaths=500, seed=7)
    b = generate(tmp_path / "b", voters=2000, deaths=500, seed=7)
    assert (tmp_path / "a" / "roll.csv").read_bytes() == (tmp_path / "b" / "roll.csv").read_bytes()
    assert a == b
    f = generate(tmp_path / "f", voters=2000, deaths=500, seed=7,
                 faults=("dead-voter", "double-vote", "late-ballot"))
    for kind in ("dead_voter", "double_vote", "late_ballot"):
        assert len(f[kind]) > len(a[kind]) > 0


def test_faults_are_caught_and_matching_is_scored(faulty: Path, capsys) -> None:
    report = faulty / "report.json"
    code = main(_check_args(faulty) + ["--truth", str(faulty / "truth.json"),
                                       "--report", str(report)])
    assert code == 1
    doc = json.loads(report.read_text())
    truth = json.loads((faulty / "truth.json").read_text())
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["voters.deceased"]["status"] == "fail"
    assert checks["voters.deceased"]["details"]["left_to_explain"] >= len(truth["dead_voter"])
    assert checks["voters.double_voting"]["details"]["cross_county_pairs"] >= len(
        truth["double_vote"])
    assert checks["voters.late_ballots"]["details"]["late"] == len(truth["late_ballot"])
    assert checks["voters.more_votes_than_voters"]["status"] == "pass"
    pr = doc["precision_recall"]
    assert pr["deceased"]["recall"] == 1.0 and pr["double_vote"]["recall"] == 1.0
    verdicts = {c["id"]: c["verdict"] for c in doc["claims"]}
    assert verdicts["dead_voters"] == verdicts["double_voting"] == "problem_found"
    assert verdicts["late_ballots"] == "problem_found"
    assert "precision" in capsys.readouterr().out


def _personal_values(d: Path) -> set[str]:
    values: set[str] = set()
    with open(d / "roll.csv", newline="") as f:
        for row in csv.DictReader(f):
            values.update({row["voter_id"], row["birth_date"],
                           f"{row['first']} {row['last']}", row["last"]})
    values.discard("")
    return {v for v in values if len(v) >= 4}


def test_no_personal_field_in_report_or_output(faulty: Path, tmp_path: Path, capsys) -> None:
    report = tmp_path / "report.json"
    match_list = tmp_path / "matches.csv"
    main(_check_args(faulty) + ["--report", str(report), "--json"])
    printed = capsys.readouterr().out
    main(_check_args(faulty) + ["--match-list", str(match_list)])
    printed += capsys.readouterr().out
    text = report.read_text() + printed
    # every voter's id, birth date, full name and surname (4+ letters) is absent
    leaked = [v for v in _personal_values(faulty) if v in text]
    assert not leaked, leaked[:5]
    # the match list holds them, marked confidential, readable by the owner only
    ml = match_list.read_text()
    assert ml.startswith("# CONFIDENTIAL")
    truth = json.loads((faulty / "truth.json").read_text())
    assert all(v in ml for v in truth["dead_voter"])
    assert stat.S_IMODE(match_list.stat().st_mode) == 0o600


def test_only_some_files_leaves_the_rest_not_answered(faulty: Path, capsys) -> None:
    code = main(["voters", "check", "--mail", str(faulty / "mail.csv"), *ARGS, "--json"])
    doc = json.loads(capsys.readouterr().out)
    verdicts = {c["id"]: c["verdict"] for c in doc["claims"]}
    assert code == 1  # the planted late ballots
    assert verdicts == {"dead_voters": "not_answered", "double_voting": "not_answered",
                        "late_ballots": "problem_found",
                        "more_votes_than_voters": "not_answered"}


def test_bad_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "h.csv"
    bad.write_text("county,voter_id,election_date,method\nC,1,someday,mail\n")
    assert main(["voters", "check", "--history", str(bad), *ARGS]) == 2
    assert main(["voters", "check", "--history", str(bad), "--election", "nope"]) == 2


@pytest.mark.parametrize(("fault", "check"), [
    (None, None), ("dead-voter", "voters.deceased"), ("double-vote", "voters.double_voting"),
    ("late-ballot", "voters.late_ballots")])
def test_clean_demo_passes_and_each_fault_fails_its_own_check(
        tmp_path: Path, capsys, fault: str | None, check: str | None) -> None:
    args = ["voters", "demo", "--out", str(tmp_path), "--voters", "3000", "--deaths", "1000",
            "--clean"] + (["--fault", fault] if fault else [])
    assert main(args) == 0
    code = main(_check_args(tmp_path) + ["--json"])
    doc = json.loads(capsys.readouterr().out)
    failed = {c["name"] for c in doc["checks"] if c["status"] == "fail"}
    assert failed == ({check} if check else set())
    assert code == (1 if check else 0)

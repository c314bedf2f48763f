"""The voter checks in the county demo: in the report's claims, in the bundle (counts only,
never a personal field), and re-checked by ``tallyproof verify``."""

from __future__ import annotations

import csv
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from tallyproof.demo import run_demo
from tallyproof.evidence.bundle import write_sums
from tallyproof.evidence.claims import build_claims
from tallyproof.evidence.collect import collect
from tallyproof.evidence.report import report_context
from tallyproof.store import Store
from tallyproof.verify import verify_bundle, verify_store_dir
from tallyproof.voters.store_evidence import VOTERS_FILE

CARDS = 2000
FAULTS = ("dead-voter", "double-vote", "late-ballot")
VOTER_CHECKS = {"voters.deceased": "dead-voter", "voters.double_voting": "double-vote",
                "voters.late_ballots": "late-ballot"}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One full demo run (report, bundle, verify) with all three voter faults planted."""
    out = tmp_path_factory.mktemp("county-voters") / "demo"
    return run_demo(out, cards=CARDS, seed=2026, faults=list(FAULTS)).to_json()


def _personal(folder: Path) -> tuple[set[str], set[str], set[str]]:
    """(registration numbers, dates of birth, full names) of every voter on the demo's roll
    and every person on its death list."""
    ids: set[str] = set()
    dobs: set[str] = set()
    names: set[str] = set()
    with open(folder / "roll.csv", newline="") as f:
        for r in csv.DictReader(f):
            ids.add(r["voter_id"])
            dobs.add(r["birth_date"])
            names.add(f"{r['first']} {r['last']}".upper())
    with open(folder / "deaths.csv", newline="") as f:
        for r in csv.DictReader(f):
            dobs.add(r["birth_date"])
            names.add(f"{r['first']} {r['last']}".upper())
    return ids, dobs - {""}, names


def _leaks(data: bytes, ids: set[str], dobs: set[str], names: set[str]) -> list[str]:
    text = data.decode("utf-8", "replace")
    found = []
    # a registration number as a token of its own (not digits inside a decimal number)
    found += [t for t in re.findall(r"(?<![\d.])\d{9}(?![\d.])", text) if t in ids]
    found += [d for d in re.findall(r"\d{4}-\d{2}-\d{2}", text) if d in dobs]
    for m in re.finditer(r"(?=\b([A-Za-z]+)\s+([A-Za-z]+)\b)", text):
        pair = f"{m.group(1)} {m.group(2)}".upper()
        if pair in names:
            found.append(pair)
    return found


def _files(summary: dict[str, Any]) -> dict[str, bytes]:
    """Every file of the report and the bundle, and every entry of the bundle's zip."""
    out: dict[str, bytes] = {}
    for root in (Path(summary["report"]["html"]).parent, Path(summary["bundle"]["folder"])):
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[str(p)] = p.read_bytes()
    with zipfile.ZipFile(summary["bundle"]["zip"]) as z:
        for name in z.namelist():
            out[f"zip:{name}"] = z.read(name)
    return out


def test_each_voter_fault_is_caught_and_answers_its_claim(faulty: dict[str, Any]) -> None:
    checks = {c["name"]: c for c in faulty["checks"]}
    for name, fault in VOTER_CHECKS.items():
        assert checks[name]["status"] == "fail"
        assert faulty["faults"][fault]["caught_by"] == [name]
    assert checks["voters.more_votes_than_voters"]["status"] == "pass"
    claims = json.loads(Path(faulty["bundle"]["folder"], "evidence", "claims.json").read_text())
    by_id = {c["id"]: c for c in claims["claims"]}
    truth = json.loads(Path(faulty["out"], "voters", "truth.json").read_text())
    # each planted fault's note counts its cases in the planted truth
    for fault, key in (("dead-voter", "dead_voter"), ("double-vote", "double_vote"),
                       ("late-ballot", "late_ballot")):
        assert sum(n.startswith(f"{fault}: the voter files hold {len(truth[key])} ")
                   for n in faulty["notes"]) == 1, faulty["notes"]
    dec = checks["voters.deceased"]["details"]
    for cid in ("dead_voters", "double_voting", "late_ballots"):
        assert by_id[cid]["verdict"] == "problem_found"
    assert by_id["more_votes_than_voters"]["verdict"] == "no_problem_found"
    # worded from the check's own numbers
    assert f"{dec['left_to_explain']} have a death date before" in by_id["dead_voters"]["finding"]
    assert dec["left_to_explain"] >= len(truth["dead_voter"])
    late = checks["voters.late_ballots"]["details"]["late"]
    assert late == len(truth["late_ballot"])
    assert f"{late} of " in by_id["late_ballots"]["finding"]


def test_report_has_method_notes_with_precision_and_recall(faulty: dict[str, Any]) -> None:
    html = Path(faulty["report"]["html"]).read_text()
    assert 'id="voter-files"' in html and "McDonald &amp; Levitt" in html
    assert "never a voter&#39;s name, date of birth or registration number" in html
    doc = json.loads(Path(faulty["store"], "results", VOTERS_FILE).read_text())
    pr = doc["precision_recall"]
    assert pr["deceased"]["recall"] == pr["double_vote"]["recall"] == 1.0
    for v in pr.values():
        assert f"<td class=\"num\">{v['recall']:.4f}</td>" in html


def test_no_personal_field_in_any_report_or_bundle_file(faulty: dict[str, Any]) -> None:
    ids, dobs, names = _personal(Path(faulty["out"], "voters"))
    assert len(ids) > CARDS  # the roll is there to leak, if anything did
    files = _files(faulty)
    assert any("voters.json" in k for k in files)
    leaked = {k: v[:3] for k, data in files.items() if (v := _leaks(data, ids, dobs, names))}
    assert not leaked
    # the PDF's text is compressed glyphs: scan the context it is rendered from instead
    store = Store.open(Path(faulty["bundle"]["folder"], "store"))
    ctx = report_context(store, collect(store))
    assert not _leaks(orjson.dumps(ctx, default=str), ids, dobs, names)
    # and the scan itself finds a leak when there is one
    planted = sorted(ids)[0]
    assert _leaks(f'{{"voter": "{planted}"}}'.encode(), ids, dobs, names) == [planted]
    assert _leaks(b"x " + sorted(names)[0].lower().encode(), ids, dobs, names)


def test_verify_rechecks_the_bundled_voter_counts(faulty: dict[str, Any],
                                                  tmp_path: Path) -> None:
    rep = verify_bundle(Path(faulty["bundle"]["folder"]))
    by_name = {c.name: c for c in rep.checks}
    assert by_name["voters"].status == "pass"
    assert by_name["voters"].details["ballots_compared_with_cvrs"] is True
    assert by_name["report"].status == "pass"
    assert by_name["voters.deceased"].status == "fail"  # the planted dead voters
    # a count changed in the bundle (its SHA256SUMS rewritten to match) is named
    copy = tmp_path / "bundle"
    shutil.copytree(faulty["bundle"]["folder"], copy)
    path = copy / "store" / "results" / VOTERS_FILE
    doc = json.loads(path.read_text())
    over = next(c for c in doc["checks"] if c["name"] == "voters.more_votes_than_voters")
    over["details"]["by_precinct"][0]["ballots"] += 1
    dec = next(c for c in doc["checks"] if c["name"] == "voters.deceased")
    dec["details"]["left_to_explain"] -= 1
    path.write_text(json.dumps(doc))
    write_sums(copy)
    bad = {c.name: c for c in verify_bundle(copy).checks}["voters"]
    assert bad.status == "fail"
    text = " ".join(bad.details["problems"])
    assert "differ from the bundled CVRs in 1 precinct" in text
    assert "matched is not explained + left to explain" in text


def test_voters_check_records_into_a_store(faulty: dict[str, Any], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``tallyproof voters check --store`` records the counts in a store, its ballots per
    precinct taken from the CVRs, and the report then answers the voter claims."""
    from tallyproof.cli import main

    store = tmp_path / "store"
    shutil.copytree(faulty["store"], store)
    (store / "results" / VOTERS_FILE).unlink()
    claims = {c.id: c.verdict for c in build_claims(Store.open(store))}
    assert claims["dead_voters"] == "not_answered"
    v = Path(faulty["out"], "voters")
    code = main(["voters", "check", "--store", str(store), "--county", "Riverton County",
                 "--election", "2026-11-03",
                 "--deadline", "2026-11-03", "--json",
                 *[a for k in ("roll", "history", "mail", "deaths")
                   for a in (f"--{k}", str(v / f"{k}.csv"))]])
    capsys.readouterr()
    assert code == 1  # the planted faults
    doc = json.loads((store / "results" / VOTERS_FILE).read_text())
    assert doc["ballots_source"] == "store_cvrs" and doc["ballots_county"] == "Riverton County"
    ev = collect(Store.open(store))
    assert ev.voters == doc
    assert {c.name for c in ev.checks} >= {"voters.deceased", "voters.late_ballots"}
    # verify --store re-checks the recorded counts as a bundle's are
    rechecked = {c.name: c for c in verify_store_dir(store).checks}["voters"]
    assert rechecked.status == "pass" and rechecked.details["ballots_compared_with_cvrs"]

"""The hand-count report and bundle: deterministic, rebuilt byte for byte by the verifier, and
every derived file's tampering caught."""

from __future__ import annotations

from pathlib import Path

from tallyproof.evidence.handcount_report import build_handcount_bundle, verify_handcount_bundle

from ..formats.georgia_fixtures import write


def _bundle(tmp_path: Path, name: str = "b") -> Path:
    a, c = write(tmp_path / "in")
    return build_handcount_bundle(c, a, tmp_path / name)


def test_bundle_verifies_and_is_reproducible(tmp_path: Path) -> None:
    b1 = _bundle(tmp_path, "b1")
    b2 = _bundle(tmp_path, "b2")
    assert (b1 / "SHA256SUMS").read_bytes() == (b2 / "SHA256SUMS").read_bytes()
    assert (b1.with_name("b1.zip")).is_file()
    checks = {c.name: c for c in verify_handcount_bundle(b1)}
    assert checks["hand_count.rebuild"].status == "pass"
    assert checks["hand_count"].status == "pass"
    assert checks["results_history"].status == "not_run"
    html = (b1 / "report/report.html").read_text()
    assert "Ann Smith (I) (Rep)" in html and "tallyproof verify" in html
    assert "CVRs were deleted" not in html  # no CVR check applies to a hand count
    assert (b1 / "report/report.pdf").read_bytes().startswith(b"%PDF")


def test_altered_derived_files_are_named(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    p = b / "evidence/comparison.json"
    p.write_text(p.read_text().replace('"outcome_confirmed": true', '"outcome_confirmed": false'))
    h = b / "report/report.html"
    h.write_text(h.read_text().replace("confirms the reported winner", "elects someone else"))
    rebuild = verify_handcount_bundle(b)[0]
    assert rebuild.status == "fail"
    assert rebuild.details["differ"] == ["evidence/comparison.json", "report/report.html"]


def test_tallyproof_verify_rechecks_a_hand_count_bundle(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tallyproof.cli import main

    b = _bundle(tmp_path)
    assert main(["verify", str(b)]) == 0
    assert main(["verify", str(b.with_name("b.zip"))]) == 0
    capsys.readouterr()
    h = b / "report/report.html"
    h.write_text(h.read_text().replace("Ann Smith", "Anne Smith"))
    assert main(["verify", str(b), "--json"]) == 1
    assert "report/report.html" in capsys.readouterr().out

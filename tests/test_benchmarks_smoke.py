"""The benchmark harness cannot rot: ``benchmarks/run.py --quick`` runs end to end on tiny
inputs (figures meaningless, plumbing checked), and every benchmark module it lists exists."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def run_module():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    for name in [m for m in sys.modules if m.startswith("bench_")]:
        del sys.modules[name]


def test_every_listed_benchmark_has_a_main(run_module) -> None:
    for name in run_module.BENCHMARKS:
        text = (BENCH / f"bench_{name}.py").read_text()
        assert "def main(" in text, name
        assert name in run_module.QUICK_ARGS


def test_quick_run_of_the_demo_benchmarks(run_module, tmp_path: Path, capsys) -> None:
    code = run_module.main(
        ["--quick", "--only", "tabulate", "irv", "ingest", "ledger", "--results", str(tmp_path)]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    rows = {r["name"]: r for r in summary["benchmarks"]}
    assert summary["quick"] is True
    assert all(rows[n]["status"] == "ok" for n in ("tabulate", "irv", "ingest", "ledger")), rows
    assert rows["tabulate"]["ratios"]["ratio"] > 0
    assert "baselines.pyrankvote.speedup" in rows["irv"]["ratios"] or not rows["irv"]["ratios"]
    assert rows["ingest"]["ratios"]["formats.dominion.cards_per_second"] > 0
    for name in ("tabulate", "irv", "ingest", "ledger"):
        assert (tmp_path / f"{name}.json").exists()
    assert "benchmark summary" in printed


def test_missing_benchmark_is_reported_not_fatal(run_module, tmp_path: Path) -> None:
    row = run_module.run_one("does_not_exist", True, tmp_path)
    assert row["status"] == "missing"


def test_ratio_and_target_extraction(run_module) -> None:
    data = {
        "ratio": 2.5,
        "target_ratio": 3,
        "meets_target": True,
        "baselines": {"x": {"speedup": 30.0, "meets_target": False}},
        "ratios": {"verify_over_rehash": 1.5},
    }
    assert run_module.ratios_of(data) == {
        "ratio": 2.5,
        "baselines.x.speedup": 30.0,
        "ratios.verify_over_rehash": 1.5,
    }
    assert run_module.targets_of(data) == {"meets_target": True, "baselines.x.meets_target": False}

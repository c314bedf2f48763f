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


def _bench(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"bench_{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_listed_benchmark_has_a_main(run_module) -> None:
    for name in run_module.BENCHMARKS:
        text = (BENCH / f"bench_{name}.py").read_text()
        assert "def main(" in text, name
        assert name in run_module.QUICK_ARGS


@pytest.mark.slow
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


@pytest.mark.slow
def test_quick_run_of_the_ladder(run_module, tmp_path: Path, capsys) -> None:
    code = run_module.main(["--quick", "--only", "ladder", "--results", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    row = json.loads((tmp_path / "summary.json").read_text())["benchmarks"][0]
    assert row["name"] == "ladder" and row["status"] == "ok", row
    data = json.loads((tmp_path / "ladder.json").read_text())
    assert [r["cards"] for r in data["ladder"]] == [100, 200]
    for r in data["ladder"]:
        for stage in ("ingest", "commit", "audit", "report", "bundle", "verify"):
            assert r["stages"][stage]["seconds"] > 0
            assert r["stages"][stage]["floor_seconds"] > 0
        assert r["peak_rss_mb"] > 0
        assert r["pipeline_seconds"] < r["total_seconds"]  # the voter checks are beside it
        assert set(r["stage_peak_rss_mb"]) >= {"ingest", "commit", "verify"}
        assert all(v > 0 for v in r["stage_peak_rss_mb"].values())
    assert "100->200" in data["growth"]
    assert "meets_linear_growth" in row["targets"]
    assert "target: per-card time grows" in printed


def test_ladder_growth_target_fails_on_superlinear_stage() -> None:
    mod = _bench("ladder")

    def row(cards: int, audit: float) -> dict:
        return {"cards": cards, "stages": {s: {"seconds": cards / 1000 if s != "audit" else audit}
                                           for s in mod.STAGES}}

    linear = mod.growth([row(10_000, 10.0), row(100_000, 100.0)], 1.5, 1.0)
    assert all(v["meets_linear"] for v in linear["10000->100000"].values())
    quadratic = mod.growth([row(10_000, 10.0), row(100_000, 1000.0)], 1.5, 1.0)
    assert not quadratic["10000->100000"]["audit"]["meets_linear"]
    assert quadratic["10000->100000"]["audit"]["per_card_growth"] == 10.0
    tiny = mod.growth([row(10_000, 0.01), row(100_000, 0.5)], 1.5, 1.0)
    assert tiny["10000->100000"]["audit"] == {"per_card_growth": 5.0, "judged": False,
                                              "meets_linear": True}


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


@pytest.mark.slow
def test_quick_run_of_the_state(run_module, tmp_path: Path, capsys) -> None:
    code = run_module.main(["--quick", "--only", "state", "--results", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    row = json.loads((tmp_path / "summary.json").read_text())["benchmarks"][0]
    assert row["name"] == "state" and row["status"] == "ok", row
    data = json.loads((tmp_path / "state.json").read_text())
    assert [r["cards"] for r in data["runs"]] == [600, 1_200]
    for r in [*data["runs"], data["in_process"]]:
        assert r["ok"], r["failed_checks"]
        stages = [s["stage"] for s in r["stages"]]
        assert stages[0] == "demo" and {"tabulate", "bundle", "verify"} <= set(stages)
        assert not any(s["failed"] for s in r["stages"])
        # every county goes through the pipeline's stages; the audit's stages run on the
        # counties concerned (e.g. the batch stratum on the county with batch tallies only)
        assert all(s["counties"] == 2 for s in r["stages"]
                   if s["stage"] in ("demo", "commit", "tabulate", "ledger", "reconcile",
                                     "bundle", "verify"))
        assert all(1 <= s["counties"] <= 2 for s in r["stages"])
        assert set(r["county_seconds"]) == {"county-01", "county-02"}
    assert set(data["largest"]["peak_memory_mb"]) == {"client", "worker-1", "worker-2"}
    assert all(v > 0 for v in data["largest"]["peak_memory_mb"].values())
    assert data["dask_overhead"]["wall_ratio"] > 0 and data["dask_overhead"]["cpu_ratio"] > 0
    assert {"meets_linear_growth", "meets_goal_time"} <= set(row["targets"])
    assert "target: Dask (2 workers) / in-process" in printed


def test_state_breakdown_and_growth() -> None:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    mod = _bench("state")

    def run(cards: int, bundle: float) -> dict:
        return {"cards": cards, "wall_seconds": 10.0 + bundle, "cpu_seconds": 9.0 + bundle,
                "stages": [{"stage": "demo", "seconds": 10.0, "cpu_seconds": 8.0},
                           {"stage": "bundle", "seconds": bundle, "cpu_seconds": bundle}],
                "gaps": [{"between": "after demo, before bundle", "seconds": 0.5}],
                "county_seconds": {
                    "a": {"input": 2.0, "ingest": 1.0, "commit": 1.0, "input_cpu": 1.0},
                    "b": {"input": 2.0, "ingest": 3.0, "commit": 1.0, "input_cpu": 1.0}}}

    b = mod.breakdown(run(1000, 4.0))
    assert b == {"input": 4.0, "ingest": 4.0, "commit (county logs)": 2.0, "bundle": 4.0,
                 "driver": 0.5}
    cpu = mod.breakdown(run(1000, 4.0), cpu=True)  # input: its own CPU; the rest shared 4:2
    assert cpu == {"input": 2.0, "ingest": 4.0, "commit (county logs)": 2.0, "bundle": 4.0,
                   "driver": 1.0}
    assert mod.pipeline_seconds(run(1000, 4.0)) == 10.0
    assert mod.pipeline_cpu(run(1000, 4.0)) == 11.0
    linear = mod.growth([run(1000, 4.0), run(1000, 4.0)], 1.5, 1.0)
    assert all(v["meets_linear"] for v in linear["1000->1000"].values())
    worse = mod.growth([run(1000, 4.0), run(1000, 8.0)], 1.5, 1.0)
    assert not worse["1000->1000"]["bundle"]["meets_linear"]
    assert worse["1000->1000"]["bundle"]["per_card_growth"] == 2.0


def test_state_projection_is_bound_by_the_largest_county() -> None:
    mod = _bench("state")
    run = {"cards": 1000, "wall_seconds": 12.0, "cpu_seconds": 14.0,
           "stages": [{"stage": "demo", "seconds": 10.0, "cpu_seconds": 12.0}],
           "gaps": [{"between": "after demo", "seconds": 2.0}],
           "county_seconds": {"a": {"input": 4.0, "ingest": 6.0, "input_cpu": 2.0}}}
    p = mod.projection(run, cards=1e6, largest=1e4, cores=10, machines=(1, 1000))
    assert p["cpu_seconds_per_card"] == 0.01 and p["serial_seconds_per_card"] == 0.002
    few, many = p["rows"]
    assert few["parallel_seconds"] == 0.01 * 1e5 and not few["bound_by_largest_county"]
    assert many["parallel_seconds"] == 0.01 * 1e4 and many["bound_by_largest_county"]
    assert many["total_seconds"] == 100.0 + 2000.0


@pytest.mark.slow
def test_quick_run_of_the_server_load(run_module, tmp_path: Path, capsys) -> None:
    """Boards entering through the API against a real server, and its kill -9 (SQLite)."""
    code = run_module.main(["--quick", "--only", "server_load", "--results", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    row = json.loads((tmp_path / "summary.json").read_text())["benchmarks"][0]
    assert row["name"] == "server_load" and row["status"] == "ok", row
    runs = json.loads((tmp_path / "server_load.json").read_text())["runs"]["sqlite"]
    assert set(runs) == {"paced", "kill"}
    for run in runs.values():
        assert run["entries_acknowledged"] == run["entries_in_database"] > 0
        assert run["meets_no_loss"] and not run["lost"] and not run["duplicated"]
    assert runs["kill"]["meets_jobs_ended"]
    assert "p99<200 ms: " in printed and "restart" in printed


def test_same_outputs_stream_is_deterministic_and_compare_finds_differences(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    spec = importlib.util.spec_from_file_location("same_outputs", BENCH / "same_outputs.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(os, "urandom", os.urandom)  # restored after the test
    mod._deterministic_urandom(b"s")
    pieces = os.urandom(5) + os.urandom(40) + os.urandom(0) + os.urandom(3)
    mod._deterministic_urandom(b"s")
    assert os.urandom(48) == pieces
    mod._deterministic_urandom(b"t")
    assert os.urandom(48) != pieces
    out = tmp_path / "out"
    (out / "export").mkdir(parents=True)
    (out / "export" / "cvr.json").write_text("left out")
    (out / "report.html").write_text("a")
    first = mod.manifest(out)
    assert list(first) == ["report.html"]
    (tmp_path / "a.json").write_text(json.dumps(first))
    (out / "report.html").write_text("b")
    (tmp_path / "b.json").write_text(json.dumps(mod.manifest(out)))
    assert mod.compare(tmp_path / "a.json", tmp_path / "a.json") == 0
    assert mod.compare(tmp_path / "a.json", tmp_path / "b.json") == 1
    assert "differs: report.html" in capsys.readouterr().out

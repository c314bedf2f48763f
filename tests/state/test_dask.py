"""The executor seam on Dask: the same bytes as in-process, and a killed worker's task retried."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest

from tallyproof.state.executor import DaskExecutor, InProcess
from tallyproof.state.workflow import tabulate_state


@pytest.fixture(scope="module")
def cluster():  # noqa: ANN201
    """A 2-worker LocalCluster. Starting worker processes on a loaded 2-core machine can
    time out once (distributed raises RuntimeError); a second start is the fair test."""
    try:
        ex = DaskExecutor(workers=2)
    except RuntimeError:
        ex = DaskExecutor(workers=2)
    yield ex
    ex.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_dask_and_in_process_give_identical_bytes(state: Path, tmp_path: Path,
                                                  cluster: DaskExecutor) -> None:
    """Every statewide stage on 2 Dask workers and in-process, from the same committed
    counties: the state log (checkpoints, leaves, signatures: Ed25519 is deterministic),
    statewide results, reconciliation, and the state bundle (each county's bundle, the
    statewide report in HTML and PDF, SHA256SUMS, the zip) are the same bytes.

    The counties are committed once, before the copy: a county commit draws each leaf's
    salt from the OS's random source (secret until publication, docs/commitment.md), so two
    commits of one county differ by design whatever runs them. ``commit_all`` still runs on
    both executors after the copy (nothing new to commit: the same checkpoint comes back)."""
    from tallyproof.ledger import new_keypair
    from tallyproof.state.accounting import reconcile_state
    from tallyproof.state.evidence import build_state_bundle
    from tallyproof.state.statelog import publish
    from tallyproof.state.workflow import commit_all

    outs = commit_all(state, InProcess())
    assert all(o.ok and o.value is not None and o.value.committed for o in outs)
    key, _ = new_keypair(tmp_path / "state-key")
    copies = {}
    for name, ex in (("inproc", InProcess()), ("dask", cluster)):
        root = tmp_path / name / "state"
        shutil.copytree(state, root)
        again = commit_all(root, ex)
        assert [o.value.committed for o in again if o.value] == [False, False]
        pub = publish(root, key, {o.county: o.value for o in again if o.value})
        assert list(pub.counties_added) == ["north", "south"]
        tabulate_state(root, ex)
        reconcile_state(root, ex)
        build_state_bundle(root, tmp_path / name / "bundle", ex)
        copies[name] = root
    a, b = copies["inproc"], copies["dask"]
    for sub in ("log", "results"):
        fa, fb = _files(a / sub), _files(b / sub)
        assert fa and fa.keys() == fb.keys(), sub
        assert [k for k in fa if fa[k] != fb[k]] == [], sub
    assert set(_files(a / "results")) == {"statewide.json", "reconciliation.json"}
    # the signed state checkpoint and the leaves (the counties' checkpoints) it commits to
    assert {"checkpoints/000001.txt", "segments/000001.json"} <= set(_files(a / "log"))
    ba, bb = _files(tmp_path / "inproc" / "bundle"), _files(tmp_path / "dask" / "bundle")
    assert {"report/report.html", "report/report.pdf", "SHA256SUMS"} <= set(ba)
    assert ba.keys() == bb.keys() and [k for k in ba if ba[k] != bb[k]] == []
    za = (tmp_path / "inproc" / "bundle.zip").read_bytes()
    assert za == (tmp_path / "dask" / "bundle.zip").read_bytes()


def die_once(county: str, marker: str) -> str:
    """Kill the worker process the first time it runs (a machine lost mid-task)."""
    flag = Path(marker) / county
    if not flag.exists():
        flag.write_text("died")
        os._exit(1)
    return f"{county} done"


def test_a_killed_worker_is_retried(tmp_path: Path, cluster: DaskExecutor) -> None:
    outs = cluster.map(die_once, ["a", "b"], str(tmp_path))
    assert [o.value for o in outs] == ["a done", "b done"]
    assert all((tmp_path / c).read_text() == "died" for c in ("a", "b"))


def test_a_state_bundle_verifies_on_the_cluster(tmp_path: Path, cluster: DaskExecutor) -> None:
    from tallyproof.demo.state import run_state_demo
    from tallyproof.verify import verify_bundle

    r = run_state_demo(tmp_path / "s", counties=3, cards=3_000, in_process=True)
    assert r.bundle is not None
    on_dask = verify_bundle(r.bundle, executor=cluster)
    in_process = verify_bundle(r.bundle)
    assert on_dask.ok and in_process.ok
    assert [(c.name, c.status, c.summary) for c in on_dask.checks] == [
        (c.name, c.status, c.summary) for c in in_process.checks]


def test_statewide_audit_draws_are_the_same_on_dask(tmp_path: Path,
                                                    cluster: DaskExecutor) -> None:
    from tallyproof.state.audit import next_state_round, start_state_audit

    from .test_audit import SEED, make_state

    files = []
    for name, ex in (("inproc", InProcess()), ("dask", cluster)):
        root = make_state(tmp_path / name)
        start_state_audit(root, ex, risk_limit=0.05, seed=SEED, kind="comparison",
                          now="2026-11-10T00:00:00Z")
        next_state_round(root, ex)
        audit = root / "audit"
        got = {p.relative_to(audit): p.read_bytes() for p in sorted(audit.rglob("*"))
               if p.is_file()}
        # each copy's counties signed with their own fresh keys: the commitments differ
        params = orjson.loads(got.pop(Path("audit.json")))
        assert set(params.pop("commitments")) == {"north", "south"}
        files.append({**got, Path("audit.json"): params})
    assert files[0] == files[1] and len(files[0]) == 4  # audit.json, round, 2 retrieval lists


def big_export_task(county: str, folder: str) -> int:
    """Ingest a Dominion export big enough for the reader's own process pool, inside a Dask
    worker (a daemonic process, which may not start processes)."""
    from tallyproof.formats.dominion import default_workers, export_files
    from tallyproof.ingest import ingest

    files = export_files(Path(folder) / "export")
    assert default_workers(files, 1 << 40) == 1  # in a worker: decode in-process
    return ingest([Path(folder) / "export"], Path(folder) / county, fmt="dominion").cards_total


def test_a_large_dominion_export_ingests_inside_a_dask_worker(tmp_path: Path,
                                                              cluster: DaskExecutor) -> None:
    from tallyproof.demo.county import build_county
    from tallyproof.demo.dominion_writer import write_dominion

    county = build_county(3_000, 5)
    write_dominion(county, county.paper, tmp_path / "export")
    (o,) = cluster.map(big_export_task, ["c1"], str(tmp_path))
    assert o.ok and o.value == 3_000


def test_progress_reports_every_county_once_per_stage_on_dask(state: Path,
                                                               cluster: DaskExecutor) -> None:
    from tallyproof.state.observe import Observed

    from .test_observe import Recorder, check_once_per_county

    rec = Recorder()
    tabulate_state(state, Observed(cluster, rec))
    check_once_per_county(rec, ["north", "south"], ["tabulate"])
    assert cluster.dashboard is None or cluster.dashboard.startswith("http")

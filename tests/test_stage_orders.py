"""Any legitimate sequence of commands gives a bundle that verifies (never a false alarm).

The stages after ingest (commit, tabulate, reconcile, audit start, audit round, report) are run
in every order hypothesis picks, each subset; a stage the tool refuses at that point (exit 2:
e.g. an audit before a commit) is a refused command that changes nothing, and is skipped. Then
``bundle`` either refuses with a reason (the store's log does not cover its CVRs) or builds a
bundle that ``verify`` passes: no check may fail, and the verdict says what was not checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallyproof.errors import TallyproofError

STAGES = ("commit", "tabulate", "reconcile", "audit_start", "audit_round", "report")
SEED = "18345609712039485761"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tallyproof.demo.county import build_county
    from tallyproof.demo.dominion_writer import write_dominion
    from tallyproof.demo.pipeline import write_demo_key
    from tallyproof.demo.side_files import (
        results_counts,
        write_ballot_manifest,
        write_official_results,
        write_pollbooks,
    )
    from tallyproof.ingest import ingest

    tmp = tmp_path_factory.mktemp("orders")
    county = build_county(400, 11)
    export = write_dominion(county, county.paper, tmp / "export")
    manifest = write_ballot_manifest(county.batches, tmp / "manifest.csv")
    files = {
        "pollbooks": write_pollbooks(county, tmp / "pollbooks.csv"),
        "results": write_official_results(county, results_counts(county, county.paper),
                                          tmp / "results.csv"),
        "key": write_demo_key(tmp / "keys" / "clerk", 11),
    }
    ingest([export.folder], tmp / "store", fmt="dominion", manifest=manifest)
    return {"store": tmp / "store", **files}


def run_stage(stage: str, store_dir: Path, files: dict[str, Path], out: Path) -> None:
    from tallyproof.audit.workflow import next_round, start_audit
    from tallyproof.evidence.report import build_report
    from tallyproof.ledger.log import commit_store
    from tallyproof.reconcile import reconcile_store
    from tallyproof.store import Store
    from tallyproof.tabulate.store_results import tabulate_store

    store = Store.open(store_dir)
    if stage == "commit":
        commit_store(store, files["key"])
    elif stage == "tabulate":
        tabulate_store(store, write=True)
    elif stage == "reconcile":
        reconcile_store(store, pollbooks=files["pollbooks"], results=files["results"])
    elif stage == "audit_start":
        start_audit(store, risk_limit=0.1, seed=SEED, now="2026-11-10T12:00:00Z")
    elif stage == "audit_round":
        next_round(store)
    elif stage == "report":
        build_report(store, out / "report")


def check_sequence(order: tuple[str, ...], ingested: dict[str, Path], tmp: Path) -> None:
    from tallyproof.evidence.bundle import build_bundle
    from tallyproof.store import Store
    from tallyproof.verify import verify_bundle

    store_dir = tmp / "store"
    shutil.copytree(ingested["store"], store_dir)
    for stage in order:
        try:
            run_stage(stage, store_dir, ingested, tmp)
        except TallyproofError:
            continue  # refused, with a reason: the store is as it was
    try:
        built = build_bundle(Store.open(store_dir), tmp / "bundle")
    except TallyproofError as exc:
        assert "commit" in str(exc), f"{order}: bundle refused for another reason: {exc}"
        return
    rep = verify_bundle(built.folder)
    bad = [(f.check, f.message) for f in rep.failures]
    assert rep.ok and not bad, f"{order}: {bad}"
    assert rep.verdict is not None and rep.verdict.text.startswith("Verified: ")
    if "audit_start" in order:  # started: finished or in progress, never silently absent
        assert any(n == "audit" for n in rep.verdict.verified) or any(
            n == "audit" for n, _ in rep.verdict.not_checked)


ORDERS = st.lists(st.sampled_from(STAGES), unique=True, max_size=len(STAGES)).map(tuple)


@pytest.mark.slow
@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=ORDERS)
def test_every_order_and_subset_of_stages_verifies(order: tuple[str, ...], ingested,
                                                   tmp_path_factory) -> None:  # noqa: ANN001
    check_sequence(order, ingested, tmp_path_factory.mktemp("o"))


@pytest.mark.parametrize("order", [
    (),  # ingest, then bundle: refused (nothing committed)
    ("commit", "tabulate"),  # the false alarm: no reconcile
    ("reconcile", "commit"),  # reconciled before the commit
    ("commit", "audit_start", "audit_round"),  # an audit in progress
    ("tabulate", "commit", "reconcile", "report"),
    ("commit", "reconcile", "audit_start", "audit_round", "tabulate", "report"),
])
def test_orders_that_once_raised_false_alarms(order: tuple[str, ...], ingested,
                                              tmp_path: Path) -> None:  # noqa: ANN001
    check_sequence(order, ingested, tmp_path)

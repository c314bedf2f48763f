"""Run every check that a store's contents allow, for the report and the claims.

Reconciliation is recomputed (not read back) from the store and the input copies that
``tallyproof reconcile`` kept in ``results/inputs/``, so the report can never show a stale
reconciliation. Checks whose inputs are absent come back ``not_run`` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..store import Store
from .checks import Check, status_of

if TYPE_CHECKING:
    from ..ledger.verify_store import LedgerReport

TABULATION_FILE = "tabulation.json"


@dataclass(frozen=True)
class Evidence:
    """Everything the report shows: the checks plus the data behind the plots and tables."""

    checks: list[Check]
    reconciliation: dict[str, Any] | None
    tabulation: dict[str, Any]
    audit: dict[str, Any] | None
    voters: dict[str, Any] | None = None  # results/voters.json: the voter checks, counts only


def ledger_check(store: Store, public_keys: Sequence[str] | None = None,
                 verified: LedgerReport | None = None) -> tuple[Check, int | None]:
    """Verify every leaf and checkpoint of the store's log (``not_run`` when not committed).

    ``public_keys`` (vkey strings) are the log keys the verifier trusts, e.g. the one the
    election office published; without them the key stored beside the log is trusted (and
    named in the summary), which proves integrity only relative to that key. ``verified``: a
    verification of exactly this store's files already done (the recorded one,
    :func:`tallyproof.ledger.verified.verified_report`), reported instead of verifying again."""
    from ..reconcile import log_exists

    if not log_exists(store):
        return Check("ledger", "not_run", "the CVRs have not been committed to a log"), None
    from ..ledger import verify_store

    rep = verified if verified is not None else verify_store(store, public_keys)
    failures = [
        {"check": f.check, "message": f.message, "ballot_ids": list(f.ballot_ids)[:100]}
        for f in rep.failures
    ]
    if rep.ok:
        summary = (
            f"all {rep.tree_size:,} leaves and {rep.checkpoints_checked} signed checkpoint(s) "
            f"verify (log key {rep.log_key})"
        )
    else:
        summary = f"{len(failures)} failure(s): " + "; ".join(
            f["message"] for f in failures[:3]
        )
    details = {
        "tree_size": int(rep.tree_size),
        "root": rep.root,
        "checkpoints_checked": int(rep.checkpoints_checked),
        "log_key": rep.log_key,
        "cosigners": list(rep.cosigners),
        "failures": failures,
    }
    return Check("ledger", status_of(not rep.ok), summary, details), int(rep.tree_size)


def compute_tabulation(store: Store) -> dict[str, Any]:
    """The outcome of every contest, as ``tabulate_store(store).to_json()`` gives it."""
    from ..tabulate.store_results import tabulate_store

    return dict(tabulate_store(store).to_json())


def tabulation_check(recomputed: dict[str, Any],
                     published: list[tuple[str, dict[str, Any]]]) -> Check:
    """Compare a recomputed tabulation with each published copy (``(where, document)``),
    naming every contest that differs; ``not_run`` when nothing was published."""
    if not published:
        return Check("tabulation", "not_run", "no published results to compare with (run "
                     "`tallyproof tabulate` with its results written to the store)")
    n = len(_contest_list(recomputed))
    bad: dict[str, list[str]] = {}
    for where, doc in published:
        if _canon(doc) != _canon(recomputed):
            bad[where] = sorted({_contest_key(c) for c in _contests(recomputed) ^ _contests(doc)})
    if not bad:
        return Check("tabulation", "pass",
                     f"counting the CVRs again gives the published results in all {n} "
                     f"contest(s) ({', '.join(w for w, _ in published)})",
                     {"contests": n, "published": [w for w, _ in published]})
    text = "; ".join(f"{w}" + (f" (contests {', '.join(c)})" if c else "") for w, c in bad.items())
    return Check("tabulation", "fail",
                 f"counting the CVRs again does not give the published results: {text}",
                 {"contests": n, "differing": bad})


def _canon(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def _contest_list(tab: dict[str, Any]) -> list[Any]:
    contests = tab.get("contests", [])
    if isinstance(contests, dict):
        return [{"id": k, **v} if isinstance(v, dict) else {"id": k, "value": v}
                for k, v in contests.items()]
    return list(contests)


def _contests(tab: dict[str, Any]) -> set[bytes]:
    return {orjson.dumps(c, option=orjson.OPT_SORT_KEYS) for c in _contest_list(tab)}


def _contest_key(raw: bytes) -> str:
    c = orjson.loads(raw)
    return str(c.get("id") or c.get("contest_id") or c.get("contest") or "?")


def published_tabulations(store: Store) -> list[tuple[str, dict[str, Any]]]:
    """The store's own published results (``results/tabulation.json``), if written."""
    path = store.results_dir / TABULATION_FILE
    if not path.exists():
        return []
    return [(f"results/{TABULATION_FILE}", orjson.loads(path.read_bytes()))]


RECONCILIATION_CHECKS = ("reconciliation.duplicates", "reconciliation.manifest",
                         "reconciliation.pollbooks", "reconciliation.mail", "reconciliation.log",
                         "official_results")


def not_reconciled() -> list[Check]:
    """The reconciliation checks of a store where ``tallyproof reconcile`` was never run: each
    "not run", so the report and the verifier's rebuild of it list the same rows."""
    return [Check(name, "not_run", "tallyproof reconcile was not run")
            for name in RECONCILIATION_CHECKS]


def results_history_of(store: Store) -> Check:
    """The ``results_history`` check over the store's published results snapshots (not run
    with fewer than two: nothing to compare)."""
    from ..results_history import load_snapshots
    from .results_changes import results_history_check

    return results_history_check([(e.seq, snap) for e, snap in load_snapshots(store)])


def collect(store: Store, verified: LedgerReport | None = None) -> Evidence:
    """Run the ledger, tabulation, reconciliation, results and audit checks on a store
    (``verified``: see :func:`ledger_check`), reading its CVR table once, and add the voter
    checks recorded in it."""
    with store.reading_cvrs_once():
        return _collect(store, verified)


def _collect(store: Store, verified: LedgerReport | None) -> Evidence:
    from ..reconcile import bundled_inputs, compute_reconciliation
    from .audit_view import audit_check, audit_data

    ledger, tree_size = ledger_check(store, verified=verified)
    tabulation = compute_tabulation(store)
    checks = [ledger, tabulation_check(tabulation, published_tabulations(store))]
    recon_path = store.results_dir / "reconciliation.json"
    reconciliation: dict[str, Any] | None = None
    if recon_path.exists():
        pollbooks, results = bundled_inputs(store)
        rep = compute_reconciliation(store, pollbooks, results)
        reconciliation = rep.to_json()
        checks += rep.checks
    else:
        checks += not_reconciled()
    audit = audit_data(store)
    checks.append(audit_check(audit))
    checks.append(results_history_of(store))
    from ..voters import store_evidence

    voters = store_evidence.load(store)  # None when the voter checks were never run
    if voters is not None:
        checks += store_evidence.checks_of(voters)
    return Evidence(checks=checks, reconciliation=reconciliation, tabulation=tabulation,
                    audit=audit, voters=voters)


def collect_checks(store: Store) -> list[Check]:
    return collect(store).checks

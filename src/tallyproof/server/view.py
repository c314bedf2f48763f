"""What the pages and the API show, read from the state folder through the library: the
state's spec (:mod:`tallyproof.state.spec`), each county store and its log, the state log,
and the results files the state commands wrote (``results/statewide.json`` by ``state
tabulate``, ``results/reconciliation.json`` by ``state reconcile``). Nothing here computes an
election fact; a file not written yet is shown as "not run". A county store is opened
read-only (:mod:`tallyproof.store_readonly`): while a job writes it the pages show its last
completed state, and "updating" only when no consistent view could be had."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import StoreError, StoreUpdating
from ..ledger.keys import load_verifier
from ..ledger.log import load_checkpoints
from ..state.spec import StateSpec, load_spec
from ..state.statelog import LOG_KEY, load_state_log, log_dir, prove_ballot, verify_ballot_proof
from ..state.tasks import county_store_dir
from ..state.workflow import RESULTS_FILE
from ..store_readonly import ReadOnlyStore, read_consistently

RECONCILIATION_FILE = "reconciliation.json"
NOT_RUN = "not_run"
#: the county check that compares the count with the county's certified results
RESULTS_CHECK = "official_results"


def read_json(path: Path) -> Any:
    """A JSON file the library wrote; :class:`StoreError` naming it when it is not JSON."""
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"{path}: not JSON ({exc})") from exc


def _results_json(root: Path, name: str) -> dict[str, Any] | None:
    path = Path(root) / "results" / name
    return read_json(path) if path.exists() else None


@dataclass(frozen=True)
class CountyRow:
    id: str
    name: str
    cards: int | None  # None only while the store is ``updating``
    checkpoint_size: int | None
    checkpoint_root: str | None
    accounting: str  # pass / fail / not_run (results/reconciliation.json)
    results_check: str  # the county's official_results check, or not_run
    checks: tuple[tuple[str, str, str], ...]  # the county's reconciliation checks
    #: a writer kept replacing the store's files while it was read (or left a commit
    #: half-renamed): its cards and checkpoint are shown once it is done
    updating: bool = False


def _county_row(root: Path, cid: str, name: str, recon: dict[str, Any] | None) -> CountyRow:
    from ..state.batch_county import is_batch_county, load_batch_county, tallies_dir

    acc = (recon or {}).get("counties", {}).get(cid)
    checks = tuple(tuple(c) for c in acc["checks"]) if acc else ()
    failing = (recon or {}).get("check", {}).get("details", {}).get("failing_counties", [])
    accounting = NOT_RUN if acc is None else "fail" if cid in failing else "pass"
    results = next((s for n, s, _ in checks if n == RESULTS_CHECK), NOT_RUN)
    if is_batch_county(load_spec(root), cid):  # no CVRs: its batch tallies and their log
        folder = tallies_dir(root, cid)
        cards = load_batch_county(folder).cards if (folder / "tallies.json").exists() else 0
        cps = load_checkpoints(folder / "log")
    else:
        folder = county_store_dir(root, cid)
        if not (folder / "store.json").exists():  # nothing ingested yet (still uploading)
            return CountyRow(cid, name, 0, None, None, NOT_RUN, NOT_RUN, ())
        def read(store: ReadOnlyStore) -> tuple[int, list[Any]]:
            return store.cvr_count(), load_checkpoints(store.log_dir)

        try:  # the last completed state, also while a job writes the store
            cards, cps = read_consistently(folder, read)
        except StoreUpdating:
            return CountyRow(cid, name, None, None, None, accounting, results, checks,
                             updating=True)
    last = cps[-1].checkpoint if cps else None
    return CountyRow(cid, name, cards, last.size if last else None,
                     last.root.hex() if last else None, accounting, results, checks)


def counties(root: Path, spec: StateSpec | None = None) -> list[CountyRow]:
    spec = spec or load_spec(root)
    recon = _results_json(root, RECONCILIATION_FILE)
    return [_county_row(root, c.id, c.name, recon) for c in spec.counties]


def county(root: Path, county_id: str) -> CountyRow:
    """One county's row; :class:`~tallyproof.errors.UsageError` for an unknown county."""
    c = load_spec(root).county(county_id)
    return _county_row(root, c.id, c.name, _results_json(root, RECONCILIATION_FILE))


def state_checkpoint(root: Path) -> dict[str, Any] | None:
    """The latest signed state checkpoint (size, root, text), or None before publication."""
    _, cps = load_state_log(root)
    if not cps:
        return None
    cp = cps[-1]
    return {"size": cp.checkpoint.size, "root": cp.checkpoint.root.hex(), "text": cp.text}


def statewide_results(root: Path, spec: StateSpec | None = None) -> list[dict[str, Any]]:
    """``results/statewide.json``'s contests, each with candidate names beside the ids."""
    spec = spec or load_spec(root)
    data = _results_json(root, RESULTS_FILE)
    names = {sc.id: {c.id: c.name for c in sc.candidates} for sc in spec.contests}
    out = []
    for r in (data or {}).get("contests", []):
        n = names.get(r["contest"], {})
        out.append({**r, "candidate_names": {k: n.get(k, k) for k in r["votes"]}})
    return out


def county_results(root: Path, county_id: str) -> list[dict[str, Any]]:
    """One county's votes in each statewide contest (``results/statewide.json``'s
    ``by_county``), with the candidate names."""
    return [{"name": r["name"], "votes": r["by_county"].get(county_id, {}),
             "candidate_names": r["candidate_names"]} for r in statewide_results(root)]


def state_summary(root: Path) -> dict[str, Any]:
    spec = load_spec(root)
    recon = _results_json(root, RECONCILIATION_FILE)
    return {"name": spec.name, "date": spec.date, "state": spec.state,
            "counties": [asdict(r) for r in counties(root, spec)],
            "checkpoint": state_checkpoint(root),
            "reconciliation": recon["check"] if recon else None,
            "results": statewide_results(root, spec)}


def ballot_proof(root: Path, county_id: str, ballot_id: str) -> tuple[dict[str, Any], list[str]]:
    """The ballot's proof into the latest state checkpoint (:func:`prove_ballot`) and the
    failures :func:`verify_ballot_proof` finds with the state log's published key."""
    load_spec(root).county(county_id)  # an unknown county is a UsageError naming the counties
    proof = prove_ballot(root, county_id, ballot_id)
    return proof, verify_ballot_proof(proof, load_verifier(log_dir(root) / LOG_KEY))


def activity_committed(root: Path) -> tuple[int, int] | None:
    """``(publication, entries)``: the latest state checkpoint that commits the activity log
    and how many entries it commits (None before any does)."""
    from ..state.activity_log import commitment

    _, checkpoints = load_state_log(root)
    for k in range(len(checkpoints), 0, -1):
        c = commitment(checkpoints[k - 1].checkpoint.extensions)
        if c is not None:
            return k, c.count
    return None

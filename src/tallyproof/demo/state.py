"""A synthetic state: many counties of different sizes, each with its own export, run through
the statewide stages on the executor seam (Dask by default).

Counties are drawn with the county generator (:func:`~tallyproof.demo.county.build_county`),
each from its own seed; they export Dominion JSON, except every fourth county, which exports
Dominion's CSV (``CvrExport.csv``), as Arlo and ColoradoRLA read it. Counties spell the
statewide contests their own way: every third county writes "GOVERNOR" (matched by name), and
county 2 calls it "Governor and Lieutenant Governor" with candidates as "LAST, First" (matched
through ``state.json`` aliases, as Arlo's standardized contests do).

The statewide contests are the county ballot's contests that every county carries: President,
U.S. Senator, Governor and the two propositions; the rest stay county contests.

One county (county 5, or county 3 or 2 of a smaller state) has no CVR-capable equipment:
it publishes a ballot manifest and batch tallies only (:mod:`.state_batch`,
:mod:`tallyproof.state.batch_county`).

The statewide audit of the paper runs at the end (:mod:`.state_audit`): stratified (card-level
comparison in the CVR counties, batch comparison in the batch-tally county), with simulated
audit boards reading each county's paper.

Faults are named per county (``delete-batch@county-03``): the county's export is built with
that fault and the per-county checks must catch it in that county (the check's name carries
the county id). ``switch-votes`` switches votes in the closest statewide contest on one
central scanner; only the audit of the paper can catch it, and its check names the county
whose sample shows the overstatements.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from ..fsutil import atomic_write_json
from ..model import ContestKind
from .choices import DEFAULT_STATE_CARDS, DEFAULT_STATE_COUNTIES, EVIDENCE_NOT_ASKED
from .county import ContestDef, build_county
from .faults import FAULTS, apply_faults, check_fault_names

if TYPE_CHECKING:
    from ..state.executor import Executor

STATEWIDE = ("President / Vice President", "U.S. Senator", "Governor",
             "Proposition A - Transit Levy", "Proposition B - Charter Amendment")
GOVERNOR_ALIAS = "Governor and Lieutenant Governor"
MIN_COUNTY_CARDS = 300
MARKER = ".tallyproof-state-demo.json"
CSV_EVERY = 4
COUNTY_FAULTS = ("delete-batch", "add-ballots", "alter-after-commit", "results-mismatch",
                 "switch-votes")


def county_ids(n: int) -> list[str]:
    return [f"county-{i:02d}" for i in range(1, n + 1)]


def county_sizes(total: int, n: int) -> list[int]:
    """A skewed split of ``total`` cards (a few large counties, many small: Zipf-like weights
    1/k), at least :data:`MIN_COUNTY_CARDS` each, summing exactly to ``total``."""
    if total < n * MIN_COUNTY_CARDS:
        raise UsageError(f"--cards must be at least {n * MIN_COUNTY_CARDS:,} for {n} counties")
    w = 1.0 / np.arange(1, n + 1)
    rest = total - n * MIN_COUNTY_CARDS
    sizes = np.floor(w / w.sum() * rest).astype(np.int64) + MIN_COUNTY_CARDS
    sizes[0] += total - int(sizes.sum())
    return [int(s) for s in sizes]


def batch_county_index(n: int) -> int | None:
    """The 1-based index of the county with batch tallies only: 5, or in a smaller state 3
    or 2 (never county 1, the largest, nor a CSV county); none in a state of one county."""
    return next((i for i in (5, 3, 2) if i <= n and i % CSV_EVERY), None)


def county_named(name: str, counties: Sequence[str]) -> str | None:
    """The demo's county id for ``name``: the id itself, or the same county number written
    without the leading zeros (``county-7`` → ``county-07``); None for no such county."""
    if name in counties:
        return name
    m = re.fullmatch(r"county-0*(\d+)", name)
    if m is None:
        return None
    k = int(m.group(1))
    return counties[k - 1] if 1 <= k <= len(counties) else None


def _valid_counties(counties: Sequence[str]) -> str:
    if len(counties) <= 12:
        return ", ".join(counties)
    return f"{counties[0]} … {counties[-1]} ({len(counties)} counties)"


def parse_faults(faults: Sequence[str], counties: Sequence[str], batch: bool = True
                 ) -> dict[str, tuple[str, ...]]:
    """``NAME@COUNTY`` → {county: faults}, the county as its id (``county-07``) or its number
    (``county-7``); a fault without ``@`` is refused (say which county), and so is a county
    the demo does not have (the valid ones listed)."""
    from .state_batch import NOT_FOR_BATCH_COUNTY

    batch_index = batch_county_index(len(counties)) if batch else None
    out: dict[str, list[str]] = {}
    for f in faults:
        name, sep, asked = f.partition("@")
        if not sep:
            raise UsageError(f"--fault {f!r}: a state demo's fault names its county, e.g. "
                             f"{f}@{counties[min(6, len(counties) - 1)]}")
        county = county_named(asked, counties)
        if county is None:
            raise UsageError(f"--fault {f!r}: no county {asked!r} in this demo (its counties: "
                             f"{_valid_counties(counties)})")
        if name not in COUNTY_FAULTS:
            raise UsageError(f"--fault {f!r}: a state demo injects {', '.join(COUNTY_FAULTS)}")
        if batch_index is not None and county == counties[batch_index - 1] and name in NOT_FOR_BATCH_COUNTY:
            raise UsageError(f"--fault {f!r}: {county} reports batch tallies only and has no "
                             "CVRs to inject")
        out.setdefault(county, []).append(name)
    return {c: check_fault_names(v) for c, v in out.items()}


def _spelling(index: int) -> str:
    return "alias" if index == 2 else "upper" if index % 3 == 0 else "plain"


def _respell(contests: tuple[ContestDef, ...], spelling: str) -> tuple[ContestDef, ...]:
    out = []
    for c in contests:
        if c.name == "Governor" and spelling == "upper":
            c = replace(c, name="GOVERNOR")
        elif c.name == "Governor" and spelling == "alias":
            c = replace(c, name=GOVERNOR_ALIAS, candidates=tuple(
                replace(x, name=_last_first(x.name)) for x in c.candidates))
        out.append(c)
    return tuple(out)


def _last_first(name: str) -> str:
    parts = name.split()
    return f"{parts[-1].upper()}, {' '.join(parts[:-1])}" if len(parts) > 1 else name.upper()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class CountyDemo:
    cards: int
    format: str
    faults: tuple[str, ...]
    notes: tuple[str, ...]
    #: seconds this task spent drawing and writing the input (``input``), in ``ingest`` and in
    #: ``commit``, and the CPU seconds of the input (``input_cpu``): the state benchmark
    #: splits the stage with them (the input is not part of the pipeline it times)
    seconds: dict[str, float] = field(default_factory=dict)


def draw_county(cards: int, seed: int, index: int) -> Any:
    """The county's paper and definitions, as drawn (deterministic in its seed), with the
    county's own spelling of the statewide contests."""
    drawn = build_county(cards, seed)
    return replace(drawn, contests=_respell(drawn.contests, _spelling(index)))


def county_demo_task(county: str, root: str, cards: int, seed: int, index: int,
                     faults: Sequence[str], batch: bool = False) -> CountyDemo:
    """Draw one county, write its export and side files, ingest it and commit its log (a
    county with batch tallies only: :func:`_batch_county`)."""
    from ..ingest import ingest
    from ..ledger.log import commit_store
    from ..state.accounting import POLLBOOKS, RESULTS, county_inputs
    from ..state.tasks import county_key_path, county_store_dir
    from ..store import Store
    from .dominion_csv_writer import dominion_csv_from_json
    from .dominion_writer import write_dominion
    from .faults import alter_committed_cvr, shift_results
    from .pipeline import declare_approval, write_demo_key
    from .side_files import (
        results_counts,
        write_ballot_manifest,
        write_official_results,
        write_pollbooks,
    )

    t0, cpu0 = time.perf_counter(), time.process_time()
    drawn = draw_county(cards, seed, index)
    sc = apply_faults(drawn, faults, switch_in=STATEWIDE)
    exports = Path(root) / "exports" / county
    if batch:
        return _batch_county(county, Path(root), drawn, sc, seed, exports)
    export = write_dominion(drawn, sc.reported, exports / "dominion")
    fmt = "dominion"
    source = export.folder
    if index % CSV_EVERY == 0:
        csv_dir = exports / "dominion-csv"
        csv_dir.mkdir(parents=True, exist_ok=True)
        for m in export.folder.glob("*Manifest.json"):
            (csv_dir / m.name).write_bytes(m.read_bytes())
        dominion_csv_from_json(export.folder, csv_dir / "CvrExport.csv")
        fmt, source = "dominion_csv", csv_dir / "CvrExport.csv"
    manifest = write_ballot_manifest(drawn.batches, exports / "ballot_manifest.csv")
    inputs = county_inputs(root, county)
    inputs.mkdir(parents=True, exist_ok=True)
    write_pollbooks(drawn, inputs / POLLBOOKS)
    write_official_results(drawn, shift_results(sc, results_counts(drawn, sc.reported)),
                           inputs / RESULTS)
    t1, cpu1 = time.perf_counter(), time.process_time()
    res = ingest([source], county_store_dir(root, county), fmt=fmt, manifest=manifest)
    store = Store.open(res.store)
    store.set_election_info(jurisdiction=county.replace("-", " ").title())
    declare_approval(store, drawn)
    t2 = time.perf_counter()
    commit_store(store, write_demo_key(county_key_path(root, county), seed))
    seconds = {"input": t1 - t0, "ingest": t2 - t1, "commit": time.perf_counter() - t2,
               "input_cpu": cpu1 - cpu0}
    notes = list(sc.notes)
    if "alter-after-commit" in sc.faults:
        column = store.election.contest(str(drawn.contests[0].id)).column
        notes.append(f"alter-after-commit: ballot {alter_committed_cvr(store.cvrs_path, column)} "
                     "changed after the commitment")
    return CountyDemo(res.cards_total, fmt, sc.faults, tuple(notes), seconds)


def _batch_county(county: str, root: Path, drawn: Any, sc: Any, seed: int,
                  exports: Path) -> CountyDemo:
    from ..state.accounting import POLLBOOKS, RESULTS, county_inputs
    from ..state.batch_county import commit_batch_county, ingest_batch_county
    from ..state.tasks import county_key_path
    from .faults import shift_results
    from .pipeline import write_demo_key
    from .side_files import results_counts, write_pollbooks
    from .state_batch import alter_committed_tally, write_batch_county, write_official_results

    exports.mkdir(parents=True, exist_ok=True)
    manifest, tallies = write_batch_county(root, county, drawn, sc.reported, exports)
    bc = ingest_batch_county(root, county, tallies, manifest)
    inputs = county_inputs(root, county)
    inputs.mkdir(parents=True, exist_ok=True)
    write_pollbooks(drawn, inputs / POLLBOOKS)
    write_official_results(root, county, drawn,
                           shift_results(sc, results_counts(drawn, sc.reported)),
                           inputs / RESULTS)
    commit_batch_county(root, county, write_demo_key(county_key_path(root, county), seed))
    notes = list(sc.notes)
    if "alter-after-commit" in sc.faults:
        notes.append(f"alter-after-commit: batch {alter_committed_tally(root, county)} "
                     "tally changed after the commitment")
    return CountyDemo(bc.cards, "batch_tallies", sc.faults, tuple(notes))


@dataclass(frozen=True)
class CountyLedger:
    ok: bool
    summary: str


def county_ledger_task(county: str, root: str) -> CountyLedger:
    """The county's own log, verified against its CVR table (recorded, so the audit's start
    need not verify it again) or, for a county with batch tallies only, its batch tallies."""
    from ..ledger.verify_store import verify_store
    from ..state.batch_county import is_batch_county, tallies_dir, verify_batch_log
    from ..state.spec import load_spec
    from ..state.tasks import county_store_dir
    from ..store import Store

    if is_batch_county(load_spec(Path(root)), county):
        failures = verify_batch_log(tallies_dir(root, county))
        return CountyLedger(not failures, "; ".join(failures[:3]) or
                            "every batch tally and signed checkpoint verifies")
    rep = verify_store(Store.open(county_store_dir(root, county)), record=True)
    return CountyLedger(rep.ok, "every committed CVR and signed checkpoint verifies" if rep.ok
                        else "; ".join(f.message for f in rep.failures[:3]))


def certified_statewide(root: Path, out: Path) -> Path:
    """The statewide certified totals a state would publish: the sum, over counties, of each
    county's certified results for the statewide contests (mapped as the tabulation maps)."""
    from ..formats.results import ALL, read_official_results
    from ..state.accounting import RESULTS, county_inputs
    from ..state.batch_county import BATCH_TALLIES, load_batch_county, tallies_dir
    from ..state.spec import load_spec, map_county
    from ..state.tasks import county_store_dir
    from ..store import Store

    spec = load_spec(root)
    totals: dict[tuple[str, str], int] = {}
    for county in spec.counties:
        if county.kind == BATCH_TALLIES:
            election = load_batch_county(tallies_dir(root, county.id)).election
        else:
            election = Store.open(county_store_dir(root, county.id)).election
        res = read_official_results(county_inputs(root, county.id) / RESULTS, election)
        by_id = {c.id: c for c in election.contests}
        for m in map_county(spec, county.id, election.contests):
            sc = next(c for c in spec.contests if c.id == m.state_contest)
            counts = res.counts.get(m.county_contest, {}).get(ALL, {})
            cands = by_id[m.county_contest].candidates
            for cand, code in zip(sc.candidates, m.codes, strict=True):
                if code >= 0:
                    key = (sc.id, cand.id)
                    totals[key] = totals.get(key, 0) + counts.get(cands[code].id, 0)
    rows = "".join(f"{c},{k},{v}\n" for (c, k), v in sorted(totals.items()))
    from ..fsutil import atomic_write_bytes

    atomic_write_bytes(out, ("contest,candidate,votes\n" + rows).encode())
    return out


@dataclass
class StateDemoResult:
    out: Path
    counties: dict[str, CountyDemo] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dashboard: str | None = None
    bundle: Path | None = None
    seed: int | None = None

    def fault_outcomes(self) -> dict[str, dict[str, Any]]:
        """Per ``fault@county``: the check that should catch it and the checks that failed in
        that county (a fault is caught only when its check failed in its own county)."""
        out: dict[str, dict[str, Any]] = {}
        for county, names in sorted(self.faults.items()):
            for f in names:
                want = FAULTS[f].caught_by
                caught = [c["name"] for c in self.checks if c["status"] == "fail"
                          and c["name"].startswith(f"{county}:")
                          and c["name"].split(":", 1)[1].split(".")[0] == want.split(".")[0]]
                out[f"{f}@{county}"] = {"expected_check": f"{county}:{want}",
                                        "caught_by": caught}
        return out

    @property
    def ok(self) -> bool:
        if self.faults:
            return all(o["caught_by"] for o in self.fault_outcomes().values())
        return all(c["status"] == "pass" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The county demo's summary (``ok``, ``cards``, ``seed``, ``faults``, ``report``
        and ``bundle`` paths, ``checks`` with name, status, summary and details, ``notes``)
        with the state's own keys: its counties, state folder and Dask dashboard."""
        b = self.bundle
        return {"ok": self.ok, "out": str(self.out), "seed": self.seed,
                "counties": {c: {"cards": d.cards, "format": d.format, "faults": list(d.faults)}
                             for c, d in sorted(self.counties.items())},
                "cards": sum(d.cards for d in self.counties.values()),
                "faults": self.fault_outcomes(),
                "checks": [{"details": {}, **c} for c in self.checks], "notes": self.notes,
                "state": str(self.out / "state"), "dashboard": self.dashboard,
                "report": {"html": str(b / "report" / "report.html") if b else None,
                           "pdf": str(b / "report" / "report.pdf") if b else None},
                "bundle": {"folder": str(b) if b else None,
                           "zip": str(b.with_name(b.name + ".zip")) if b else None}}


def _statewide_contests(index_county: Any) -> list[Any]:
    """Statewide contests from a drawn county's definitions (candidate ids from names)."""
    from ..state.spec import Alias
    from ..state.workflow import contest_from_options

    out = []
    for c in index_county.contests:
        if c.name not in STATEWIDE:
            continue
        cands = [f"{_slug(x.name)}={x.name}" for x in c.candidates if not x.write_in]
        kind = "approval" if c.kind == ContestKind.APPROVAL else "plurality"
        m = c.to_model()
        sc = contest_from_options(_slug(c.name), c.name, cands, kind, m.seats, m.vote_for)
        if c.name == "Governor":
            sc = replace(sc, aliases={"county-02": Alias(GOVERNOR_ALIAS, {
                _slug(x.name): _last_first(x.name) for x in c.candidates if not x.write_in})})
        out.append(sc)
    return out


def run_state_demo(out: Path, counties: int = DEFAULT_STATE_COUNTIES,
                   cards: int = DEFAULT_STATE_CARDS, seed: int = 2026,
                   faults: Sequence[str] = (), scheduler: str | None = None,
                   in_process: bool = False,
                   progress: Callable[[str, Any], None] | None = None,
                   batch: bool = True, audit: bool = True,
                   ex: Executor | None = None, evidence: bool = True) -> StateDemoResult:
    """Build the state, run every county through ingest and commit on the executor, publish
    the state log, tabulate statewide and run every county's checks, run the statewide audit,
    build the state bundle and verify it. Every per-county stage runs on ``ex`` when given
    (the caller's executor, e.g. one that shows progress), else on the one
    ``scheduler``/``in_process`` ask for.

    ``batch`` False leaves out the county with batch tallies only, and ``audit`` False stops
    before the statewide audit: the control room's demo and tests start the audit from the
    web, where boards enter card readings and batch counts.

    ``evidence`` False stops before the statewide report, bundle and its verification
    (``verify`` recorded as ``not_run``), as ``run_demo(evidence=False)`` does: for tests of
    the checks that catch faults, where those stages cost most of the run and catch none of
    the faults."""
    import shutil

    from ..ledger.keys import load_verifier
    from ..state.accounting import check_statewide_results, reconcile_state
    from ..state.executor import executor
    from ..state.spec import load_spec
    from ..state.statelog import prove_ballot, publish, verify_ballot_proof, verify_state_log
    from ..state.workflow import add_contest, add_county, init_state, tabulate_state
    from .county import ELECTION_DATE
    from .pipeline import write_demo_key

    if ex is None:
        with executor("inprocess" if in_process else "dask" if scheduler else "local",
                      scheduler) as made:
            return run_state_demo(out, counties, cards, seed, faults, progress=progress,
                                  batch=batch, audit=audit, ex=made, evidence=evidence)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise UsageError(f"{out} is not empty and was not made by `tallyproof demo --state`")
        shutil.rmtree(out)
    ids = county_ids(counties)
    by_county = parse_faults(faults, ids, batch)
    sizes = county_sizes(cards, counties)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / MARKER, {"counties": counties, "cards": cards, "seed": seed,
                                     "faults": list(faults)})
    root = out / "state"
    init_state(root, "Synthetic State General Election", ELECTION_DATE, "SY")
    batch_index = batch_county_index(counties) if batch else None
    batch_id = ids[batch_index - 1] if batch_index else None
    for c in ids:
        add_county(root, c, c.replace("-", " ").title(),
                   "batch_tallies" if c == batch_id else "cvrs")
    for sc in _statewide_contests(build_county(MIN_COUNTY_CARDS, seed)):
        add_contest(root, sc)
    result = StateDemoResult(out=out, faults=by_county, seed=seed)
    result.dashboard = ex.dashboard
    builds = {c: (size, seed * 1000 + i, i, by_county.get(c, ()))
              for i, (c, size) in enumerate(zip(ids, sizes, strict=True), start=1)}
    built = ex.map_each(county_demo_task, [
        (c, (str(root), *builds[c], c == batch_id)) for c in ids],
        progress=(lambda o: progress("county", o.county)) if progress else None)
    for o in built:
        if not o.ok or o.value is None:
            raise UsageError(f"county {o.county} could not be built: {o.error}")
        result.counties[o.county] = o.value
        result.notes += [f"{o.county}: {n}" for n in o.value.notes]
    from ..state.tasks import CountyCommit, commit_task

    commits: list[Any] = ex.map(commit_task, ids, str(root))
    tabulated = tabulate_state(root, ex)
    ledgers = ex.map(county_ledger_task, ids, str(root))
    account = reconcile_state(root, ex)
    from .pipeline import _audit_seed
    from .state_audit import run_state_audit

    audit_checks: list[dict[str, Any]] = []
    if audit:
        audit_checks, audit_notes, _ = run_state_audit(root, ex, builds, _audit_seed(seed),
                                                       batch_id is not None)
        result.notes += audit_notes
    state_key = write_demo_key(out / "keys" / "state", seed)
    pub = publish(root, state_key, {o.county: o.value for o in commits
                                    if isinstance(o.value, CountyCommit)})
    for o in ledgers:
        ok = o.value is not None and o.value.ok
        result.checks.append({"name": f"{o.county}:ledger", "status": "pass" if ok else "fail",
                              "summary": o.value.summary if o.value else o.error or ""})
    for county, acc in sorted(account.counties.items()):
        for name, status, summary in acc.checks:
            result.checks.append({"name": f"{county}:{name}", "status": status,
                                  "summary": summary})
    result.checks.append(account.check.to_json())
    result.checks += audit_checks
    certified = certified_statewide(root, out / "certified_statewide.csv")
    official = check_statewide_results(root, certified)
    result.checks.append(official.to_json())
    failures = verify_state_log(root, load_verifier(state_key.with_name("state.pub")))
    result.checks.append({"name": "state_log", "status": "fail" if failures else "pass",
                          "summary": "; ".join(failures) or
                          f"{pub.tree_size} county checkpoints signed by the state; every "
                          "county checkpoint signed by its county"})
    probe = next(c for c in reversed(ids) if c != batch_id)
    proof = prove_ballot(root, probe, _first_ballot(root, probe))
    bad = verify_ballot_proof(proof, load_verifier(state_key.with_name("state.pub")))
    result.checks.append({"name": "state_proof", "status": "fail" if bad else "pass",
                          "summary": "; ".join(bad) or f"a ballot of {probe} proves into the "
                          "state checkpoint"})
    result.checks.append(statewide_tabulation(tabulated, official, load_spec(root)))
    if evidence:
        _state_bundle(result, root, out, ex)
    else:
        result.checks.append({"name": "verify", "status": "not_run",
                              "summary": EVIDENCE_NOT_ASKED})
    return result


def statewide_tabulation(tabulated: Sequence[Any], official: Any, spec: Any) -> dict[str, Any]:
    """The statewide count as a check: it fails when a statewide contest has no decided
    outcome (a tie for the last seat, or no county counting it) or when the statewide totals
    differ from the certified statewide totals (``official``, the
    ``state.official_results`` comparison); the summary gives each contest's winners."""
    names = {sc.id: {c.id: c.name for c in sc.candidates} for sc in spec.contests}
    undecided = [r.name for r in tabulated if r.tied or not r.winners]
    differ = official.details.get("differences", [])
    won = "; ".join(f"{r.name}: {', '.join(names[r.contest][w] for w in r.winners) or 'none'} "
                    f"won ({r.cards:,} cards, {len(r.by_county)} counties)" for r in tabulated)
    problems = ([f"no decided outcome in {', '.join(undecided)}"] if undecided else []) + (
        [f"{len(differ)} statewide count(s) differ from the certified statewide totals"]
        if official.status == "fail" else [])
    return {"name": "statewide_tabulation", "status": "fail" if problems else "pass",
            "summary": "; ".join(problems + [won]) if problems else
            f"{won}; the certified statewide totals agree",
            "details": {"undecided": undecided, "differences": differ}}


def _state_bundle(result: StateDemoResult, root: Path, out: Path, ex: Executor) -> None:
    """The statewide report and bundle, then ``verify`` of the bundle from scratch (its
    county-by-county checks on the same executor)."""
    from ..errors import TallyproofError
    from ..state.evidence import build_state_bundle
    from ..verify import verify_bundle

    try:
        bundle = build_state_bundle(root, out / "bundle", ex)
    except TallyproofError as exc:
        result.checks.append({"name": "state_bundle", "status": "fail", "summary": str(exc)})
        return
    result.bundle = bundle
    rep = verify_bundle(bundle, executor=ex)
    result.checks.append({"name": "verify", "status": "pass" if rep.ok else "fail",
                          "summary": rep.verdict.text if rep.verdict else ""})


def _first_ballot(root: Path, county: str) -> str:
    from ..store import Store
    from ..state.tasks import county_store_dir

    ids = Store.open(county_store_dir(root, county)).cvrs(columns=["ballot_id"])
    return str(ids.column("ballot_id")[0].as_py())

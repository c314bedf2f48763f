"""Run the whole of tallyproof on the demo county and record every check's verdict.

Stages, in order: draw the county → inject export-side faults → write the Dominion export, the
side files and the county's voter files (roll, history, mail ballots and death records:
``voter_files``) → ingest → declare the approval question → commit the CVRs to the log (→
``alter-after-commit``) → verify the log → tabulate → compare with the official results →
reconcile → comparison audit with simulated audit boards → the voter checks on the voter
files → report → bundle (taking over the report: :mod:`tallyproof.evidence.shared`) → verify
the bundle.

A stage that raises a tallyproof error (bad evidence stopping it, e.g. an
audit refusing CVRs that do not match the manifest) is a ``fail`` of that stage's check with the
error's message; any other exception is a bug and propagates.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audit.frames import shared_cards
from ..audit.workflow import (
    CONFIRMED,
    FULL_HAND_COUNT,
    AuditStatus,
    audit_status,
    next_round,
    record_interpretations,
    simulate_audit_boards,
    start_audit,
)
from ..errors import TallyproofError, UsageError
from ..evidence import shared
from ..evidence.bundle import build_bundle, deflate_early
from ..evidence.checks import Check
from ..evidence.collect import (
    compute_tabulation,
    published_tabulations,
    results_history_of,
    tabulation_check,
)
from ..evidence.report import build_report
from ..evidence.results_check import check_official_results
from ..ledger import commit_store, verify_store
from ..reconcile import reconcile_store
from ..tabulate import tabulate_store
from ..verify import verify_bundle
from ..fsutil import atomic_write_bytes, atomic_write_json
from ..memory import lean_arrow_pool, peak_rss_mb, release_memory, reset_peak_rss
from ..model import ContestKind
from ..store import Store
from .choices import EVIDENCE_NOT_ASKED
from .county import DEFAULT_CARDS, County, build_county
from .dominion_writer import write_dominion
from .faults import FAULTS, Scenario, alter_committed_cvr, apply_faults, caught, shift_results
from .side_files import (
    results_counts,
    write_ballot_manifest,
    write_official_results,
    write_pollbooks,
)

MARKER = "tallyproof-demo.json"
#: The second part of the demo's export: the mail ballots (Dominion counting group 2).
EXPORT_MAIL, MAIL_GROUP = "export-mail", 2
DEFAULT_RISK_LIMIT = 0.05
MAX_AUDIT_ROUNDS = 2
KEY_NAME = "riverton-county-demo"
#: The audit's start time as recorded (fixed, so that two runs give the same bytes).
AUDIT_TIME = "2026-11-10T16:00:00Z"

#: Progress callback: (stage name, fraction of the whole run done).
Progress = Callable[[str, float], None]

_STAGES = (
    "county",
    "export",
    "ingest",
    "results_history",
    "commit",
    "ledger",
    "tabulation",
    "official_results",
    "reconciliation",
    "audit",
    "voters",
    "report",
    "bundle",
    "verify",
)


@dataclass
class DemoResult:
    """Where everything went and what every check said."""

    out: Path
    cards: int
    seed: int
    faults: tuple[str, ...]
    store: Path | None = None
    export: Path | None = None
    report_html: Path | None = None
    report_pdf: Path | None = None
    bundle: Path | None = None
    bundle_zip: Path | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: each stage's peak resident size of this process (MiB; Linux), forked helpers aside
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    def fault_outcomes(self) -> dict[str, dict[str, Any]]:
        """For each injected fault: the check that should catch it and the ones that did."""
        return {
            f: {"expected_check": FAULTS[f].caught_by, "caught_by": caught(f, self.checks)}
            for f in self.faults
        }

    @property
    def ok(self) -> bool:
        """Clean run: every check passed (none failed, none left not run). With faults: each
        fault was caught by the check meant to catch it."""
        if self.faults:
            return all(o["caught_by"] for o in self.fault_outcomes().values())
        return all(c["status"] == "pass" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        def p(x: Path | None) -> str | None:
            return None if x is None else str(x)

        return {
            "ok": self.ok,
            "out": str(self.out),
            "cards": self.cards,
            "seed": self.seed,
            "faults": self.fault_outcomes(),
            "store": p(self.store),
            "export": p(self.export),
            "report": {"html": p(self.report_html), "pdf": p(self.report_pdf)},
            "bundle": {"folder": p(self.bundle), "zip": p(self.bundle_zip)},
            "checks": self.checks,
            "notes": self.notes,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "peak_rss_mb": {k: round(v, 1) for k, v in self.peak_rss_mb.items()},
        }


# ---------------------------------------------------------------------------- helpers
def _check(
    name: str, status: str, summary: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"name": name, "status": status, "summary": summary, "details": details or {}}


def _as_check(check: Check) -> dict[str, Any]:
    """An evidence check as the summary's dict (its details copied: the demo adds to them)."""
    return _check(check.name, check.status, check.summary, dict(check.details))


def prepare_out_dir(out: Path) -> None:
    """Use ``out`` for a fresh run: it must be absent, empty, or a previous demo's folder
    (recognised by its marker file), which is cleared. Anything else is refused."""
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            if not (out / MARKER).exists():
                raise UsageError(
                    f"{out} is not empty and was not made by `tallyproof demo`; "
                    "choose another --out"
                )
            for child in sorted(out.iterdir()):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_demo_key(path: Path, seed: int) -> Path:
    """A signing key derived from the seed, so every run of a seed publishes the same verifier
    key (the log's leaf salts still differ: they are secret random bytes by design).
    Acceptable only for a demo: a real election's key must be random and kept secret."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..ledger.keys import ALG_ED25519, Signer

    raw = hashlib.sha256(f"tallyproof demo key {seed}".encode()).digest()
    secret = base64.b64encode(bytes([ALG_ED25519]) + raw).decode()
    signer = Signer(KEY_NAME, Ed25519PrivateKey.from_private_bytes(raw))
    ver = signer.verifier
    atomic_write_bytes(
        path, f"PRIVATE+KEY+{KEY_NAME}+{ver.key_id.hex()}+{secret}\n".encode(), mode=0o600
    )
    atomic_write_bytes(path.with_name(path.name + ".pub"), (ver.vkey + "\n").encode(), mode=0o644)
    return path


def declare_approval(store: Store, county: County) -> list[str]:
    """Dominion exports cannot say a contest is decided by approval (its manifest only has
    ``VoteFor``), so the reader sees a vote-for-N contest; the county's election definition says
    otherwise, and the demo records that before the CVRs are committed."""
    ids = {str(c.id) for c in county.contests if c.kind == ContestKind.APPROVAL}
    changed = [c.id for c in store.election.contests
               if c.id in ids and c.kind != ContestKind.APPROVAL]
    for cid in changed:
        store.set_contest_rule(cid, kind=ContestKind.APPROVAL, seats=1)
    return changed


class PaperBallots:
    """The audit boards' view: the true marks on each paper card, in the store's codes.

    Built from the county's paper, so under ``switch-votes`` it disagrees with the CVRs of the
    switched tabulator exactly as the physical ballots would.
    """

    def __init__(self, county: County, store: Store) -> None:
        self._county = county
        election = store.election
        self._maps: dict[str, tuple[int, np.ndarray]] = {}
        for c, cd in enumerate(county.contests):
            try:
                contest = election.contest(str(cd.id))
            except KeyError:
                continue
            codes = np.array([contest.candidate_index(str(x.id)) for x in cd.candidates])
            self._maps[contest.id] = (c, codes)

    def row(self, ballot_id: str) -> int | None:
        """The paper card's row, ``None`` if there is no such card. The paper is ordered by
        (tabulator, batch, record), so the id ``T-B-R`` is found by binary search: no index
        of every card is built (the audit looks up a few of millions)."""
        parts = ballot_id.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            return None
        t, b, r = (int(p) for p in parts)
        if f"{t}-{b}-{r}" != ballot_id:  # not as the reader writes ids (e.g. "01-2-3")
            return None
        paper = self._county.paper
        lo, hi = 0, len(paper)
        for column, value in ((paper.tabulator, t), (paper.batch, b), (paper.record, r)):
            part = column[lo:hi]
            if value > np.iinfo(part.dtype).max:
                return None
            v = part.dtype.type(value)  # the column's own type: numpy does not copy it
            lo, hi = (lo + int(np.searchsorted(part, v, "left")),
                      lo + int(np.searchsorted(part, v, "right")))
        return lo if hi - lo == 1 else None

    def marks(self, ballot_id: str, contest_id: str) -> list[list[int]] | None:
        """Codes marked at each rank on the paper card, ``None`` if the card does not exist
        (an injected CVR has no paper) or the contest is not on it."""
        i = self.row(ballot_id)
        if i is None or contest_id not in self._maps:
            return None
        c, codes = self._maps[contest_id]
        if not self._county.paper.on_card[i, c]:
            return None
        grid = self._county.paper.marks[c][i]
        # Same shape as the reader's CVRs: one list per rank position offered.
        return [[int(codes[k]) for k in np.flatnonzero(row)] for row in grid]

    def card(self, ballot_id: str) -> dict[str, list[list[int]]] | None:
        """Every contest on the paper card, or ``None`` if there is no such card."""
        if self.row(ballot_id) is None:
            return None
        result = {}
        for cid in self._maps:
            m = self.marks(ballot_id, cid)
            if m is not None:
                result[cid] = m
        return result

    def __call__(self, ballot_id: str) -> dict[str, list[list[int]]] | None:
        """The ``paper`` callable of :func:`tallyproof.audit.workflow.simulate_audit_boards`."""
        return self.card(ballot_id)


@contextmanager
def _timed(result: DemoResult, stage: str, progress: Progress | None) -> Iterator[None]:
    if progress is not None:
        progress(stage, _STAGES.index(stage) / len(_STAGES))
    reset_peak_rss()
    t0 = time.perf_counter()
    yield
    result.timings[stage] = time.perf_counter() - t0
    peak = peak_rss_mb()
    if peak is not None:
        result.peak_rss_mb[stage] = peak
    release_memory()  # the next stage's peak comes on top of no freed memory still held


# ---------------------------------------------------------------------------- the run
def run_demo(
    out: Path,
    cards: int = DEFAULT_CARDS,
    seed: int = 2026,
    faults: tuple[str, ...] | list[str] = (),
    progress: Progress | None = None,
    risk_limit: float = DEFAULT_RISK_LIMIT,
    evidence: bool = True,
) -> DemoResult:
    """Build the county, run every stage and return where things are and what each check said.

    ``evidence=False`` stops before the report, bundle and bundle verification (recorded as
    ``not_run``): for tests of the checks that catch faults, where those stages add only time.
    """
    out = Path(out)
    lean_arrow_pool()  # every stage in one process: the allocator that keeps least (memory.py)
    prepare_out_dir(out)
    atomic_write_json(out / MARKER, {"cards": cards, "seed": seed, "faults": list(faults)})
    result = DemoResult(out=out, cards=cards, seed=seed, faults=tuple(faults))

    with _timed(result, "county", progress):
        county = build_county(cards, seed)
        scenario = apply_faults(county, faults)
        result.faults = scenario.faults
        result.notes += scenario.notes

    with _timed(result, "export", progress):
        # two parts, as counties export them: everything counted by election night, then the
        # mail ballots counted later (a second export with the same manifests)
        reported = scenario.reported
        mail = reported.counting_group == MAIL_GROUP
        export = write_dominion(county, reported.select(~mail), out / "export")
        late = write_dominion(county, reported.select(mail), out / EXPORT_MAIL)
        manifest = write_ballot_manifest(county.batches, out / "ballot_manifest.csv")
        pollbooks = write_pollbooks(county, out / "pollbooks.csv")
        counts = shift_results(scenario, results_counts(county, scenario.reported))
        results = write_official_results(county, counts, out / "official_results.csv")
        result.export = export.folder
        from .voter_files import draw_voter_files, planted_notes

        voter_notes = planted_notes(scenario.faults,
                                    draw_voter_files(county, out / "voters", scenario.faults))
        # election night's unofficial publications, as the county published them
        from .election_night import write_election_night

        night = write_election_night(county, scenario.reported, out / "election-night",
                                     shift="results-shift" in scenario.faults)

    with _timed(result, "ingest", progress):
        from ..ingest import ingest

        res = ingest([export.folder, late.folder], out / "store", fmt="dominion",
                     manifest=manifest)
        store = Store.open(res.store)
        result.store = store.root
        changed = declare_approval(store, county)
        if changed:
            result.notes.append(f"contest(s) {', '.join(changed)} declared approval (seats 1)")

    with _timed(result, "results_history", progress):
        # election night: the unofficial results as published (drawn with the export), into
        # the store's history (committed with the CVRs), and how they changed
        from ..results_history import add_snapshot

        for snap in night:
            add_snapshot(store, snap.path, snap.timestamp)
        if "results-shift" in scenario.faults:
            result.notes.append("results-shift: the publication at 09:00 on 4 November moves "
                                "votes between two candidates with no new ballots")
        result.checks.append(_as_check(results_history_of(store)))

    _commit_and_verify(result, store, county, scenario, progress)
    with store.reading_cvrs_once():  # the count, its recount and both comparisons: one read
        _tabulate(result, store, progress)
        _official_results(result, store, results, progress)
        _reconcile(result, store, pollbooks, results, progress)
    _audit(result, store, county, seed, risk_limit, progress)
    # the synthetic county (every card's truth) is the generator's, not the pipeline's: the
    # audit boards' paper was its last use; the voter checks and the evidence stages read only
    # the store and the files
    del county, scenario, reported, mail
    gc.collect()
    release_memory()
    with shared.one_report():  # the bundle takes over the report and the zip's deflate
        if evidence:
            # the store's large files are final: the zip's deflate starts now, on the core
            # the voter checks and the report leave idle (:mod:`tallyproof.evidence.shared`)
            deflate_early(store.root)
        with _timed(result, "voters", progress):
            from .voter_files import run_voter_checks

            result.checks += [_as_check(c) for c in run_voter_checks(store, out / "voters")]
            result.notes += voter_notes
        bundle = _report_and_bundle(result, store, progress) if evidence else None
    # outside the block: nothing it kept (the report, the deflated streams) is held by verify
    if bundle is not None:
        _verify(result, bundle, progress)
    else:
        result.checks.append(_check("verify", "not_run", EVIDENCE_NOT_ASKED))
    if progress is not None:
        progress("done", 1.0)
    return result


def _commit_and_verify(
    result: DemoResult, store: Store, county: County, scenario: Scenario, progress: Progress | None
) -> None:
    with _timed(result, "commit", progress):
        key = write_demo_key(result.out / "keys" / KEY_NAME, county.seed)
        commit_store(store, key)
        if "alter-after-commit" in scenario.faults:
            column = store.election.contest(str(county.contests[0].id)).column
            ballot = alter_committed_cvr(store.cvrs_path, column)
            result.notes.append(f"alter-after-commit: ballot {ballot} changed in cvrs.parquet")
    with _timed(result, "ledger", progress):
        rep = verify_store(store, record=True)  # the audit's start relies on this record
        failures = [
            {"check": f.check, "message": f.message, "ballot_ids": list(f.ballot_ids)[:100]}
            for f in rep.failures
        ]
        result.checks.append(
            _check(
                "ledger",
                "pass" if rep.ok else "fail",
                "every committed CVR and signed checkpoint verifies"
                if rep.ok
                else "; ".join(f["message"] for f in failures[:3]),
                {"failures": failures},
            )
        )


def _tabulate(result: DemoResult, store: Store, progress: Progress | None) -> None:
    with _timed(result, "tabulation", progress):
        outcome = tabulate_store(store, write=True)  # publish, as `tallyproof tabulate` does
        winners = {c.contest_id: list(c.winners) for c in outcome.contests}
        check = _as_check(tabulation_check(compute_tabulation(store), published_tabulations(store)))
        check["details"]["winners"] = winners
        result.checks.append(check)


def _official_results(
    result: DemoResult, store: Store, results: Path, progress: Progress | None
) -> None:
    with _timed(result, "official_results", progress):
        try:
            result.checks.append(_as_check(check_official_results(store, results).to_check()))
        except TallyproofError as exc:
            result.checks.append(_check("official_results", "fail", str(exc)))


def _reconcile(
    result: DemoResult, store: Store, pollbooks: Path, results: Path, progress: Progress | None
) -> None:
    with _timed(result, "reconciliation", progress):
        try:
            rep = reconcile_store(store, pollbooks=pollbooks, results=results)
        except TallyproofError as exc:
            result.checks.append(_check("reconciliation", "fail", str(exc)))
            return
        have = {c["name"] for c in result.checks}
        for chk in rep.checks:
            c = _as_check(chk)
            if c["name"] not in have:  # official_results is also checked above; keep one
                result.checks.append(c)


def _audit(
    result: DemoResult,
    store: Store,
    county: County,
    seed: int,
    risk_limit: float,
    progress: Progress | None,
) -> None:
    with _timed(result, "audit", progress), shared_cards():  # the CVR table read once
        paper = PaperBallots(county, store)
        try:
            start_audit(
                store,
                risk_limit=risk_limit,
                seed=_audit_seed(seed),
                kind="comparison",
                now=AUDIT_TIME,
            )
        except TallyproofError as exc:
            # an audit that never started examined no paper: it caught nothing ("not run"),
            # whatever else went wrong; a fault is caught only by a check that ran and failed
            result.checks.append(_check("audit", "not_run", f"the audit could not start: {exc}"))
            return
        status = None
        for n in range(1, MAX_AUDIT_ROUNDS + 1):
            try:
                rnd = next_round(store)
                records = simulate_audit_boards(store, rnd, paper=paper)
                record_interpretations(store, records)
                status = audit_status(store)
            except TallyproofError as exc:
                if status is None:
                    result.checks.append(
                        _check("audit", "not_run", f"the audit could not proceed: {exc}")
                    )
                    return
                result.notes.append(f"audit round {n} could not be completed: {exc}")
                break
            if _audit_finished(status):
                break
        result.checks.append(_audit_check(status))


def _audit_seed(seed: int) -> str:
    """A public 20-digit seed, as if from dice, derived from the demo seed."""
    digits = hashlib.sha256(f"demo audit seed {seed}".encode()).hexdigest()
    return "".join(str(int(ch, 16) % 10) for ch in digits[:20])


def _audit_finished(status: AuditStatus) -> bool:
    return status.status in (CONFIRMED, FULL_HAND_COUNT)


def _audit_check(status: AuditStatus | None) -> dict[str, Any]:
    """Pass when every audited outcome is confirmed; otherwise the audit escalated (another
    round or a full hand count), which is how a comparison audit reports disagreeing paper."""
    if status is None:
        return _check("audit", "not_run", "no audit round could be completed")
    state = status.status
    details = status.to_json()
    found = {"o1": 0, "o2": 0, "u1": 0, "u2": 0}
    for contest in details.get("contests", []):
        for a in contest.get("assertions", []):
            for k in found:
                found[k] += int((a.get("discrepancies") or {}).get(k, 0))
    rounds = status.rounds
    if state == "confirmed":
        return _check(
            "audit",
            "pass",
            f"every audited outcome confirmed at the risk limit after {rounds} round(s)",
            details,
        )
    return _check(
        "audit",
        "fail",
        f"the audit escalated ({state.replace('_', ' ')}) after {rounds} round(s): "
        f"{found['o2']} two-vote and {found['o1']} one-vote overstatement(s) found",
        details,
    )


def _report_and_bundle(result: DemoResult, store: Store, progress: Progress | None) -> Path:
    """The report, then the bundle (inside :func:`shared.one_report`: it takes the report
    over); returns the bundle's folder."""
    with _timed(result, "report", progress):
        paths = build_report(store, result.out / "report")
        result.report_html, result.report_pdf = paths.html, paths.pdf
    with _timed(result, "bundle", progress):
        bundle = build_bundle(store, result.out / "bundle")
        result.bundle, result.bundle_zip = bundle.folder, bundle.zip
    return bundle.folder


def _verify(result: DemoResult, bundle: Path, progress: Progress | None) -> None:
    with _timed(result, "verify", progress):
        rep = verify_bundle(bundle)
        failures = [f.message for f in rep.failures]
        result.checks.append(
            _check(
                "verify",
                "pass" if rep.ok else "fail",
                "the published bundle re-verifies from scratch"
                if rep.ok
                else f"bundle verification failed: {'; '.join(failures[:3])}",
                {"failures": failures},
            )
        )

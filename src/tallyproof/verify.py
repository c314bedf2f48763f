"""``tallyproof verify``: re-check an election from its bundle alone (docs/bundle.md).

The verifier treats the bundle as data only: it reads JSON, CSV and Parquet with the same
parsers the rest of tallyproof uses, never unpickles, never loads templates or code from the
bundle, and extracts a zip only after refusing absolute paths, ``..`` components, symbolic
links, duplicate names and device files, so nothing can be written outside the target folder.

Checks (each named, so a failure says which evidence broke):

``bundle.manifest``  every file listed in SHA256SUMS is present with that hash, and no other
                     file is present (missing, extra and altered files are each named);
``ledger``           every leaf and signed checkpoint of the bundled log (tallyproof.ledger);
``tabulation``       counting the bundled CVRs gives the bundled published results;
``reconciliation``   recomputing the ballot accounting gives the bundled reconciliation.json,
                     and each of its checks (``reconciliation.*``, ``official_results``) is
                     reported with its own status;
``audit``            the sample re-drawn from the seed and the risk recomputed from the
                     audit-board records (tallyproof.audit.workflow) agree with the bundle;
``voters``           the bundled voter-check results (counts only) add up and their statuses
                     follow from their own numbers; the matching is not re-run (it needs
                     personal data, never published: tallyproof.voters.store_evidence);
``report``           the bundled report.html is byte-identical to one rebuilt from the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import importlib
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from .errors import Failure, InputError, TallyproofError
from .bundle_zip import open_zip, parse_sums, safe_extract  # noqa: F401 - safe_extract re-exported
from .evidence.bundle import BUNDLE_JSON, STORE_DIR, SUMS_FILE, iter_files
from .evidence.checks import Check
from .ledger import sha256_batch
from .store import STORE_SCHEMA_VERSION, Store, sha256_file
from .verdict import ESSENTIAL, Verdict, judge



@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checks: list[Check]
    failures: list[Failure] = field(default_factory=list)
    verdict: Verdict | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **(self.verdict.to_json() if self.verdict else {}),
            "checks": [c.to_json() for c in self.checks],
            "failures": [{"check": f.check, "message": f.message} for f in self.failures],
        }


# ---------------------------------------------------------------------------- checks
def manifest_check(folder: Path, digests: dict[str, str] | None = None) -> Check:
    """Compare the files present with SHA256SUMS: name every missing, extra and altered file.
    ``digests``: the files' SHA-256 when already computed (a zip is hashed as it is extracted),
    so nothing is hashed twice."""
    sums = folder / SUMS_FILE
    if not sums.is_file():
        return Check("bundle.manifest", "fail", f"{SUMS_FILE} is missing", {"missing": [SUMS_FILE]})
    listed, bad_lines = parse_sums(sums.read_text(encoding="utf-8", errors="replace"))
    links = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_symlink())
    present = set(iter_files(folder)) - {SUMS_FILE}
    missing = sorted(set(listed) - present)
    extra = sorted(present - set(listed))

    def digest(rel: str) -> str:
        return digests[rel] if digests is not None and rel in digests else sha256_file(folder / rel)

    altered = sorted(rel for rel in sorted(set(listed) & present) if digest(rel) != listed[rel])
    failed = bool(missing or extra or altered or bad_lines or links)
    parts = [f"{len(v)} {k}: {', '.join(v[:20])}" for k, v in
             (("missing", missing), ("extra", extra), ("altered", altered),
              ("malformed SHA256SUMS lines", bad_lines), ("symbolic links", links)) if v]
    summary = "; ".join(parts) if failed else f"all {len(listed)} files match {SUMS_FILE}"
    return Check("bundle.manifest", "fail" if failed else "pass", summary,
                 {"files": len(listed), "missing": missing, "extra": extra, "altered": altered,
                  "malformed_lines": bad_lines, "symlinks": links})


def _load_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError("missing from the bundle", file=path.name) from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", file=path.name) from exc


def _open_store(folder: Path) -> Store:
    """The bundled store, opened read-only (``Store.open`` would take a lock and tidy files)."""
    root = folder / STORE_DIR
    meta = _load_json(root / "store.json")
    if meta.get("schema_version") != STORE_SCHEMA_VERSION:
        raise InputError(f"store schema version {meta.get('schema_version')} is not supported",
                         file="store/store.json")
    return Store(root)


#: What a check may raise when the bundle's data is damaged; the verifier records it as that
#: check's failure (with the message) instead of stopping, so every broken piece is named.
DAMAGE = (TallyproofError, pa.ArrowException, duckdb.Error, OSError, orjson.JSONDecodeError,
          KeyError, ValueError, TypeError)


def verify_folder(folder: Path, public_keys: Sequence[str] | None = None,
                  require: Sequence[str] = (), digests: dict[str, str] | None = None,
                  executor: Any = None) -> VerifyReport:
    """Run every check on an extracted bundle folder (``public_keys``: trusted log keys;
    ``require``: checks that must have run, see :mod:`tallyproof.verdict`; ``digests``: the
    files' SHA-256 when the zip extraction already computed them)."""
    manifest = manifest_check(folder, digests)
    checks: list[Check] = [manifest]
    try:
        meta = _load_json(folder / BUNDLE_JSON)
        if not isinstance(meta, dict) or not isinstance(meta.get("source_date_epoch"), int):
            raise InputError("not a bundle description (no whole-number source_date_epoch)",
                             file=BUNDLE_JSON)
    except InputError as exc:  # a bundle's own description, damaged: alteration, not bad input
        checks.append(Check("bundle.json", "fail", f"bundle.json is not a valid bundle "
                                                   f"description: {exc}"))
        return _report(checks, require)
    if meta.get("kind") == "state" and not manifest.details.get("missing"):
        from .state.evidence import verify_state_folder

        try:
            checks += verify_state_folder(folder, executor, public_keys)
        except DAMAGE as exc:
            checks.append(Check("state.counties", "fail",
                                f"could not be re-checked: {_damage(exc, folder)}"))
        return _report(checks, require, essential=("state.counties", "state.log"))
    if meta.get("kind") == "hand_count" and not manifest.details.get("missing"):
        from .evidence.handcount_report import verify_handcount_bundle

        try:
            checks += verify_handcount_bundle(folder)
        except DAMAGE as exc:
            checks.append(Check("hand_count.rebuild", "fail",
                                f"could not be re-checked: {_damage(exc, folder)}"))
        return _report(checks, require, essential=("hand_count.rebuild",))
    if meta.get("schema_version") != 1:
        raise InputError(f"bundle schema version {meta.get('schema_version')} is not "
                         "supported by this verifier (upgrade tallyproof)", file=BUNDLE_JSON)
    if manifest.details.get("missing"):
        checks.append(Check("evidence", "not_run",
                            "not re-checked: files listed in SHA256SUMS are missing"))
        return _report(checks, require)
    store = _open_store(folder)
    with store.reading_cvrs_once():  # every check below reads the one decoded CVR table
        _county_checks(folder, store, public_keys, checks)
    return _report(checks, require)


def _county_checks(folder: Path, store: Store, public_keys: Sequence[str] | None,
                   checks: list[Check]) -> None:
    """The checks of a county bundle's store, appended to ``checks``."""
    from .evidence.audit_view import audit_check, audit_data
    from .evidence.collect import (
        TABULATION_FILE,
        compute_tabulation,
        ledger_check,
        not_reconciled,
        published_tabulations,
        results_history_of,
        tabulation_check,
    )
    from .ledger.parallel import processes_for, run_pair
    from .reconcile import (
        RECONCILIATION_FILE,
        ReconcileReport,
        bundled_inputs,
        official_results_check,
        store_checks,
        with_results,
    )

    def run(name: str, fn: Any, into: list[Check] = checks) -> Any:
        try:
            return fn()
        except DAMAGE as exc:
            into.append(Check(name, "fail", f"could not be re-checked: {_damage(exc, folder)}"))
            return None

    reconciled = (store.results_dir / RECONCILIATION_FILE).exists()

    def recon_part(into: list[Check], part: ReconcileReport | None, official: Check | None
                   ) -> dict[str, Any] | None:
        """The reconciliation's checks (``part``: :func:`store_checks`, made during the pair;
        ``official``: the certified-results comparison the other process made, or None)."""
        if not reconciled:
            into.append(Check("reconciliation", "not_run", "the bundle holds no reconciliation"))
            into.extend(not_reconciled())
            return None
        if part is None:  # its failure is named already
            return None
        return run("reconciliation", lambda: recon(into, part, official), into)  # type: ignore[no-any-return]

    def recon(into: list[Check], part: ReconcileReport, official: Check | None
              ) -> dict[str, Any]:
        rep = with_results(part, store, bundled_inputs(store)[1], official)
        recomputed = rep.to_json()
        bundled = _load_json(store.results_dir / RECONCILIATION_FILE)
        same = _canon(recomputed) == _canon(bundled)
        into.append(Check(
            "reconciliation", "pass" if same else "fail",
            "recomputing the ballot accounting gives the bundled reconciliation.json"
            if same else "the bundled reconciliation.json differs from the recomputed one",
            {"differing_checks": sorted(_differing_checks(recomputed, bundled))},
        ))
        into.extend(rep.checks)
        return recomputed

    def official_ahead() -> dict[str, Any] | None:
        """The certified-results comparison, made in the other process while this one checks
        the ledger and the rest of the reconciliation (it counts every contest by precinct,
        and the recount that follows takes those counts). None when it cannot travel or
        fails: this process then makes it again, and names the failure."""
        if not reconciled:
            return None
        try:
            check = official_results_check(store, bundled_inputs(store)[1])
        except DAMAGE:
            return None
        return check.to_json() if _travels(check) else None

    parent_modules, child_modules = _modules_needed(store)
    if _verified_here:  # not a one-shot command: keep the drawing modules for later children
        parent_modules += child_modules

    def other_part() -> bytes:
        """The audit's re-check, the certified-results comparison and the recount, then the
        report's plots drawn ahead."""
        # matplotlib (and the audit workflow) imported here, not before the fork, while the
        # audit's first queries run without the GIL: only this part draws and re-checks the
        # audit (the other takes the plots drawn here)
        with _importing(child_modules):
            return other_checks()

    def other_checks() -> bytes:
        part: list[Check] = []
        audit = run("audit", lambda: audit_data(store), part)
        if audit is not None or not part:
            part += run("audit", lambda: _audit_checks(folder, store, audit, audit_check(audit)),
                        part) or []
        official = official_ahead()
        counted: list[Check] = []
        recount = run("tabulation", lambda: compute_tabulation(store), counted)
        # each result is sent only when JSON gives back the very same data (else the parent
        # computes it again itself): the parent then holds what it would have computed
        return orjson.dumps({
            "tabulation": recount if recount is not None and _travels(recount) else None,
            "audit": audit, "checks": [c.to_json() for c in part], "official": official,
            "plots": _plots_drawn_ahead(folder, store, audit),
        })

    recon_checks: list[Check] = []
    store_part: list[ReconcileReport | None] = []
    history: list[Check] = []

    def ledger_part() -> bytes:
        got = run("ledger", lambda: ledger_check(store, public_keys))
        if got is not None:
            checks.append(got[0])
        if reconciled:
            store_part.append(run("reconciliation", lambda: store_checks(
                store, bundled_inputs(store)[0]), recon_checks))
        got = run("results_history", lambda: results_history_of(store), history)
        if got is not None:
            history.append(got)
        return b""

    # the ledger, the reconciliation's checks of the store and the results history on this
    # core; the audit's re-check, the certified-results comparison (the reconciliation's last
    # check, which counts every contest by precinct), the recount (which takes those counts)
    # and the report's plots need nothing they compute: with both cores a forked child runs
    # those meanwhile on the same decoded table (:mod:`.ledger.parallel`); its checks come
    # back as JSON and are listed in the same order as one process would list them
    # imports hold the GIL, the Parquet decoding mostly does not; the importing thread has
    # ended when the block does (no thread may be running at the fork). It also loads the
    # compiled SHA-256 loops where the store is large enough to use them, so that both the
    # ledger here and the sampler's re-draw in the child use the one load
    with _importing(parent_modules, lambda: sha256_batch.backend(store.cvr_count())):
        try:
            store.cvrs()  # decoded before the fork, so the child inherits it
            fork = processes_for(store.cvr_count()) > 1
        except DAMAGE:  # each check reads the table itself and names this as its failure
            fork = False
    _, other = run_pair(ledger_part, other_part, fork)
    _count_verification()
    got_other = orjson.loads(other)
    tabulation = got_other["tabulation"]
    if tabulation is None:  # not computed there (or failed): counted here, failure named
        tabulation = run("tabulation", lambda: compute_tabulation(store))
    if tabulation is not None:
        published = run("tabulation", lambda: [
            (f"evidence/{TABULATION_FILE}", _load_json(folder / "evidence" / TABULATION_FILE)),
            *((f"store/{w}", d) for w, d in published_tabulations(store))])
        if published is not None:
            checks.append(tabulation_check(tabulation, published))
    official = got_other["official"]
    reconciliation = recon_part(recon_checks, store_part[0] if store_part else None,
                                None if official is None else Check.from_json(official))
    checks.extend(recon_checks)
    audit = got_other["audit"]
    checks.extend(Check.from_json(c) for c in got_other["checks"])
    checks.extend(history)
    voters = run("voters", lambda: _voter_checks(store, checks))
    if tabulation is not None:
        from .evidence import plots

        with plots.reusing(got_other["plots"]):
            rc = run("report", lambda: _report_check(folder, store, checks, tabulation,
                                                     reconciliation, audit, voters))
        if rc is not None:
            checks.append(rc)


#: Modules the checks below import, loaded while the CVR table is decoded and before the
#: fork, so that this process and the forked child do not each import them afresh.
_CHECK_MODULES = (
    "tallyproof.ledger.verify_store", "tallyproof.reconcile",
    "tallyproof.evidence.results_check", "tallyproof.formats.results",
    "tallyproof.tabulate.store_results", "tallyproof.evidence.results_changes",
    "tallyproof.results_history", "tallyproof.evidence.audit_view",
    "tallyproof.evidence.report", "tallyproof.voters.store_evidence",
)
#: What drawing the report's plots imports (a third of a second), loaded in the forked child,
#: which draws them (:func:`_plots_drawn_ahead`): the parent's decoding of the CVR table takes
#: less time than the imports before the fork, which then kept both cores waiting. A process
#: that verifies again (the control room, a benchmark) imports them before the fork from its
#: second verification on (:data:`_verified_here`), once, so that no later child imports them.
_DRAWING_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_agg")
#: County bundles this process has verified (only speed depends on it).
_verified_here = 0


def _count_verification() -> None:
    global _verified_here
    _verified_here += 1


def _modules_needed(store: Store) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What to import before the fork (:data:`_CHECK_MODULES`, and SciPy's special functions
    when the store holds voter checks: this process re-checks them after the pair), and what
    the child imports while its first checks run (:data:`_DRAWING_MODULES`, and the audit
    workflow when the store holds an audit: the child alone re-checks it)."""
    from .voters.store_evidence import VOTERS_FILE

    audit = (store.audit_dir / "audit.json").is_file()
    voters = (store.results_dir / VOTERS_FILE).is_file()
    return (_CHECK_MODULES + (("scipy.special",) if voters else ()),
            _DRAWING_MODULES + (("tallyproof.audit.workflow",) if audit else ()))


def _import_modules(names: Sequence[str]) -> None:
    """Import ``names`` ahead of use. Only speed depends on it: a module that fails to import
    here fails again, with its error reported, where a check imports it."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


@contextmanager
def _importing(names: Sequence[str], then: Callable[[], object] | None = None
               ) -> Iterator[None]:
    """:func:`_import_modules` in a thread while the block runs, then ``then()`` there (its
    errors are raised again where it is used); joined when the block ends."""
    def work() -> None:
        _import_modules(names)
        if then is not None:
            try:
                then()
            except Exception:  # noqa: BLE001 - only speed depends on it; see above
                return

    thread = threading.Thread(target=work)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _travels(value: Check | dict[str, Any] | None) -> bool:
    """True when ``value`` comes back from JSON equal to itself, types included (JSON keeps
    ints, floats and booleans apart; a tuple comes back a list and fails), so it can cross
    the pipe from the forked child unchanged."""
    try:
        if isinstance(value, Check):
            return Check.from_json(orjson.loads(orjson.dumps(value.to_json()))) == value
        return bool(orjson.loads(orjson.dumps(value)) == value)
    except (TypeError, ValueError, orjson.JSONEncodeError):  # not JSON data at all
        return False


def _plots_drawn_ahead(folder: Path, store: Store, audit: dict[str, Any] | None
                       ) -> dict[str, dict[str, str]]:
    """The report's plots drawn from the bundle's *published* tabulation and reconciliation
    and the audit just re-checked, while the other core recomputes the reconciliation
    (:mod:`.evidence.plots`).

    A guess only, never evidence: the rebuild takes a plot from here only where its recounted
    arguments are equal to the ones it was drawn from, and draws any other itself; so a guess
    that fails (a damaged or altered bundle) costs only that work and is dropped whole."""
    from .evidence import plots
    from .evidence.collect import TABULATION_FILE, Evidence, published_tabulations
    from .evidence.report import report_context
    from .reconcile import RECONCILIATION_FILE

    try:
        published = published_tabulations(store)
        bundled = store.results_dir / RECONCILIATION_FILE
        reconciliation = _load_json(bundled) if bundled.exists() else None
        tabulation = (published[0][1] if published
                      else _load_json(folder / "evidence" / TABULATION_FILE))
        meta = _load_json(folder / BUNDLE_JSON)
        with plots.recording() as drawn:
            report_context(store, Evidence(checks=[], reconciliation=reconciliation,
                                           tabulation=tabulation, audit=audit),
                           int(meta["source_date_epoch"]))
        return drawn
    except Exception:  # noqa: BLE001 - a guess that failed: the rebuild draws every plot
        return {}


def _report(checks: list[Check], require: Sequence[str] = (),
            essential: Sequence[str] = ESSENTIAL) -> VerifyReport:
    """The verdict on the checks (:mod:`tallyproof.verdict`: what makes verify fail)."""
    v = judge(checks, require, essential)
    return VerifyReport(ok=v.ok, checks=checks, failures=v.failures, verdict=v)


def _audit_checks(folder: Path, store: Store, audit: dict[str, Any] | None,
                  status: Check) -> list[Check]:
    """Re-draw the sample and recompute the risk through the audit workflow."""
    if audit is None:
        return [status]
    from .evidence.audit_view import audit_recheck

    published = _load_json(folder / "evidence" / "checks.json")
    entry = next((c for c in published.get("checks", []) if c.get("name") == "audit"), None)
    return [*audit_recheck(store, entry, audit), status]


def _voter_checks(store: Store, checks: list[Check]) -> dict[str, Any] | None:
    """The bundled voter checks: re-checked as far as counts allow (``voters``, see
    :mod:`tallyproof.voters.store_evidence`), then listed as bundled for the report."""
    from .voters import store_evidence

    doc = store_evidence.load(store)
    if doc is not None:
        bundled = store_evidence.checks_of(doc)
        checks.append(store_evidence.recheck(store, doc))
        checks.extend(bundled)
    return doc


def _report_check(folder: Path, store: Store, checks: list[Check], tabulation: dict[str, Any],
                  reconciliation: dict[str, Any] | None, audit: dict[str, Any] | None,
                  voters: dict[str, Any] | None = None) -> Check:
    """Rebuild report.html from the recomputed evidence and compare bytes with the bundled one."""
    from .evidence.collect import Evidence
    from .evidence.report import HASH_APPENDIX, render_hash_appendix, render_html, report_context

    path = folder / "report" / "report.html"
    if not path.is_file():
        return Check("report", "fail", "report/report.html is missing")
    meta = _load_json(folder / BUNDLE_JSON)
    from .evidence.collect import published_tabulations, tabulation_check

    # the checks exactly as `collect` gave them when the bundle was made (the tabulation was
    # then compared with the store's own published file only)
    as_collected = tabulation_check(tabulation, published_tabulations(store))
    evidence_checks = [as_collected if c.name == "tabulation" else c for c in checks
                       if c.name not in ("bundle.manifest", "reconciliation", "report", "voters")
                       and not c.name.startswith("audit.")]
    ev = Evidence(checks=evidence_checks, reconciliation=reconciliation,
                  tabulation=tabulation, audit=audit, voters=voters)
    ctx = report_context(store, ev, int(meta["source_date_epoch"]))
    differ = [] if render_html(ctx).encode("utf-8") == path.read_bytes() else ["report.html"]
    appendix = folder / "report" / HASH_APPENDIX
    if appendix.is_file() and appendix.read_bytes() != render_hash_appendix(ctx):
        differ.append(HASH_APPENDIX)
    return Check("report", "fail" if differ else "pass",
                 f"{' and '.join(differ)} differ(s) from the report rebuilt from the bundled data"
                 if differ else "report.html is exactly what the bundled data gives")


def _damage(exc: BaseException, folder: Path) -> str:
    """A damaged file's error for people: no database engine's internals, no temp paths."""
    if isinstance(exc, (duckdb.Error, pa.ArrowException)):
        return ("the bundled data cannot be read as the bundle says it is (a file is damaged "
                "or not what its name says)")
    return str(exc).replace(str(folder), "BUNDLE")


def _canon(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def _differing_checks(a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    ca = {c["name"]: _canon(c) for c in a.get("checks", [])}
    cb = {c.get("name"): _canon(c) for c in b.get("checks", []) if isinstance(c, dict)}
    names = {n for n in set(ca) | set(cb) if ca.get(n) != cb.get(n)}
    for key in ("by_precinct", "by_batch", "cards", "inputs"):
        if _canon(a.get(key)) != _canon(b.get(key)):
            names.add(key)
    return {str(n) for n in names}


def verify_bundle(path: Path, public_keys: Sequence[str] | None = None,
                  require: Sequence[str] = (), executor: Any = None) -> VerifyReport:
    """Verify a bundle folder or .zip. A zip is extracted (safely) into a temporary folder.

    ``public_keys`` are the log keys the verifier trusts (the election office's published
    key): the bundle's own ``log.vkey`` is trusted only when none are given."""
    path = Path(path)
    if path.is_dir():
        return verify_folder(path, public_keys, require, executor=executor)
    if not path.is_file():
        raise InputError("no such bundle (folder or .zip)", file=path)
    with tempfile.TemporaryDirectory(prefix="tallyproof-verify-") as tmp:
        opened = open_zip(path, Path(tmp))
        if opened.digests is None:  # members and SHA256SUMS disagree: nothing was extracted
            parts = [f"{len(v)} {k}: {', '.join(v[:20])}" for k, v in
                     (("missing", opened.missing), ("extra", opened.extra)) if v]
            summary = ("; ".join(parts) + " (nothing was extracted)") if parts else \
                f"{SUMS_FILE} is missing from the zip"
            return _report([Check("bundle.manifest", "fail", summary,
                                  {"missing": list(opened.missing) or
                                   ([] if opened.listed else [SUMS_FILE]),
                                   "extra": list(opened.extra)})], require)
        rep = verify_folder(Path(tmp), public_keys, require, opened.digests, executor)
        return _without_path(rep, tmp, path.name)


def _without_path(rep: VerifyReport, tmp: str, name: str) -> VerifyReport:
    """Messages name the zip's files as ``NAME.zip/…``, never the temporary folder."""
    def clean(text: str) -> str:
        return text.replace(tmp, name)

    def clean_details(d: dict[str, Any]) -> dict[str, Any]:
        return orjson.loads(clean(orjson.dumps(d).decode("utf-8")))

    checks = [Check(c.name, c.status, clean(c.summary), clean_details(c.details))
              for c in rep.checks]
    verdict = None if rep.verdict is None else replace(
        rep.verdict, text=clean(rep.verdict.text),
        not_checked=tuple((n, clean(r)) for n, r in rep.verdict.not_checked))
    return VerifyReport(ok=rep.ok, checks=checks, verdict=verdict, failures=[
        Failure(f.check, clean(f.message), f.ballot_ids) for f in rep.failures])


def verify_store_dir(root: Path, public_keys: Sequence[str] | None = None,
                     require: Sequence[str] = ()) -> VerifyReport:
    """``tallyproof verify --store DIR``: the same checks a bundle gets, minus the manifest and
    the report (a store has neither), run on a store in place."""
    from .evidence.collect import collect, ledger_check

    store = Store.open(Path(root))
    ev = collect(store)
    checks = ev.checks
    if ev.voters is not None:
        from .voters.store_evidence import recheck

        checks = [*checks, recheck(store, ev.voters)]
    if public_keys is not None:  # the ledger again, against the keys the verifier trusts
        trusted = ledger_check(store, public_keys)[0]
        checks = [trusted if c.name == "ledger" else c for c in checks]
    return _report(checks, require)

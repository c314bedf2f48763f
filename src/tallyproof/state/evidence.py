"""The statewide body of evidence: one report for the state and a bundle that ``tallyproof
verify`` re-checks county by county.

::

    BUNDLE/bundle.json                kind "state", tool version, counties, source_date_epoch
    BUNDLE/SHA256SUMS                 every other file, sorted by path
    BUNDLE/state/state.json           counties, statewide contests, county spellings, county keys
    BUNDLE/state/log/...              the state log of county checkpoints (docs/commitment.md §9)
                                      and the activity log it commits (§9.7), if any
    BUNDLE/state/results/statewide.json, reconciliation.json
    BUNDLE/state/audit/...            the statewide audit, when one was started (:mod:`.audit`)
    BUNDLE/counties/<id>/...          each county's own bundle (docs/bundle.md), unchanged; a
                                      county with batch tallies only: :mod:`.batch_bundle`
    BUNDLE/report/report.html, report.pdf

Every county bundle is built by the county's own code path (:func:`build_bundle`) on the
executor; the statewide files are merges of what the counties' stores say. ``verify`` checks
each county bundle as it would alone, the state log against the counties' checkpoints, and
recomputes the statewide results from the county bundles' CVRs; it re-draws every round of
the statewide audit from its seed and re-measures its risk from the bundled records
(:mod:`.audit_verify`) before the report, built from the bundled status, is compared.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from .. import __version__
from ..errors import UsageError
from ..evidence.checks import Check
from ..fsutil import atomic_write_bytes
from .audit_report import audit_plot, audit_view
from .executor import Executor, InProcess
from .ranked import RANKED, county_rankings, ranked_results
from .spec import STATE_JSON, load_spec

KIND = "state"
BUNDLE_SCHEMA_VERSION = 1


def _json(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def county_bundle_task(county: str, root: str, out: str) -> str:
    """Build the county's own bundle into ``out`` (its folder in the state bundle); a county
    with batch tallies only gets its tallies, log and checks (:mod:`.batch_bundle`)."""
    from ..evidence.bundle import build_bundle
    from ..store import Store
    from .batch_bundle import build_batch_county_bundle
    from .batch_county import is_batch_county
    from .tasks import county_store_dir

    if is_batch_county(load_spec(Path(root)), county):
        return str(build_batch_county_bundle(Path(root), county, Path(out)))
    paths = build_bundle(Store.open(county_store_dir(root, county)), Path(out))
    paths.zip.unlink()  # the state bundle is zipped whole; a zip inside it would be a copy
    return str(paths.folder)


def county_rows(root: Path, counties: dict[str, Path]) -> list[dict[str, Any]]:
    """Per county: cards, its latest checkpoint (size, root), the status of its checks, as the
    county bundle's own evidence/checks.json states them (re-checked by verify)."""
    from ..ledger.checkpoint import parse

    rows = []
    for county, folder in sorted(counties.items()):
        checks = {c["name"]: c for c in orjson.loads(
            (folder / "evidence" / "checks.json").read_bytes())["checks"]}
        meta = orjson.loads((folder / "bundle.json").read_bytes())
        latest = bundled_checkpoint(folder)
        cp = parse(latest).checkpoint if latest else None

        def status(*names: str, _checks: dict[str, Any] = checks) -> str:
            got = [_checks[n]["status"] for n in names if n in _checks]
            return "fail" if "fail" in got else "pass" if "pass" in got else "not_run"

        rows.append({
            "county": county, "cards": int(meta["election"]["cards"]),
            "checkpoint_size": cp.size if cp else 0,
            "checkpoint_root": cp.root.hex() if cp else "",
            "ledger": status("ledger"),
            "accounting": status(*(n for n in checks if n.startswith("reconciliation."))),
            "results_check": status("official_results"),
            "audit": status("audit"),
        })
    return rows


def bundled_checkpoint(folder: Path) -> str | None:
    """The latest checkpoint of a county folder in a state bundle: its store's log, or the
    batch log of a county with batch tallies only."""
    logs = [folder / "store" / "log", folder / "tallies" / "log"]
    cps = [p for d in logs for p in sorted((d / "checkpoints").glob("*.txt"))]
    return cps[-1].read_text(encoding="utf-8") if cps else None


def aggregate_checks(counties: dict[str, Path]) -> list[Check]:
    """One statewide check per check name from the county bundles' checks: failed where any
    county's failed (naming the counties), passed where every county that ran it passed,
    not run where none did."""
    by_name: dict[str, list[tuple[str, Check]]] = {}
    for county, folder in sorted(counties.items()):
        for raw in orjson.loads((folder / "evidence" / "checks.json").read_bytes())["checks"]:
            c = Check.from_json(raw)
            by_name.setdefault(c.name, []).append((county, c))
    out = []
    for name, items in by_name.items():
        failed = [f"{county}: {c.summary}" for county, c in items if c.status == "fail"]
        ran = [county for county, c in items if c.status != "not_run"]
        if failed:
            out.append(Check(name, "fail", f"{len(failed)} of {len(items)} counties: "
                                           + "; ".join(failed[:5])))
        elif ran:
            missing = [county for county, c in items if c.status == "not_run"]
            out.append(Check(name, "pass", f"passed in {len(ran)} of {len(items)} counties"
                                           + (f"; not run in {', '.join(missing)}"
                                              if missing else "")))
        else:
            out.append(Check(name, "not_run", f"not run in any of the {len(items)} counties"))
    return out


def state_context(root: Path, counties: dict[str, Path], epoch: int) -> dict[str, Any]:
    """Everything the statewide report shows, from the state folder and the county bundles."""
    from datetime import UTC, datetime

    from ..evidence.claims import claims_from_checks
    from ..evidence.report import COUNTY_CHECKS, LEGEND, VERIFY_LINE

    spec = load_spec(root)
    merged = orjson.loads((root / "results" / "statewide.json").read_bytes())
    recon_path = root / "results" / "reconciliation.json"
    recon = orjson.loads(recon_path.read_bytes()) if recon_path.exists() else None
    names = {sc.id: {c.id: c.name for c in sc.candidates} for sc in spec.contests}
    contests = []
    for c in merged["contests"]:
        total = sum(c["votes"].values()) or 1
        contests.append({
            "name": c["name"], "kind": c["kind"], "cards": c["cards"],
            "counties": len(c["by_county"]),
            "winners": [names[c["contest"]].get(w, w) for w in c["winners"]],
            "rows": [{"name": names[c["contest"]].get(k, k), "votes": v,
                      "share": f"{100 * v / total:.2f}%", "winner": k in c["winners"]}
                     for k, v in sorted(c["votes"].items(), key=lambda kv: -kv[1])],
        })
    rows = county_rows(root, counties)
    audit = audit_view(root, [c.id for c in spec.counties],
                       {sc.id: sc.name for sc in spec.contests})
    for r in rows:  # the statewide audit's part of each county, when there is one
        if audit is not None:
            r["audit"] = audit["counties"][r["county"]]["status"]
            r["audit_text"] = audit["counties"][r["county"]]["text"]
        else:
            r["audit_text"] = ""
    checks = [Check("state.county." + r["county"],
                    "fail" if "fail" in (r["ledger"], r["accounting"], r["results_check"])
                    else "pass", f"{r['cards']:,} cards; log {r['ledger']}, accounting "
                                 f"{r['accounting']}, certified results {r['results_check']}, "
                                 f"audit {r['audit']}") for r in rows]
    if recon is not None:
        checks.append(Check.from_json(recon["check"]))
    claims = [c.to_json() for c in claims_from_checks(aggregate_checks(counties),
                                                      COUNTY_CHECKS)]
    return {
        "meta": {"election": spec.name, "state": spec.state, "date": spec.date,
                 "counties": len(spec.counties), "cards": sum(r["cards"] for r in rows),
                 "as_of": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC"),
                 "epoch": epoch, "tool_version": __version__},
        "legend": LEGEND, "verify_line": VERIFY_LINE,
        "counties": rows, "contests": contests, "checks": [c.to_json() for c in checks],
        "claims": claims,
        "accounting": recon["check"] if recon else None,
        "state_audit": audit, "audit_plot": audit_plot(audit) if audit else None,
    }


def render_state_html(ctx: dict[str, Any]) -> str:
    from ..evidence.report import render_html

    return render_html({**ctx, "audit_summary": audit_summary(ctx["state_audit"])
                        if ctx["state_audit"] else ""}, template="state.html.j2")


def render_state_pdf(ctx: dict[str, Any]) -> bytes:
    from ..evidence.pdf import new_pdf, pdf_heading, pdf_image, pdf_paragraph, pdf_table

    m = ctx["meta"]
    pdf = new_pdf(f"Statewide evidence report: {m['election']}", m["epoch"], m["tool_version"])
    pdf_heading(pdf, "Statewide evidence report", 1)
    pdf_paragraph(pdf, f"{m['election']} ({m['state']}, {m['date']}): {m['counties']} counties, "
                       f"{m['cards']:,} ballot cards. Evidence as of {m['as_of']}.")
    pdf_paragraph(pdf, ctx["verify_line"])
    pdf_paragraph(pdf, ctx["legend"])
    pdf_heading(pdf, "Statewide results", 2)
    for c in ctx["contests"]:
        pdf_table(pdf, f"{c['name']} ({c['kind']}; {c['cards']:,} cards in {c['counties']} "
                       "counties)", ["Candidate", "Votes", "Share", "Outcome"],
                  [[r["name"], f"{r['votes']:,}", r["share"], "winner" if r["winner"] else ""]
                   for r in c["rows"]], (90, 35, 30, 35))
    pdf_heading(pdf, "Every county", 2)
    pdf_table(pdf, "Counties: cards, checkpoint, and the status of each county's checks",
              ["County", "Cards", "Checkpoint", "Log", "Accounting", "Certified", "Audit"],
              [[r["county"], f"{r['cards']:,}", f"{r['checkpoint_size']:,} leaves, "
                f"{r['checkpoint_root'][:16]}…", r["ledger"], r["accounting"],
                r["results_check"], r["audit"]] for r in ctx["counties"]],
              (26, 20, 50, 18, 24, 24, 18))
    if ctx["accounting"]:
        pdf_paragraph(pdf, "Statewide accounting: " + ctx["accounting"]["summary"])
    a = ctx["state_audit"]
    if a:
        pdf_heading(pdf, "The statewide audit", 2)
        pdf_paragraph(pdf, audit_summary(a))
        pdf_table(pdf, "Each contest: measured risk against the risk limit",
                  ["Contest", "Status", "Examined", "Measured risk"],
                  [[c["name"], c["status"].replace("_", " "), f"{c['examined'] or 0:,}",
                    "" if c["risk"] is None else f"{c['risk']:.4g}"] for c in a["contests"]],
                  (80, 40, 30, 40))
        pdf_table(pdf, "Each county's part of the audit",
                  ["County", "Status", "Drawn, recorded, discrepancies"],
                  [[r["county"], r["audit"].replace("_", " "), r["audit_text"]]
                   for r in ctx["counties"]], (26, 20, 144))
        if ctx["audit_plot"]:
            pdf_image(pdf, ctx["audit_plot"])
    return bytes(pdf.output())


def audit_summary(a: dict[str, Any]) -> str:
    """One sentence on the statewide audit, for the report's HTML and PDF alike."""
    return (f"A {a['kind']} audit at risk limit {a['risk_limit']:g} (seed {a['seed']}): "
            f"{a['rounds']} round(s) drawn, status {a['status'].replace('_', ' ')}. Units are "
            "ballot cards, and whole batches in counties with batch tallies only.")


def build_state_bundle(root: Path, out: Path, ex: Executor | None = None) -> Path:
    """Build the state bundle folder ``out`` (and ``out.zip``): each county's bundle on the
    executor, the state files, the statewide report, SHA256SUMS."""
    from ..evidence.bundle import staged_bundle, write_zip
    from ..evidence.report import source_date_epoch
    from ..model import Election

    root, out = Path(root), Path(out)
    ex = ex or InProcess()
    spec = load_spec(root)
    if not (root / "results" / "statewide.json").exists():
        raise UsageError("tabulate the state first (tallyproof state tabulate)")
    with staged_bundle(out) as stage:
        ids = [c.id for c in spec.counties]
        built = ex.map_each(county_bundle_task, [
            (c, (str(root), str(stage / "counties" / c))) for c in ids])
        failed = [o for o in built if not o.ok]
        if failed:
            from .workflow import CountyFailures

            raise CountyFailures("bundle", failed)
        for rel in (STATE_JSON, "log", "results", "audit"):
            src = root / rel
            if src.is_dir():
                shutil.copytree(src, stage / "state" / rel)
            elif src.exists():
                (stage / "state").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, stage / "state" / rel)
        epoch = source_date_epoch(Election(date=spec.date))
        ctx = state_context(stage / "state", {c: stage / "counties" / c for c in ids}, epoch)
        (stage / "report").mkdir()
        (stage / "report" / "report.html").write_bytes(render_state_html(ctx).encode())
        (stage / "report" / "report.pdf").write_bytes(render_state_pdf(ctx))
        atomic_write_bytes(stage / "bundle.json", _json({
            "schema_version": BUNDLE_SCHEMA_VERSION, "kind": KIND, "tool": "tallyproof",
            "tool_version": __version__, "source_date_epoch": epoch, "counties": ids,
            "election": {"name": spec.name, "state": spec.state, "date": spec.date}}))
    write_zip(out, out.with_name(out.name + ".zip"), epoch)
    return out


def county_verify_task(county: str, folder: str) -> tuple[tuple[str, str, str], ...]:
    from ..verify import verify_folder
    from .batch_bundle import KIND, verify_batch_county_bundle

    here = Path(folder) / "counties" / county
    if orjson.loads((here / "bundle.json").read_bytes()).get("kind") == KIND:
        return verify_batch_county_bundle(here)
    rep = verify_folder(Path(folder) / "counties" / county)
    return tuple((c.name, c.status, c.summary) for c in rep.checks) + (
        ("verdict", "pass" if rep.ok else "fail",
         rep.verdict.text if rep.verdict else ""),)


def verify_state_folder(folder: Path, ex: Executor | None = None,
                        public_keys: Sequence[str] | None = None) -> list[Check]:
    """Every county bundle as it would be verified alone (on the executor), the state log
    against the counties' bundled checkpoints, the statewide results recomputed from the
    counties' CVRs, the statewide audit re-drawn and re-measured (:mod:`.audit_verify`), and
    the statewide report rebuilt."""
    from ..ledger.keys import parse_vkey
    from .audit_verify import state_audit_check
    from .statelog import load_state_log, verify_state_log
    from .workflow import merge_tallies

    ex = ex or InProcess()
    meta = orjson.loads((folder / "bundle.json").read_bytes())
    ids = list(meta["counties"])
    checks: list[Check] = []
    outs = ex.map(county_verify_task, ids, str(folder))
    bad = []
    for o in outs:
        verdict = o.value[-1] if o.value else ("verdict", "fail", o.error or "")
        if verdict[1] != "pass":
            bad.append(f"{o.county}: {verdict[2]}")
    checks.append(Check("state.counties", "fail" if bad else "pass",
                        "; ".join(bad) if bad else
                        f"all {len(ids)} county bundles verify on their own",
                        {"failing": [b.split(":")[0] for b in bad]}))
    state = folder / "state"
    keys = [parse_vkey(k) for k in public_keys] if public_keys else None
    failures = verify_state_log(state, keys[0] if keys else None)
    segments, checkpoints = load_state_log(state)
    latest = {leaf.county: leaf.checkpoint for seg in segments for leaf in seg}
    for c in ids:
        cp = bundled_checkpoint(folder / "counties" / c)
        if cp is None or cp != latest.get(c):
            failures.append(f"county {c}: its bundled log's latest checkpoint is not the one "
                            "the state log publishes")
    checks.append(Check("state.log", "fail" if failures else "pass",
                        "; ".join(failures) if failures else
                        f"every state checkpoint signed and consistent; every county's latest "
                        f"checkpoint is the one the state log publishes ({len(ids)} counties)"
                        + _activity_summary(checkpoints)))
    checks.append(_results_check(folder, ids, ex, merge_tallies))
    checks.append(state_audit_check(folder, ids, ex))
    ctx = state_context(state, {c: folder / "counties" / c for c in ids},
                        int(meta["source_date_epoch"]))
    same = render_state_html(ctx).encode() == (folder / "report" / "report.html").read_bytes()
    checks.append(Check("report", "pass" if same else "fail",
                        "the statewide report is exactly what the bundled data gives" if same
                        else "report.html differs from the report rebuilt from the bundle"))
    return checks


def _activity_summary(checkpoints: Sequence[Any]) -> str:
    from .activity_log import committed_count

    n = committed_count([cp.checkpoint.extensions for cp in checkpoints])
    return "" if n is None else (f"; the control room's activity log ({n:,} entries) is the "
                                 "one the checkpoints sign, each publication's a prefix of "
                                 "the next")


def county_tally_task(county: str, folder: str, spec_json: dict[str, Any]) -> Any:
    """The county's statewide tallies from its bundled store, opened read-only."""
    from ..store import Store
    from .batch_county import batch_county_tally, is_batch_county, load_batch_county
    from .spec import StateSpec
    from .tasks import county_tally

    spec = StateSpec.from_json(spec_json)
    here = Path(folder) / "counties" / county
    if is_batch_county(spec, county):
        return batch_county_tally(load_batch_county(here / "tallies"), county, spec)
    return county_tally(Store(here / "store"), county, spec)


def county_rankings_task(county: str, folder: str, spec_json: dict[str, Any]) -> Any:
    """The county's ranked ballots in statewide codes, from its bundled store (read-only)."""
    from ..store import Store
    from .batch_county import is_batch_county
    from .spec import StateSpec

    spec = StateSpec.from_json(spec_json)
    if is_batch_county(spec, county):
        return ()
    return county_rankings(Store(Path(folder) / "counties" / county / "store"), county, spec)


def _results_check(folder: Path, ids: list[str], ex: Executor, merge: Any) -> Check:
    """Recompute the statewide results from the county bundles' stores and compare: exact
    sums of vote-for-N and approval contests, and every ranked (IRV, STV) contest counted
    again from all counties' ballots."""
    spec = load_spec(folder / "state")
    outs = ex.map(county_tally_task, ids, str(folder), spec.to_json())
    if any(not o.ok for o in outs):
        return Check("state.results", "fail", "; ".join(f"{o.county}: {o.error}" for o in outs
                                                         if not o.ok))
    results = merge(spec, {o.county: o.value for o in outs})
    if any(sc.kind in RANKED for sc in spec.contests):
        ranked = ex.map(county_rankings_task, ids, str(folder), spec.to_json())
        if any(not o.ok for o in ranked):
            return Check("state.results", "fail", "; ".join(
                f"{o.county}: {o.error}" for o in ranked if not o.ok))
        results += ranked_results(spec, {o.county: o.value for o in ranked})
    bundled = orjson.loads((folder / "state" / "results" / "statewide.json").read_bytes())
    ours = {r.contest: r.to_json() for r in results}
    theirs = {c["contest"]: c for c in bundled["contests"] if c["contest"] in ours}
    differ = sorted(k for k in ours if _canon(ours[k]) != _canon(theirs.get(k)))
    return Check("state.results", "fail" if differ else "pass",
                 f"the statewide results differ from the counties' CVRs in {', '.join(differ)}"
                 if differ else f"counting every county's CVRs gives the published statewide "
                                f"results in {len(ours)} contest(s)")


def _canon(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)

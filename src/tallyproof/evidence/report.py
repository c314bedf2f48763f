"""The evidence report: one self-contained HTML page and a PDF, byte-for-byte reproducible.

Reproducibility: the only time shown is ``SOURCE_DATE_EPOCH`` when set, otherwise midnight UTC
of the election date (or 1980-01-01 when the store has none) — never "now"; plots use fixed
hash salts and no metadata (:mod:`.plots`); every list is sorted; the PDF's dates and file id
are fixed (:mod:`.pdf`). The template ships inside the package and is the only one ever used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..errors import UsageError
from ..fsutil import atomic_write_bytes
from ..model import Contest, Election
from ..store import Store
from . import plots, shared
from .checks import Check
from .claims import CHECK_DATA, CHECK_LABELS, Claim, claims_from_checks
from .collect import Evidence, collect
from .contest_view import contest_view, outcome

DEFAULT_EPOCH = 315_532_800  # 1980-01-01T00:00:00Z, the earliest time a zip file can hold
#: The checks a county's evidence can run (every one but the full hand count's).
COUNTY_CHECKS = frozenset(CHECK_DATA) - {"hand_count"}


#: The appendix listing every input file's SHA-256 (``sha256sum -c`` format), written next to
#: the report and into the bundle; the report itself shows only this file's own SHA-256.
HASH_APPENDIX = "input-files.sha256"
#: How to read a check's status; the same words in the HTML and the PDF.
LEGEND = ("Each check compares two independent records of the same ballots. PASS means they "
          "agree; FAIL means at least one difference was found (listed in this report); "
          "NOT RUN means the input the check needs was not given, so the check says nothing "
          "either way.")
VERIFY_LINE = ("Anyone can re-check this report: download the published bundle and run "
               "`tallyproof verify BUNDLE`; it recounts the ballots, re-checks every hash and "
               "rebuilds this report from the bundled data.")
RISK_LIMIT_TEXT = (
    "What the risk limit means: a risk-limiting audit checks a random sample of paper ballots "
    "by hand. The risk limit is the largest chance the audit accepts of confirming a wrong "
    "outcome. A risk limit of {pct} means: if the reported winner of a contest were actually "
    "wrong, the audit would have at least a {conf} chance of catching it and going on to a full "
    "hand count. Each line below is one fact that makes the reported winner right (for example "
    "\u201cA has more votes than B\u201d); its measured risk shrinks as sampled paper ballots "
    "agree with it, and the audit may stop once every measured risk is at or below the limit.")


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    pdf: Path
    hashes: Path


def source_date_epoch(election: Election) -> int:
    """``SOURCE_DATE_EPOCH`` if set, else the election date at 00:00 UTC, else 1980-01-01."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env is not None:
        if not env.strip().isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH must be whole seconds, not {env!r}")
        return int(env)
    if election.date:
        try:
            day = datetime.strptime(election.date[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            return DEFAULT_EPOCH
        return max(int(day.timestamp()), DEFAULT_EPOCH)
    return DEFAULT_EPOCH


def build_report(store: Store, out_dir: Path) -> ReportPaths:
    """Write ``report.html`` and ``report.pdf`` into ``out_dir`` (atomically, each).

    The ledger check is the verification recorded in ``log/verified.json`` when none of the
    files it read has changed since (:mod:`tallyproof.ledger.verified`); otherwise the log is
    verified in full here. ``tallyproof verify`` never relies on that record."""
    from ..ledger.verified import verified_report

    out_dir = Path(out_dir)
    # kept for a bundle built in the same command (:mod:`.shared`): the store's files are
    # hashed first (the recorded verification's check then hashes nothing again)
    digests = None
    if shared.active():
        from .bundle import deflate_early, store_digests

        deflate_early(store.root)  # the bundle's zip, on the other core meanwhile
        digests = store_digests(store.root)
    with store.reading_cvrs_once():
        evidence = collect(store, verified_report(store, digests))
        ctx = report_context(store, evidence)
    html = render_html(ctx).encode("utf-8")
    from .pdf import render_pdf

    pdf = render_pdf(ctx)
    appendix = render_hash_appendix(ctx)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(html=out_dir / "report.html", pdf=out_dir / "report.pdf",
                        hashes=out_dir / HASH_APPENDIX)
    atomic_write_bytes(paths.hashes, appendix)
    atomic_write_bytes(paths.html, html)
    atomic_write_bytes(paths.pdf, pdf)
    if digests is not None:
        shared.remember(shared.Made(digests, int(ctx["meta"]["epoch"]), evidence, ctx, html,
                                    pdf, appendix))
    return paths


def render_hash_appendix(ctx: dict[str, Any]) -> bytes:
    """``<sha256>  <file name>`` per input file, sorted by name (what ``sha256sum -c`` reads)."""
    return "".join(f"{s['sha256']}  {s['name']}\n" for s in ctx["sources"]).encode("utf-8")


def render_html(ctx: dict[str, Any], template: str = "report.html.j2") -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tallyproof.evidence", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(template).render(**ctx)


# ---------------------------------------------------------------------------- context
def report_context(store: Store, ev: Evidence, epoch: int | None = None) -> dict[str, Any]:
    """Everything the HTML template and the PDF writer show, as plain data (and plots).
    ``epoch`` overrides :func:`source_date_epoch` (the verifier passes the bundle's)."""
    election = store.election
    epoch = source_date_epoch(election) if epoch is None else epoch
    # a county report has CVRs, not a full hand count: that claim's check never applies here
    claims: list[Claim] = claims_from_checks(ev.checks, COUNTY_CHECKS)
    contests = [contest_view(c, ev.tabulation, None if _has_tally(ev.tabulation, c)
                             else _cards_with(store, c)) for c in election.contests]
    names = {c.id: c.name for c in election.contests}
    charted = [c for c in contests if c["chart_rows"]]
    margin_rows = [(_chart_name(c), c["margin_pct"]) for c in contests
                   if c["margin_pct"] is not None]
    ledger = next((c for c in ev.checks if c.name == "ledger"), None)
    precincts = _precinct_rows(ev.reconciliation)
    audit = _audit_view(ev.audit, names)
    sources = [s.to_json() for s in sorted(election.sources, key=lambda s: s.name)]
    coverage = _results_coverage(ev.checks, election)
    claim_views = [cl.to_json() for cl in claims]
    if coverage and coverage["note"]:
        for cv in claim_views:
            if cv["id"] == "count_not_certified":
                cv["finding"] = f"{cv['finding']} {coverage['note']}"
    return {
        "meta": {
            "election": election.name,
            "jurisdiction": election.jurisdiction,
            "date": election.date,
            "cards": store.cvr_count(),
            "as_of": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "epoch": epoch,
            "tool_version": __version__,
        },
        "summary": {
            "passed": sum(c.status == "pass" for c in ev.checks),
            "failed": sum(c.status == "fail" for c in ev.checks),
            "not_run": sum(c.status == "not_run" for c in ev.checks),
        },
        "legend": LEGEND,
        "verify_line": VERIFY_LINE,
        "checks": [_check_view(c) for c in ev.checks],
        "claims": claim_views,
        "contests": contests,
        "results_coverage": coverage,
        "shares_plot": plots.contest_shares(
            [_chart_name(c) for c in charted], [c["chart_rows"] for c in charted])
        if charted else None,
        "margins_plot": plots.margins([m[0] for m in margin_rows], [m[1] for m in margin_rows])
        if margin_rows else None,
        "recon_checks": [_recon_view(c, election) for c in ev.checks
                         if c.name.startswith("reconciliation.") or c.name == "official_results"],
        "precincts": precincts,
        "precincts_all_match": bool(precincts) and all(
            p["checkins"] is not None and p["cvrs"] == p["checkins"] for p in precincts),
        # a chart of nothing but zeros tells a reader nothing: drawn only when a count differs
        "precinct_plot": plots.precinct_reconciliation(
            [p["precinct"] for p in precincts], [p["cvrs"] for p in precincts],
            [p["checkins"] for p in precincts]) if precincts and not all(
                p["checkins"] is not None and p["cvrs"] == p["checkins"] for p in precincts)
        else None,
        "audit": audit,
        "audit_plot": plots.audit_risk(
            [(f"{a['contest_name']}: {a['label']}", a["ballots"], a["risks"])
             for a in audit["assertions"]],
            float(audit["risk_limit"])) if audit and audit["assertions"] else None,
        "discrepancy_plot": plots.discrepancies(sorted(audit["discrepancies"].items()))
        if audit and any(audit["discrepancies"].values()) else None,
        "sources": sources,
        "source_groups": _source_groups(sources),
        "hash_appendix": {"name": HASH_APPENDIX,
                          "sha256": hashlib.sha256(render_hash_appendix({"sources": sources}))
                          .hexdigest(), "files": len(sources)},
        "risk_limit_text": RISK_LIMIT_TEXT.format(
            pct=_pct_text(audit["risk_limit"]), conf=_pct_text(1 - audit["risk_limit"]))
        if audit and audit.get("risk_limit") is not None else "",
        "voters": _voters_view(ev.voters),
        "ledger_root": ledger.details.get("root") if ledger and ledger.status != "not_run" else None,
        "ledger_size": ledger.details.get("tree_size") if ledger else None,
    }


def _voters_view(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if doc is None:
        return None
    from ..voters.store_evidence import report_view

    return report_view(doc)


def _check_view(c: Check) -> dict[str, Any]:
    label = CHECK_LABELS.get(c.name, c.name)
    return {"name": c.name, "status": c.status, "summary": c.summary, "label": label,
            "title": label[:1].upper() + label[1:]}


def _recon_view(c: Check, election: Election) -> dict[str, Any]:
    raw = list(c.details.get("differences") or c.details.get("mismatches") or [])
    contests = {x.id: x for x in election.contests}
    diffs = []
    for d in raw:
        if "place" in d:
            place = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(d["place"].items())
                              if v is not None)
        else:
            ct = contests.get(str(d.get("contest")))
            cand = {x.id: x.name for x in ct.candidates}.get(str(d.get("candidate"))) if ct \
                else None
            place = f"{ct.name if ct else d.get('contest')}, " \
                    f"{'whole county' if d.get('reporting_unit') == 'ALL' else d.get('reporting_unit')}, " \
                    f"{cand or d.get('candidate')}"
        nums = [v for k, v in d.items() if k not in ("kind", "place", "difference", "contest",
                                                        "reporting_unit", "candidate")]
        diffs.append({
            "kind": _words(str(d.get("kind", "vote_count_differs"))),
            "place": place,
            "expected": f"{nums[0]:,}" if len(nums) > 0 else "",
            "found": f"{nums[1]:,}" if len(nums) > 1 else "",
            "difference": f"{d['difference']:+,}",
        })
    total = int(c.details.get("differences_total", len(raw)))
    return {**_check_view(c), "differences": diffs, "total": total, "more": total > len(raw)}


def _words(kind: str) -> str:
    """A difference's kind as words: "cvrs_differ_from_checkins" -> "CVRs differ from
    check-ins"."""
    words = {"cvrs": "CVRs", "cvr": "CVR", "checkins": "check-ins", "id": "ID"}
    return " ".join(words.get(w, w) for w in kind.split("_"))


def _precinct_rows(recon: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not recon:
        return []
    rows = []
    for p in recon.get("by_precinct", []):
        k = p.get("checkins")
        rows.append({
            "precinct": p["precinct"] if p["precinct"] is not None else "(none)",
            "cvrs": int(p["cvrs"]),
            "checkins": k,
            "checkins_text": f"{k:,}" if k is not None else "not given",
            "diff_text": f"{int(p['cvrs']) - k:+,}" if k is not None else "",
        })
    return rows


def _has_tally(tabulation: dict[str, Any], contest: Contest) -> bool:
    out = outcome(tabulation, contest.id)
    return bool(out.get("tally")) or bool((out.get("rcv") or {}).get("total_ballots"))


def _chart_name(c: dict[str, Any]) -> str:
    return f"{c['name']} ({c['chart_note']})" if c["chart_note"] else c["name"]


def _audit_view(audit: dict[str, Any] | None, names: dict[str, str]) -> dict[str, Any] | None:
    """The audit data with each assertion's contest named (a copy; the evidence is untouched)."""
    if not audit or "assertions" not in audit:
        return audit
    order = {cid: i for i, cid in enumerate(names)}  # the ballot's order, not "1", "10", "2"
    rows = sorted(audit["assertions"], key=lambda a: (order.get(a["contest"], len(order)),
                                                       a["contest"], a["id"]))
    summary = str(audit.get("summary", ""))
    return {**audit, "summary": summary[:1].upper() + summary[1:], "assertions": [
        {**a, "contest_name": names.get(a["contest"], a["contest"]),
         "risk_text": _risk_text(float(a["risk"]))} for a in rows]}


def _risk_text(risk: float) -> str:
    """A measured risk as a plain decimal (no "8.8e-05" for a lay reader)."""
    return "less than 0.0001" if risk < 0.0001 else f"{risk:.4f}"


def _results_coverage(checks: list[Check], election: Election) -> dict[str, Any] | None:
    """Which contests the comparison with the certified results covered, and for each one it
    did not, why (ranked contests are not compared; others were absent from the file)."""
    c = next((x for x in checks if x.name == "official_results"), None)
    if c is None or "contests_compared" not in c.details:
        return None
    compared = set(c.details["contests_compared"])
    ranked = {str(x["contest"]) for x in c.details.get("not_compared") or []
              if str(x.get("reason", "")).startswith("ranked")}
    file = c.details.get("results_file") or "the certified results file"
    missing = []
    for ct in election.contests:
        if ct.id in compared:
            continue
        if ct.id in ranked:
            why = ("it is a ranked-choice contest; certified ranked-choice results list "
                   "round-by-round transfers in a layout that varies by jurisdiction, so they "
                   "are not compared automatically (its rounds are recounted above)")
        else:
            why = f"it is not in the certified results file ({file})"
        missing.append({"contest": ct.name, "reason": why})
    total = len(election.contests)
    note = (f"The certified results were compared for {len(compared)} of the {total} contests. "
            + " ".join(f"Not compared: {m['contest']} \u2014 {m['reason']}." for m in missing)
            ) if missing else ""
    return {"compared": len(compared), "total": total, "not_compared": missing, "note": note}


def _source_groups(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input files summed up by format: how many files and cards (the hashes are in the
    appendix file)."""
    groups: dict[str, list[int]] = {}
    for s in sources:
        g = groups.setdefault(str(s["format"]), [0, 0])
        g[0] += 1
        g[1] += int(s["cards"])
    return [{"format": k, "files": v[0], "cards": v[1]} for k, v in sorted(groups.items())]


def _pct_text(x: float) -> str:
    return f"{x * 100:g}%"


def _cards_with(store: Store, contest: Contest) -> int:
    col = store.cvrs(columns=[contest.column]).column(contest.column)
    return len(col) - col.null_count

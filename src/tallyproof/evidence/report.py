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
from fractions import Fraction
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..contest_rules import rule_text
from ..errors import StoreError, UsageError
from ..fsutil import atomic_write_bytes
from ..model import Contest, Election
from ..store import Store
from . import plots
from .checks import Check
from .claims import CHECK_DATA, CHECK_LABELS, Claim, claims_from_checks
from .collect import Evidence, collect

DEFAULT_EPOCH = 315_532_800  # 1980-01-01T00:00:00Z, the earliest time a zip file can hold
#: The appendix of input files beside the report (and in the bundle's ``report/``).
SOURCES_FILE = "sources.csv"
#: The checks a county's evidence can run (every one but the full hand count's).
COUNTY_CHECKS = frozenset(CHECK_DATA) - {"hand_count"}
#: Plain words shared by the HTML page and the PDF.
LEGEND = ("Each check compares two independent records of the same ballots. PASS means they "
          "agree; FAIL means at least one difference was found (listed in the report); NOT RUN "
          "means the input the check needs was not given, so the report says nothing either "
          "way.")
VERIFY_LINE = ("Anyone can re-check this report: `tallyproof verify BUNDLE` recomputes every "
               "number in it from the published bundle alone.")
RISK_LIMIT_TEXT = (
    "A risk-limiting audit checks a random sample of the paper ballots by hand, and keeps going "
    "until the paper confirms the reported outcome or every ballot has been counted by hand. Its "
    "risk limit is the largest chance it accepts of confirming an outcome that is wrong: with a "
    "risk limit of 5%, if the reported winner had in fact lost, an audit like this one would go "
    "on to a full hand count (and find the real winner) at least 95 times in 100. The smaller the "
    "margin, the more ballots it must examine.")


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    pdf: Path


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
    """Write ``report.html``, ``report.pdf`` and the input-file appendix ``sources.csv`` into
    ``out_dir`` (atomically, each)."""
    out_dir = Path(out_dir)
    evidence = collect(store)
    ctx = report_context(store, evidence)
    html = render_html(ctx)
    from .pdf import render_pdf

    pdf = render_pdf(ctx)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(html=out_dir / "report.html", pdf=out_dir / "report.pdf")
    atomic_write_bytes(paths.html, html.encode("utf-8"))
    atomic_write_bytes(paths.pdf, pdf)
    atomic_write_bytes(out_dir / SOURCES_FILE, sources_csv(store.election))
    return paths


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
    contests = [_contest_view(store, c, ev.tabulation) for c in election.contests]
    margin_rows = [(c["name"], c["margin_pct"]) for c in contests if c["margin_pct"] is not None]
    sources_bytes = sources_csv(election)
    ledger = next((c for c in ev.checks if c.name == "ledger"), None)
    precincts = _precinct_rows(ev.reconciliation)
    audit = ev.audit
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
        "checks": [_check_view(c) for c in ev.checks],
        "legend": LEGEND, "verify_line": VERIFY_LINE, "risk_limit_text": RISK_LIMIT_TEXT,
        "claims": [cl.to_json() for cl in claims],
        "contests": contests,
        "shares_plot": plots.contest_shares(
            [c["name"] + (" (final round)" if c["rounds"] else "") for c in contests
             if c["chart_rows"]],
            [[(r["name"], r["votes"], r["winner"]) for r in c["chart_rows"]] for c in contests
             if c["chart_rows"]]) if any(c["chart_rows"] for c in contests) else None,
        "margins_plot": plots.margins([m[0] for m in margin_rows], [m[1] for m in margin_rows])
        if margin_rows else None,
        "recon_checks": [_recon_view(c) for c in ev.checks
                         if c.name.startswith("reconciliation.") or c.name == "official_results"],
        "precincts": precincts,
        "precinct_plot": plots.precinct_reconciliation(
            [p["precinct"] for p in precincts], [p["cvrs"] for p in precincts],
            [p["checkins"] for p in precincts]) if precincts else None,
        "audit": audit,
        "audit_plot": plots.audit_risk(
            [(f"{a['contest']}: {a['label']}", a["ballots"], a["risks"])
             for a in audit["assertions"]],
            float(audit["risk_limit"])) if audit and audit["assertions"] else None,
        "discrepancy_plot": plots.discrepancies(sorted(audit["discrepancies"].items()))
        if audit and any(audit["discrepancies"].values()) else None,
        "sources": {"files": len(election.sources),
                    "cards": sum(s.cards for s in election.sources),
                    "sha256": hashlib.sha256(sources_bytes).hexdigest(),
                    "appendix": SOURCES_FILE},
        "ledger_root": ledger.details.get("root") if ledger and ledger.status != "not_run" else None,
        "ledger_size": ledger.details.get("tree_size") if ledger else None,
    }


def _check_view(c: Check) -> dict[str, Any]:
    return {"name": c.name, "status": c.status, "summary": c.summary,
            "label": CHECK_LABELS.get(c.name, c.name)}


def _recon_view(c: Check) -> dict[str, Any]:
    raw = list(c.details.get("differences") or c.details.get("mismatches") or [])
    diffs = []
    for d in raw:
        if "place" in d:
            place = ", ".join(f"{k} {v}" for k, v in sorted(d["place"].items()) if v is not None)
        else:
            place = f"contest {d.get('contest')}, unit {d.get('reporting_unit')}, " \
                    f"candidate {d.get('candidate')}"
        nums = [v for k, v in d.items() if k not in ("kind", "place", "difference", "contest",
                                                        "reporting_unit", "candidate")]
        diffs.append({
            "kind": str(d.get("kind", "vote_count_differs")).replace("_", " "),
            "place": place,
            "expected": f"{nums[0]:,}" if len(nums) > 0 else "",
            "found": f"{nums[1]:,}" if len(nums) > 1 else "",
            "difference": f"{d['difference']:+,}",
        })
    total = int(c.details.get("differences_total", len(raw)))
    return {**_check_view(c), "differences": diffs, "total": total, "more": total > len(raw)}


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


def _contest_view(store: Store, contest: Contest, tabulation: dict[str, Any]) -> dict[str, Any]:
    """Votes, shares, winners and margin of one contest, from the tabulation just computed
    (:func:`tallyproof.tabulate.store_results.tabulate_store`: plurality/approval tallies are
    exact integers; ranked contests show their winners, rounds are in the tabulation file)."""
    names = {c.id: c.name for c in contest.candidates}
    outcome = _outcome(tabulation, contest.id)
    view: dict[str, Any] = {
        "id": contest.id, "name": contest.name, "kind": contest.kind.value,
        "seats": contest.seats, "rule": rule_text(contest), "rows": [], "margin_pct": None,
        "overvotes": None, "undervotes": None, "tied": bool(outcome.get("tied")),
        "winners": [names.get(w, w) for w in outcome.get("winners", [])], "cards": 0,
        "rounds": [], "round_candidates": [], "chart_rows": [],
    }
    tally = outcome.get("tally")
    if not tally:
        view["cards"] = _cards_with(store, contest)
        if outcome.get("rcv"):
            _rcv_view(view, outcome["rcv"], names, set(outcome.get("winners", [])))
        return view
    votes = {str(k): int(v) for k, v in tally["votes"].items()}
    winners = set(tally["winners"])
    order = sorted(contest.candidates, key=lambda c: (-votes.get(c.id, 0), c.id))
    total = sum(votes.values())
    rows = [
        {"name": c.name, "votes": votes.get(c.id, 0),
         "share": _pct(Fraction(votes.get(c.id, 0), total)) if total else "",
         "bar": f"{float(Fraction(votes.get(c.id, 0) * 100, total)):.1f}" if total else "0",
         "winner": c.id in winners}
        for c in order
    ]
    cards = int(tally["cards"])
    view.update(rows=rows, chart_rows=rows, overvotes=int(tally["overvotes"]),
                undervotes=int(tally["undervotes"]), cards=cards)
    seats = contest.seats
    if len(rows) > seats and cards:
        gap = rows[seats - 1]["votes"] - rows[seats]["votes"]
        view["margin_pct"] = float(Fraction(100 * gap, cards))
    return view


def _rcv_view(view: dict[str, Any], rcv: dict[str, Any], names: dict[str, str],
              winners: set[str]) -> None:
    """Round-by-round table of a ranked contest (votes per continuing candidate, who was
    eliminated or elected, ballots no longer counting), its final round for the charts, and
    the final round's margin (winner over runner-up) as a share of the cards with the contest."""
    rounds = rcv.get("rounds") or []
    order = [c for c in rcv.get("candidates", []) if c in (rounds[0]["tally"] if rounds else {})]
    view["round_candidates"] = [names.get(c, c) for c in order]
    for r in rounds:
        tally = {k: Fraction(v) for k, v in r["tally"].items()}
        inactive = sum((Fraction(v) for v in r.get("inactive", {}).values()), Fraction(0))
        view["rounds"].append({
            "round": r["round"],
            "votes": [_num(tally[c]) if c in tally else "" for c in order],
            "eliminated": ", ".join(names.get(c, c) for c in r.get("eliminated", [])),
            "elected": ", ".join(names.get(c, c) for c in r.get("elected", [])),
            "inactive": _num(inactive),
        })
    if rounds:
        final = {k: Fraction(v) for k, v in rounds[-1]["tally"].items()}
        ranked = sorted(final, key=lambda c: (-final[c], c))
        view["chart_rows"] = [{"name": names.get(c, c), "votes": int(final[c]),
                               "winner": c in winners} for c in ranked]
        if len(ranked) > 1 and view["cards"]:
            gap = final[ranked[0]] - final[ranked[1]]
            view["margin_pct"] = float(100 * gap / view["cards"])


def _num(v: Fraction) -> str:
    return f"{int(v):,}" if v.denominator == 1 else f"{float(v):,.4f}"


def sources_csv(election: Any) -> bytes:
    """The appendix of input files (name, format, cards, SHA-256), one per line, sorted by
    name: written beside the report and into the bundle; the report quotes its SHA-256."""
    lines = ["file,format,cards,sha256"] + [
        f"{_csv_field(s.name)},{_csv_field(s.format)},{s.cards},{s.sha256 or ''}"
        for s in sorted(election.sources, key=lambda s: s.name)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _csv_field(v: str) -> str:
    return '"' + v.replace('"', '""') + '"' if any(ch in v for ch in ',"\n') else v


def _outcome(tabulation: dict[str, Any], contest_id: str) -> dict[str, Any]:
    for c in tabulation.get("contests", []):
        if isinstance(c, dict) and c.get("contest_id") == contest_id:
            return c
    raise StoreError(f"the tabulation has no outcome for contest {contest_id!r}")


def _pct(f: Fraction) -> str:
    return f"{float(f * 100):.2f}%"


def _cards_with(store: Store, contest: Contest) -> int:
    col = store.cvrs(columns=[contest.column]).column(contest.column)
    return len(col) - col.null_count

"""The hand-count evidence report and its bundle: a full hand count of the paper ballots
against the machine count (Georgia, November 2020), published so anyone can re-check it.

::

    BUNDLE/bundle.json            kind "hand_count", tool version, the inputs' names and SHA-256
    BUNDLE/SHA256SUMS             "<sha256>  <path>" for every other file, sorted by path
    BUNDLE/inputs/machine.*       the machine count exactly as published (Clarity XML)
    BUNDLE/inputs/hand.csv        the hand count exactly as published (Arlo audit report)
    BUNDLE/inputs/history/…       published results snapshots, when given (results over time)
    BUNDLE/evidence/comparison.json, counties.csv, vote_types.csv, checks.json, claims.json
    BUNDLE/report/report.html, report.pdf

Every number in the report is computed from the two input files; ``verify`` recomputes the
comparison, the checks, the claims and the HTML from ``inputs/`` and requires identical bytes.
The inputs are public records: their SHA-256 are printed in the report so that a reader can
compare them with the copies the state publishes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .. import __version__
from ..formats.arlo_report import ArloReport, read_arlo_report
from ..formats.clarity import read_clarity
from ..formats.snapshot import read_snapshot
from ..fsutil import atomic_write_bytes
from .checks import Check
from .claims import claims_from_checks
from .hand_count import (
    HandCountComparison,
    compare_hand_count,
    comparison_files,
    hand_count_check,
)
from .results_changes import results_history_check

KIND = "hand_count"
MAX_COUNTY_ROWS = 200


@dataclass(frozen=True)
class HandCountEvidence:
    comparison: HandCountComparison
    report: ArloReport
    checks: tuple[Check, ...]
    names: tuple[str, str]  # the machine and hand files' names as published
    election_date: str  # ISO date from the machine count, for the reproducible timestamp

    def epoch(self) -> int:
        """``SOURCE_DATE_EPOCH``, else the election date (as the county report does)."""
        from ..model import Election
        from .report import source_date_epoch

        return source_date_epoch(Election(date=self.election_date))


def gather(machine: Path, hand: Path, history: list[Path] | None = None,
           contest: str | None = None, names: tuple[str, str] | None = None
           ) -> HandCountEvidence:
    """Read the inputs and compute everything the report says (``names``: the files' names
    as published, when they are read from a bundle's copies)."""
    m = read_clarity(machine)
    h = read_arlo_report(hand)
    cmp = compare_hand_count(m, h, contest)
    snaps = [read_snapshot(p) for p in (history or [])]
    order = sorted(range(len(snaps)), key=lambda i: snaps[i].timestamp)
    hist = results_history_check([(k + 1, snaps[i]) for k, i in enumerate(order)])
    month, day, year = (m.election_date.split("/") + ["", "", ""])[:3]
    iso = f"{year}-{month.zfill(2)}-{day.zfill(2)}" if year.isdigit() else ""
    return HandCountEvidence(cmp, h, (hand_count_check(cmp), hist),
                             names or (Path(machine).name, Path(hand).name), iso)


def report_context(ev: HandCountEvidence, epoch: int) -> dict[str, Any]:
    from . import plots

    cmp, rep = ev.comparison, ev.report
    s = cmp.statewide
    counties = list(cmp.counties)
    plot = plots.county_margin_changes([r.county for r in counties],
                                       [r.margin_change for r in counties],
                                       [r.share_of_ballots for r in counties],
                                       s.margin_machine, s.margin_change,
                                       cmp.candidates[0],
                                       cmp.candidates[1] if len(cmp.candidates) > 1 else "")
    settings = rep.settings
    rounds = [{"number": r.number, "contest": r.contest, "sample_size": r.sample_size,
               "met": r.risk_limit_met, "p_value": r.p_value, "start": r.start, "end": r.end}
              for r in rep.rounds]
    claims = [c.to_json() for c in claims_from_checks(list(ev.checks),
                                                      {c.name for c in ev.checks})]
    return {
        "meta": {"tool_version": __version__, "epoch": epoch, "contest": cmp.contest,
                 "election": rep.election.get("Election Name", ""),
                 "organization": rep.election.get("Organization", ""),
                 "machine_source": ev.names[0], "machine_sha256": cmp.machine_sha256,
                 "hand_source": ev.names[1], "hand_sha256": cmp.hand_sha256},
        "audit": {"type": settings.audit_type, "math": settings.math_type,
                  "risk_limit": f"{settings.risk_limit:.0%}", "seed": settings.seed,
                  "name": settings.audit_name, "rounds": rounds},
        "candidates": list(cmp.candidates),
        "statewide": s, "by_type": list(cmp.statewide_by_type),
        "counties": counties[:MAX_COUNTY_ROWS], "counties_total": len(counties),
        "other": list(cmp.other_categories),
        "winners": {"machine": list(cmp.machine_winners), "hand": list(cmp.hand_winners),
                    "confirmed": cmp.outcome_confirmed},
        "checks": [c.to_json() for c in ev.checks],
        "claims": claims,
        "plot": plot,
    }


def render_html(ctx: dict[str, Any]) -> str:
    from .report import render_html as render

    return render(ctx, template="handcount.html.j2")


def render_pdf(ctx: dict[str, Any]) -> bytes:
    from .pdf import new_pdf, pdf_heading, pdf_image, pdf_paragraph, pdf_table

    meta, s, w = ctx["meta"], ctx["statewide"], ctx["winners"]
    pdf = new_pdf(f"Hand count against machine count: {meta['contest']}", meta["epoch"],
                  meta["tool_version"])
    pdf_heading(pdf, "Hand count against machine count", 1)
    pdf_paragraph(pdf, f"{meta['organization']}, {meta['election']}: {meta['contest']}. Every "
                       "number here is computed from the two published files named at the end; "
                       "anyone can re-check it with `tallyproof verify` on the bundle.")
    pdf_heading(pdf, "What the hand count shows", 2)
    pdf_paragraph(pdf, ctx["checks"][0]["summary"])
    pdf_table(pdf, "Statewide", ["Choice", "Machine count", "Hand count", "Difference"],
              [[c, f"{s.machine[c]:,}", f"{s.hand[c]:,}", f"{s.difference[c]:+,}"]
               for c in ctx["candidates"]]
              + [[o, "", f"{s.hand_other[o]:,}", ""] for o in ctx["other"]], (70, 35, 35, 35))
    pdf_paragraph(pdf, f"Winner by machine count: {', '.join(w['machine'])}; by hand count: "
                       f"{', '.join(w['hand'])}.")
    pdf_heading(pdf, "Claims and what the evidence says", 2)
    for cl in ctx["claims"]:
        pdf_heading(pdf, f"\u201c{cl['claim']}\u201d", 3)
        pdf_paragraph(pdf, f"Question: {cl['question']}")
        pdf_paragraph(pdf, f"Answer: {cl['finding']}")
    pdf.add_page()
    pdf_heading(pdf, "Differences by county", 2)
    pdf_image(pdf, ctx["plot"])
    pdf_table(pdf, "Counties, largest change to the margin first",
              ["County", "Ballots (hand)", "Votes differing", "Share of its ballots",
               "Change to margin"],
              [[r.county, f"{r.hand_ballots:,}", f"{r.abs_difference:,}",
                f"{r.share_of_ballots:.2%}", f"{r.margin_change:+,}"] for r in ctx["counties"]],
              (50, 30, 30, 35, 30))
    pdf_heading(pdf, "Differences by vote type", 2)
    pdf_table(pdf, "Statewide, by vote type",
              ["Vote type", *ctx["candidates"], "Change to margin"],
              [[r.vote_type, *(f"{r.difference[c]:+,}" for c in ctx["candidates"]),
                f"{r.margin_change:+,}"] for r in ctx["by_type"]],
              tuple([40] + [100 // max(len(ctx["candidates"]), 1)] * len(ctx["candidates"])
                    + [35]))
    a = ctx["audit"]
    pdf_heading(pdf, "The audit's own settings", 2)
    pdf_paragraph(pdf, f"{a['name']}: {a['type']}, {a['math']}, risk limit {a['risk_limit']}, "
                       f"seed {a['seed']}. " + " ".join(
                           f"Round {r['number']} ({r['contest']}): {r['sample_size']:,} ballots, "
                           f"risk limit met: {'yes' if r['met'] else 'no'}, from {r['start']} "
                           f"to {r['end']}." for r in a["rounds"]))
    pdf_heading(pdf, "Inputs", 2)
    pdf_paragraph(pdf, f"Machine count: {meta['machine_source']}, SHA-256 "
                       f"{meta['machine_sha256']}. Hand count: {meta['hand_source']}, SHA-256 "
                       f"{meta['hand_sha256']}.")
    return bytes(pdf.output())


def _json(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def evidence_files(ev: HandCountEvidence, epoch: int, pdf: bool = True) -> dict[str, bytes]:
    """Every derived file of the bundle (path -> bytes), deterministic for the same inputs."""
    ctx = report_context(ev, epoch)
    files = {
        **{f"evidence/{name}": data for name, data in comparison_files(ev.comparison).items()},
        "evidence/checks.json": _json({"schema_version": 1, "checks": ctx["checks"]}),
        "evidence/claims.json": _json({"schema_version": 1, "claims": ctx["claims"]}),
        "report/report.html": render_html(ctx).encode("utf-8"),
    }
    if pdf:
        files["report/report.pdf"] = render_pdf(ctx)
    return files


def build_handcount_bundle(machine: Path, hand: Path, out: Path,
                           history: list[Path] | None = None, contest: str | None = None
                           ) -> Path:
    """Write the bundle folder ``out`` (staged, then renamed into place)."""
    from .bundle import staged_bundle, write_zip

    out = Path(out)
    with staged_bundle(out) as stage:
        inputs = {"inputs/machine" + Path(machine).suffix.lower(): Path(machine),
                  "inputs/hand.csv": Path(hand)}
        for i, p in enumerate(history or [], start=1):
            inputs[f"inputs/history/{i:04d}{Path(p).suffix.lower()}"] = Path(p)
        for rel, src in inputs.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, stage / rel)
        # computed from the copies: the bundle's numbers come from exactly the bundled bytes
        names = (Path(machine).name, Path(hand).name)
        ev = gather(stage / next(iter(inputs)), stage / "inputs/hand.csv",
                    [stage / r for r in inputs if r.startswith("inputs/history/")], contest,
                    names)
        epoch = ev.epoch()
        for rel, data in evidence_files(ev, epoch).items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_bytes(data)
        meta = {"schema_version": 1, "kind": KIND, "tool_version": __version__,
                "source_date_epoch": epoch,
                "contest": ev.comparison.contest,
                "inputs": {rel: {"name": src.name} for rel, src in inputs.items()},
                "names": list(names)}
        atomic_write_bytes(stage / "bundle.json", _json(meta))
    write_zip(out, out.with_name(out.name + ".zip"), epoch)
    return out


def verify_handcount_bundle(folder: Path) -> list[Check]:
    """Recompute every derived file from ``inputs/`` and compare bytes (the PDF is rebuilt
    too: fpdf2's output is deterministic for the same context and epoch)."""
    meta = orjson.loads((folder / "bundle.json").read_bytes())
    inputs = sorted(meta["inputs"])
    machine = next(folder / r for r in inputs if r.startswith("inputs/machine"))
    history = [folder / r for r in inputs if r.startswith("inputs/history/")]
    names = meta.get("names") or [machine.name, "hand.csv"]
    ev = gather(machine, folder / "inputs/hand.csv", history, meta.get("contest"),
                (str(names[0]), str(names[1])))
    rebuilt = evidence_files(ev, int(meta["source_date_epoch"]))
    differ = sorted(rel for rel, data in rebuilt.items()
                    if not (folder / rel).is_file() or (folder / rel).read_bytes() != data)
    check = Check("hand_count.rebuild", "fail" if differ else "pass",
                  (f"{len(differ)} file(s) differ from the ones rebuilt from the inputs: "
                   + ", ".join(differ)) if differ else
                  f"all {len(rebuilt)} derived files rebuilt from the inputs are identical",
                  {"differ": differ})
    return [check, *ev.checks]

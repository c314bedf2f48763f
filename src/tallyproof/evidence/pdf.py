"""The PDF edition of the report, written with fpdf2 (pure Python, no system libraries).

It shows the same context as the HTML page. Reproducibility: the creation date is the
report's ``SOURCE_DATE_EPOCH``, the file id is derived from the content, fonts are the DejaVu
files that ship with matplotlib (so the text is not limited to Latin-1 and every machine
embeds the same font), and images are the plots' PNGs without metadata. An outline entry per
heading and alt text on every image keep it navigable and usable with a screen reader.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
STATUS_TEXT = {"pass": "PASS", "fail": "FAIL", "not_run": "NOT RUN"}


class _Pdf(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 8, f"page {self.page_no()}", align="C")


def render_pdf(ctx: dict[str, Any]) -> bytes:
    meta = ctx["meta"]
    pdf = new_pdf(f"Election evidence report: {meta['election']}", meta["epoch"],
                  meta["tool_version"])
    _h(pdf, "Election evidence report", 1)
    _p(pdf, f"{meta['election']}, {meta['jurisdiction']}"
       + (f", {meta['date']}" if meta["date"] else "")
       + f". {meta['cards']:,} ballot cards (CVRs). Evidence as of {meta['as_of']}; made by "
       f"tallyproof {meta['tool_version']}.")
    _p(pdf, ctx["verify_line"])

    s = ctx["summary"]
    _h(pdf, "Summary of checks", 2)
    _p(pdf, ctx["legend"])
    _table(pdf, f"Checks: {s['passed']} passed, {s['failed']} failed, {s['not_run']} not run",
           ["Check", "Status", "What it found"],
           [[c["label"], STATUS_TEXT[c["status"]], c["summary"]]
            for c in ctx["checks"]], (50, 20, 120))

    _h(pdf, "Claims and what the evidence says", 2)
    for cl in ctx["claims"]:
        _h(pdf, f"\u201c{cl['claim']}\u201d", 3)
        _p(pdf, f"Question: {cl['question']}")
        _p(pdf, f"Answer: {cl['finding']}")

    pdf.add_page()
    _h(pdf, "Contest results", 2)
    if ctx["shares_plot"]:
        _img(pdf, ctx["shares_plot"])
    if ctx["margins_plot"]:
        _img(pdf, ctx["margins_plot"])
    for ct in ctx["contests"]:
        _h(pdf, ct["name"], 3)
        _p(pdf, f"Rule: {ct['rule']}.")
        if ct["rows"]:
            _table(pdf, f"{ct['name']}: votes by candidate",
                   ["Candidate", "Votes", "Share", "Outcome"],
                   [[r["name"], f"{r['votes']:,}", r["share"], "winner" if r["winner"] else ""]
                    for r in ct["rows"]], (90, 35, 30, 35))
        elif ct["rounds"]:
            _p(pdf, "Winner(s): " + (", ".join(ct["winners"]) or "not determined") + ".")
            n = len(ct["round_candidates"])
            width = max(12, (190 - 12 - 22 - 48) // max(n, 1))
            _table(pdf, f"{ct['name']}: votes in each round (a ballot counts for its highest-"
                        "ranked candidate still in the count)",
                   ["Round", *ct["round_candidates"], "No longer counting", "Eliminated /"
                    " elected"],
                   [[str(r["round"]), *r["votes"], r["inactive"],
                     "; ".join(x for x in (r["eliminated"] and f"out: {r['eliminated']}",
                                           r["elected"] and f"elected: {r['elected']}") if x)]
                    for r in ct["rounds"]], (12, *([width] * n), 22, 48))
        else:
            _p(pdf, "Winner(s): " + (", ".join(ct["winners"]) or "not determined") + ".")

    _h(pdf, "Ballot accounting", 2)
    if ctx["precinct_plot"]:
        _img(pdf, ctx["precinct_plot"])
    for c in ctx["recon_checks"]:
        _p(pdf, f"{c['label'].capitalize()} ({STATUS_TEXT[c['status']]}): {c['summary']}")
        if c["differences"]:
            _table(pdf, f"{c['label'].capitalize()}: differences",
                   ["Kind", "Place", "Expected", "Found", "Difference"],
                   [[d["kind"], d["place"], d["expected"], d["found"], d["difference"]]
                    for d in c["differences"][:200]], (45, 70, 25, 25, 25))

    _h(pdf, "Risk-limiting audit", 2)
    _p(pdf, ctx["risk_limit_text"])
    audit = ctx["audit"]
    if audit:
        _p(pdf, audit["summary"])
        if ctx["audit_plot"]:
            _img(pdf, ctx["audit_plot"])
        if ctx["discrepancy_plot"]:
            _img(pdf, ctx["discrepancy_plot"])
    else:
        _p(pdf, "No risk-limiting audit was run, so this report says nothing about whether the "
                "paper ballots agree with the CVRs.")

    _h(pdf, "Inputs", 2)
    src = ctx["sources"]
    _p(pdf, f"The CVRs were read from {src['files']:,} file(s) holding {src['cards']:,} cards. "
            f"Every file's name, format, card count and SHA-256 are listed in the appendix "
            f"{src['appendix']} beside this report (in the bundle: report/{src['appendix']}), "
            f"whose SHA-256 is {src['sha256']}.")
    if ctx["ledger_root"]:
        _p(pdf, f"Commitment log root {ctx['ledger_root']} over {ctx['ledger_size']:,} leaves.")
    return bytes(pdf.output())


def _h(pdf: FPDF, text: str, level: int) -> None:
    size = {1: 18, 2: 14, 3: 11}[level]
    if level == 2 and pdf.get_y() > 230:
        pdf.add_page()
    pdf.ln(2 if level == 3 else 4)
    pdf.set_font(FONT, "B", size)
    pdf.start_section(text, level=level - 1)
    pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9.5)


def _p(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT, "", 9.5)
    pdf.multi_cell(0, 5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _table(pdf: FPDF, caption: str, header: list[str], rows: list[list[str]],
           widths: tuple[int, ...]) -> None:
    pdf.set_font(FONT, "B", 9)
    pdf.multi_cell(0, 5, caption, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 8)
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.2,
                   first_row_as_headings=True) as table:
        for r in [header, *rows]:
            row = table.row()
            for cell in r:
                row.cell(str(cell))
    pdf.ln(2)


def _img(pdf: FPDF, plot: Any) -> None:
    pdf.image(io.BytesIO(plot.png), w=170, alt_text=plot.alt, title=plot.title)
    pdf.set_font(FONT, "", 8)
    pdf.multi_cell(0, 4, plot.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def new_pdf(title: str, epoch: int, tool_version: str) -> FPDF:
    """An empty A4 document set up as the report's (fonts, reproducible date, metadata), for
    other reports (the hand-count report) that share its look."""
    pdf = _Pdf(format="A4")
    pdf.set_creation_date(datetime.fromtimestamp(epoch, UTC))
    pdf.set_title(title)
    pdf.set_author("tallyproof")
    pdf.set_creator(f"tallyproof {tool_version}")
    pdf.set_lang("en")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    return pdf


pdf_heading, pdf_paragraph, pdf_table, pdf_image = _h, _p, _table, _img

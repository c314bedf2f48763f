"""The PDF edition of the report, written with fpdf2 (pure Python, no system libraries).

It shows the same context as the HTML page. Reproducibility: the creation date is the
report's ``SOURCE_DATE_EPOCH``, the file id is derived from the content, fonts are the DejaVu
files that ship with matplotlib (so the text is not limited to Latin-1 and every machine
embeds the same font), and images are the plots' PNGs without metadata. An outline entry per
heading and alt text on every image keep it navigable and usable with a screen reader.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
STATUS_TEXT = {"pass": "PASS", "fail": "FAIL", "not_run": "NOT RUN"}


class MeasuredPdf(FPDF):
    """FPDF that remembers string widths: the same few names and labels are measured over and
    over (worksheet card blocks measured before they are drawn, tables checked for fit)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._widths: dict[tuple[Any, ...], float] = {}

    def get_string_width(self, s: str, normalized: bool = False, markdown: bool = False
                         ) -> float:
        """fpdf2's width, remembered per text and font state. The width depends only on the
        text and these settings, so the bytes do not change."""
        key = (s, normalized, markdown, self.font_family, self.font_style, self.font_size_pt,
               self.char_spacing, self.font_stretching, self.underline, self.strikethrough)
        width = self._widths.get(key)
        if width is None:
            width = self._widths[key] = super().get_string_width(s, normalized, markdown)
        return width


def _baseline(pdf: FPDF, y: float, h: float) -> float:
    """Where ``cell`` puts the text's baseline in a cell of height ``h`` at ``y``: vertically
    centred, 0.3 of the font size below the middle."""
    return y + 0.5 * h + 0.3 * pdf.font_size


def text_cell(pdf: FPDF, x: float, y: float, w: float, h: float, text: str) -> None:
    """``set_xy(x, y)`` and ``cell(w, h, text)`` (left-aligned, no border, no fill): the same
    text at the same place, written with fpdf2's ``text``. A cell lays out a styled line of
    fragments, about ten times the work, and a worksheet or a table has thousands of these.
    Where the cell would break the page (or has nothing to write) it is left to ``cell``."""
    if not text or y + h > pdf.page_break_trigger:
        pdf.set_xy(x, y)
        pdf.cell(w, h, text)
        return
    pdf.text(x + pdf.c_margin, _baseline(pdf, y, h), text)
    pdf.set_xy(x + (w or pdf.w - pdf.r_margin - x), y)


#: Room (mm) a value must leave in its column to be drawn on one line without wrapping.
FIT_SLACK = 0.05


def grid_table(pdf: FPDF, widths: Sequence[float], rows: Sequence[Sequence[str]],
               line_height: float) -> None:
    """``pdf.table(col_widths=widths, text_align="LEFT", line_height=line_height,
    first_row_as_headings=True)`` with ``rows`` (the first one the bold headings, repeated
    atop every page the table runs onto), the same on paper.

    fpdf2's table breaks every cell's text into lines with ``multi_cell``, character by
    character. When every value fits its column on one line (the usual case: numbers, ids,
    short names) every row is one line high and is drawn here directly: a bordered box and
    the text where the table would put it, with the table's page breaks (a row that does not
    fit starts a new page under repeated headings; the headings never end a page alone).
    Otherwise the table is left to fpdf2."""
    total = sum(widths)
    cols = [w / total * pdf.epw for w in widths]
    style, size = pdf.font_style, pdf.font_size_pt

    def fits(row: Sequence[str], bold: bool) -> bool:
        pdf.set_font(FONT, "B" if bold else "", size)
        return all("\n" not in v and pdf.get_string_width(v) <= w - 2 * pdf.c_margin - FIT_SLACK
                   for v, w in zip(row, cols, strict=True))

    one_line = all(fits(r, i == 0) for i, r in enumerate(rows))
    pdf.set_font(FONT, style, size)
    if not one_line or pdf.x != pdf.l_margin:
        with pdf.table(col_widths=tuple(widths), text_align="LEFT", line_height=line_height,
                       first_row_as_headings=True) as table:
            for r in rows:
                row = table.row()
                for cell in r:
                    row.cell(cell)
        return

    def draw(row: Sequence[str], bold: bool) -> None:
        pdf.set_font(FONT, "B" if bold else "", size)
        x, y = pdf.l_margin, pdf.get_y()
        for value, w in zip(row, cols, strict=True):
            pdf.rect(x, y, w, line_height)
            if value:
                pdf.text(x + pdf.c_margin, _baseline(pdf, y, line_height), value)
            x += w
        pdf.set_font(FONT, style, size)
        pdf.set_xy(pdf.l_margin, y + line_height)

    if len(rows) > 1 and pdf.will_page_break(2 * line_height):
        pdf.add_page(same=True)  # the headings with the first row, never alone
    for i, row in enumerate(rows):
        if pdf.will_page_break(line_height):
            pdf.add_page(same=True)
            if i > 0:
                draw(rows[0], True)
        draw(row, i == 0)


class _Pdf(MeasuredPdf):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 8, f"page {self.page_no()}", align="C")


def new_pdf(title: str, epoch: int, tool_version: str) -> FPDF:
    """An empty A4 document set up as the report's (fonts, reproducible date, metadata), for
    every report (county, hand count, state) so they share one look."""
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


def render_pdf(ctx: dict[str, Any]) -> bytes:
    meta = ctx["meta"]
    pdf = new_pdf(f"Election evidence report: {meta['election']}", meta["epoch"],
                  meta["tool_version"])
    _h(pdf, "Election evidence report", 1)
    _p(pdf, f"{meta['election']}, {meta['jurisdiction']}"
       + (f", {meta['date']}" if meta["date"] else "")
       + f". {meta['cards']:,} ballot cards (CVRs). Evidence as of {meta['as_of']}; made by "
       f"tallyproof {meta['tool_version']}.")
    _p(pdf, ctx["verify_line"].replace("`", "\u201c", 1).replace("`", "\u201d", 1))

    s = ctx["summary"]
    _h(pdf, "Summary of checks", 2)
    _p(pdf, ctx["legend"])
    _table(pdf, f"Checks: {s['passed']} passed, {s['failed']} failed, {s['not_run']} not run",
           ["Check", "Status", "What it found"],
           [[f"{c['label']} ({c['name']})", STATUS_TEXT[c["status"]], c["summary"]]
            for c in ctx["checks"]], (50, 20, 120))

    _h(pdf, "Claims and what the evidence says", 2)
    for cl in ctx["claims"]:
        _h(pdf, f"\u201c{cl['claim']}\u201d", 3)
        _p(pdf, f"Question: {cl['question']}")
        _p(pdf, f"Answer: {cl['finding']}")

    voters = ctx["voters"]
    if voters:
        _h(pdf, "Voter files: method and privacy", 2)
        _p(pdf, f"Privacy. {voters['privacy']}")
        _p(pdf, f"Method. {voters['method_notes']}")
        _p(pdf, "Rules applied: " + "; ".join(voters["rules"]) + "."
           + (" Ballots counted per precinct are the CVRs in this report's store."
              if voters["ballots_from_cvrs"] else ""))
        if voters["precision_recall"]:
            _table(pdf, "Matching against planted truth (synthetic data): precision and recall",
                   ["Matches", "Planted", "Found", "True found", "Precision", "Recall"],
                   [[r["kind"], f"{r['planted']:,}", f"{r['found']:,}", f"{r['true_found']:,}",
                     r["precision"], r["recall"]] for r in voters["precision_recall"]],
                   (70, 22, 22, 26, 25, 25))
        if voters["inputs"]:
            _table(pdf, "Voter files read (SHA-256; the files themselves are not published)",
                   ["File", "Name", "SHA-256"],
                   [[f["kind"], f["name"], f["sha256"]] for f in voters["inputs"]],
                   (25, 35, 130))

    if ctx["shares_plot"]:
        _keep_room(pdf, 20 + _img_height(ctx["shares_plot"]))
    _h(pdf, "Contest results", 2)
    if ctx["shares_plot"]:
        _img(pdf, ctx["shares_plot"])
    if ctx["margins_plot"]:
        _img(pdf, ctx["margins_plot"])
    for ct in ctx["contests"]:
        _keep_room(pdf, 50 / MIN_SCALE)  # heading, rule, caption and the first rows together
        _h(pdf, ct["name"], 3)
        _p(pdf, f"Rule: {ct['rule']}")
        if ct["rows"]:
            _table(pdf, f"{ct['name']}: votes by candidate",
                   ["Candidate", "Votes", "Share", "Outcome"],
                   [[r["name"], f"{r['votes']:,}", r["share"], "winner" if r["winner"] else ""]
                    for r in ct["rows"]], (90, 35, 30, 35))
        else:
            _p(pdf, "Winner(s): " + (", ".join(ct["winners"]) or "not determined"))
        rd = ct["rounds"]
        if rd:
            n = len(rd["headers"])
            cw = max(min(18, 100 // max(n, 1)), 12)
            _table(pdf, f"{ct['name']}: votes in each round", ["Candidate", *rd["headers"],
                                                                "Outcome"],
                   [[r["name"], *r["cells"], r["note"]] for r in rd["rows"] + rd["inactive"]]
                   + [["Votes needed to win (threshold)", *rd["threshold"], ""]],
                   (190 - cw * n - 35, *([cw] * n), 35))

    _h(pdf, "Ballot accounting", 2)
    if ctx["precincts_all_match"]:
        _p(pdf, f"In all {len(ctx['precincts'])} precincts the number of CVRs equals the number "
                "of pollbook check-ins.")
    if ctx["precinct_plot"]:
        _img(pdf, ctx["precinct_plot"])
    for c in ctx["recon_checks"]:
        _p(pdf, f"{c['title']} ({STATUS_TEXT[c['status']]}): {c['summary']}")
        cov = ctx["results_coverage"]
        if c["name"] == "official_results" and cov and cov["note"]:
            _p(pdf, cov["note"])
        if c["differences"]:
            _table(pdf, f"{c['title']}: differences",
                   ["Kind", "Place", "Expected", "Found", "Difference"],
                   [[d["kind"], d["place"], d["expected"], d["found"], d["difference"]]
                    for d in c["differences"][:200]], (45, 70, 25, 25, 25))

    _h(pdf, "Risk-limiting audit", 2)
    audit = ctx["audit"]
    if audit:
        if ctx["risk_limit_text"]:
            _p(pdf, ctx["risk_limit_text"])
        _p(pdf, audit["summary"])
        if ctx["audit_plot"]:
            _img(pdf, ctx["audit_plot"])
        if ctx["discrepancy_plot"]:
            _img(pdf, ctx["discrepancy_plot"])
    else:
        _p(pdf, "No risk-limiting audit was run, so this report says nothing about whether the "
                "paper ballots agree with the CVRs.")

    _h(pdf, "Inputs", 2)
    ha = ctx["hash_appendix"]
    _table(pdf, f"Files the CVRs were read from ({ha['files']} files)",
           ["Format", "Files", "Cards"],
           [[g["format"], f"{g['files']:,}", f"{g['cards']:,}"] for g in ctx["source_groups"]],
           (90, 50, 50))
    _p(pdf, f"Every input file's SHA-256 (its digital fingerprint) is listed in "
            f"{ha['name']}, published next to this report and in the bundle; check the files "
            f"with \u201csha256sum -c {ha['name']}\u201d. That list's own SHA-256 is "
            f"{ha['sha256']}.")
    if ctx["ledger_root"]:
        _p(pdf, f"Commitment log root {ctx['ledger_root']} over {ctx['ledger_size']:,} leaves.")
    _p(pdf, ctx["verify_line"].replace("`", "\u201c", 1).replace("`", "\u201d", 1))
    raw = bytes(pdf.output())
    return raw


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
    _keep_room(pdf, 25 / MIN_SCALE)  # the caption, the header row and a few rows together
    pdf.set_font(FONT, "B", 9)
    pdf.multi_cell(0, 5, caption, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 8)
    grid_table(pdf, widths, [header, *([str(c) for c in r] for r in rows)], 4.2)
    pdf.ln(2)


#: Width of a chart on the page (mm); a chart that does not fit the rest of a page is shrunk
#: to fit when that keeps at least MIN_SCALE of its size, else it starts the next page.
IMG_WIDTH = 170
MIN_SCALE = 0.7


def _img_height(plot: Any, width: float = IMG_WIDTH) -> float:
    w, h = struct.unpack(">II", plot.png[16:24])  # the PNG's IHDR chunk: width, height
    return float(width * h / w)


def _keep_room(pdf: FPDF, height: float) -> None:
    """Start a new page unless ``height`` mm (shrunk as :func:`_img` may) fit on this one, so
    a heading is never left alone above a blank space."""
    room = pdf.page_break_trigger - pdf.get_y()
    if room < height * MIN_SCALE:
        pdf.add_page()


def _img(pdf: FPDF, plot: Any) -> None:
    full = _img_height(plot)
    room = pdf.page_break_trigger - pdf.get_y() - 8  # the caption below
    width = float(IMG_WIDTH)
    if full > room:
        if full * MIN_SCALE <= room:
            width = IMG_WIDTH * room / full
        else:
            pdf.add_page()
            room = pdf.page_break_trigger - pdf.get_y() - 8
            width = IMG_WIDTH * min(1.0, room / full)
    pdf.image(io.BytesIO(plot.png), w=width, x=pdf.l_margin + (IMG_WIDTH - width) / 2,
              alt_text=plot.alt, title=plot.title)
    pdf.set_font(FONT, "", 8)
    pdf.multi_cell(0, 4, plot.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


pdf_heading, pdf_paragraph, pdf_table, pdf_image = _h, _p, _table, _img

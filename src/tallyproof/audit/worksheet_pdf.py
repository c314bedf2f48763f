"""The printable worksheet of an audit board (fpdf2; US Letter, portrait).

One block per card, never split across pages: where the card is (container, tabulator,
batch, position, imprinted id), a "card not found" box, and per contest to read its name,
how many choices it allows, and a check box per candidate plus "blank" and "overvote" (ranked
contests: a grid of candidates × ranks). Every page has the round, the board and boxes for
both members' initials; the last page a summary and signature lines, and the list of every
contest's choices with their ids (the worksheet CSV takes names or ids).

The sheet is made from locations and contest definitions only, never from a CVR's votes,
so the board reads the paper blind. Fonts are the DejaVu files that ship with matplotlib (as
in :mod:`tallyproof.evidence.pdf`) and the creation date is fixed by the caller, so the same
round gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from ..evidence.pdf import FONT, FONT_DIR, MeasuredPdf, grid_table, text_cell
from ..model import Contest, Election
from .worksheets import SheetCard

BOX = 3.6  # side of a check box, mm
LINE = 6.0  # height of a line of check boxes, mm
GAP = 5.0  # space after a choice's label, mm
MEMBERS = 2  # signature lines
PAGES = "{pages}"  # the page-count placeholder: room for 7 digits


@dataclass(frozen=True)
class SheetHeader:
    """What the top of every worksheet says."""

    election: Election
    round_number: int
    board: int
    boards: int
    kind: str
    created: datetime


class _Pdf(MeasuredPdf):
    """Remembers string widths (:class:`MeasuredPdf`): every card block is measured before
    it is drawn, with the same few contest and choice names on every card."""

    head: SheetHeader  # set before the first page

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, size=8)
        h = self.head
        self.cell(0, 5, f"Round {h.round_number} · audit board {h.board} of {h.boards} · "
                        f"page {self.page_no()} of {PAGES}", align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, "initials:  ________   ________", align="R")


def render_worksheet(head: SheetHeader, cards: Sequence[SheetCard],
                     contests: Sequence[Contest]) -> bytes:
    """The PDF worksheet of one board for one round (``contests``: those under audit)."""
    pdf = _Pdf(format="Letter")
    pdf.head = head
    pdf.set_creation_date(head.created)
    pdf.set_title(f"Audit board worksheet, round {head.round_number}, board {head.board}")
    pdf.set_author("tallyproof")
    pdf.set_lang("en")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(15, 14, 15)
    pdf.set_auto_page_break(auto=True, margin=18)  # the tables; card blocks break by hand
    pdf.alias_nb_pages(PAGES)
    pdf.add_page()
    batch = head.kind == "batch"
    _title(pdf, head, len(cards))
    by_id = {c.id: c for c in contests}
    if not cards:
        _para(pdf, f"No {'batches' if batch else 'cards'} for this board in this round.",
              bold=True)
    else:
        _pull_list(pdf, cards, batch=batch)
        pdf.add_page()
    for card in cards:
        _card(pdf, card, [by_id[k] for k in card.contests], batch=batch)
    _signatures(pdf, len(cards), batch=batch)
    _choices_table(pdf, [c for c in contests if any(c.id in k.contests for k in cards)])
    return bytes(pdf.output())


def _pull_list(pdf: FPDF, cards: Sequence[SheetCard], *, batch: bool) -> None:
    """The board's pull list: where every card is, with boxes for pulled and put back."""
    _para(pdf, "Pull list", size=11, bold=True)
    pdf.ln(1)
    pdf.set_font(FONT, "", 8.5)
    if batch:
        widths: tuple[int, ...] = (14, 72, 30, 30, 20, 20)
        rows = [("Batch", "Container", "Tabulator", "Batch", "Pulled", "Put back"),
                *((str(c.number), c.container, c.tabulator, c.batch, "\u2610", "\u2610")
                  for c in cards)]
    else:
        widths = (12, 48, 20, 16, 16, 34, 20, 20)
        rows = [("Card", "Container", "Tabulator", "Batch", "Position", "Imprinted id",
                 "Pulled", "Put back"),
                *((str(c.number), c.container, c.tabulator, c.batch,
                   str(c.position) if c.position else "", c.imprinted_id, "\u2610", "\u2610")
                  for c in cards)]
    grid_table(pdf, widths, rows, 4.6)  # repeats the headings on every page, as before


def _para(pdf: FPDF, text: str, *, size: float = 9.5, bold: bool = False) -> None:
    pdf.set_font(FONT, "B" if bold else "", size)
    pdf.multi_cell(0, size * 0.48, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _title(pdf: FPDF, head: SheetHeader, n: int) -> None:
    e = head.election
    _para(pdf, "Risk-limiting audit: audit board worksheet", size=16, bold=True)
    pdf.ln(1)
    unit = "batch" if head.kind == "batch" else "card"
    _para(pdf, f"Round {head.round_number} · audit board {head.board} of {head.boards} · "
               f"{n} {unit}{'es' if unit == 'batch' and n != 1 else 's' if n != 1 else ''} "
               f"to {'count' if unit == 'batch' else 'read'}", size=11, bold=True)
    _para(pdf, ", ".join(x for x in (e.name, e.jurisdiction, e.date or "") if x))
    pdf.ln(2)
    steps = [
        "Pull each batch below from its container and count every card of it by hand.",
        "For each contest listed under the batch, write the number of votes each choice "
        "received (0 when none).",
        "A batch you cannot find: tick \"batch not found\" and go on; it counts against the "
        "reported outcome.",
        "Both members agree on every count, initial each page and sign the last one. "
        "Type the counts into the tally sheet CSV of the same name (the votes column; "
        "\"not found\" for a missing batch).",
    ] if unit == "batch" else [
        "Pull each card below from its container, tabulator and batch: count to its "
        "position (1 = the first card of the batch) and check the imprinted id when there "
        "is one.",
        "For each contest listed under the card, tick every choice the voter marked, as "
        "marked on the paper. No mark: tick \"blank\". More marks than allowed: tick them "
        "all, or \"overvote\" when you cannot tell which. Ranked contests: tick one box per "
        "rank column.",
        "A card you cannot find: tick \"card not found\" and go on; it counts against the "
        "reported outcome.",
        "Both members agree on every reading, initial each page and sign the last one. "
        "Type the readings into the worksheet CSV of the same name (choices by name or id; "
        "\"blank\", \"overvote\", \"not found\").",
    ]
    for i, s in enumerate(steps, start=1):
        _para(pdf, f"{i}. {s}", size=9)
    _para(pdf, "This sheet shows no tabulator record: read only what is on the paper.",
          size=9, bold=True)
    pdf.ln(3)


def _flow(pdf: FPDF, labels: Sequence[str], x0: float, width: float) -> list[tuple[float, int]]:
    """Where each ``[ ] label`` goes: (x, line) in a left-to-right flow of ``width`` mm."""
    out: list[tuple[float, int]] = []
    x, line = x0, 0
    for label in labels:
        w = BOX + 1.5 + pdf.get_string_width(label) + GAP
        if x > x0 and x + w > x0 + width:
            x, line = x0, line + 1
        out.append((x, line))
        x += w
    return out


def _box(pdf: FPDF, x: float, y: float) -> None:
    pdf.rect(x, y + (LINE - BOX) / 2, BOX, BOX)


def _contest(pdf: FPDF, contest: Contest, x0: float, width: float, *, dry: bool) -> float:
    """Draw (unless ``dry``) one contest at the current y, leave y below it; its height."""
    y0 = pdf.get_y()
    if contest.ranked:
        ranks = contest.max_rankings or len(contest.candidates)
        rule = f"rank up to {ranks}: one box per column; two in a column = an overvote"
    else:
        rule = f"vote for {contest.vote_for}"
    if not dry:
        pdf.set_font(FONT, "B", 9.5)
        name_w = pdf.get_string_width(contest.name) + 3
        text_cell(pdf, x0, y0, name_w, LINE, contest.name)
        pdf.set_font(FONT, "", 8.5)
        text_cell(pdf, x0 + name_w, y0, 0, LINE, f"({rule})")
    pdf.set_font(FONT, "", 9.5)
    y = y0 + LINE
    if contest.ranked:
        name_w = max((pdf.get_string_width(c.name) for c in contest.candidates), default=20) + 6
        col = 11.0
        if not dry:
            pdf.set_font(FONT, "", 8)
            for r in range(ranks):
                pdf.set_xy(x0 + name_w + r * col, y)
                pdf.cell(col, LINE, _ordinal(r + 1), align="C")
            pdf.set_font(FONT, "", 9.5)
        y += LINE
        for cand in contest.candidates:
            if not dry:
                text_cell(pdf, x0 + 2, y, name_w - 2, LINE, cand.name)
                for r in range(ranks):
                    _box(pdf, x0 + name_w + r * col + (col - BOX) / 2, y)
            y += LINE
        labels = ["blank (no marks at all)"]
    else:
        labels = [*(c.name for c in contest.candidates), "blank", "overvote"]
    places = _flow(pdf, labels, x0 + 2, width - 2)
    if not dry:
        for label, (x, line) in zip(labels, places, strict=True):
            _box(pdf, x, y + line * LINE)
            text_cell(pdf, x + BOX + 1.5, y + line * LINE, pdf.get_string_width(label) + 1,
                       LINE, label)
    bottom = y + (places[-1][1] + 1) * LINE + 1.5
    pdf.set_y(bottom)
    return bottom - y0


def _card_head(pdf: _Pdf, card: SheetCard, *, dry: bool, continued: bool = False) -> float:
    x0, width, y0 = pdf.l_margin, pdf.epw, pdf.get_y()
    batch = pdf.head.kind == "batch"
    where = [f"{'Batch' if batch else 'Card'} {card.number}"
             + (" (continued)" if continued else "")]
    if card.container:
        where.append(f"container {card.container}")
    where += [f"tabulator {card.tabulator}", f"batch {card.batch}"]
    if card.position:
        where.append(f"position {card.position}")
    if not dry:
        pdf.set_font(FONT, "B", 10.5)
        pdf.set_fill_color(230, 230, 230)
        pdf.set_xy(x0, y0)
        pdf.cell(width, 7, "  " + " · ".join(where), fill=True)
        pdf.set_font(FONT, "", 9.5)
        pdf.set_xy(x0 + 2, y0 + 7)
        ident = card.imprinted_id or "none (find the card by its position in the batch)"
        pdf.cell(width / 2, LINE, f"Batch id: {card.ballot_id}   cards counted: ________"
                 if batch else f"Imprinted id: {ident}")
        if not continued:
            _box(pdf, x0 + width - 42, y0 + 7)
            pdf.set_xy(x0 + width - 42 + BOX + 1.5, y0 + 7)
            pdf.set_font(FONT, "B", 9.5)
            pdf.cell(38, LINE, "batch not found" if batch else "card not found")
    pdf.set_y(y0 + 7 + LINE + 1)
    return 7 + LINE + 1


def _tally(pdf: FPDF, contest: Contest, x0: float, width: float, *, dry: bool) -> float:
    """A batch's count lines for one contest (a line per choice); its height."""
    y0 = pdf.get_y()
    if not dry:
        pdf.set_font(FONT, "B", 9.5)
        text_cell(pdf, x0, y0, width, LINE, contest.name)
        pdf.set_font(FONT, "", 9.5)
        for i, cand in enumerate(contest.candidates, start=1):
            text_cell(pdf, x0 + 4, y0 + i * LINE, 80, LINE, cand.name)
            text_cell(pdf, x0 + 84, y0 + i * LINE, 0, LINE, "votes: ____________")
    bottom = y0 + (len(contest.candidates) + 1) * LINE + 1.5
    pdf.set_y(bottom)
    return bottom - y0


def _card(pdf: _Pdf, card: SheetCard, contests: Sequence[Contest], *, batch: bool) -> None:
    """One card's (or batch's) framed block: on one page when it fits on one, else continued
    on the next page between two contests (the heading repeated)."""
    x0, width = pdf.l_margin, pdf.epw
    bottom = pdf.h - 20
    y = pdf.get_y()
    draw = _tally if batch else _contest
    need = _card_head(pdf, card, dry=True) + sum(
        draw(pdf, c, x0 + 3, width - 3, dry=True) for c in contests) + 1
    pdf.set_y(y)
    if y + need > bottom and need <= bottom - pdf.t_margin:
        pdf.add_page()
    top = pdf.get_y()
    _card_head(pdf, card, dry=False)
    for contest in contests:
        y = pdf.get_y()
        h = draw(pdf, contest, x0 + 3, width - 3, dry=True)
        pdf.set_y(y)
        if y + h > bottom:
            pdf.rect(x0, top, width, y - top)
            pdf.add_page()
            top = pdf.get_y()
            _card_head(pdf, card, dry=False, continued=True)
        draw(pdf, contest, x0 + 3, width - 3, dry=False)
    pdf.rect(x0, top, width, pdf.get_y() - top + 1)
    pdf.set_y(pdf.get_y() + 4)


def _signatures(pdf: FPDF, n: int, *, batch: bool) -> None:
    if pdf.get_y() + 20 + MEMBERS * 14 > pdf.h - 20:
        pdf.add_page()
    pdf.ln(4)
    unit = "Batches counted" if batch else "Cards read"
    _para(pdf, f"{unit}: ______ of {n}      not found: ______", size=10, bold=True)
    pdf.ln(3)
    _para(pdf, "We counted the batches above by hand and recorded the counts." if batch else
          "We read the cards above from the paper and recorded what each showed.", size=9.5)
    pdf.ln(2)
    pdf.set_font(FONT, "", 9.5)
    for i in range(1, MEMBERS + 1):
        pdf.ln(5)
        pdf.cell(0, 7, f"Board member {i}:  name ______________________   signature "
                       "______________________   date __________",
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _choices_table(pdf: FPDF, contests: Sequence[Contest]) -> None:
    if not contests:
        return
    pdf.add_page()
    _para(pdf, "Contests and choices: the worksheet CSV takes a name or an id", size=12,
          bold=True)
    pdf.ln(2)
    pdf.set_font(FONT, "", 8.5)
    with pdf.table(col_widths=(62, 24, 100), text_align="LEFT", line_height=4.4,
                   first_row_as_headings=True) as table:
        for row in [("Contest (id)", "Allowed", "Choices (id)"),
                    *((f"{c.name} ({c.id})",
                       f"rank up to {c.max_rankings or len(c.candidates)}" if c.ranked
                       else f"vote for {c.vote_for}",
                       "; ".join(f"{k.name} ({k.id})" for k in c.candidates))
                      for c in contests)]:
            r = table.row()
            for cell in row:
                r.cell(cell)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"

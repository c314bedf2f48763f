"""grid_table draws one-line tables itself instead of through fpdf2's table: the pages must
read the same (same text on the same pages, headings repeated) as with fpdf2's table."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fpdf import FPDF

from tallyproof.evidence.pdf import FONT, grid_table, new_pdf

WIDTHS = (12, 48, 20, 30)


def _rows(n: int, long: bool = False) -> list[list[str]]:
    body = [[str(i), f"container {i % 7}", f"T{i % 3}", "\u2610"] for i in range(1, n + 1)]
    if long:  # wider than its column: has to wrap
        body[-1][1] = "a container name far too long for its column " * 2
    return [["Card", "Container", "Tabulator", "Pulled"], *body]


def _doc(tmp_path: Path, name: str, rows: list[list[str]], fpdf_table: bool,
         room: float | None = None) -> Path:
    """``room``: start the table that many mm above the page break (None: at the top)."""
    pdf = new_pdf("grid", 0, "test")
    pdf.set_font(FONT, "", 9)
    if room is not None:
        pdf.set_y(pdf.page_break_trigger - room - 5)
    pdf.multi_cell(0, 5, "A table below", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 8)
    if fpdf_table:
        _fpdf_table(pdf, rows)
    else:
        grid_table(pdf, WIDTHS, rows, 4.6)
    pdf.multi_cell(0, 5, "After the table", new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(bytes(pdf.output()))
    return path


def _fpdf_table(pdf: FPDF, rows: list[list[str]]) -> None:
    with pdf.table(col_widths=WIDTHS, text_align="LEFT", line_height=4.6,
                   first_row_as_headings=True) as table:
        for r in rows:
            row = table.row()
            for cell in r:
                row.cell(cell)


def _pages(path: Path) -> list[str]:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    return text.split("\f")


@pytest.mark.parametrize("n", [3, 140])  # one page; several, headings repeated
@pytest.mark.parametrize("long", [False, True])
@pytest.mark.parametrize("room", [None, 6.0, 10.0])  # room for the headings alone, or + 1 row
def test_grid_table_reads_as_fpdf_table(tmp_path: Path, n: int, long: bool,
                                        room: float | None) -> None:
    rows = _rows(n, long)
    mine = _pages(_doc(tmp_path, "grid", rows, fpdf_table=False, room=room))
    theirs = _pages(_doc(tmp_path, "fpdf", rows, fpdf_table=True, room=room))
    assert mine == theirs
    if n > 100:
        assert len(mine) > 2 and all("Card" in p for p in mine if "container" in p)


def test_grid_table_same_bytes_each_time(tmp_path: Path) -> None:
    a = _doc(tmp_path, "a", _rows(140), fpdf_table=False).read_bytes()
    b = _doc(tmp_path, "b", _rows(140), fpdf_table=False).read_bytes()
    assert a == b

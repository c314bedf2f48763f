"""Dominion's CSV export (CvrExport.csv): the same cards as the JSON export give the same CVR
table; the header's contests and choices; every error names the file, the line and the column.

The CSV files are written from JSON exports by ``vendor_fixtures.dominion_csv_from_json`` (an
independent few lines that apply the same rules), so each test can compare the two readers."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from tallyproof.cvr_table import cvr_schema
from tallyproof.errors import InputError
from tallyproof.formats import dominion, dominion_csv
from tallyproof.ingest import ingest, read_export
from tallyproof.store import Store
from tallyproof.tabulate import plurality, tabulate_store

from . import vendor_fixtures as vf

SOURCE = ["source_file", "source_record"]


def table(path: Path, options: dict | None = None) -> pa.Table:
    px = dominion_csv.read(path, options or {})
    return pa.Table.from_batches(list(px.batches), schema=cvr_schema(px.election.contests))


@pytest.fixture
def json_export(tmp_path: Path) -> Path:
    return vf.small_dominion(tmp_path / "export")


@pytest.fixture
def beside(json_export: Path) -> Path:
    """CvrExport.csv beside the JSON export's manifests."""
    return vf.dominion_csv_from_json(json_export, json_export / "CvrExport.csv")


@pytest.fixture
def alone(json_export: Path, tmp_path: Path) -> Path:
    """The same CvrExport.csv in a folder of its own (no manifests)."""
    (tmp_path / "alone").mkdir()
    return vf.dominion_csv_from_json(json_export, tmp_path / "alone" / "CvrExport.csv")


def json_table(folder: Path) -> pa.Table:
    return pa.Table.from_batches(list(dominion.read(folder, {}).batches))


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def rewrite(path: Path, line: int, text: str) -> None:
    """Replace line ``line`` (1-based) of the file."""
    lines = lines_of(path)
    lines[line - 1] = text
    path.write_text("\n".join(lines), encoding="utf-8")


def set_cell(path: Path, line: int, column: int, value: str) -> None:
    cells = lines_of(path)[line - 1].split(",")
    cells[column - 1] = value
    rewrite(path, line, ",".join(cells))


# ------------------------------------------------------------------ same cards, same table


def test_same_table_and_election_as_the_json_reader(json_export: Path, beside: Path) -> None:
    px = dominion_csv.read(beside, {})
    assert px.election == dominion.read(json_export, {}).election  # ids and names: the manifests'
    csv_t, json_t = table(beside), json_table(json_export)
    assert csv_t.drop(SOURCE).equals(json_t.drop(SOURCE))
    ids = csv_t.column("ballot_id").to_pylist()
    assert ids == ["10-1-1", "10-1-2", "10-1-3", "10-1-4-1", "10-1-4-2", "11-2-1", "11-2-2"]
    assert csv_t.column("source_record").to_pylist()[0] == "line 5 (CvrNumber 1)"
    assert set(csv_t.column("source_file").to_pylist()) == {"CvrExport.csv"}
    assert [p.name for p in px.source_files][0] == "CvrExport.csv"
    assert "ContestManifest.json" in {p.name for p in px.source_files}


def test_without_manifests_names_are_ids(json_export: Path, alone: Path) -> None:
    px = dominion_csv.read(alone, {})
    e = px.election
    assert e.name == "Test Election"
    assert [(c.id, c.name) for c in e.contests] == [
        ("Mayor", "Mayor"),
        ("Measure A", "Measure A"),
        ("Council", "Council"),
    ]
    mayor, measure, council = e.contests
    assert (mayor.kind.value, mayor.max_rankings, mayor.seats) == ("irv", 3, 1)
    assert [(c.id, c.write_in) for c in mayor.candidates] == [
        ("Alice Adams", False), ("Bob Brown", False), ("Cy Chu", False), ("Write-in", True)]  # fmt: skip
    assert [c.name for c in measure.candidates] == ["Yes", "No"]
    assert (council.vote_for, council.max_rankings) == (2, None)
    json_px = dominion.read(json_export, {})
    csv_t, json_t = table(alone), pa.Table.from_batches(list(json_px.batches))
    for json_contest in json_px.election.contests:  # same marks, column by column
        assert csv_t.column(f"contest:{json_contest.name}").equals(
            json_t.column(json_contest.column)
        )
    assert csv_t.column("ballot_id").equals(json_t.column("ballot_id"))


def test_the_demo_county_reads_the_same_from_either_export(tmp_path: Path) -> None:
    county_mod = pytest.importorskip("tallyproof.demo.county")
    writer = pytest.importorskip("tallyproof.demo.dominion_writer")
    county = county_mod.build_county(400, seed=11)
    folder = writer.write_dominion(county, county.paper, tmp_path / "export").folder
    csv_path = vf.dominion_csv_from_json(folder, folder / "CvrExport.csv")
    assert table(csv_path).drop(SOURCE).equals(json_table(folder).drop(SOURCE))
    # and the same election tabulated from each, once in a store
    ingest([folder], tmp_path / "json_store")
    ingest([csv_path], tmp_path / "csv_store")
    a, b = tabulate_store(tmp_path / "json_store"), tabulate_store(tmp_path / "csv_store")
    assert [c.to_json() for c in a.contests] == [c.to_json() for c in b.contests]
    assert any(c.rcv is not None for c in a.contests) and any(
        c.tally is not None for c in a.contests
    )


@pytest.mark.parametrize("block", [64, 700, 1 << 20])
def test_sessions_straddling_blocks(
    beside: Path, json_export: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow parses a block of bytes at a time; a session whose cards straddle two blocks
    is numbered as one, and the table does not depend on the block size."""
    monkeypatch.setattr(dominion_csv, "BLOCK_BYTES", block)
    assert table(beside).drop(SOURCE).equals(json_table(json_export).drop(SOURCE))
    sizes = [b.num_rows for b in dominion_csv.read(beside, {}).batches]
    assert sum(sizes) == 7 and (2 in sizes) == (block == 64)  # the 2-card session, carried over


def test_excel_quoted_metadata(beside: Path, json_export: Path) -> None:
    """Metadata written ``="10"`` (so that Excel keeps it text), quoted as CSV or not."""
    want = json_table(json_export).drop(SOURCE)
    vf.dominion_csv_from_json(json_export, beside, excel_quotes=True)
    assert '"=""10"""' in beside.read_text()
    assert table(beside).drop(SOURCE).equals(want)
    beside.write_text(re.sub(r'"=""(.*?)"""', r'="\1"', beside.read_text()))
    assert ',="10",' in beside.read_text()
    assert table(beside).drop(SOURCE).equals(want)


def test_zero_padded_record_gives_the_json_id(beside: Path) -> None:
    set_cell(beside, 5, 4, "001")
    assert table(beside).column("ballot_id").to_pylist()[0] == "10-1-1"


def test_more_marks_than_allowed_is_an_overvote_not_an_error(beside: Path) -> None:
    set_cell(beside, 5, 22, "1")  # card 1: Measure A (vote for 1) gets Yes *and* No
    t = table(beside)
    assert t.column("contest:2").to_pylist()[0] == [[0, 1]]
    contest = dominion_csv.read(beside, {}).election.contest("2")
    tally = plurality.tally_table(t, contest)[plurality.ALL]
    assert tally.overvotes == 1 and tally.votes == {"4": 0, "5": 1}


def test_ranked_columns_in_any_order(alone: Path) -> None:
    """Dominion writes a ranked contest rank by rank; candidate by candidate reads the same."""
    before = table(alone)
    parsed = list(csv.reader(io.StringIO(alone.read_text())))
    assert parsed[2][8:12] == ["Alice Adams(1)", "Bob Brown(1)", "Cy Chu(1)", "Write-in(1)"]
    order = [8 + r * 4 + c for c in range(4) for r in range(3)]  # Mayor: 4 candidates × 3 ranks
    for row in parsed:
        row[8:20] = [row[i] for i in order]
    assert parsed[2][8:11] == ["Alice Adams(1)", "Alice Adams(2)", "Alice Adams(3)"]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(parsed)
    alone.write_text(buf.getvalue())
    assert table(alone).drop(SOURCE).equals(before.drop(SOURCE))


def test_contest_names_may_hold_line_breaks(alone: Path) -> None:
    """Arlo joins the lines of a contest cell; line numbers still count the file's lines."""
    text = alone.read_text().replace("Measure A (Vote For=1)", '"Measure\nA (Vote For=1)"')
    alone.write_text(text)
    e = dominion_csv.read(alone, {}).election
    assert [c.name for c in e.contests] == ["Mayor", "Measure A", "Council"]
    set_cell(alone, 8, 22, "2")  # the third card, now on line 8 (the header takes 5 lines)
    with pytest.raises(InputError) as info:
        table(alone)
    assert info.value.record == "line 8"
    assert info.value.field == "column 22 (Measure A (Vote For=1) / No)"


def test_options(beside: Path, alone: Path) -> None:
    t = table(beside, {"contestId": "2"})
    assert [c for c in t.column_names if c.startswith("contest:")] == ["contest:2"]
    assert table(alone, {"contestId": "Council"}).column_names[-1] == "contest:Council"
    with pytest.raises(InputError, match="contestId"):
        dominion_csv.read(beside, {"contestId": "99"})
    with pytest.raises(InputError, match="countingGroupId"):
        dominion_csv.read(beside, {"countingGroupId": "1"})
    mayor = dominion_csv.read(alone, {"undeclaredWriteInLabel": "Write-in"}).election.contests[0]
    assert (mayor.candidates[-1].name, mayor.candidates[-1].write_in) == (
        "Undeclared Write-ins",
        True,
    )


def test_sniff_and_detection(beside: Path, alone: Path, json_export: Path) -> None:
    assert dominion_csv.sniff(beside) and dominion_csv.sniff(alone)
    assert dominion_csv.sniff(alone.parent)  # a folder holding only CvrExport.csv
    assert not dominion_csv.sniff(json_export)  # the JSON export's folder is the JSON reader's
    assert not dominion_csv.sniff(json_export / "CvrExport_3.json")
    assert read_export(beside).format == "dominion_csv"
    assert read_export(alone.parent).format == "dominion_csv"
    assert read_export(json_export).format == "dominion"


def test_ingest_and_tabulate_like_the_json_export(
    json_export: Path, beside: Path, tmp_path: Path
) -> None:
    res = ingest([beside], tmp_path / "store")
    assert (res.format, res.cards_added) == ("dominion_csv", 7)
    store = Store.open(tmp_path / "store")
    assert [c.name for c in store.election.contest("2").candidates] == ["Yes", "No"]
    ingest([json_export], tmp_path / "json")
    a, b = tabulate_store(tmp_path / "json"), tabulate_store(tmp_path / "store")
    assert [c.to_json() for c in a.contests] == [c.to_json() for c in b.contests]


# ------------------------------------------------------------------ errors: file, line, column

MAYOR_ALICE_1 = "column 9 (Mayor (Number of positions=1, Number of ranks=3) / Alice Adams(1))"


@pytest.mark.parametrize(
    ("line", "column", "value", "record", "field", "message"),
    [
        (5, 9, "2", "line 5", MAYOR_ALICE_1, "expected 1, 0 or nothing"),
        (6, 9, "x", "line 6", MAYOR_ALICE_1, "expected 1, 0 or nothing"),
        (7, 9, "11", "line 7", MAYOR_ALICE_1, "expected 1, 0 or nothing"),
        (5, 9, "", "line 5", MAYOR_ALICE_1, "empty beside 0/1 cells"),
        (6, 1, "A", "line 6", "CvrNumber", "whole number"),
        (6, 4, "3b", "line 6", "RecordId", "whole number"),
        (7, 2, "", "line 7", "TabulatorNum", "empty"),
        (9, 1, "1", "line 9", "CvrNumber", "CvrNumber 1 appears twice"),
        (11, 3, "1", "line 11", "RecordId", "come back after other sessions"),
    ],
)  # fmt: skip
def test_bad_cells_name_line_and_column(
    beside: Path, line: int, column: int, value: str, record: str, field: str, message: str
) -> None:
    if column == 3:  # the session 10-1-1 again, after others
        rewrite(
            beside, line, lines_of(beside)[line - 1].replace("7,11,2,2,11-2-2", "7,10,1,1,10-1-1")
        )
    else:
        set_cell(beside, line, column, value)
    with pytest.raises(InputError, match=message) as info:
        table(beside)
    assert (info.value.file, info.value.record, info.value.field) == (str(beside), record, field)


@pytest.mark.parametrize("cut", [1, 3])
def test_short_and_long_rows(beside: Path, cut: int) -> None:
    line = lines_of(beside)[6]
    rewrite(beside, 7, line[: -2 * cut] if cut == 1 else line + ",0")
    with pytest.raises(InputError, match="cells, the header has 25") as info:
        table(beside)
    assert (info.value.file, info.value.record) == (str(beside), "line 7")


def test_blank_lines(beside: Path) -> None:
    beside.write_text(beside.read_text() + "\n\n")
    assert table(beside).num_rows == 7  # blank lines may end the file
    rewrite(beside, 8, "")
    with pytest.raises(InputError, match="empty line among the cards") as info:
        table(beside)
    assert info.value.record == "line 8"


@pytest.mark.parametrize(
    ("line", "old", "new", "record", "field", "message"),
    [
        (4, "ImprintedId", "Imprinted", "line 4", "Imprinted", "unknown column title"),
        (4, "RecordId", "ImprintedId", "line 4", "ImprintedId", "appears twice"),
        (2, "Measure A (Vote For=1)", "Measure A (Vote=1)", "line 2", "column 21 (Measure A (Vote=1) / Yes)", "expected a contest"),
        (2, "Measure A (Vote For=1),Measure A (Vote For=1),Council (Vote For=2)",
         "Measure A (Vote For=1),Council (Vote For=2),Measure A (Vote For=1)", "line 2",
         "column 23 (Measure A (Vote For=1) / Dee Diaz)", "appears again"),
        (3, "Bob Brown(2)", "Bob Brown(9)", "line 3", "column 14 (Mayor (Number of positions=1, Number of ranks=3) / Bob Brown(9))", "rank in 1..3"),
        (3, "Bob Brown(2)", "Bob Brown(1)", "line 3", "column 14 (Mayor (Number of positions=1, Number of ranks=3) / Bob Brown(1))", "two columns"),
        (3, "Yes,No", "Yes,Maybe", "line 3", "column 22 (Measure A (Vote For=1) / Maybe)", "not a candidate"),
        (2, "Council (Vote For=2)", "Board (Vote For=2)", "line 2", "column 23 (Board (Vote For=2) / Dee Diaz)", "not in ContestManifest"),
        (2, "Council (Vote For=2)", "Council (Vote For=3)", "line 2", "column 23 (Council (Vote For=3) / Dee Diaz)", "ContestManifest.json says vote for 2"),
    ],
)  # fmt: skip
def test_bad_header_names_line_and_column(
    beside: Path, line: int, old: str, new: str, record: str, field: str, message: str
) -> None:
    text = lines_of(beside)[line - 1]
    assert old in text
    rewrite(beside, line, text.replace(old, new))
    with pytest.raises(InputError, match=message) as info:
        dominion_csv.read(beside, {})
    assert (info.value.file, info.value.record, info.value.field) == (str(beside), record, field)


def test_missing_required_column_and_header_rows(beside: Path, tmp_path: Path) -> None:
    rewrite(beside, 4, lines_of(beside)[3].replace("CvrNumber", "ImagePath"))
    with pytest.raises(InputError, match="missing required column") as info:
        dominion_csv.read(beside, {})
    assert (info.value.record, info.value.field) == ("line 4", "CvrNumber")
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines_of(beside)[:2]) + "\n")
    with pytest.raises(InputError, match="row 3 \\(the choices\\) is missing") as info:
        dominion_csv.read(short, {})
    assert info.value.file == str(short)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        dominion_csv.read(empty, {})


@pytest.mark.parametrize(("line", "where"), [(2, "line 2"), (9, "line 9")])
def test_not_utf8_names_the_line(beside: Path, line: int, where: str) -> None:
    raw = beside.read_bytes().split(b"\n")
    raw[line - 1] = (
        raw[line - 1].replace(b"Measure A", b"Mesure \xe0")
        if line == 2
        else raw[line - 1].replace(b"Election Day", b"Elecci\xf3n")
    )
    beside.write_bytes(b"\n".join(raw))
    with pytest.raises(InputError, match="not UTF-8") as info:
        table(beside)
    assert (info.value.file, info.value.record) == (str(beside), where)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        dominion_csv.read(tmp_path / "nope.csv", {})
    with pytest.raises(InputError, match="no CvrExport.csv"):
        dominion_csv.read(tmp_path, {})


def test_manifests_without_the_json_files(json_export: Path, beside: Path, tmp_path: Path) -> None:
    """Only CvrExport.csv and the manifests are read: the JSON files may be absent."""
    folder = tmp_path / "csv_with_manifests"
    folder.mkdir()
    for p in json_export.glob("*Manifest.json"):
        shutil.copy(p, folder)
    shutil.copy(beside, folder / "CvrExport.csv")
    assert table(folder / "CvrExport.csv").drop(SOURCE).equals(json_table(json_export).drop(SOURCE))

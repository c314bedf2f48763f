"""ES&S RCV spreadsheet reader: labels, options, and RCTab's Portland/Minneapolis samples."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tallyproof.errors import InputError
from tallyproof.formats import ess
from tallyproof.ingest import read_export
from tallyproof.model import OVERVOTE_UNKNOWN, ContestKind

from . import vendor_fixtures as vf

OPTS = {"firstVoteColumnIndex": "3", "precinctColumnIndex": "2", "overvoteLabel": "overvote",
        "skippedRankLabel": "undervote", "undeclaredWriteInLabel": "UWI", "overvoteDelimiter": "|"}  # fmt: skip


def read_rows(path: Path, options: dict) -> tuple[list[dict], object]:
    px = ess.read(path, options)
    return pa.Table.from_batches(list(px.batches)).to_pylist(), px.election


def test_labels_and_layout(tmp_path: Path) -> None:
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx")
    rows, election = read_rows(sample.path, OPTS)
    (contest,) = election.contests
    assert (contest.id, contest.kind, contest.max_rankings) == ("cvr", ContestKind.IRV, 3)
    names = [c.name for c in contest.candidates]
    assert names == ["Ann", "Ben", "Cat", "Undeclared Write-ins"]
    assert contest.candidates[3].write_in and contest.candidates[3].id == "UWI"
    marks = [r["contest:cvr"] for r in rows]
    assert marks == [
        [[0], [1], []],
        [[OVERVOTE_UNKNOWN], [0], [2]],
        [[], [3], [1]],
        [[2], [], [0]],  # a blank cell is a skipped rank
        [[1, 2], [0], []],  # delimiter: an overvote naming its candidates
    ]
    assert [r["ballot_id"] for r in rows] == [f"cvr-{n}" for n in range(2, 7)]
    assert [r["precinct"] for r in rows] == ["P-1", "P-0", "P-1", "P-0", "P-1"]
    assert rows[0]["source_record"] == "row 2" and rows[0]["record"] == 2


def test_first_vote_column_found_from_header_and_id_column(tmp_path: Path) -> None:
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx", with_count=False)
    rows, election = read_rows(sample.path, {"idColumnIndex": "1"})
    assert election.contests[0].max_rankings == 3
    assert [r["ballot_id"] for r in rows] == ["1", "2", "3", "4", "5"]
    # no delimiter option: "Ben|Cat" is a (strange) candidate name of its own
    assert "Ben|Cat" in [c.name for c in election.contests[0].candidates]


def test_blank_as_undeclared_write_in_and_stv(tmp_path: Path) -> None:
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx")
    opts = {**OPTS, "treatBlankAsUndeclaredWriteIn": True, "numberOfWinners": "2", "contestId": "Council"}
    rows, election = read_rows(sample.path, opts)
    contest = election.contests[0]
    assert (contest.id, contest.kind, contest.seats) == ("Council", ContestKind.STV, 2)
    names = [c.name for c in contest.candidates]
    assert names == ["Ann", "Ben", "Cat", "Undeclared Write-ins"]  # in order of first appearance
    assert rows[3]["contest:Council"] == [[2], [3], [0]]


def test_candidates_option_orders_and_maps_aliases(tmp_path: Path) -> None:
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx", rows=[["C", "A", "undervote"]])
    cands = [{"name": "Ann A", "code": "A"}, {"name": "Ben B", "aliases": ["B"]}, {"name": "Cat C", "aliases": ["C"]}]
    rows, election = read_rows(sample.path, {**OPTS, "candidates": cands})
    assert [c.name for c in election.contests[0].candidates] == ["Ann A", "Ben B", "Cat C"]
    assert rows[0]["contest:cvr"] == [[2], [0], []]
    bad = vf.write_ess_xlsx(tmp_path / "bad.xlsx", rows=[["Zed", "A", "undervote"]])
    with pytest.raises(InputError, match="Zed") as info:
        ess.read(bad.path, {**OPTS, "candidates": cands})
    assert (info.value.record, info.value.field) == (2, "1st Choice")


def test_count_column_must_be_one(tmp_path: Path) -> None:
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx")
    assert len(read_rows(sample.path, OPTS)[0]) == 5
    # rewrite with a count of 2 on the third row
    import zipfile

    with zipfile.ZipFile(sample.path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    sheet = files["xl/worksheets/sheet1.xml"].decode()
    sheet = sheet.replace('<c r="F4"><v>1</v></c>', '<c r="F4"><v>2</v></c>')
    files["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(sample.path, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    with pytest.raises(InputError, match="several ballots") as info:
        ess.read(sample.path, OPTS)
    assert (info.value.record, info.value.field) == (4, "Count")


def test_bad_options(tmp_path: Path) -> None:
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx")
    with pytest.raises(InputError, match="firstVoteColumnIndex"):
        ess.read(sample.path, {"firstVoteColumnIndex": "zero"})
    with pytest.raises(InputError, match="beyond"):
        ess.read(sample.path, {"firstVoteColumnIndex": "40"})
    with pytest.raises(InputError, match="maxRankingsAllowed"):
        ess.read(sample.path, {**OPTS, "maxRankingsAllowed": "none"})
    rows, election = read_rows(sample.path, {**OPTS, "maxRankingsAllowed": "2"})
    assert election.contests[0].max_rankings == 2 and rows[0]["contest:cvr"] == [[0], [1]]


def test_sniff(tmp_path: Path) -> None:
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx")
    assert ess.sniff(sample.path)
    (tmp_path / "fake.xlsx").write_text("no zip")
    assert not ess.sniff(tmp_path / "fake.xlsx")
    assert not ess.sniff(tmp_path)
    assert read_export(sample.path, "auto", OPTS).format == "ess"


# ------------------------------------------------------------------ real samples (RCTab data)


def _check_case(rctab_data: Path, case_name: str, cards: int) -> None:
    case = vf.rctab_case(rctab_data, case_name)
    px = read_export(case.path, case.fmt, case.source)
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == cards
    (contest,) = px.election.contests
    names = [c.name for c in contest.candidates]
    config_names = [c["name"] for c in case.config["candidates"]]
    assert names[: len(config_names)] == config_names
    expected = case.expected_report(rctab_data / case_name)
    assert expected is not None
    assert int(expected["summary"]["totalNumBallots"]) == cards
    tally = vf.rctab_first_round(t.column(contest.column).to_pylist(), names, case.config["rules"])
    want = {k: int(v) for k, v in expected["results"][0]["tally"].items() if int(v)}
    assert {k: v for k, v in tally.items() if not k.startswith("(")} == want


@pytest.mark.realdata
def test_portland_2015_first_round(rctab_data: Path) -> None:
    _check_case(rctab_data, "2015_portland_mayor", 99)


@pytest.mark.realdata
def test_minneapolis_2017_first_round(rctab_data: Path) -> None:
    _check_case(rctab_data, "2017_minneapolis_mayor", 105_928)


@pytest.mark.realdata
def test_minneapolis_park_2013(rctab_data: Path) -> None:
    case = vf.rctab_case(rctab_data, "2013_minneapolis_park")
    px = read_export(case.path, case.fmt, {**case.source, "numberOfWinners": case.config["rules"]["numberOfWinners"]})
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == 80_101
    (contest,) = px.election.contests
    assert (contest.kind, contest.seats, contest.max_rankings) == (ContestKind.STV, 3, 3)
    assert [c.name for c in contest.candidates] == [c["name"] for c in case.config["candidates"]] + [
        "Undeclared Write-ins"
    ]
    assert t.column("precinct").to_pylist()[0] == "MINNEAPOLIS W-11 P-05"


@pytest.mark.realdata
def test_duplicate_skip_xlsx(rctab_data: Path) -> None:
    path = rctab_data / "test_set_7_duplicate_skip_to_next" / "test_set_7_duplicate_skip_to_next_cvr.xlsx"
    px = ess.read(path, {"firstVoteColumnIndex": "2", "idColumnIndex": "1"})
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == 15
    (contest,) = px.election.contests
    assert sorted(c.name for c in contest.candidates) == ["A", "B", "C", "D"]
    d = [c.name for c in contest.candidates].index("D")
    assert t.column(contest.column).to_pylist()[0][:2] == [[d], [d]]  # duplicate ranking kept


def _with_empty_rows(path: Path, extra: str) -> None:
    """Rewrite the sample's sheet with ``extra`` row elements appended (no cells)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"</sheetData>", extra.encode() + b"</sheetData>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_trailing_row_elements_without_cells_are_undervote_ballots(tmp_path: Path) -> None:
    """RCTab's behaviour: rows a spreadsheet lists after the data with no cell (formatted empty
    rows) are ballots ranking nobody; calamine alone would drop them."""
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx")
    before, _ = read_rows(sample.path, OPTS)
    _with_empty_rows(sample.path, '<row r="8"></row><row r="1048576"/>')
    rows, _ = read_rows(sample.path, OPTS)
    assert len(rows) == len(before) + 2
    assert rows[:-2] == before
    assert [r["ballot_id"] for r in rows[-2:]] == ["cvr-8", "cvr-1048576"]
    assert [r["contest:cvr"] for r in rows[-2:]] == [[[], [], []], [[], [], []]]


def test_fewer_rank_columns_than_max_rankings_are_read(tmp_path: Path) -> None:
    """RCTab tabulates a sheet with fewer rank columns than maxRankingsAllowed; so does this."""
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx")
    rows, election = read_rows(sample.path, {**OPTS, "maxRankingsAllowed": "8"})
    plain, _ = read_rows(sample.path, OPTS)
    assert election.contests[0].max_rankings == 3
    assert [r["contest:cvr"] for r in rows] == [r["contest:cvr"] for r in plain]

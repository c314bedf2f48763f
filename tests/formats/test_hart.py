"""Hart per-sheet XML reader: bit-string ranks, write-ins by GUID, RCTab's Cedar Park sample."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tallyproof.errors import InputError
from tallyproof.formats import hart
from tallyproof.ingest import read_export
from tallyproof.model import ContestKind

from . import vendor_fixtures as vf


def test_sheets_to_rows(tmp_path: Path) -> None:
    folder = vf.write_hart_folder(tmp_path / "hart")
    px = hart.read(folder, {"undeclaredWriteInLabel": vf.HART_UWI})
    rcv, plu = px.election.contests
    assert (rcv.id, rcv.name, rcv.kind, rcv.max_rankings) == (vf.HART_RCV, "SCHOOL BOARD", ContestKind.IRV, 3)
    assert [(c.name, c.write_in) for c in rcv.candidates] == [
        ("Ann Hart", False), ("Ben Hart", False), ("Cat Hart", False), ("Undeclared Write-ins", True)]  # fmt: skip
    assert (plu.kind, plu.vote_for, plu.max_rankings) == (ContestKind.PLURALITY, 1, None)
    rows = {r["ballot_id"]: r for r in pa.Table.from_batches(list(px.batches)).to_pylist()}
    assert list(rows) == ["g1", "g2", "g3", "g4", "g5"]
    assert rows["g1"][rcv.column] == [[0], [1], []]
    assert rows["g2"][rcv.column] == [[0], [0], [2]]  # ranked twice: kept for the duplicate rule
    assert rows["g3"][rcv.column] == [[1], [], [3]]  # undeclared write-in by GUID at rank 3
    assert rows["g4"][rcv.column] is None and rows["g5"][rcv.column] == [[], [], []]
    sheriff = [c.id for c in plu.candidates]
    assert rows["g2"][plu.column] == [[sheriff.index("c1"), sheriff.index("c2")]]
    assert rows["g3"][plu.column] == [[]] and rows["g5"][plu.column] is None
    g3 = rows["g3"]
    assert (g3["batch"], g3["record"], g3["precinct"], g3["source_file"]) == ("1", 3, "101", "1_g3.xml")


def test_write_in_without_label_and_contest_filter(tmp_path: Path) -> None:
    folder = vf.write_hart_folder(tmp_path / "hart")
    px = hart.read(folder, {"contestId": vf.HART_RCV})
    (rcv,) = px.election.contests
    assert (rcv.candidates[3].name, rcv.candidates[3].write_in) == ("Write-in", True)
    with pytest.raises(InputError, match="contestId"):
        hart.read(folder, {"contestId": "nope"})


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [("<Value>100</Value>", "<Value>1x0</Value>", "Value"), ("<CvrGuid>g1</CvrGuid>", "", "CvrGuid"),
     ("<BatchSequence>1<", "<BatchSequence>one<", "BatchSequence")],
)  # fmt: skip
def test_bad_sheet(tmp_path: Path, old: str, new: str, field: str) -> None:
    folder = vf.write_hart_folder(tmp_path / "hart")
    sheet = folder / "1_g1.xml"
    text = sheet.read_text(encoding="utf-8")
    assert old in text
    sheet.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(hart.read(folder, {}).batches)
    assert info.value.field == field and info.value.file == str(sheet)


def test_duplicate_guid(tmp_path: Path) -> None:
    folder = vf.write_hart_folder(tmp_path / "hart")
    (folder / "2_copy.xml").write_bytes((folder / "1_g1.xml").read_bytes())
    with pytest.raises(InputError, match="two sheets"):
        list(hart.read(folder, {}).batches)


def test_sniff(tmp_path: Path) -> None:
    folder = vf.write_hart_folder(tmp_path / "hart")
    assert hart.sniff(folder) and hart.sniff(folder / "1_g1.xml")
    (tmp_path / "other.xml").write_text("<root/>")
    assert not hart.sniff(tmp_path / "other.xml")
    assert read_export(folder).format == "hart"


@pytest.mark.realdata
def test_cedar_park_first_round(rctab_data: Path) -> None:
    case = vf.rctab_case(rctab_data, "hart_cedar_park_school_board")
    px = read_export(case.path, case.fmt, case.source)
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == 18  # sheets, 9 ballots of two sheets each
    (contest,) = px.election.contests
    assert contest.name == "CEDAR PARK SCHOOL BOARD" and contest.max_rankings == 6
    names = [c.name for c in contest.candidates]
    assert names == [c["name"] for c in case.config["candidates"]] + ["Undeclared Write-ins"]
    expected = case.expected_report(rctab_data / "hart_cedar_park_school_board")
    assert expected is not None
    marks = t.column(contest.column).to_pylist()
    assert sum(m is not None for m in marks) == int(expected["summary"]["totalNumBallots"])
    tally = vf.rctab_first_round(marks, names, case.config["rules"])
    assert tally.pop("(undervote)") == expected["summary"]["undervotes"]
    assert tally == {k: int(v) for k, v in expected["results"][0]["tally"].items() if int(v)}


@pytest.mark.realdata
def test_cedar_park_all_contests(rctab_data: Path) -> None:
    px = hart.read(rctab_data / "_shared" / "hart_cvr_archive", {})
    names = [c.name for c in px.election.contests]
    assert "CEDAR PARK SCHOOL BOARD" in names and "US SENATOR" in names
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == 18 and len(set(t.column("ballot_id").to_pylist())) == 18

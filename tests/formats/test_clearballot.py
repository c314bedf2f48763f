"""Clear Ballot CSV reader: header-encoded contests and ranks, RCTab's Kansas sample."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tallyproof.errors import InputError
from tallyproof.formats import clearballot
from tallyproof.ingest import read_export
from tallyproof.model import ContestKind

from . import vendor_fixtures as vf

BALLOTS = [
    ([["Ann"], ["Ben"], []], "Dee"),
    ([["Ann", "Cat"], [], ["Ben"]], None),
    ([[], ["Cat"], ["Cat"]], "Eve"),
]


def test_rows(tmp_path: Path) -> None:
    path = vf.write_clearballot_csv(tmp_path / "k.cvr.csv", BALLOTS)
    px = clearballot.read(path, {})
    mayor, sheriff = px.election.contests
    assert (mayor.kind, mayor.max_rankings, [c.name for c in mayor.candidates]) == (ContestKind.IRV, 3, vf.CB_RCV)
    assert (sheriff.kind, sheriff.vote_for, sheriff.max_rankings) == (ContestKind.PLURALITY, 1, None)
    rows = pa.Table.from_batches(list(px.batches)).to_pylist()
    assert [r["contest:Mayor"] for r in rows] == [[[0], [1], []], [[0, 2], [], [1]], [[], [2], [2]]]
    assert [r["contest:Sheriff"] for r in rows] == [[[0]], None, [[1]]]
    r = rows[1]
    assert (r["ballot_id"], r["batch"], r["record"], r["tabulator"]) == ("BOX-1+2", "BOX-1", 2, "SCAN-1")
    assert (r["precinct"], r["ballot_style"], r["source_record"]) == ("7", "3", "RowNumber 2")


def test_contest_filter_and_write_in(tmp_path: Path) -> None:
    path = vf.write_clearballot_csv(tmp_path / "k.cvr.csv", BALLOTS)
    text = path.read_text().replace(":Cat:NP", ":Write-in:NP")
    path.write_text(text)
    px = clearballot.read(path, {"contestId": "Mayor"})
    (mayor,) = px.election.contests
    assert (mayor.candidates[2].name, mayor.candidates[2].write_in) == ("Write-in", True)
    with pytest.raises(InputError, match="contestId"):
        clearballot.read(path, {"contestId": "Nope"})


def test_bad_cells(tmp_path: Path) -> None:
    path = vf.write_clearballot_csv(tmp_path / "k.cvr.csv", BALLOTS)
    lines = path.read_text().splitlines()
    cells = lines[2].split(",")
    cells[12] = "x"
    path.write_text("\n".join([*lines[:2], ",".join(cells), *lines[3:]]) + "\n")
    with pytest.raises(InputError) as info:
        list(clearballot.read(path, {}).batches)
    assert info.value.record == 3 and info.value.field is not None and info.value.field.startswith("Choice_3_1")
    path.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n")
    with pytest.raises(InputError, match="twice"):
        list(clearballot.read(path, {}).batches)
    path.write_text(lines[0].replace("Choice_1_1:Mayor:1", "Choice_1_1:Mayor:first") + "\n")
    with pytest.raises(InputError, match="rank"):
        clearballot.read(path, {})


def test_sniff(tmp_path: Path) -> None:
    path = vf.write_clearballot_csv(tmp_path / "k.cvr.csv", BALLOTS)
    assert clearballot.sniff(path)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert not clearballot.sniff(tmp_path / "other.csv")
    assert read_export(path).format == "clearballot"


@pytest.mark.realdata
def test_kansas_primary_first_round(rctab_data: Path) -> None:
    case = vf.rctab_case(rctab_data, "clear_ballot_kansas_primary")
    px = read_export(case.path, case.fmt, case.source)
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == 50
    (contest,) = px.election.contests
    assert (contest.id, contest.max_rankings) == ("Democratic Primary", 5)
    names = [c.name for c in contest.candidates]
    assert names == [c["name"] for c in case.config["candidates"]]
    expected = case.expected_report(rctab_data / "clear_ballot_kansas_primary")
    assert expected is not None
    tally = vf.rctab_first_round(t.column(contest.column).to_pylist(), names, case.config["rules"])
    assert sum(tally.values()) == int(expected["summary"]["totalNumBallots"])
    assert tally == {k: int(v) for k, v in expected["results"][0]["tally"].items() if int(v)}
    assert t.column("ballot_id").to_pylist()[0] == "ED-004+10003"


def test_number_of_winners_header_variant(tmp_path: Path) -> None:
    """Some exports write "Number of Winners <k>" where others write "Vote For <k>"."""
    path = vf.write_clearballot_csv(tmp_path / "k.cvr.csv", BALLOTS)
    text = path.read_text()
    assert ":Vote For 1:" in text
    variant = tmp_path / "v.cvr.csv"
    variant.write_text(text.replace(":Vote For 1:", ":Number of Winners 1:"))
    got = clearballot.read(variant, {})
    want = clearballot.read(path, {})
    assert got.election.contests == want.election.contests
    assert pa.Table.from_batches(list(got.batches)).drop(["source_file"]) == \
        pa.Table.from_batches(list(want.batches)).drop(["source_file"])
    bad = tmp_path / "b.cvr.csv"
    bad.write_text(text.replace(":Vote For 1:", ":Winners 1:"))
    with pytest.raises(InputError, match="Vote For"):
        clearballot.read(bad, {})

"""Arlo's audit report: sections, counts, and errors that name file, line and column."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.errors import InputError
from tallyproof.formats.arlo_report import read_arlo_report

from .georgia_fixtures import ARLO, write


def test_reads_every_section(tmp_path: Path) -> None:
    a, _ = write(tmp_path)
    r = read_arlo_report(a)
    assert r.election["Election Name"] == "2020 General"
    assert r.settings.audit_type == "BALLOT_POLLING"
    assert r.settings.risk_limit == pytest.approx(0.10)
    assert r.settings.seed == "12345" and r.settings.online is False
    (contest,) = r.contests
    assert contest.tabulated_votes == {"Ann Smith": 110, "Bob Jones": 80, "Blank/Undervote": 0}
    (rnd,) = r.rounds
    assert rnd.risk_limit_met and rnd.sample_size == 200
    assert rnd.audited_votes["Ann Smith"] == 112
    assert r.choices == ("Ann Smith", "Bob Jones", "Blank/Undervote")
    # batch results add up to the round's audited votes
    for choice, votes in rnd.audited_votes.items():
        assert pc.sum(r.batch_results[choice]).as_py() == votes


def test_batch_names_kept_exactly_as_written(tmp_path: Path) -> None:
    """'2' and '2 ' are two batches in Arlo's record (Georgia has such pairs): never merged."""
    a, _ = write(tmp_path)
    names = read_arlo_report(a).batch_results.column("batch").to_pylist()
    assert "2" in names and "2 " in names


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("NORTH,1,Election Day,30,20,2", "NORTH,1,Election Day,30,x,2", ("line 19", "Bob Jones")),
        ("NORTH,1,Election Day,30,20,2", "NORTH,1,Election Day,30,20", ("line 19", None)),
        ("SOUTH,1,Advance", "NORTH,1,Advance", ("line 22", "Batch Name")),
        ("10%,12345", "ten,12345", ("line 11", "Risk Limit")),
        ("Ann Smith: 112;", "Ann Smith 112;", ("line 15", "Audited Votes")),
        ("1,Governor,Targeted,200,Yes", "1,Governor,Targeted,200,Maybe", ("line 15", "Risk Limit Met?")),
    ],
)
def test_errors_name_line_and_column(tmp_path: Path, old: str, new: str,
                                     where: tuple[str, str | None]) -> None:
    assert old in ARLO
    a, _ = write(tmp_path, arlo=ARLO.replace(old, new, 1))
    with pytest.raises(InputError) as exc:
        read_arlo_report(a)
    assert exc.value.file == str(a)
    assert exc.value.record == where[0]
    assert exc.value.field == where[1]


def test_missing_section_is_named(tmp_path: Path) -> None:
    text = ARLO.replace("######## ROUNDS ########", "######## ROUNDZ ########")
    a, _ = write(tmp_path, arlo=text)
    with pytest.raises(InputError, match="no ROUNDS section"):
        read_arlo_report(a)


def test_not_utf8(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_bytes(ARLO.encode() + b"\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8"):
        read_arlo_report(a)


@settings(max_examples=80, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(ARLO)), junk=st.binary(max_size=40))
def test_damaged_reports_fail_only_with_input_error(cut: int, junk: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "a.csv"
        p.write_bytes(ARLO.encode()[:cut] + junk)
        try:
            read_arlo_report(p)
        except InputError as exc:
            assert exc.file == str(p)

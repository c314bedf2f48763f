"""Clarity results XML: counts, self-consistency, timestamps and hostile XML."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.errors import InputError
from tallyproof.formats.clarity import parse_timestamp, read_clarity

from .georgia_fixtures import CLARITY, write


def test_reads_votes_by_choice_type_and_county(tmp_path: Path) -> None:
    _, c = write(tmp_path)
    r = read_clarity(c)
    assert r.timestamp_utc == "2020-11-20T20:37:06Z"
    assert r.unit_kind == "county" and r.region == "TL"
    (contest,) = r.contests
    assert (contest.key, contest.name, contest.vote_for) == ("100", "Governor", 1)
    con = duckdb.connect()
    con.register("v", r.votes)
    totals = dict(con.execute("select choice, sum(votes) from v group by 1").fetchall())
    assert totals == {"Ann Smith (I) (Rep)": 110, "Bob Jones (Dem)": 80}
    assert r.turnout.column("precincts_reported").to_pylist() == [2, 3]


def test_precinct_detail_file(tmp_path: Path) -> None:
    text = CLARITY.replace("<County name=", "<Precinct name=").replace("<Counties>", "<Precincts>")
    text = text.replace("</Counties>", "</Precincts>")
    _, c = write(tmp_path, clarity=text)
    assert read_clarity(c).unit_kind == "precinct"


@pytest.mark.parametrize(
    ("old", "new", "message", "field"),
    [
        ('totalVotes="110"', 'totalVotes="111"', "vote types add up to 110", "totalVotes"),
        ('votes="30"><County name="North" votes="30"', 'votes="30"><County name="North" votes="29"',
         "units add up to 29", "votes"),
        ('voteFor="1"', 'voteFor="one"', "not a whole number", "voteFor"),
        ("3:37:06 PM EST", "15:37", "is not 'M/D/YYYY", "Timestamp"),
        ('key="2"', 'key="2" ', None, None),
    ],
)
def test_inconsistent_files_are_refused(tmp_path: Path, old: str, new: str,
                                        message: str | None, field: str | None) -> None:
    assert old in CLARITY
    _, c = write(tmp_path, clarity=CLARITY.replace(old, new, 1))
    if message is None:  # harmless whitespace change: still reads
        read_clarity(c)
        return
    with pytest.raises(InputError, match=message) as exc:
        read_clarity(c)
    assert exc.value.file == str(c) and exc.value.field == field


def test_entity_expansion_refused(tmp_path: Path) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><ElectionResult>&b;</ElectionResult>')
    p = tmp_path / "bomb.xml"
    p.write_text(bomb)
    with pytest.raises(InputError, match="refused XML construct"):
        read_clarity(p)


def test_timestamp_zones() -> None:
    assert parse_timestamp("11/3/2020 11:59:00 PM EST") == "2020-11-04T04:59:00Z"
    assert parse_timestamp("7/4/2021 1:00:00 AM PDT") == "2021-07-04T08:00:00Z"
    with pytest.raises(InputError):
        parse_timestamp("11/3/2020 11:59:00 PM XYZ")


@settings(max_examples=80, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(CLARITY)), junk=st.binary(max_size=40))
def test_damaged_files_fail_only_with_input_error(cut: int, junk: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.xml"
        p.write_bytes(CLARITY.encode()[:cut] + junk)
        try:
            read_clarity(p)
        except InputError as exc:
            assert exc.file == str(p)

"""Hand count against machine count on a two-county state whose answer is worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tallyproof.errors import InputError, UsageError
from tallyproof.evidence.hand_count import candidate_key, compare_hand_count
from tallyproof.formats.arlo_report import read_arlo_report
from tallyproof.formats.clarity import read_clarity

from ..formats.georgia_fixtures import ARLO, CLARITY, write

ANN, BOB = "Ann Smith (I) (Rep)", "Bob Jones (Dem)"


def compare(tmp_path: Path, arlo: str = ARLO, clarity: str = CLARITY):  # noqa: ANN201
    a, c = write(tmp_path, arlo, clarity)
    return compare_hand_count(read_clarity(c), read_arlo_report(a))


def test_counties_types_and_statewide(tmp_path: Path) -> None:
    cmp = compare(tmp_path)
    assert cmp.candidates == (ANN, BOB)
    assert cmp.other_categories == ("Blank/Undervote",)
    s = cmp.statewide
    assert s.machine == {ANN: 110, BOB: 80}
    assert s.hand == {ANN: 112, BOB: 79}
    assert s.difference == {ANN: 2, BOB: -1}
    assert (s.margin_machine, s.margin_hand, s.margin_change) == (30, 33, 3)
    assert s.hand_ballots == 112 + 79 + 9
    assert cmp.machine_winners == cmp.hand_winners == (ANN,)
    assert cmp.outcome_confirmed
    north = next(r for r in cmp.counties if r.county == "North")
    assert north.difference == {ANN: 1, BOB: -1}  # the "2 " batch is North's extra Ann vote
    mail = next(r for r in cmp.by_vote_type if r.county == "North"
                and r.vote_type == "Absentee by Mail")
    assert mail.comparable and mail.difference == {ANN: 1, BOB: -1}
    assert mail.share_of_ballots == pytest.approx(2 / 42)
    # South has an "Other" batch: its per-type rows are not comparable, its total is
    south_types = [r for r in cmp.by_vote_type if r.county == "South"]
    assert south_types and not any(r.comparable for r in south_types)
    south = next(r for r in cmp.counties if r.county == "South")
    assert south.comparable and south.difference == {ANN: 1, BOB: 0}
    # ranked: the largest change to the margin first
    assert [abs(r.margin_change) for r in cmp.counties] == sorted(
        (abs(r.margin_change) for r in cmp.counties), reverse=True)


def test_hand_count_that_flips_the_winner_is_reported(tmp_path: Path) -> None:
    flipped = ARLO.replace("SOUTH,1,Advance,40,30,4", "SOUTH,1,Advance,10,70,4")
    cmp = compare(tmp_path, arlo=flipped)
    assert cmp.hand_winners == (BOB,) and not cmp.outcome_confirmed


def test_unknown_county_and_missing_candidate_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="EAST"):
        compare(tmp_path, arlo=ARLO.replace("SOUTH,1,Advance", "EAST,1,Advance"))
    with pytest.raises(InputError, match="no column for machine choice"):
        compare(tmp_path, arlo=ARLO.replace("Bob Jones,Blank", "Robert Jones,Blank"))
    with pytest.raises(InputError, match="unknown vote type 'Curbside'"):
        compare(tmp_path, arlo=ARLO.replace("NORTH,1,Election Day", "NORTH,1,Curbside"))


def test_contest_must_be_named_when_ambiguous(tmp_path: Path) -> None:
    a, c = write(tmp_path)
    with pytest.raises(UsageError, match="no contest 'Mayor'"):
        compare_hand_count(read_clarity(c), read_arlo_report(a), contest="Mayor")


def test_candidate_key_drops_clarity_suffixes() -> None:
    assert candidate_key("Donald J. Trump (I) (Rep)") == candidate_key("donald j.  trump")
    assert candidate_key("Jo Jorgensen (Lib)") == "jo jorgensen"
    assert candidate_key("Yes (for the measure)") != candidate_key("Yes")

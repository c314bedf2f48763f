"""The four voter checks on small hand-built files whose right answer is known."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from tallyproof.evidence.claims import claims_from_checks
from tallyproof.voters.checks import (
    DECEASED, DOUBLE, LATE, OVERVOTE, Rules, VoterData, run_all,
)
from tallyproof.voters.readers import _arrow_schema
from tallyproof.voters.report import CHECKS

D = dt.date
E = D(2020, 11, 3)


def table(kind: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = _arrow_schema(kind)
    return pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows],
                                schema=schema)


def voter(county: str, vid: str, first: str, last: str, dob: D | None, year: int | None = None,
          precinct: str = "P1", reg: D = D(2000, 1, 1)) -> dict[str, Any]:
    return {"county": county, "voter_id": vid, "first": first, "last": last,
            "birth_year": year or (dob.year if dob else None), "birth_date": dob,
            "precinct": precinct, "status": "ACTIVE", "registration_date": reg}


def credit(county: str, vid: str, method: str = "in_person", voted: D | None = None,
           precinct: str | None = None) -> dict[str, Any]:
    return {"county": county, "voter_id": vid, "election_date": E, "method": method,
            "precinct": precinct, "voted_date": voted}


def death(first: str, last: str, dob: D, died: D) -> dict[str, Any]:
    return {"first": first, "last": last, "birth_date": dob, "death_date": died, "state": "GA"}


def by_name(checks: list) -> dict:
    return {c.name: c for c in checks}


@pytest.fixture
def deceased_data() -> VoterData:
    roll = table("roll", [
        voter("C1", "1", "John", "Smith", D(1950, 1, 1)),
        voter("C1", "2", "JOHN", "SMITH", D(1950, 2, 2)),
        voter("C1", "3", "john", "smith", D(1950, 3, 3)),
        voter("C1", "4", "Mary", "Jones", D(1960, 6, 6)),
    ])
    history = table("history", [credit("C1", v) for v in "123"]
                    + [credit("C1", "4", "mail", D(2020, 10, 10))])
    deaths = table("deaths", [
        death("John", "Smith", D(1950, 1, 1), D(2019, 1, 1)),   # died before voting
        death("John", "Smith", D(1950, 5, 5), D(2019, 1, 1)),   # same name and year only
        death("Mary", "Jones", D(1960, 6, 6), D(2020, 10, 20)),  # voted by mail, then died
        death("Mary", "Jones", D(1960, 6, 6), D(2021, 1, 1)),   # died after the election
    ])
    return VoterData(roll=roll, history=history, deaths=deaths)


def test_deceased_splits_timing_and_gives_expected_coincidences(deceased_data) -> None:
    c = by_name(run_all(deceased_data, Rules(E)))[DECEASED]
    d = c.details
    assert (d["matched"], d["explained_by_timing"], d["left_to_explain"]) == (2, 1, 1)
    # John Smith 1950: 3 voters × 2 death records = 6 pairs sharing name and year, 1 of them
    # matches on the full date, so 5 are different people: 5/364 expected (module docstring)
    assert d["expected_coincidental"]["candidate_pairs"] == 3 * 2 + 1
    assert d["expected_coincidental"]["mean"] == pytest.approx((7 - 2) / 364, abs=1e-3)
    assert c.status == "fail"  # one death before voting, far above the ~0.01 expected
    assert d["rules"]["ballot_cast_before_death_counts"] is True


def test_deceased_rule_that_rejects_ballots_of_voters_who_died(deceased_data) -> None:
    lawful = by_name(run_all(deceased_data, Rules(E)))[DECEASED]
    strict = by_name(run_all(deceased_data, Rules(E, died_after_voting_counts=False)))[DECEASED]
    assert "1 voted before they died (counted" in lawful.summary
    assert "2 or more are more than chance explains" in strict.summary


def test_birth_year_only_cannot_show_a_dead_person_voted(deceased_data) -> None:
    roll = deceased_data.roll.set_column(
        5, "birth_date", pa.nulls(deceased_data.roll.num_rows, pa.date32()))
    c = by_name(run_all(VoterData(roll=roll, history=deceased_data.history,
                                  deaths=deceased_data.deaths), Rules(E)))[DECEASED]
    assert c.status == "not_run"
    assert "cannot show a dead person voted" in c.summary
    assert c.details["match_key"] == "name + birth year"
    assert c.details["matched"] == 3 * 2 + 1  # every name-and-year pair is a "match"
    claim = {x.id: x for x in claims_from_checks([c], applicable=CHECKS)}["dead_voters"]
    assert claim.verdict == "not_answered"


def test_double_voting_within_the_file_and_across_counties() -> None:
    roll = table("roll", [voter("C1", "1", "Ann", "Lee", D(1970, 1, 1)),
                          voter("C2", "9", "Ann", "Lee", D(1970, 1, 1)),
                          voter("C2", "5", "Bob", "Day", D(1980, 1, 1))])
    history = table("history", [credit("C1", "1"), credit("C2", "9"), credit("C2", "5"),
                                credit("C2", "5", "mail")])
    c = by_name(run_all(VoterData(roll=roll, history=history), Rules(E)))[DOUBLE]
    assert c.details["same_registration_credited_twice"] == 1
    assert c.details["extra_credits"] == 1
    assert c.details["cross_county_pairs"] == 1
    assert c.status == "fail"
    clean = by_name(run_all(VoterData(roll=roll.slice(2), history=history.slice(2, 1)),
                            Rules(E)))[DOUBLE]
    assert clean.status == "pass"
    assert clean.details["cross_county_pairs"] == 0


def test_late_ballots_with_overseas_and_postmark_rules() -> None:
    def ballot(county: str, returned: D, **kw: Any) -> dict[str, Any]:
        return {"county": county, "voter_id": "x", "returned": returned, "accepted": returned,
                "status": "ACCEPTED", **kw}
    mail = table("mail", [
        ballot("C1", D(2020, 11, 1)),
        ballot("C1", D(2020, 11, 5)),                                # late
        ballot("C2", D(2020, 11, 5), uocava=True),                   # late unless UOCAVA days
        ballot("C2", D(2020, 11, 5), postmark=D(2020, 11, 2)),       # late unless postmark rule
        {"county": "C2", "voter_id": "y", "returned": D(2020, 11, 9), "status": "REJECTED",
         "reason": "late"},                                          # not accepted: not counted
    ])
    strict = by_name(run_all(VoterData(mail=mail), Rules(E, deadline=E)))[LATE]
    assert strict.details["late"] == 3 and strict.status == "fail"
    assert {r["county"]: r["late"] for r in strict.details["by_county"]} == {"C1": 1, "C2": 2}
    lenient = by_name(run_all(VoterData(mail=mail), Rules(E, deadline=E, uocava_days=7,
                                                            postmark_days=3)))[LATE]
    assert (lenient.details["late"], lenient.details["late_allowed"]) == (1, 2)
    none = by_name(run_all(VoterData(mail=mail), Rules(E)))[LATE]
    assert none.status == "not_run" and "deadline" in none.summary


def test_more_votes_than_voters_per_precinct() -> None:
    roll = table("roll", [voter("C1", "1", "A", "B", None, 1950, "P1"),
                          voter("C1", "2", "C", "D", None, 1950, "P1", reg=D(2020, 11, 1)),
                          voter("C1", "3", "E", "F", None, 1950, "P2")])
    history = table("history", [credit("C1", "1"), credit("C1", "2")])
    ballots = pa.table({"county": ["C1", "C1"], "precinct": ["P1", "P2"], "ballots": [2, 2]})
    data = VoterData(roll=roll, history=history, ballots=ballots)
    c = by_name(run_all(data, Rules(E)))[OVERVOTE]
    assert c.details["precincts_over"] == 1  # P2: 2 ballots, 1 registered
    assert c.details["precincts_ballots_differ_from_credited"] == 1
    snap = by_name(run_all(data, Rules(E, snapshot=D(2020, 10, 1))))[OVERVOTE]
    assert snap.details["precincts_over"] == 2  # voter 2 registered after the snapshot
    ok = by_name(run_all(VoterData(roll=roll, history=history), Rules(E)))[OVERVOTE]
    assert ok.status == "pass"


def test_no_data_means_not_answered_never_no_problem() -> None:
    checks = run_all(VoterData(), Rules(E, deadline=E))
    assert {c.status for c in checks} == {"not_run"}
    claims = claims_from_checks(checks, applicable=CHECKS)
    assert {c.id for c in claims} == {"dead_voters", "double_voting", "late_ballots",
                                      "more_votes_than_voters"}
    assert {c.verdict for c in claims} == {"not_answered"}
    assert all("It needs" in c.finding for c in claims)


def test_mail_return_date_is_when_a_mail_ballot_was_cast(deceased_data) -> None:
    # Mary Jones voted by mail; without voted_date her ballot dates from election day, after
    # her death (left to explain); the mail file's return date shows she voted, then died
    history = deceased_data.history.set_column(
        5, "voted_date", pa.nulls(deceased_data.history.num_rows, pa.date32()))
    data = VoterData(roll=deceased_data.roll, history=history, deaths=deceased_data.deaths)
    without = by_name(run_all(data, Rules(E)))[DECEASED].details
    assert (without["explained_by_timing"], without["left_to_explain"]) == (0, 2)
    data.mail = table("mail", [{"county": "C1", "voter_id": "4", "returned": D(2020, 10, 10),
                                "accepted": D(2020, 10, 11), "status": "ACCEPTED"}])
    with_mail = by_name(run_all(data, Rules(E)))[DECEASED].details
    assert (with_mail["explained_by_timing"], with_mail["left_to_explain"]) == (1, 1)

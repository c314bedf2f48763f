"""Voter-file readers: each layout, the errors (file, line, field), and fuzzing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallyproof.errors import InputError
from tallyproof.voters.readers import read_voter_file


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_documented_history_csv(tmp_path: Path) -> None:
    p = _write(tmp_path, "h.csv",
               "county,voter_id,election_date,method,precinct,voted_date\n"
               "C1,001,2020-11-03,MAIL,P1,10/20/2020\n"
               "C1,002,11/03/2020,in_person,P2,\n"
               "C2,003,20201103,early,,20201025\n")
    t = read_voter_file(p, "history")
    assert t.column("method").to_pylist() == ["mail", "in_person", "early"]
    assert t.column("election_date").to_pylist() == [dt.date(2020, 11, 3)] * 3
    assert t.column("voted_date").to_pylist() == [dt.date(2020, 10, 20), None,
                                                  dt.date(2020, 10, 25)]


def test_roll_mail_deaths(tmp_path: Path) -> None:
    roll = _write(tmp_path, "r.csv", "county,voter_id,first,last,birth_year,birth_date,precinct,"
                  "status,registration_date\nC1,1,Ann,Lee,1950,,P1,ACTIVE,2001-01-01\n")
    mail = _write(tmp_path, "m.csv", "county,voter_id,issued,returned,accepted,status,reason,"
                  "postmark,uocava\nC1,1,2020-10-01,2020-10-10,2020-10-11,ACCEPTED,,,Y\n")
    deaths = _write(tmp_path, "d.csv", "first,last,birth_date,death_date,state\n"
                    "Ann,Lee,1950-02-03,2019-05-05,GA\n")
    assert read_voter_file(roll, "roll").column("birth_year").to_pylist() == [1950]
    assert read_voter_file(roll, "roll").column("birth_date").to_pylist() == [None]
    assert read_voter_file(mail, "mail").column("uocava").to_pylist() == [True]
    assert read_voter_file(deaths, "deaths").column("death_date").to_pylist() == [
        dt.date(2019, 5, 5)]


def test_north_carolina_ncvhis_layout(tmp_path: Path) -> None:
    header = ("county_id\tcounty_desc\tvoter_reg_num\telection_lbl\telection_desc\t"
              "voting_method\tvoted_party_cd\tvoted_party_desc\tpct_label\tpct_description\t"
              "ncid\tvoted_county_id\tvoted_county_desc\tvtd_label\tvtd_description\n")
    rows = [
        "1\tALAMANCE\t000009058130\t11/03/2020\tGENERAL\tABSENTEE BY MAIL\tDEM\tDEMOCRATIC\t"
        "03C\tBOONE 3\tAA1\t1\tALAMANCE\t03C\tBOONE 3\n",
        "1\tALAMANCE\t000009058131\t11/03/2020\tGENERAL\tABSENTEE ONESTOP\tREP\tREPUBLICAN\t"
        "03C\tBOONE 3\tAA2\t1\tALAMANCE\t03C\tBOONE 3\n",
        "1\tALAMANCE\t000009058132\t11/03/2020\tGENERAL\tIN-PERSON\tUNA\tUNAFFILIATED\t"
        "03C\tBOONE 3\tAA3\t1\tALAMANCE\t03C\tBOONE 3\n",
    ]
    t = read_voter_file(_write(tmp_path, "ncvhis.txt", header + "".join(rows)), "history", "nc")
    assert t.column("method").to_pylist() == ["mail", "early", "in_person"]
    assert t.column("voter_id").to_pylist()[0] == "000009058130"
    assert t.column("precinct").to_pylist() == ["03C"] * 3


def test_georgia_history_layout(tmp_path: Path) -> None:
    text = ("County Name,Voter Registration #,Election Date,Election Type,Party,Ballot Style,"
            "Absentee,Provisional,Supplemental\n"
            "FULTON,00012345,11/03/2020,GENERAL ELECTION,,,Y,N,N\n"
            "FULTON,00012346,11/03/2020,GENERAL ELECTION,,,N,Y,N\n"
            "COBB,00012347,11/03/2020,GENERAL ELECTION,,,N,N,N\n")
    t = read_voter_file(_write(tmp_path, "ga.csv", text), "history", "ga")
    assert t.column("method").to_pylist() == ["early", "provisional", "in_person"]


GA_ROLL_HEADER = (
    "COUNTY_CODE|REGISTRATION_NUMBER|VOTER_STATUS|LAST_NAME|FIRST_NAME|MIDDLE_MAIDEN_NAME|"
    "NAME_SUFFIX|NAME_TITLE|RESIDENCE_HOUSE_NUMBER|RESIDENCE_STREET_NAME|"
    "RESIDENCE_STREET_SUFFIX|RESIDENCE_APT_UNIT_NBR|RESIDENCE_CITY|RESIDENCE_ZIPCODE|BIRTHDATE|"
    "REGISTRATION_DATE|RACE|GENDER|LAND_DISTRICT|LAND_LOT|STATUS_REASON|COUNTY_PRECINCT_ID|"
    "CITY_PRECINCT_ID|CONGRESSIONAL_DISTRICT\n")


def _ga_voter(code: str, number: str, last: str, first: str, year: str, status: str = "A",
              precinct: str = "SS01") -> str:
    return (f"{code}|{number}|{status}|{last}|{first}|||||MAIN|ST||ATLANTA|30303|{year}|"
            f"20040115|WH|F|||| {precinct}||5\n")


def test_georgia_voter_list_layout(tmp_path: Path) -> None:
    text = GA_ROLL_HEADER + _ga_voter("060", "00012345", "LEE", "ANN", "1950") + _ga_voter(
        "033", "12346", "DAY", "BOB", "1980", status="I") + _ga_voter("1", "7", "X", "Y", "2000")
    t = read_voter_file(_write(tmp_path, "Georgia_Daily_VoterBase.txt", text), "roll", "ga")
    assert t.column("county").to_pylist() == ["FULTON", "COBB", "APPLING"]
    assert t.column("voter_id").to_pylist() == ["12345", "12346", "7"]
    assert t.column("birth_year").to_pylist() == [1950, 1980, 2000]
    assert t.column("birth_date").to_pylist() == [None] * 3  # not public in Georgia
    assert t.column("registration_date").to_pylist() == [dt.date(2004, 1, 15)] * 3
    assert t.column("status").to_pylist() == ["A", "I", "A"]
    assert t.column("precinct").to_pylist() == ["SS01"] * 3
    with pytest.raises(InputError) as exc:
        read_voter_file(_write(tmp_path, "bad.txt", text + _ga_voter("160", "9", "A", "B",
                                                                        "1970")), "roll", "ga")
    assert exc.value.record == "line 5" and exc.value.field == "COUNTY_CODE"
    assert "not a Georgia county code" in str(exc.value)


def test_georgia_voter_list_and_history_link(tmp_path: Path) -> None:
    """The list's county code and the history's county name, and registration numbers padded
    differently, name the same voter."""
    from tallyproof.voters.checks import DOUBLE, OVERVOTE, Rules
    from tallyproof.voters.report import VoterFiles, voter_evidence

    roll = _write(tmp_path, "list.txt", GA_ROLL_HEADER + _ga_voter("060", "12345", "LEE", "ANN",
                                                                   "1950"))
    hist = _write(tmp_path, "hist.csv",
                  "County Name,Voter Registration #,Election Date,Election Type,Party,"
                  "Ballot Style,Absentee,Provisional,Supplemental\n"
                  "Fulton,00012345,11/03/2020,GENERAL ELECTION,,,N,N,N\n")
    doc = voter_evidence(VoterFiles(roll=roll, history=hist, layout="ga", roll_layout="ga"),
                         Rules(dt.date(2020, 11, 3)))
    checks = {c["name"]: c for c in doc["checks"]}
    rows = checks[OVERVOTE]["details"]["by_precinct"]
    assert rows == [{"county": "FULTON", "precinct": "SS01", "registered": 1, "credited": 1,
                     "ballots": None}]
    assert checks[DOUBLE]["details"]["match_key"] == "name + birth year"


@pytest.mark.parametrize(("text", "line", "field", "what"), [
    ("county,voter_id,election_date,method\nC,1,2020-11-03,mail\nC,2,2020-13-45,mail\n",
     "line 3", "election_date", "not a date"),
    ("county,voter_id,election_date,method\nC,1,2020-11-03,by pigeon\n",
     "line 2", "method", "unknown voting method"),
    ("county,voter_id,election_date,method\nC,,2020-11-03,mail\n",
     "line 2", "voter_id", "empty value"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: str, field: str,
                                         what: str) -> None:
    p = _write(tmp_path, "bad.csv", text)
    with pytest.raises(InputError) as exc:
        read_voter_file(p, "history")
    assert exc.value.record == line and exc.value.field == field
    assert what in str(exc.value) and "bad.csv" in str(exc.value)


def test_missing_column_and_missing_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "h.csv", "county,voter_id,method\nC,1,mail\n")
    with pytest.raises(InputError, match="missing column.*election_date"):
        read_voter_file(p, "history")
    with pytest.raises(InputError, match="file not found"):
        read_voter_file(tmp_path / "nope.csv", "history")
    with pytest.raises(InputError, match="no layout"):
        read_voter_file(p, "deaths", "nc")


def test_errors_in_a_later_block_count_lines_from_the_start(tmp_path: Path) -> None:
    rows = "".join(f"C,{i},2020-11-03,mail\n" for i in range(3000))
    p = _write(tmp_path, "h.csv", "county,voter_id,election_date,method\n" + rows
               + "C,x,2020-11-03,fax\n")
    with pytest.raises(InputError) as exc:
        read_voter_file(p, "history", block_size=4096)
    assert exc.value.record == "line 3002"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(codec="utf-8"), max_size=300))
def test_fuzz_any_text_is_read_or_refused_with_input_error(tmp_path: Path, body: str) -> None:
    p = tmp_path / "fuzz.csv"
    p.write_text("county,voter_id,election_date,method\n" + body, encoding="utf-8")
    try:
        t = read_voter_file(p, "history")
    except InputError:
        return
    assert set(t.column("method").to_pylist()) <= {"in_person", "early", "mail", "provisional"}


HEADERS = {
    ("roll", "tallyproof"): "county,voter_id,first,last,birth_year,birth_date\n",
    ("mail", "tallyproof"): "county,voter_id,returned,accepted,status,uocava\n",
    ("deaths", "tallyproof"): "first,last,birth_date,death_date\n",
    ("history", "nc"): "county_desc\tvoter_reg_num\telection_lbl\tvoting_method\tpct_label\n",
    ("history", "ga"): "County Name,Voter Registration #,Election Date,Absentee,Provisional\n",
    ("roll", "ga"): "COUNTY_CODE|REGISTRATION_NUMBER|LAST_NAME|FIRST_NAME|BIRTHDATE|"
                    "REGISTRATION_DATE\n",
}


@pytest.mark.parametrize(("kind", "layout"), list(HEADERS))
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.lists(st.sampled_from(
    ["", "x", "1950", "2020-11-03", "13/45/2020", "Y", "N", "ACCEPTED", "ABSENTEE BY MAIL",
     "mail", '"', "é", " ", "060", "0", "00012", "20040115"]), min_size=0, max_size=7), max_size=5))
def test_fuzz_every_reader(tmp_path: Path, kind: str, layout: str,
                           body: list[list[str]]) -> None:
    header = HEADERS[(kind, layout)]
    sep = {"nc": "\t", "ga": "|" if kind == "roll" else ","}.get(layout, ",")
    p = tmp_path / "fuzz.txt"
    p.write_text(header + "".join(sep.join(r) + "\n" for r in body), encoding="utf-8")
    try:
        t = read_voter_file(p, kind, layout)
    except InputError as exc:
        assert exc.file is not None
        return
    assert t.num_rows <= len(body)


def test_north_carolina_roll_and_history_together(tmp_path: Path) -> None:
    from tallyproof.voters.checks import DECEASED, Rules
    from tallyproof.voters.report import VoterFiles, voter_evidence

    roll = _write(tmp_path, "ncvoter.txt",
                  "county_id\tcounty_desc\tvoter_reg_num\tlast_name\tfirst_name\t"
                  "voter_status_desc\tregistr_dt\tbirth_year\tprecinct_abbrv\n"
                  "1\tALAMANCE\t000001\tSMITH\tJOHN\tACTIVE\t01/02/2004\t1950\t03C\n"
                  "1\tALAMANCE\t000002\tLEE\tANN\tACTIVE\t01/02/2004\t1970\t03C\n")
    hist = _write(tmp_path, "ncvhis.txt",
                  "county_desc\tvoter_reg_num\telection_lbl\tvoting_method\tpct_label\n"
                  "ALAMANCE\t000001\t11/03/2020\tIN-PERSON\t03C\n")
    deaths = _write(tmp_path, "d.csv", "first,last,birth_date,death_date\n"
                    "John,Smith,1950-07-01,2019-01-01\n")
    t = read_voter_file(roll, "roll", "nc")
    assert t.column("registration_date").to_pylist()[0] == dt.date(2004, 1, 2)
    doc = voter_evidence(VoterFiles(roll=roll, history=hist, deaths=deaths, layout="nc",
                                    roll_layout="nc"), Rules(dt.date(2020, 11, 3)))
    dec = {c["name"]: c for c in doc["checks"]}[DECEASED]
    # the NC public roll has the birth year only: a match cannot show a dead person voted
    assert dec["status"] == "not_run" and dec["details"]["matched"] == 1
    assert {c["id"]: c["verdict"] for c in doc["claims"]}["dead_voters"] == "not_answered"

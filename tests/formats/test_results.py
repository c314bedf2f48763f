"""Official results: SP 1500-100 JSON and the results CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tallyproof.errors import InputError
from tallyproof.formats.results import ALL, read_official_results
from tallyproof.model import Candidate, Contest, Election
from tallyproof.store import sha256_file

SYNTH = "cdf-test-method/test_data/synthetic"

ELECTION = Election(
    contests=(
        Contest(
            id="mayor",
            name="Mayor",
            candidates=(Candidate("can-a", "Alice"), Candidate("can-b", "Bob")),
        ),
    )
)


def err_doc() -> dict[str, object]:
    def vc(unit: str, n: int, kind: str = "total") -> dict[str, object]:
        return {"GpUnitId": unit, "Count": n, "Type": kind}

    return {
        "@type": "ElectionResults.ElectionReport",
        "Election": [
            {
                "ElectionScopeId": "county",
                "Contest": [
                    {
                        "@id": "mayor",
                        "VotesAllowed": 1,
                        "ContestSelection": [
                            {
                                "@id": "s-a",
                                "CandidateIds": ["can-a"],
                                "VoteCounts": [
                                    vc("county", 5),
                                    vc("p1", 2),
                                    vc("p2", 3),
                                    vc("county", 4, "election-day"),
                                ],
                            },
                            {
                                "@id": "s-wi",
                                "IsWriteIn": True,
                                "VoteCounts": [vc("county", 1), vc("p1", 1)],
                            },
                        ],
                        "OtherCounts": [{"GpUnitId": "county", "Overvotes": 2, "Undervotes": 3}],
                    }
                ],
            }
        ],
    }


def test_err_json(tmp_path: Path) -> None:
    path = tmp_path / "err.json"
    path.write_text(json.dumps(err_doc()))
    res = read_official_results(path)
    assert res.scope_unit == "county" and res.format == "nist_err"
    assert res.counts == {
        "mayor": {ALL: {"can-a": 5, "s-wi": 1}, "p1": {"can-a": 2, "s-wi": 1}, "p2": {"can-a": 3}}
    }
    assert res.other_counts == {"mayor": {ALL: {"overvotes": 2, "undervotes": 3}}}
    assert res.units("mayor") == [ALL, "p1", "p2"]
    assert res.sha256 == sha256_file(path)


def test_err_json_duplicate_total_and_bad_type(tmp_path: Path) -> None:
    doc = err_doc()
    sel = doc["Election"][0]["Contest"][0]["ContestSelection"][0]  # type: ignore[index]
    sel["VoteCounts"].append({"GpUnitId": "p1", "Count": 9, "Type": "total"})
    path = tmp_path / "err.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="two 'total' counts"):
        read_official_results(path)
    sel["VoteCounts"] = [{"GpUnitId": "p1", "Count": "9", "Type": "total"}]
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as info:
        read_official_results(path)
    assert info.value.field == "Count"
    assert info.value.record == "Election[0].Contest[0].ContestSelection[0].VoteCounts[0]"


def test_csv_by_id_and_name(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text(
        "\ufeffContest, Candidate ,reporting_unit,VOTES\nmayor,can-a,ALL,10\n"
        "Mayor,Bob,ALL,7\nmayor,Alice,p1,4\n\n"
    )
    res = read_official_results(path, ELECTION)
    assert res.format == "csv" and res.scope_unit == ALL
    assert res.counts == {"mayor": {ALL: {"can-a": 10, "can-b": 7}, "p1": {"can-a": 4}}}
    raw = read_official_results(path)  # without an election, names are kept as written
    assert raw.counts["Mayor"] == {ALL: {"Bob": 7}}


@pytest.mark.parametrize(
    "body, record, field",
    [
        ("mayor,can-a,ALL,-1\n", "line 2", "votes"),
        ("mayor,can-a,ALL,1.5\n", "line 2", "votes"),
        ("mayor,Zed,ALL,1\n", "line 2", "candidate"),
        ("sheriff,can-a,ALL,1\n", "line 2", "contest"),
        ("mayor,can-a,ALL,1\nmayor,Alice,ALL,2\n", "line 3", "candidate"),
        ("mayor,can-a,ALL\n", "line 2", None),
        ("mayor,,ALL,3\n", "line 2", "candidate"),
    ],
)
def test_csv_errors(tmp_path: Path, body: str, record: str, field: str | None) -> None:
    path = tmp_path / "results.csv"
    path.write_text("contest,candidate,reporting_unit,votes\n" + body)
    with pytest.raises(InputError) as info:
        read_official_results(path, ELECTION)
    assert info.value.file == str(path)
    assert (info.value.record, info.value.field) == (record, field)


def test_csv_missing_column_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("contest,candidate,votes\nmayor,can-a,1\n")
    with pytest.raises(InputError, match="reporting_unit"):
        read_official_results(path)
    path.write_bytes(b"contest,candidate,reporting_unit,votes\nmayor,\xff\xfe,ALL,1\n")
    with pytest.raises(InputError, match="UTF-8"):
        read_official_results(path)


@pytest.mark.realdata
def test_nist_err_files(nist_data: Path) -> None:
    res = read_official_results(next((nist_data / SYNTH / "gen-02" / "err_v2").glob("err-*.json")))
    assert res.scope_unit == "ru-county-1"
    assert res.units("cc-president") == [ALL, "prec-creekside", "prec-hillwood", "prec-mooring"]
    president = res.counts["cc-president"]
    assert president[ALL] == {"can-as": 30, "can-bh": 21, "co-president-wi": 6}
    # the RCV contest has only all-zero precinct counts (no jurisdiction row) in NIST's file
    assert ALL not in res.counts["cc-sherrif"]
    # per-precinct counts add up to the jurisdiction total, for every other contest
    for contest, units in res.counts.items():
        if contest == "cc-sherrif":
            continue
        for cand, total in units[ALL].items():
            assert sum(u.get(cand, 0) for k, u in units.items() if k != ALL) == total, (
                contest,
                cand,
            )

"""NIST SP 1500-103 CVR JSON reader: small hand-made reports plus the NIST and RCTab files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tallyproof.errors import InputError
from tallyproof.formats import nist_cdf
from tallyproof.ingest import ingest, read_export
from tallyproof.model import OVERVOTE_UNKNOWN, ContestKind
from tallyproof.store import Store

SYNTH = "cdf-test-method/test_data/synthetic"


def position(
    rank: int | None = None, allocable: str = "yes", indication: str = "yes", votes: int = 1
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "HasIndication": indication,
        "IsAllocable": allocable,
        "NumberVotes": votes,
    }
    if rank is not None:
        p["Rank"] = rank
    return p


def selection(sid: str, *positions: dict[str, Any]) -> dict[str, Any]:
    return {"ContestSelectionId": sid, "SelectionPosition": list(positions or [position()])}


def cvr(uid: str, contests: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {
        "@type": "CVR.CVR",
        "UniqueId": uid,
        "CurrentSnapshotId": f"{uid}-s",
        "CVRSnapshot": [{"@id": f"{uid}-s", "Type": "original", "CVRContest": contests}],
        **meta,
    }


def report(
    cvrs: list[dict[str, Any]], contests: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "@type": "CVR.CastVoteRecordReport",
        "Version": "1.0.0",
        "GpUnit": [{"@id": "county", "Name": "Test County", "Type": "county"}],
        "Election": [
            {
                "@id": "e1",
                "ElectionScopeId": "county",
                "Candidate": [
                    {"@id": "can-a", "Name": "Alice"},
                    {"@id": "can-b", "Name": "Bob"},
                    {"@id": "can-c", "Name": "Carol"},
                ],
                "Contest": contests
                if contests is not None
                else [
                    {
                        "@id": "mayor",
                        "@type": "CVR.CandidateContest",
                        "Name": "Mayor",
                        "VotesAllowed": 1,
                        "ContestSelection": [
                            {"@id": "s-a", "CandidateIds": ["can-a"]},
                            {"@id": "s-b", "CandidateIds": ["can-b"]},
                            {"@id": "s-wi", "IsWriteIn": True},
                        ],
                    },
                    {
                        "@id": "prop",
                        "@type": "CVR.BallotMeasureContest",
                        "Name": "Prop 1",
                        "ContestSelection": [
                            {"@id": "yes", "Selection": "Yes"},
                            {"@id": "no", "Selection": "No"},
                        ],
                    },
                    {
                        "@id": "rcv",
                        "@type": "CVR.CandidateContest",
                        "Name": "Council",
                        "VoteVariation": "rcv",
                        "ContestSelection": [
                            {"@id": "r-a", "CandidateIds": ["can-a"]},
                            {"@id": "r-b", "CandidateIds": ["can-b"]},
                            {"@id": "r-c", "CandidateIds": ["can-c"]},
                        ],
                    },
                ],
            }
        ],
        "CVR": cvrs,
    }


def write(tmp_path: Path, doc: Any, name: str = "cvr.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def rows(path: Path, **options: Any) -> tuple[Any, list[dict[str, Any]]]:
    parsed = nist_cdf.read(path, options)
    batches = list(parsed.batches)
    return parsed.election, [r for b in batches for r in b.to_pylist()]


def test_contests_candidates_and_kinds(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        report([cvr("b1", [{"ContestId": "mayor", "CVRContestSelection": [selection("s-b")]}])]),
    )
    election, _ = rows(path)
    mayor, prop, council = election.contests
    assert [c.id for c in mayor.candidates] == ["can-a", "can-b", "s-wi"]
    assert [c.name for c in mayor.candidates] == ["Alice", "Bob", "Write-in"]
    assert mayor.candidates[2].write_in and not mayor.candidates[0].write_in
    assert [c.id for c in prop.candidates] == ["yes", "no"]
    assert [c.name for c in prop.candidates] == ["Yes", "No"]
    assert (mayor.kind, prop.kind, council.kind) == (
        ContestKind.PLURALITY,
        ContestKind.PLURALITY,
        ContestKind.IRV,
    )
    assert election.jurisdiction == "Test County"


def test_marks_metadata_and_absent_contests(tmp_path: Path) -> None:
    card = cvr(
        "b1",
        [
            {"ContestId": "mayor", "CVRContestSelection": [selection("s-wi")]},
            {
                "ContestId": "rcv",
                "CVRContestSelection": [
                    selection("r-c", position(rank=1)),
                    selection("r-a", position(rank=3)),
                ],
            },
        ],
        BallotStyleUnitId="p1",
        BallotStyleId="bs1",
        CreatingDeviceId="scan-1",
        BatchId="7",
        BatchSequenceId=4,
    )
    _, got = rows(write(tmp_path, report([card])), voteType="mail")
    (row,) = got
    assert row["contest:mayor"] == [[2]]
    assert row["contest:prop"] is None
    assert row["contest:rcv"] == [[2], [], [0]]
    assert (
        row["precinct"],
        row["ballot_style"],
        row["tabulator"],
        row["batch"],
        row["record"],
    ) == ("p1", "bs1", "scan-1", "7", 4)
    assert (row["ballot_id"], row["vote_type"], row["source_record"]) == ("b1", "mail", "CVR[0]")


def test_current_snapshot_only(tmp_path: Path) -> None:
    card = cvr("b1", [])
    card["CVRSnapshot"] = [
        {
            "@id": "orig",
            "Type": "original",
            "CVRContest": [{"ContestId": "mayor", "CVRContestSelection": [selection("s-a")]}],
        },
        {
            "@id": "adj",
            "Type": "modified",
            "CVRContest": [{"ContestId": "mayor", "CVRContestSelection": [selection("s-b")]}],
        },
    ]
    card["CurrentSnapshotId"] = "adj"
    _, got = rows(write(tmp_path, report([card])))
    assert got[0]["contest:mayor"] == [[1]]
    card["CurrentSnapshotId"] = "missing"
    with pytest.raises(InputError, match="CurrentSnapshotId"):
        rows(write(tmp_path, report([card]), "bad.json"))


def test_allocable_rules(tmp_path: Path) -> None:
    cards = [
        # not allocable, no overvote reported: not a mark
        cvr(
            "b1",
            [
                {
                    "ContestId": "mayor",
                    "CVRContestSelection": [selection("s-a", position(allocable="no"))],
                }
            ],
        ),
        # unknown counts by default (RCTab writes it), HasIndication no never counts
        cvr(
            "b2",
            [
                {
                    "ContestId": "mayor",
                    "CVRContestSelection": [
                        selection("s-a", position(allocable="unknown")),
                        selection("s-b", position(indication="no")),
                    ],
                }
            ],
        ),
        # a reported overvote keeps its non-allocable marks
        cvr(
            "b3",
            [
                {
                    "ContestId": "mayor",
                    "Overvotes": 1,
                    "Status": ["overvoted"],
                    "CVRContestSelection": [
                        selection("s-a", position(allocable="no")),
                        selection("s-b", position(allocable="no")),
                    ],
                }
            ],
        ),
        # a rules-invalidated single mark in an overvoted contest: OVERVOTE_UNKNOWN is added
        cvr(
            "b4",
            [
                {
                    "ContestId": "mayor",
                    "Overvotes": 1,
                    "CVRContestSelection": [selection("s-a", position(allocable="no"))],
                }
            ],
        ),
        # NumberVotes 0 is not a mark
        cvr(
            "b5",
            [{"ContestId": "mayor", "CVRContestSelection": [selection("s-b", position(votes=0))]}],
        ),
    ]
    path = write(tmp_path, report(cards))
    _, got = rows(path)
    assert [r["contest:mayor"] for r in got] == [
        [[]],
        [[0]],
        [[0, 1]],
        [[0, OVERVOTE_UNKNOWN]],
        [[]],
    ]
    _, excluded = rows(path, allocableUnknown="exclude")
    assert excluded[1]["contest:mayor"] == [[]]


def test_ranked_overvote_duplicates_and_seats(tmp_path: Path) -> None:
    card = cvr(
        "b1",
        [
            {
                "ContestId": "rcv",
                "CVRContestSelection": [
                    selection("r-a", position(rank=1), position(rank=2)),
                    selection("r-b", position(rank=1)),
                ],
            }
        ],
    )
    election, got = rows(write(tmp_path, report([card])), numberOfWinners="2")
    assert got[0]["contest:rcv"] == [[0, 1], [0]]
    council = election.contest("rcv")
    assert (council.kind, council.seats, council.max_rankings) == (ContestKind.STV, 2, 2)


def test_contest_id_option_by_id_or_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        report(
            [
                cvr(
                    "b1",
                    [
                        {"ContestId": "mayor", "CVRContestSelection": [selection("s-a")]},
                        {"ContestId": "prop", "CVRContestSelection": [selection("no")]},
                    ],
                )
            ]
        ),
    )
    by_name, got = rows(path, contestId="Prop 1")
    assert [c.id for c in by_name.contests] == ["prop"]
    assert got[0]["contest:prop"] == [[1]]
    assert "contest:mayor" not in got[0]
    assert [c.id for c in rows(path, contestId="mayor")[0].contests] == ["mayor"]
    with pytest.raises(InputError, match="contestId"):
        rows(path, contestId="nope")


def test_ballot_id_fallbacks(tmp_path: Path) -> None:
    a = cvr("x", [])
    del a["UniqueId"]
    a["BallotPrePrintedId"] = "pre-1"
    b = cvr("y", [])
    del b["UniqueId"]
    b["@id"] = "cvr-2"
    c = cvr("z", [])
    del c["UniqueId"]
    _, got = rows(write(tmp_path, report([a, b])))
    assert [r["ballot_id"] for r in got] == ["pre-1", "cvr-2"]
    with pytest.raises(InputError) as info:
        rows(write(tmp_path, report([a, c]), "c.json"))
    assert info.value.record == "CVR[1]" and info.value.field == "UniqueId"


def test_tickets_and_shared_candidates_use_selection_ids(tmp_path: Path) -> None:
    contests = [
        {
            "@id": "pres",
            "VotesAllowed": 1,
            "ContestSelection": [
                {"@id": "t1", "CandidateIds": ["can-a", "can-b"]},
                {"@id": "e1", "CandidateIds": ["can-c"]},
                {"@id": "e2", "CandidateIds": ["can-c"]},  # cross-endorsed: same candidate twice
            ],
        }
    ]
    election, _ = rows(write(tmp_path, report([], contests)))
    assert [c.id for c in election.contests[0].candidates] == ["t1", "e1", "e2"]
    assert election.contests[0].candidates[0].name == "Alice / Bob"


def test_sniff(tmp_path: Path, nist_data: Path) -> None:
    assert nist_cdf.sniff(next((nist_data / SYNTH / "gen-01" / "cvr_v1").glob("cvr-*.json")))
    dominion = write(tmp_path, {"Version": "5", "Sessions": []}, "CvrExport.json")
    assert not nist_cdf.sniff(dominion)
    assert not nist_cdf.sniff(tmp_path)
    other = tmp_path / "x.csv"
    other.write_text("ballot_id,mayor\n")
    assert not nist_cdf.sniff(other)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name, cards, contests",
    [
        ("gen-01", 40, 19),
        ("gen-02", 63, 15),
        ("gen-03", 20, 8),
        ("prim-01", 40, 30),
        ("prim-02", 40, 13),
        ("prim-03", 20, 10),
    ],
)
def test_nist_synthetic_files(nist_data: Path, name: str, cards: int, contests: int) -> None:
    path = next((nist_data / SYNTH / name / "cvr_v1").glob("cvr-*.json"))
    parsed = read_export(path)
    assert parsed.format == "nist_cdf"
    got = pa.Table.from_batches(list(parsed.batches))
    assert got.num_rows == cards
    assert len(parsed.election.contests) == contests
    assert got.column("ballot_id").null_count == 0
    assert len(set(got.column("ballot_id").to_pylist())) == cards
    ranked = [c.id for c in parsed.election.contests if c.ranked]
    assert ranked == (["cc-sherrif"] if name == "gen-02" else [])


@pytest.mark.realdata
def test_rctab_cdf_files(rctab_data: Path, tmp_path: Path) -> None:
    folder = rctab_data / "test_set_multi_winner_fractional_threshold"
    res = ingest(
        [folder / "test_set_multi_winner_fractional_threshold_cvr.json"],
        tmp_path / "s",
        options={"contestId": "test set multi winner fractional", "numberOfWinners": "3"},
    )
    store = Store.open(res.store)
    (contest,) = store.election.contests
    assert (contest.kind, contest.seats, len(contest.candidates)) == (ContestKind.STV, 3, 6)
    assert res.cards_added == store.cvr_count() > 0
    seven = read_export(
        rctab_data
        / "test_set_7_duplicate_skip_to_next"
        / "test_set_7_duplicate_skip_to_next_cvr.json"
    )
    first = [r for b in seven.batches for r in b.to_pylist()][0]
    # ballot 1 ranks D first and second (a duplicate) and A third
    assert first["contest:contest-001"] == [[3], [3], [0]]


@pytest.mark.realdata
def test_sniff_is_unambiguous_on_shared_data(shared_data: Path) -> None:
    from tallyproof.formats import load_readers

    registry = load_readers()
    assert not nist_cdf.sniff(
        shared_data / "nist-cdf" / "schemas" / "NIST_V0_cast_vote_records.json"
    )
    for path in sorted((shared_data / "nist-cdf").rglob("*.json")):
        claimed = [spec.name for spec in registry.values() if spec.sniff(path)]
        expected = ["nist_cdf"] if "/cvr_v1/" in str(path) else []
        assert claimed == expected, path


@pytest.mark.realdata
def test_cli_ingest_auto_detects(
    nist_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tallyproof.cli import main

    path = next((nist_data / SYNTH / "gen-03" / "cvr_v1").glob("cvr-*.json"))
    assert main(["ingest", str(path), "--store", str(tmp_path / "s"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["format"], out["cards_added"]) == ("nist_cdf", 20)
    assert main(["ingest", str(path), "--store", str(tmp_path / "s")]) == 2  # same file twice


def test_max_rankings_option_and_id_clash(tmp_path: Path) -> None:
    card = cvr(
        "b1", [{"ContestId": "rcv", "CVRContestSelection": [selection("r-a", position(rank=2))]}]
    )
    path = write(tmp_path, report([card]))
    assert rows(path)[0].contest("rcv").max_rankings == 2
    assert rows(path, maxRankingsAllowed="5")[0].contest("rcv").max_rankings == 5
    assert rows(path, maxRankingsAllowed="max")[0].contest("rcv").max_rankings == 2
    with pytest.raises(InputError, match="maxRankingsAllowed"):
        rows(path, maxRankingsAllowed="lots")
    clash = [
        {
            "@id": "c",
            "ContestSelection": [
                {"@id": "can-a", "Selection": "Yes"},
                {"@id": "s2", "CandidateIds": ["can-a"]},
            ],
        }
    ]
    with pytest.raises(InputError, match="would name two selections") as info:
        rows(write(tmp_path, report([], clash), "clash.json"))
    assert info.value.record == "Election[0].Contest[0]"

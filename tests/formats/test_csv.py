"""tallyproof CSV and RCTab generic CSV readers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tallyproof.errors import InputError
from tallyproof.formats import csv as csv_reader
from tallyproof.ingest import ingest, read_export
from tallyproof.model import OVERVOTE_UNKNOWN, ContestKind
from tallyproof.store import Store

SAMPLE = (
    "ballot_id,tabulator,batch,record,precinct,ballot_style,vote_type,"
    "Mayor,Council [vote for 2],Measure A [approval],"
    "Chair [rank 1; seats 2],Chair [rank 2],Chair [rank 3]\n"
    "b1,T1,B1,1,P1,S1,mail,Alice,Xu|Yates,Yes,Ann,,Bo\n"
    "b2,T1,B1,2,P1,S1,election_day,Bob|Alice,,,Bo|Ann,Cy,\n"
    "b3,T1,B2,1,P2,S2,,overvote,Write-in,-,-,-,-\n"
)


def write(tmp_path: Path, text: str, name: str = "cvrs.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, fmt: str = "csv", **options: Any) -> tuple[Any, list[dict[str, Any]]]:
    parsed = read_export(path, fmt, options)
    return parsed.election, [r for b in parsed.batches for r in b.to_pylist()]


def test_tallyproof_csv(tmp_path: Path) -> None:
    election, rows = read(write(tmp_path, SAMPLE))
    mayor, council, measure, chair = election.contests
    assert (mayor.kind, mayor.vote_for, mayor.seats) == (ContestKind.PLURALITY, 1, 1)
    assert (council.kind, council.vote_for, council.seats) == (ContestKind.PLURALITY, 2, 2)
    assert measure.kind == ContestKind.APPROVAL
    assert (chair.kind, chair.seats, chair.max_rankings) == (ContestKind.STV, 2, 3)
    assert [c.id for c in mayor.candidates] == ["Alice", "Bob"]
    assert [(c.id, c.write_in) for c in council.candidates] == [
        ("Xu", False),
        ("Yates", False),
        ("Write-in", True),
    ]
    assert [r["contest:Mayor"] for r in rows] == [[[0]], [[0, 1]], [[OVERVOTE_UNKNOWN]]]
    assert [r["contest:Council"] for r in rows] == [[[0, 1]], [[]], [[2]]]
    assert [r["contest:Measure A"] for r in rows] == [[[0]], [[]], None]
    assert [r["contest:Chair"] for r in rows] == [[[0], [], [1]], [[0, 1], [2]], None]
    assert [r["vote_type"] for r in rows] == ["mail", "election_day", "unknown"]
    assert (rows[0]["record"], rows[0]["precinct"], rows[0]["ballot_style"]) == (1, "P1", "S1")
    assert rows[2]["source_record"] == "line 4"


def test_sniff_and_ingest(tmp_path: Path) -> None:
    path = write(tmp_path, SAMPLE)
    assert csv_reader.sniff_tallyproof_csv(path)
    assert not csv_reader.sniff_tallyproof_csv(write(tmp_path, "RowNumber,BoxID\n", "cb.csv"))
    res = ingest([path], tmp_path / "store")
    assert res.format == "csv" and res.cards_added == 3
    assert Store.open(tmp_path / "store").cvr_count() == 3


@pytest.mark.parametrize(
    "header, row, record, field",
    [
        ("ballot_id,Mayor [rank 2]", "b1,A", "line 1", "Mayor"),
        ("ballot_id,Mayor,Mayor", "b1,A,B", "line 1", "Mayor"),
        ("ballot_id,Mayor [colour red]", "b1,A", "line 1", "Mayor [colour red]"),
        ("tabulator,Mayor", "T,A", "line 1", "ballot_id"),
        ("ballot_id,Mayor", ",A", "line 2", "ballot_id"),
        ("ballot_id,record,Mayor", "b1,x,A", "line 2", "record"),
        ("ballot_id,vote_type,Mayor", "b1,postal,A", "line 2", "vote_type"),
        ("ballot_id,M [rank 1],M [rank 2]", "b1,-,A", "line 2", "M"),
        ("ballot_id,Mayor", "b1,A,extra", "line 2", None),
    ],
)
def test_tallyproof_csv_errors(
    tmp_path: Path, header: str, row: str, record: str, field: str | None
) -> None:
    path = write(tmp_path, f"{header}\n{row}\n")
    with pytest.raises(InputError) as info:
        read(path)
    assert info.value.file == str(path)
    assert (info.value.record, info.value.field) == (record, field)


GENERIC_OPTIONS = {
    "firstVoteColumnIndex": "4",
    "firstVoteRowIndex": "2",
    "idColumnIndex": "1",
    "precinctColumnIndex": "2",
    "batchColumnIndex": "3",
    "undeclaredWriteInLabel": "Write-In",
}


def test_generic_csv_small(tmp_path: Path) -> None:
    path = write(tmp_path, "id,p,b,A,B,C\nr1,p1,b1,1,2,\nr2,,,2,1,1\nr3,p1,b2,,,\n")
    election, rows = read(
        path, "generic_csv", **GENERIC_OPTIONS, contestId="Mayor", numberOfWinners="1"
    )
    (contest,) = election.contests
    assert (contest.id, contest.kind, contest.max_rankings) == ("Mayor", ContestKind.IRV, 3)
    assert [r["contest:Mayor"] for r in rows] == [[[0], [1]], [[1, 2], [0]], []]
    assert [(r["ballot_id"], r["precinct"], r["batch"]) for r in rows] == [
        ("r1", "p1", "b1"),
        ("r2", None, None),
        ("r3", "p1", "b2"),
    ]


def test_generic_csv_without_id_column_and_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "A,B\n1,2\n2,x\n")
    with pytest.raises(InputError) as info:
        read(path, "generic_csv", firstVoteColumnIndex="1")
    assert (info.value.record, info.value.field) == ("line 3", "B")
    ok = write(tmp_path, "A,B\n1,2\n", "ok.csv")
    _, rows = read(ok, "generic_csv", firstVoteColumnIndex="1")
    assert rows[0]["ballot_id"] == "ok.csv#2"
    with pytest.raises(InputError, match="firstVoteColumnIndex"):
        read(ok, "generic_csv")
    with pytest.raises(InputError, match="past the last column"):
        read(ok, "generic_csv", firstVoteColumnIndex="9")
    from tallyproof.formats import load_readers

    assert not load_readers()["generic_csv"].sniff(ok)


@pytest.mark.realdata
def test_rctab_generic_csv_first_round(rctab_data: Path) -> None:
    folder = rctab_data / "generic_csv_test"
    config = json.loads((folder / "generic_csv_test_config.json").read_text())
    options = {**config["cvrFileSources"][0], **config["rules"]}
    election, rows = read(folder / "generic_csv_test_cvr.csv", "generic_csv", **options)
    (contest,) = election.contests
    assert len(rows) == 26  # "Total Number of Ballots" in RCTab's expected report
    firsts = Counter(contest.candidates[r[contest.column][0][0]].name for r in rows)
    # Round 1 of generic_csv_test_expected_detailed_report.csv
    assert firsts == {"Cucumber": 8, "Write-In": 6, "Lettuce": 5, "Cauliflower": 4, "Broccoli": 3}
    assert Counter(r["precinct"] for r in rows) == {"p1": 13, "p2": 10, None: 3}


def _doc_example(section: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text()
    after = text[text.index(section) :]
    return after[after.index("```csv\n") + 7 : after.index("\n```", after.index("```csv"))] + "\n"


def test_docs_example_parses_as_described(tmp_path: Path) -> None:
    election, rows = read(write(tmp_path, _doc_example("## tallyproof CSV")))
    assert [r["contest:Mayor"] for r in rows] == [[[0]], [[]], [[1]]]
    assert [r["contest:Chair"] for r in rows] == [[[0], [1]], [[0, 1]], None]
    assert election.contest("Council").vote_for == 2
    assert [c.write_in for c in election.contest("Council").candidates] == [False, False, True]


def test_docs_results_example_parses(tmp_path: Path) -> None:
    from tallyproof.formats.results import read_official_results
    from tallyproof.model import Candidate, Contest, Election

    election = Election(
        contests=(
            Contest(
                id="mayor",
                name="Mayor",
                candidates=(Candidate("can-a", "Ann Lee"), Candidate("can-b", "Bob Jones")),
            ),
        )
    )
    res = read_official_results(write(tmp_path, _doc_example("**Results CSV.**")), election)
    assert res.counts == {"mayor": {"ALL": {"can-a": 1520, "can-b": 1210}, "P-12": {"can-a": 301}}}

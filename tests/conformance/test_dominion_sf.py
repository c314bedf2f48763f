"""Dominion Democracy Suite 5.10 conformance: San Francisco, 3 November 2020 (real export).

The data (``../shared/data/dominion-sf-2020``) is two of the export's ``CvrExport_N.json``
files with every manifest. Its README gives no citywide totals (two files out of thousands),
so what is checked is that the export is read *exactly*: the number of sessions of each file
as the README states it, and every session, card, contest and mark against an independent
reading of the raw JSON written here in a few lines of plain Python (current version,
ambiguous marks not votes, marks grouped by rank, candidates numbered in CandidateManifest
order). The tabulated totals of every contest are compared with the same independent count,
and the names people read — in the store's ``election.json`` and in the report's contest
table — are the manifests' names, ballot measure choices included ("Yes", "No"), never ids.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from tallyproof.evidence.collect import collect
from tallyproof.evidence.report import report_context
from tallyproof.formats import dominion, dominion_csv
from tallyproof.ingest import ingest
from tallyproof.store import Store
from tallyproof.tabulate import tabulate_store

from ..conftest import require_shared_data
from ..formats import vendor_fixtures as vf

pytestmark = pytest.mark.realdata

INVALID_CONTEST = 7  # RCTab's "partly read" outstack condition (left off the card)


@pytest.fixture(scope="module")
def sf() -> Path:
    return require_shared_data("dominion-sf-2020")


def _manifest(folder: Path, name: str) -> list[dict[str, Any]]:
    return orjson.loads((folder / f"{name}.json").read_bytes())["List"]


def _sessions_stated_in_readme(folder: Path) -> dict[str, int]:
    """``CvrExport_42.json``: 118 sessions — the counts the data's README gives."""
    text = (folder / "README.md").read_text(encoding="utf-8")
    return {
        m[1]: int(m[2]) for m in re.finditer(r"`(CvrExport_\d+\.json)`:\s+(\d+)\s+sessions", text)
    }


def _expected_rows(folder: Path) -> dict[str, dict[str, Any]]:
    """Ballot id → {contest id: marks} of every card, from the raw JSON (independent of the
    reader: plain dicts, one loop per level)."""
    codes: dict[int, dict[int, int]] = {}
    for cand in _manifest(folder, "CandidateManifest"):
        per = codes.setdefault(cand["ContestId"], {})
        per[cand["Id"]] = len(per)
    ranks = {c["Id"]: c["NumOfRanks"] for c in _manifest(folder, "ContestManifest")}
    rows: dict[str, dict[str, Any]] = {}
    for path in dominion.export_files(folder):
        for s in orjson.loads(path.read_bytes())["Sessions"]:
            version = s["Original"] if s["Original"]["IsCurrent"] else s["Modified"]
            key = f"{s['TabulatorId']}-{s['BatchId']}-{s['RecordId']}"
            cards = version["Cards"]
            for k, card in enumerate(cards, start=1):
                bid = key if len(cards) == 1 else f"{key}-{k}"
                votes: dict[str, Any] = {}
                for ct in card["Contests"]:
                    if INVALID_CONTEST in ct["OutstackConditionIds"]:
                        continue
                    positions: list[set[int]] = [set() for _ in range(max(ranks[ct["Id"]], 1))]
                    for m in ct["Marks"]:
                        if not m["IsAmbiguous"]:
                            rank = m["Rank"] if ranks[ct["Id"]] else 1
                            positions[rank - 1].add(codes[ct["Id"]][m["CandidateId"]])
                    votes[str(ct["Id"])] = [sorted(p) for p in positions]
                assert bid not in rows
                rows[bid] = {"file": path.name, "votes": votes}
    return rows


def test_every_session_card_and_mark(sf: Path) -> None:
    stated = _sessions_stated_in_readme(sf)
    assert set(stated) == {p.name for p in dominion.export_files(sf)}  # the README names each
    for name, n in stated.items():
        assert len(orjson.loads((sf / name).read_bytes())["Sessions"]) == n
    px = dominion.read(sf, {})
    table = pa.Table.from_batches(list(px.batches))
    expected = _expected_rows(sf)
    got = table.to_pylist()
    assert [r["ballot_id"] for r in got] == list(expected)  # every card, in file order
    sessions = {"-".join(r["ballot_id"].split("-")[:3]) for r in got}  # tabulator-batch-record
    assert len(sessions) == sum(stated.values())
    files = Counter(r["source_file"] for r in got)
    assert files == Counter(e["file"] for e in expected.values())
    marks_read = 0
    for row in got:
        want = expected[row["ballot_id"]]["votes"]
        for contest in px.election.contests:
            assert row[contest.column] == want.get(contest.id), (row["ballot_id"], contest.id)
            if contest.id in want:
                marks_read += sum(len(p) for p in want[contest.id])
    raw_votes = sum(
        not m["IsAmbiguous"]
        for p in dominion.export_files(sf)
        for s in orjson.loads(p.read_bytes())["Sessions"]
        for c in (s["Original"] if s["Original"]["IsCurrent"] else s["Modified"])["Cards"]
        for ct in c["Contests"]
        for m in ct["Marks"]
    )
    assert marks_read == raw_votes  # no mark lost or added (no repeated marks in this export)
    assert set(table.column("vote_type").to_pylist()) <= {"election_day", "mail"}


def test_names_come_from_the_manifests(sf: Path) -> None:
    election = dominion.read(sf, {}).election
    contests = _manifest(sf, "ContestManifest")
    assert [(c.id, c.name) for c in election.contests] == [
        (str(c["Id"]), c["Description"]) for c in contests
    ]
    by_contest: dict[str, list[tuple[str, str]]] = {}
    for cand in _manifest(sf, "CandidateManifest"):
        by_contest.setdefault(str(cand["ContestId"]), []).append(
            (str(cand["Id"]), cand["Description"])
        )
    for contest in election.contests:
        assert [(c.id, c.name) for c in contest.candidates] == by_contest[contest.id]
    prop_e = next(c for c in election.contests if c.name == "Proposition E")
    assert [c.name for c in prop_e.candidates] == ["Yes", "No"]
    assert election.name == _manifest(sf, "ElectionEventManifest")[0]["Description"]


@pytest.fixture(scope="module")
def sf_store(sf: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    target = tmp_path_factory.mktemp("sf") / "store"
    ingest([sf], target)
    return Store.open(target)


def test_store_election_json_carries_every_name(sf: Path, sf_store: Store) -> None:
    doc = orjson.loads(sf_store.election_path.read_bytes())
    names = {str(c["Id"]): c["Description"] for c in _manifest(sf, "CandidateManifest")}
    listed = [cand for contest in doc["contests"] for cand in contest["candidates"]]
    assert len(listed) == len(names)
    for cand in listed:
        assert cand["name"] == names[cand["id"]]
    measures = [c for c in doc["contests"] if c["name"].startswith("Proposition")]
    assert measures and all([x["name"] for x in c["candidates"]] == ["Yes", "No"] for c in measures)


def _independent_totals(
    expected: dict[str, dict[str, Any]], contest_id: str, vote_for: int
) -> Counter[int]:
    """Votes per candidate code of a vote-for-N contest: a card with more marks than allowed
    counts for no one."""
    totals: Counter[int] = Counter()
    for row in expected.values():
        marks = row["votes"].get(contest_id)
        if marks is not None and len(marks[0]) <= vote_for:
            totals.update(marks[0])
    return totals


def test_tabulated_totals_equal_an_independent_count(sf: Path, sf_store: Store) -> None:
    results = tabulate_store(sf_store)
    expected = _expected_rows(sf)
    assert results.cvr_count == len(expected)
    checked = 0
    for contest in sf_store.election.contests:
        outcome = results.contest(contest.id)
        ids = [c.id for c in contest.candidates]
        if contest.ranked:
            assert outcome.rcv is not None
            column = [row["votes"].get(contest.id) for row in expected.values()]
            first = vf.rctab_first_round(
                column, ids, {"overvoteRule": "exhaustImmediately", "maxSkippedRanksAllowed": "1"}
            )
            got = {k: int(v) for k, v in outcome.rcv.rounds[0].tally.items() if v}
            assert got == {k: v for k, v in first.items() if not k.startswith("(")}, contest.name
        else:
            assert outcome.tally is not None
            want = _independent_totals(expected, contest.id, contest.vote_for)
            assert outcome.tally.votes == {ids[k]: want.get(k, 0) for k in range(len(ids))}, (
                contest.name
            )
        checked += 1
    assert checked == len(sf_store.election.contests)


def test_results_shown_to_people_use_names(sf_store: Store) -> None:
    """The report's contest table names every choice: "Yes 21, No 8", not "93 21, 92 8"."""
    ctx = report_context(sf_store, collect(sf_store))
    ids = {c.id for contest in sf_store.election.contests for c in contest.candidates}
    shown = 0
    for view, contest in zip(ctx["contests"], sf_store.election.contests, strict=True):
        assert view["name"] == contest.name
        names = [r["name"] for r in view["rows"]]
        assert sorted(names) == sorted(c.name for c in contest.candidates) or not view["rows"]
        if contest.name.startswith("Proposition") and view["rows"]:
            assert sorted(names) == ["No", "Yes"]
            assert not set(names) & ids
            shown += 1
        for w in view["winners"]:
            assert w in {c.name for c in contest.candidates}
    assert shown > 0


def test_the_same_cards_as_csv_read_the_same(sf: Path, tmp_path: Path) -> None:
    """The export's cards written in Dominion's CSV layout (``CvrExport.csv``) beside its
    manifests: the CSV reader gives the JSON reader's table — real names with quotes and
    parentheses ("STEPHEN (LULU) SCHWARTZ(3)"), seven-rank contests, four-card sessions."""
    folder = tmp_path / "csv"
    folder.mkdir()
    for manifest in sf.glob("*Manifest.json"):
        shutil.copy(manifest, folder)
    csv_path = vf.dominion_csv_from_json(sf, folder / "CvrExport.csv")
    assert "STEPHEN (LULU) SCHWARTZ(3)" in csv_path.read_text(encoding="utf-8")
    px = dominion_csv.read(csv_path, {})
    assert px.election == dominion.read(sf, {}).election
    source = ["source_file", "source_record"]
    got = pa.Table.from_batches(list(px.batches)).drop(source)
    assert got.equals(pa.Table.from_batches(list(dominion.read(sf, {}).batches)).drop(source))
    assert any(bid.endswith("-4") for bid in got.column("ballot_id").to_pylist())

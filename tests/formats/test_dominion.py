"""Dominion reader: the rules on a hand-made export, then RCTab's Alaska samples."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from tallyproof.errors import InputError
from tallyproof.formats import dominion, dominion_pool, dominion_scan
from tallyproof.ingest import ingest, read_export
from tallyproof.model import ContestKind
from tallyproof.store import Store

from . import vendor_fixtures as vf


@pytest.fixture(autouse=True, params=["msgspec", "scanner"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: files decoded by msgspec, and read by the compiled scanner first
    (which the reader uses only for large exports), with the same rows and the same errors."""
    if request.param == "scanner":
        monkeypatch.setattr(dominion_scan, "MIN_EXPORT_BYTES", 0)
    else:
        monkeypatch.setenv(dominion_scan.ENV, "off")
    return str(request.param)


def rows(path: Path, options: dict | None = None) -> list[dict]:
    px = dominion.read(path, options or {})
    return pa.Table.from_batches(list(px.batches)).to_pylist()


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return vf.small_dominion(tmp_path / "export")


def test_election_from_manifests(small: Path) -> None:
    px = dominion.read(small, {})
    e = px.election
    assert (e.name, e.jurisdiction, e.date) == ("Test Election", "Test County", "2024-11-05")
    mayor, measure, council = e.contests
    assert (mayor.kind, mayor.max_rankings, mayor.seats) == (ContestKind.IRV, 3, 1)
    assert [c.name for c in mayor.candidates] == ["Alice Adams", "Bob Brown", "Cy Chu", "Write-in"]
    assert [c.write_in for c in mayor.candidates] == [False, False, False, True]
    assert (measure.kind, measure.vote_for) == (ContestKind.PLURALITY, 1)
    assert (council.kind, council.vote_for, council.max_rankings) == (ContestKind.PLURALITY, 2, None)
    names = [p.name for p in px.source_files]
    assert names[:2] == ["CvrExport_3.json", "CvrExport_17.json"]  # numeric order, numbers skip
    assert "ContestManifest.json" in names and "CandidateManifest.json" in names


def test_rows_follow_every_rule(small: Path) -> None:
    got = {r["ballot_id"]: r for r in rows(small)}
    assert list(got) == ["10-1-1", "10-1-2", "10-1-3", "10-1-4-1", "10-1-4-2", "11-2-1", "11-2-2"]
    assert got["10-1-1"]["contest:1"] == [[0], [1], []]
    assert got["10-1-1"]["contest:2"] == [[0]]
    assert got["10-1-1"]["contest:3"] is None
    # overvote kept at its rank; the ambiguous mark is not a vote
    assert got["10-1-2"]["contest:1"] == [[0, 1], [], []]
    # the adjudicated (Modified) version is the one read, with its session's group and precinct
    r3 = got["10-1-3"]
    assert r3["contest:1"] == [[2], [], []]
    assert (r3["vote_type"], r3["precinct"], r3["source_record"]) == ("mail", "P-2", "Sessions[2].Modified.Cards[0]")
    # two cards: two rows, each with only its own contests
    assert got["10-1-4-1"]["contest:1"] == [[], [1], []] and got["10-1-4-1"]["contest:3"] is None
    assert got["10-1-4-2"]["contest:3"] == [[0, 2]] and got["10-1-4-2"]["contest:1"] is None
    assert got["10-1-4-2"]["source_record"] == "Sessions[3].Original.Cards[1]"
    # the partial (InvalidContest) mayor contest is left off; the rest of the card is kept
    assert got["11-2-1"]["contest:1"] is None and got["11-2-1"]["contest:2"] == [[1]]
    assert got["11-2-2"]["contest:1"] == [[], [], [3]]
    r = got["11-2-2"]
    assert (r["tabulator"], r["batch"], r["record"], r["source_file"]) == ("11", "2", 2, "CvrExport_17.json")
    assert (r["precinct"], r["ballot_style"], r["vote_type"]) == ("P-1", "Style 1", "election_day")


def test_options_filter_contest_and_counting_group(small: Path) -> None:
    px = dominion.read(small, {"contestId": "1", "countingGroupId": "2"})
    assert [c.id for c in px.election.contests] == ["1"]
    t = pa.Table.from_batches(list(px.batches))
    assert t.column("ballot_id").to_pylist() == ["10-1-3"]
    assert t.column_names[-1] == "contest:1"
    with pytest.raises(InputError, match="contestId"):
        dominion.read(small, {"contestId": "99"})
    with pytest.raises(InputError, match="countingGroupId"):
        list(dominion.read(small, {"countingGroupId": "x"}).batches)


def test_small_chunks_give_the_same_rows(small: Path) -> None:
    px = dominion.read(small, {})
    exports = dominion.export_files(small)
    man = dominion._read_manifests(small, {})
    chunked = list(dominion._batches(exports, man, {}, chunk_rows=2))
    assert len(chunked) >= 3
    assert pa.Table.from_batches(chunked).to_pylist() == pa.Table.from_batches(list(px.batches)).to_pylist()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Election Day", "election_day"), ("Vote by Mail", "mail"), ("Absentee", "mail"),
     ("Early Voting", "early"), ("Question", "provisional"), ("Provisional", "provisional"),
     ("Remote", "unknown")],
)  # fmt: skip
def test_vote_type_mapping(text: str, expected: str) -> None:
    assert dominion.vote_type_of(text).value == expected


def _session_files(folder: Path, sessions: list[dict]) -> Path:
    return vf.write_dominion_export(folder, {"CvrExport.json": sessions})


@pytest.mark.parametrize(
    ("sessions", "record", "field"),
    [
        ([vf.dominion_session(1, 1, 1, [[vf._contest(1, [vf._mark(77, 1)])]])],
         "Sessions[0].Original.Cards[0].Contests[0].Marks[0]", "CandidateId"),
        ([vf.dominion_session(1, 1, 1, [[vf._contest(1, [vf._mark(1, 4)])]])],
         "Sessions[0].Original.Cards[0].Contests[0].Marks[0]", "Rank"),
        ([vf.dominion_session(1, 1, 1, [[vf._contest(1, [])]])] * 2, "Sessions[1]", "RecordId"),
        ([vf.dominion_session(1, 1, 1, [[vf._contest(42, [])]])],
         "Sessions[0].Original.Cards[0].Contests[0]", "Id"),
        ([vf.dominion_session(1, 1, 1, [[vf._contest(1, []), vf._contest(1, [])]])],
         "Sessions[0].Original.Cards[0]", "Id"),
        ([vf.dominion_session(1, 1, 1, [[vf._contest(1, [])]], portion=9)], "Sessions[0]", "PrecinctPortionId"),
        ([vf.dominion_session(1, 1, 1, [])], "Sessions[0]", "Cards"),
    ],
)  # fmt: skip
def test_impossible_values_name_record_and_field(tmp_path: Path, sessions: list, record: str, field: str) -> None:
    folder = _session_files(tmp_path / "x", sessions)
    with pytest.raises(InputError) as info:
        list(dominion.read(folder, {}).batches)
    assert info.value.record == record
    assert info.value.field == field
    assert info.value.file is not None and info.value.file.endswith("CvrExport.json")


def test_many_contests_are_handled_contest_by_contest(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PRESENCE_MASK_BYTES (an export with thousands of contests) the contests on each
    card are found contest by contest instead of in one mask: same rows, same errors."""
    from tallyproof.formats import dominion_rows

    masked = rows(small)
    monkeypatch.setattr(dominion_rows, "PRESENCE_MASK_BYTES", 0)
    assert rows(small) == masked
    twice = [vf.dominion_session(1, 1, 1, [[vf._contest(1, []), vf._contest(1, [])]])]
    with pytest.raises(InputError, match="appears twice on the card") as info:
        rows(_session_files(tmp_path / "x", twice))
    assert (info.value.record, info.value.field) == ("Sessions[0].Original.Cards[0]", "Id")


def test_not_current_without_modified(tmp_path: Path) -> None:
    s = vf.dominion_session(1, 1, 1, [[vf._contest(1, [])]])
    s["Original"]["IsCurrent"] = False
    with pytest.raises(InputError, match="no Modified") as info:
        list(dominion.read(_session_files(tmp_path / "x", [s]), {}).batches)
    assert info.value.field == "Modified"


def test_wrong_type_is_located(tmp_path: Path) -> None:
    s = vf.dominion_session(1, 1, 1, [[vf._contest(1, [vf._mark(1, 1)])]])
    s["Original"]["Cards"][0]["Contests"][0]["Marks"][0]["Rank"] = "1"
    with pytest.raises(InputError) as info:
        list(dominion.read(_session_files(tmp_path / "x", [s]), {}).batches)
    assert info.value.record == "Sessions[0].Original.Cards[0].Contests[0].Marks[0]"
    assert info.value.field == "Rank"


def test_missing_manifest_and_empty_folder(tmp_path: Path, small: Path) -> None:
    (small / "CandidateManifest.json").unlink()
    with pytest.raises(InputError, match="CandidateManifest"):
        dominion.read(small, {})
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no CvrExport"):
        dominion.read(tmp_path / "empty", {})


def test_bad_manifest_field(small: Path) -> None:
    doc = orjson.loads((small / "ContestManifest.json").read_bytes())
    doc["List"][1]["VoteFor"] = "one"
    (small / "ContestManifest.json").write_bytes(orjson.dumps(doc))
    with pytest.raises(InputError) as info:
        dominion.read(small, {})
    assert (info.value.record, info.value.field) == ("List[1]", "VoteFor")


def test_sniff(small: Path, tmp_path: Path) -> None:
    assert dominion.sniff(small)
    assert dominion.sniff(small / "CvrExport_3.json")
    assert not dominion.sniff(small / "ContestManifest.json")
    assert not dominion.sniff(tmp_path)
    assert read_export(small).format == "dominion"


def test_ingest_into_store(small: Path, tmp_path: Path) -> None:
    res = ingest([small], tmp_path / "store")
    assert (res.format, res.cards_added) == ("dominion", 7)
    store = Store.open(tmp_path / "store")
    assert store.cvr_count() == 7
    assert {s.name for s in store.election.sources} >= {"CvrExport_3.json", "CvrExport_17.json"}


# ------------------------------------------------------------------ real samples (RCTab data)


@pytest.mark.realdata
def test_alaska_2020_sample(rctab_data: Path) -> None:
    case = vf.rctab_case(rctab_data, "dominion_alaska")
    px = read_export(case.path, case.fmt, case.source)
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == 1000
    assert t.column("ballot_id").to_pylist()[0] == "42-1-1"
    (contest,) = px.election.contests
    assert (contest.kind, contest.max_rankings) == (ContestKind.IRV, 5)
    ids = [c.id for c in contest.candidates]
    assert ids == ["1", "3", "4", "5", "7", "8", "9", "11", "12"]
    uwi = contest.candidates[ids.index("12")]  # the undeclaredWriteInLabel
    assert (uwi.name, uwi.write_in) == ("Undeclared Write-ins", True)
    # RCTab publishes no expected report for this case: pin the first round as a regression
    names = [c.name for c in contest.candidates]
    tally = vf.rctab_first_round(t.column(contest.column).to_pylist(), names, case.config["rules"])
    assert tally["Tulsi Gabbard"] == 116 and tally["Bernie Sanders"] == 111
    assert sum(tally.values()) == 1000


@pytest.mark.realdata
def test_alaska_2024_partial_ballots_match_rctab(rctab_data: Path) -> None:
    case = vf.rctab_case(rctab_data, "2024_alaska_dominion")
    px = read_export(case.path, case.fmt, case.source)
    assert [p.name for p in px.source_files if p.name.startswith("CvrExport")] == [
        f"CvrExport_{n}.json" for n in range(1730, 1740)
    ]
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == 197
    files = t.column("source_file").to_pylist()
    per_file = {name: files.count(name) for name in set(files)}
    assert len(per_file) == 10
    assert per_file["CvrExport_1730.json"] == 88 and per_file["CvrExport_1733.json"] == 1
    (contest,) = px.election.contests
    assert [c.name for c in contest.candidates] == [
        "Begich, Nick", "Hafner, Eric", "Howe, John Wayne", "Peltola, Mary S.", "Undeclared Write-ins"]  # fmt: skip
    marks = t.column(contest.column).to_pylist()
    expected = case.expected_report(rctab_data / "2024_alaska_dominion")
    assert expected is not None
    assert sum(m is not None for m in marks) == int(expected["summary"]["totalNumBallots"])
    tally = vf.rctab_first_round(marks, [c.name for c in contest.candidates], case.config["rules"])
    assert tally.pop("(undervote)") == expected["summary"]["undervotes"]
    want = {k: int(v) for k, v in expected["results"][0]["tally"].items() if int(v)}
    assert tally == want


@pytest.mark.realdata
def test_alaska_2024_all_contests(rctab_data: Path) -> None:
    px = dominion.read(rctab_data / "2024_alaska_dominion" / "partial_cvr", {})
    assert len(px.election.contests) == 73  # every contest in ContestManifest.json
    t = pa.Table.from_batches(list(px.batches))
    assert t.num_rows == 197
    assert set(t.column("vote_type").to_pylist()) <= {"election_day", "mail", "early", "provisional", "unknown"}


def test_reads_the_demo_generators_export(tmp_path: Path) -> None:
    """The demo's Dominion writer and this reader agree card for card, mark for mark."""
    county_mod = pytest.importorskip("tallyproof.demo.county")
    writer = pytest.importorskip("tallyproof.demo.dominion_writer")
    county = county_mod.build_county(300, seed=7)
    export = writer.write_dominion(county, county.paper, tmp_path / "export")
    px = dominion.read(export.folder, {})
    t = pa.Table.from_batches(list(px.batches))
    paper = county.paper
    assert t.column("ballot_id").to_pylist() == paper.ballot_ids().tolist()
    assert t.column("vote_type").to_pylist() == paper.vote_types().tolist()
    for c, demo_contest in enumerate(county.contests):
        contest = px.election.contest(str(demo_contest.id))
        code = {cand.id: k for k, cand in enumerate(contest.candidates)}
        ids = [code[str(cand.id)] for cand in demo_contest.candidates]
        got = t.column(contest.column).to_pylist()
        for i in range(len(paper)):
            if not paper.on_card[i, c]:
                assert got[i] is None
                continue
            want = [sorted(ids[j] for j in range(len(ids)) if paper.marks[c][i, r, j])
                    for r in range(paper.marks[c].shape[1])]  # fmt: skip
            assert got[i] == want, (i, contest.id)


# ------------------------------------------------------------------ decoding in worker processes


@pytest.fixture
def several_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = vf.big_dominion(tmp_path / "big", 1_200, per_file=200)  # six files
    largest = max(p.stat().st_size for p in dominion.export_files(folder))
    monkeypatch.setattr(dominion_pool, "GROUP_BYTES", largest + 1)  # units of work: two files each
    return folder


def _read_all(folder: Path, workers: int, chunk_rows: int = 256) -> list[pa.RecordBatch]:
    man = dominion._read_manifests(folder, {})
    return list(dominion._batches(dominion.export_files(folder), man, {}, chunk_rows, workers))


def test_workers_give_the_same_batches_as_one_process(
    several_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parallel = _read_all(several_files, workers=2)  # three units of work on two workers
    monkeypatch.setattr(dominion_pool, "GROUP_BYTES", 1 << 30)
    serial = _read_all(several_files, workers=1)  # all six files in one unit
    assert [b.num_rows for b in serial] == [256] * 4 + [176]  # re-cut across file boundaries
    assert [b.num_rows for b in parallel] == [b.num_rows for b in serial]
    assert all(p.equals(s) for p, s in zip(parallel, serial, strict=True))
    ids = pa.Table.from_batches(parallel).column("ballot_id").to_pylist()
    assert len(set(ids)) == 1_200 and ids[0] == "100-0-1" and ids[-1] == "105-5-1200"


def _rewrite(path: Path, change: Any) -> None:
    doc = orjson.loads(path.read_bytes())
    change(doc["Sessions"])
    path.write_bytes(orjson.dumps(doc))


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_errors_name_file_record_and_field(several_files: Path, workers: int) -> None:
    files = dominion.export_files(several_files)

    def bad_candidate(sessions: list[dict]) -> None:
        sessions[7]["Original"]["Cards"][0]["Contests"][2]["Marks"][1]["CandidateId"] = 99

    _rewrite(files[3], bad_candidate)
    with pytest.raises(InputError) as info:
        _read_all(several_files, workers)
    err = info.value
    assert (Path(err.file or "").name, err.record, err.field) == (
        files[3].name, "Sessions[7].Original.Cards[0].Contests[2].Marks[1]", "CandidateId")  # fmt: skip
    assert "candidate 99 is not in contest 3" in str(err)


@pytest.mark.parametrize("workers", [1, 2])
def test_session_repeated_in_a_later_file(several_files: Path, workers: int) -> None:
    files = dominion.export_files(several_files)
    first = orjson.loads(files[1].read_bytes())["Sessions"][5]
    _rewrite(files[4], lambda sessions: sessions.insert(3, first))
    with pytest.raises(InputError, match="appears twice") as info:
        _read_all(several_files, workers)
    err = info.value
    where = (Path(err.file or "").name, err.record, err.field)
    assert where == (files[4].name, "Sessions[3]", "RecordId")


def test_worker_processes_end_with_the_read(several_files: Path) -> None:
    psutil = pytest.importorskip("psutil")
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    px = dominion.read(several_files, {}, workers=2)
    assert {p.pid for p in me.children()} - before  # decoding started before the first batch
    batches = px.batches
    next(batches)
    batches.close()  # abandoned after one batch: the pool is shut down
    assert not {p.pid for p in me.children() if p.is_running()} - before
    px = dominion.read(several_files, {}, workers=2)
    del px, batches  # never iterated: shut down when dropped
    gc.collect()
    assert not {p.pid for p in me.children() if p.is_running()} - before


def test_bad_ballot_manifest_stops_ingest_before_the_store(
    several_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest opens the export first (its workers start decoding while the ballot manifest is
    read); a bad manifest still stops it before the store is created, and the workers end."""
    psutil = pytest.importorskip("psutil")
    monkeypatch.setattr(dominion_pool, "PARALLEL_MIN_BYTES", 1)
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("Tabulator,Batch Name,Number of Ballots\nT,B1,many\n")
    with pytest.raises(InputError) as info:
        ingest([several_files], tmp_path / "store", manifest=manifest)
    assert Path(info.value.file or "").name == "manifest.csv"
    assert not (tmp_path / "store").exists()
    assert {p.pid for p in me.children()} - before  # the workers had started
    del info  # its traceback holds the export being read: dropped, its workers end
    gc.collect()
    assert not {p.pid for p in me.children() if p.is_running()} - before


def test_default_workers(small: Path, several_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dominion.default_workers(dominion.export_files(small)) == 1  # tiny export
    exports = dominion.export_files(several_files)
    assert dominion.default_workers(exports[:1]) == 1
    monkeypatch.setattr(dominion_pool, "PARALLEL_MIN_BYTES", 1)
    cores = len(os.sched_getaffinity(0))
    assert dominion.default_workers(exports) == min(dominion_pool.MAX_WORKERS, cores)
    with pytest.raises(ValueError, match="at least 1"):
        _read_all(several_files, workers=0)


def test_pool_reads_ahead_the_files_it_hands_out(
    several_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file handed to a worker is first named to the kernel for read-ahead (a hint: a
    file that cannot be opened is left to the worker, which reports it by name)."""
    files = dominion.export_files(several_files)
    if hasattr(os, "posix_fadvise"):
        advised: list[int] = []
        with monkeypatch.context() as m:
            m.setattr(os, "posix_fadvise", lambda fd, *_: advised.append(fd))
            dominion_pool.read_ahead([files[0], tmp_path / "missing.json", files[1]])
        assert len(advised) == 2
    handed: list[Path] = []
    monkeypatch.setattr(dominion_pool, "read_ahead", handed.extend)
    _read_all(several_files, workers=2)
    assert handed == files


def test_pool_groups_files_by_size(several_files: Path) -> None:
    files = dominion.export_files(several_files)
    groups = dominion_pool.file_groups(files)  # GROUP_BYTES set so that two files fill one
    assert [paths for paths, _ in groups] == [files[0:2], files[2:4], files[4:6]]
    assert [size for _, size in groups] == [
        sum(p.stat().st_size for p in paths) for paths, _ in groups
    ]
    assert dominion.default_workers is dominion_pool.default_workers  # re-exported


# ------------------------------------------------------------------ columnar rules, digests


def test_filtered_and_invalid_contests_and_ambiguous_marks_are_not_checked(tmp_path: Path) -> None:
    """Marks that never become votes are not validated: an ambiguous mark, the marks of a
    contest left off by the contestId option or by the InvalidContest condition."""
    cards = [[vf._contest(1, [vf._mark(1, 1), vf._mark(99, 9, ambiguous=True)]),
              vf._contest(2, [vf._mark(99, 1)], conds=[dominion.INVALID_CONTEST_CONDITION])]]  # fmt: skip
    folder = _session_files(tmp_path / "x", [vf.dominion_session(1, 1, 1, cards)])
    (row,) = rows(folder)
    assert row["contest:1"] == [[0], [], []] and row["contest:2"] is None
    bad = [[vf._contest(1, [vf._mark(1, 1)]), vf._contest(2, [vf._mark(99, 1)])]]
    folder = _session_files(tmp_path / "y", [vf.dominion_session(1, 1, 1, bad)])
    (row,) = rows(folder, {"contestId": "1"})  # contest 2 is not read at all
    assert list(k for k in row if k.startswith("contest:")) == ["contest:1"]
    with pytest.raises(InputError, match="candidate 99 is not in contest 2") as info:
        rows(folder)
    assert info.value.record == "Sessions[0].Original.Cards[0].Contests[1].Marks[0]"


def test_partly_read_contests_in_a_later_file(tmp_path: Path) -> None:
    """Files are first decoded by a stricter decoder that refuses the InvalidContest condition
    (so that contests need not be searched for it); a file it refuses is decoded again, and
    later files of the export are decoded that way first. The rows are the same either way:
    the partly read contest is left off, a contest with another condition (or one beyond the
    stricter decoder's ids) is kept, in every file."""
    from tallyproof.formats import dominion_rows

    invalid = dominion.INVALID_CONTEST_CONDITION

    def session(rec: int, conds: list[int]) -> dict:
        return vf.dominion_session(1, 1, rec, [[vf._contest(1, [vf._mark(1, 1)]),
                                                vf._contest(2, [vf._mark(4, 1)], conds=conds)]])  # fmt: skip

    files = {"CvrExport_1.json": [session(1, [4])], "CvrExport_2.json": [session(2, [4, invalid])],
             "CvrExport_3.json": [session(3, [])], "CvrExport_4.json": [session(4, [300])]}  # fmt: skip
    folder = vf.write_dominion_export(tmp_path / "x", files)
    got = [(r["ballot_id"], r["contest:2"]) for r in rows(folder)]
    assert got == [("1-1-1", [[0]]), ("1-1-2", None), ("1-1-3", [[0]]), ("1-1-4", [[0]])]
    man = dominion._read_manifests(folder, {})
    job = dominion_rows.make_job(man, None, 16)
    exports = dominion.export_files(folder)
    dominion_rows.rows_of_files(exports[:1], job)
    assert job.plan.whole_first  # the first file has no partly read contest
    dominion_rows.rows_of_files(exports[1:2], job)
    assert not job.plan.whole_first  # the second has one: the full decoder goes first now
    big = vf.write_dominion_export(tmp_path / "y", {"CvrExport_1.json": [session(1, [300])]})
    job = dominion_rows.make_job(dominion._read_manifests(big, {}), None, 16)
    (batch,) = dominion_rows.rows_of_files(dominion.export_files(big), job).batches
    assert batch.column("contest:2").to_pylist() == [[[0]]]  # refused by the stricter one only
    assert not job.plan.whole_first


def test_manifest_naming_another_invalid_condition(tmp_path: Path) -> None:
    """When OutstackConditionManifest.json gives InvalidContest another id, that id leaves a
    contest off and 7 is an ordinary condition (every file is decoded by the full decoder)."""
    from tallyproof.formats import dominion_rows

    cards = [[vf._contest(1, [vf._mark(1, 1)], conds=[9]), vf._contest(2, [vf._mark(4, 1)], conds=[7])]]
    folder = _session_files(tmp_path / "x", [vf.dominion_session(1, 1, 1, cards)])
    conditions = [{"Description": "Ambiguous", "Id": 0}, {"Description": "InvalidContest", "Id": 9}]
    (folder / "OutstackConditionManifest.json").write_bytes(orjson.dumps({"List": conditions}))
    (row,) = rows(folder)
    assert row["contest:1"] is None and row["contest:2"] == [[0]]
    man = dominion._read_manifests(folder, {})
    assert not dominion_rows.make_job(man, None, 16).plan.whole_first


def test_first_bad_mark_in_document_order_is_named(tmp_path: Path) -> None:
    """Several bad marks: the first in the file is reported, whatever its kind."""
    good = vf.dominion_session(1, 1, 1, [[vf._contest(1, [vf._mark(1, 1)])]])
    bad_rank = vf.dominion_session(1, 1, 2, [[vf._contest(1, [vf._mark(1, 1), vf._mark(2, 7)])]])
    bad_cand = vf.dominion_session(1, 1, 3, [[vf._contest(1, [vf._mark(77, 1)])]])
    folder = _session_files(tmp_path / "x", [good, bad_rank, bad_cand])
    with pytest.raises(InputError, match="rank 7 outside 1..3") as info:
        rows(folder)
    assert (info.value.record, info.value.field) == (
        "Sessions[1].Original.Cards[0].Contests[0].Marks[1]", "Rank")  # fmt: skip


@pytest.mark.parametrize("field", ["TabulatorId", "BatchId", "RecordId"])
def test_session_id_beyond_64_bits_is_named(tmp_path: Path, field: str) -> None:
    sessions = [vf.dominion_session(1, 1, k, [[vf._contest(1, [])]]) for k in (1, 2)]
    sessions[1][field] = 987654321
    folder = _session_files(tmp_path / "x", sessions)
    export = folder / "CvrExport.json"
    export.write_bytes(export.read_bytes().replace(b"987654321", str(1 << 64).encode()))
    with pytest.raises(InputError) as info:
        rows(folder)
    assert (info.value.record, info.value.field) == ("Sessions[1]", field)


@pytest.mark.parametrize("workers", [1, 2])
def test_store_records_the_digest_of_the_bytes_decoded(
    several_files: Path, tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers hash each export file as they decode it; ingest records those digests (and
    hashes the manifests itself), so each equals the file's SHA-256, and ingesting the same
    export again is refused as the same files."""
    import hashlib

    monkeypatch.setattr(dominion, "default_workers", lambda exports, size=None: workers)
    store = tmp_path / "store"
    res = ingest([several_files], store)
    assert {s.name for s in res.sources} == {p.name for p in several_files.iterdir()}
    for s in res.sources:
        assert s.sha256 == hashlib.sha256((several_files / s.name).read_bytes()).hexdigest()
    before = (store / "cvrs.parquet").read_bytes()
    with pytest.raises(InputError, match="already ingested"):
        ingest([several_files], store)
    assert (store / "cvrs.parquet").read_bytes() == before

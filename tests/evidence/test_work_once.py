"""Report, bundle and verify do each piece of work once, and the outputs stay the same bytes:
the CVR table is decoded once per command, the report and the bundle rely on the recorded
log verification (log/verified.json) while its files are unchanged, the bundle hashes each
file as it copies it, and ``verify`` never relies on a record."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tallyproof.errors import UsageError

from tallyproof.demo.faults import alter_committed_cvr
from tallyproof.evidence.bundle import build_bundle, iter_files
from tallyproof.evidence import collect as collect_mod
from tallyproof.evidence import report as report_mod
from tallyproof.evidence import shared
from tallyproof.evidence.collect import collect
from tallyproof.evidence.report import build_report
from tallyproof.ledger.verified import record_path, record_verification, verified_report
from tallyproof.store import Store, sha256_file
from tallyproof.verify import verify_bundle, verify_store_dir

from .conftest import pipeline_store

#: whole report, bundle and verify runs
pytestmark = pytest.mark.slow

vs = importlib.import_module("tallyproof.ledger.verify_store")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("once")
    pipeline_store(tmp / "store", tmp)
    return tmp


@pytest.fixture
def store(made: Path, tmp_path: Path) -> Store:
    return Store.open(shutil.copytree(made / "store", tmp_path / "store"))


@pytest.fixture
def full_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the full log verifications run (the real one still runs)."""
    calls: list[int] = []
    real = vs._verify_store

    def spy(store: Store, public_keys: object) -> object:
        calls.append(1)
        return real(store, public_keys)

    monkeypatch.setattr(vs, "_verify_store", spy)
    return calls


def _files(folder: Path) -> dict[str, bytes]:
    return {rel: (folder / rel).read_bytes() for rel in iter_files(folder)}


def test_collect_decodes_the_cvr_table_once(store: Store, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    reads: list[str] = []
    real = pq.read_table

    def spy(source: object, *args: object, **kwargs: object) -> object:
        if Path(str(source)) == store.cvrs_path:
            reads.append(str(kwargs.get("columns")))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", spy)
    collect(store)
    assert reads == ["None"]  # one read of the whole table, every check served from it
    reads.clear()
    store.cvrs(columns=["ballot_id"])  # outside the block: read as asked, every time
    assert reads == ["['ballot_id']"]


def test_a_rewritten_table_is_read_again_inside_the_block(store: Store) -> None:
    with store.reading_cvrs_once():
        first = store.cvrs()
        table = first.slice(0, 10)
        tmp = store.cvrs_path.with_name("other.parquet")
        pq.write_table(table, tmp)
        tmp.replace(store.cvrs_path)
        assert store.cvrs().num_rows == 10
    assert store.cvrs().num_rows == 10 and first.num_rows > 10


def test_report_and_bundle_rely_on_the_record_and_give_the_same_bytes(
        store: Store, tmp_path: Path, full_checks: list[int]) -> None:
    record_path(store).unlink()  # the audit's start recorded one
    build_report(store, tmp_path / "r-full")
    build_bundle(store, tmp_path / "b-full")
    assert len(full_checks) == 2  # no record yet: each command verified the log in full
    assert vs.verify_store(store, record=True).ok
    full_checks.clear()
    build_report(store, tmp_path / "r-rec")
    build_bundle(store, tmp_path / "b-rec")
    assert full_checks == []  # the record stood for the store and for the bundled copy
    assert _files(tmp_path / "r-rec") == _files(tmp_path / "r-full")
    bundled = _files(tmp_path / "b-rec")
    assert bundled == _files(tmp_path / "b-full")
    assert (tmp_path / "b-rec.zip").read_bytes() == (tmp_path / "b-full.zip").read_bytes()
    # SHA256SUMS, written from the hashes taken while copying, is what the files hash to
    sums = dict(reversed(line.split("  ", 1)) for line in
                bundled["SHA256SUMS"].decode().splitlines())
    assert sums == {rel: sha256_file(tmp_path / "b-rec" / rel) for rel in bundled
                    if rel != "SHA256SUMS"}
    assert verify_bundle(tmp_path / "b-rec").ok


@pytest.fixture
def collects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stores ``collect`` ran on, for the report and the bundle (the real one still
    runs)."""
    calls: list[str] = []
    real = collect_mod.collect

    def spy(store: Store, verified: object = None) -> object:
        calls.append(str(store.root))
        return real(store, verified)  # type: ignore[arg-type]

    monkeypatch.setattr(collect_mod, "collect", spy)
    monkeypatch.setattr(report_mod, "collect", spy)
    return calls


def test_a_bundle_in_the_same_command_takes_over_the_report(
        store: Store, tmp_path: Path, collects: list[str]) -> None:
    build_report(store, tmp_path / "r-alone")
    build_bundle(store, tmp_path / "b-alone")
    assert len(collects) == 2  # outside one_report each builds its own
    collects.clear()
    with shared.one_report():
        build_report(store, tmp_path / "r-once")
        build_bundle(store, tmp_path / "b-once")
    assert collects == [str(store.root)]  # the bundle ran no check of its own
    assert _files(tmp_path / "r-once") == _files(tmp_path / "r-alone")
    assert _files(tmp_path / "b-once") == _files(tmp_path / "b-alone")
    assert (tmp_path / "b-once.zip").read_bytes() == (tmp_path / "b-alone.zip").read_bytes()
    assert shared.recall({}, 0) is None  # dropped when the block ended
    assert verify_bundle(tmp_path / "b-once").ok


def test_a_store_changed_after_the_report_gets_its_own_bundle_report(
        store: Store, tmp_path: Path, collects: list[str]) -> None:
    with shared.one_report():
        build_report(store, tmp_path / "r")
        alter_committed_cvr(store.cvrs_path, store.election.contests[0].column)
        with pytest.raises(UsageError, match="does not cover or match"):
            build_bundle(store, tmp_path / "b")
    assert len(collects) == 2  # the copied table's digest differed: checked again, and refused


def test_a_record_of_other_files_is_not_relied_on(store: Store, tmp_path: Path,
                                                  full_checks: list[int]) -> None:
    assert vs.verify_store(store, record=True).ok
    full_checks.clear()
    build_report(store, tmp_path / "r0")
    assert full_checks == []
    alter_committed_cvr(store.cvrs_path, store.election.contests[0].column)
    full_checks.clear()
    assert collect(store, verified_report(store)).checks[0].status == "fail"
    assert full_checks == [1]  # the record no longer matched: verified in full, and failed


def test_verify_never_relies_on_a_record(store: Store, tmp_path: Path) -> None:
    """A forged record claiming the altered store verified fools neither ``verify --store``
    nor the verification of a bundle (which leaves the record out)."""
    ok = vs.verify_store(store)
    column = store.election.contests[0].column
    alter_committed_cvr(store.cvrs_path, column)
    record_verification(store, ok)  # the files as they are now, claimed verified
    assert record_path(store).is_file()
    rep = verify_store_dir(store.root)
    assert not rep.ok and "ledger" in {c.name for c in rep.checks if c.status == "fail"}
    paths = build_bundle(store, tmp_path / "b")  # the bundle relies on the (forged) record
    assert not (paths.folder / "store" / "log" / "verified.json").exists()
    got = verify_bundle(paths.folder)
    assert not got.ok and "ledger" in {c.name for c in got.checks if c.status == "fail"}


def test_a_zip_deflated_ahead_is_the_same_bytes(tmp_path: Path) -> None:
    import os

    from tallyproof.errors import UsageError
    from tallyproof.evidence.bundle import DEFLATE_AHEAD_BYTES, deflate_ahead, write_zip

    folder = tmp_path / "f"
    (folder / "store").mkdir(parents=True)
    big = os.urandom(DEFLATE_AHEAD_BYTES) + b"tallyproof " * 300_000  # random, then repetitive
    (folder / "store" / "big.bin").write_bytes(big)
    (folder / "a.txt").write_text("small\n", encoding="utf-8")
    ahead = deflate_ahead(folder, ["store/big.bin", "a.txt"])
    assert list(ahead) == ["store/big.bin"]  # small files are deflated on the spot
    write_zip(folder, tmp_path / "plain.zip", 0)
    write_zip(folder, tmp_path / "ahead.zip", 0, ahead)
    assert (tmp_path / "ahead.zip").read_bytes() == (tmp_path / "plain.zip").read_bytes()
    (folder / "store" / "big.bin").write_bytes(big + b"!")
    with pytest.raises(UsageError, match="changed"):
        write_zip(folder, tmp_path / "stale.zip", 0, ahead)
    assert not (tmp_path / "stale.zip").exists()
    for spooled in ahead.values():
        spooled.close()


def test_verify_with_the_audit_recheck_in_a_child_gives_the_same_report(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import orjson

    from tallyproof.ledger import parallel

    paths = build_bundle(store, tmp_path / "b")
    alone = verify_bundle(paths.folder).to_json()
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ITEMS", 1)
    assert parallel.processes_for(store.cvr_count()) == parallel.PROCESSES
    forked = verify_bundle(paths.folder).to_json()
    assert alone["ok"] and orjson.dumps(forked) == orjson.dumps(alone)


def test_the_process_that_takes_the_plots_drawn_by_its_child_never_imports_matplotlib(
        store: Store, tmp_path: Path) -> None:
    """Drawing is the forked child's (matplotlib is imported there, after the fork): the parent
    rebuilds the report from the plots the child drew, so a one-shot command never pays for
    the import; a process that verifies again imports it before the fork, for every later
    child."""
    import subprocess
    import sys

    from tallyproof.ledger import parallel

    if parallel.PROCESSES == 1:
        pytest.skip("this machine cannot fork a second process (one CPU, or Python 3.12+)")
    paths = build_bundle(store, tmp_path / "b")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "import tallyproof.evidence.report\n"
        "assert 'matplotlib' not in sys.modules, 'imported with the report'\n"
        "from tallyproof.ledger import parallel\n"
        "from tallyproof.verify import verify_bundle\n"
        "parallel.MIN_PARALLEL_ITEMS = 1\n"
        "rep = verify_bundle(Path(sys.argv[1]))\n"
        "assert rep.ok, rep.to_json()\n"
        "assert 'report' in {c.name for c in rep.checks if c.status == 'pass'}\n"
        "assert 'matplotlib' not in sys.modules, 'imported by the verifying parent'\n"
        "assert verify_bundle(Path(sys.argv[1])).ok\n"
        "assert 'matplotlib.figure' in sys.modules, 'not kept by a process that verifies again'\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(paths.folder)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_streams_deflated_while_the_report_is_made_give_the_same_zip(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tallyproof.evidence import bundle as bundle_mod

    build_report(store, tmp_path / "r-alone")
    build_bundle(store, tmp_path / "b-alone")
    monkeypatch.setattr(bundle_mod, "DEFLATE_AHEAD_BYTES", 1)  # every file deflated early
    asked: list[list[str]] = []
    real = bundle_mod.deflate_ahead

    def spy(folder: Path, rels: list[str]) -> object:
        asked.append(list(rels))
        return real(folder, rels)

    monkeypatch.setattr(bundle_mod, "deflate_ahead", spy)
    with shared.one_report():
        build_report(store, tmp_path / "r-once")
        early = shared.deflated()
        assert "cvrs.parquet" in early and "results/reconciliation.json" not in early
        build_bundle(store, tmp_path / "b-once")
    # the rest came deflated early (an empty file is never deflated ahead)
    assert len(asked) == 1 and {r for r in asked[0] if (tmp_path / "b-once" / r).stat().st_size
                                } <= {"store/results/reconciliation.json"}
    assert (tmp_path / "b-once.zip").read_bytes() == (tmp_path / "b-alone.zip").read_bytes()
    with shared.one_report():  # a stream of other bytes than the copy's is not used
        build_report(store, tmp_path / "r-changed")
        alter_committed_cvr(store.cvrs_path, store.election.contests[0].column)
        asked.clear()
        with pytest.raises(UsageError):
            build_bundle(store, tmp_path / "b-changed")
    assert "store/cvrs.parquet" in asked[0]


def test_files_deflated_early_are_not_deflated_again_and_are_let_go(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo starts the store's files as soon as they are final and the report asks for
    them again: each file is deflated once, the zip is the same bytes, and the temporary
    files of the streams are closed when the block ends."""
    from tallyproof.evidence import bundle as bundle_mod

    build_bundle(store, tmp_path / "b-alone")
    monkeypatch.setattr(bundle_mod, "DEFLATE_AHEAD_BYTES", 1)
    deflated: list[str] = []
    real = shared.deflate_file

    def counting(path: Path, level: int, hashing: bool = False) -> object:
        deflated.append(path.relative_to(store.root).as_posix())
        return real(path, level, hashing)

    monkeypatch.setattr(shared, "deflate_file", counting)
    with shared.one_report():
        bundle_mod.deflate_early(store.root)
        shared.deflated()  # waits for them
        started = list(deflated)
        build_report(store, tmp_path / "r")  # asks for the same files again
        streams = shared.deflated()
        build_bundle(store, tmp_path / "b")
        assert not any(s.stream.closed for s in streams.values())
    assert "cvrs.parquet" in started and sorted(deflated) == sorted(set(deflated))
    assert all(s.stream.closed for s in streams.values())
    assert shared.deflated() == {}
    assert (tmp_path / "b.zip").read_bytes() == (tmp_path / "b-alone.zip").read_bytes()


def test_the_official_results_are_compared_once_per_table_in_the_block(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's official-results stage and the reconciliation that includes the same
    comparison share one count inside ``reading_cvrs_once``; a copy of the file under another
    name is the same question, a changed table or file is not (a changed file is compared
    again, from the same count: the count is the table's alone), and outside the block
    nothing is kept."""
    from dataclasses import replace

    from tallyproof.evidence.results_check import check_official_results
    from tallyproof.tabulate import plurality

    src = next((store.results_dir / "inputs").glob("results.*"))
    copy = shutil.copyfile(src, tmp_path / f"certified{src.suffix}")
    counted: list[int] = []
    real = plurality.tally_table

    def spy(*args: object, **kwargs: object) -> object:
        counted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(plurality, "tally_table", spy)
    alone = check_official_results(store, src)
    per_check = len(counted)
    assert per_check > 0
    with store.reading_cvrs_once():
        first = check_official_results(store, src)
        assert first == alone and len(counted) == 2 * per_check
        again = check_official_results(store, copy)
        assert len(counted) == 2 * per_check  # not counted again
        assert again == replace(first, results_file=copy.name)
        edited = tmp_path / f"edited{src.suffix}"
        edited.write_bytes(src.read_bytes() + b"\n")  # other bytes: another question
        compared = check_official_results(store, edited)
        assert compared.results_sha256 != first.results_sha256  # compared again
        assert len(counted) == 2 * per_check  # from the count the table already had
        smaller = store.cvrs().slice(0, 10)
        tmp = store.cvrs_path.with_name("other.parquet")
        pq.write_table(smaller, tmp)
        tmp.replace(store.cvrs_path)
        changed = check_official_results(store, src)  # another table: compared afresh
        assert len(counted) == 3 * per_check and changed.mismatches != first.mismatches
    check_official_results(store, src)
    assert len(counted) == 4 * per_check


def test_the_recount_takes_the_count_made_for_the_certified_results(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside ``reading_cvrs_once`` the recount of a plurality contest is the ``ALL`` entry of
    the count the comparison with the certified results made (verify's child does both, and
    that comparison counts by precinct where the certified results are by precinct): no
    contest counted twice, and the same results as counted on their own."""
    from tallyproof.evidence.collect import compute_tabulation
    from tallyproof.evidence.results_check import check_official_results
    from tallyproof.model import contest_column
    from tallyproof.tabulate import plurality

    src = next((store.results_dir / "inputs").glob("results.*"))
    alone = compute_tabulation(store)
    counted: list[str] = []
    real = plurality.tally_table

    def spy(table: object, contest: object, *args: object, **kwargs: object) -> object:
        counted.append(contest.id)  # type: ignore[attr-defined]
        return real(table, contest, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plurality, "tally_table", spy)
    with store.reading_cvrs_once():
        checked = check_official_results(store, src)
        compared = {c["contest"] for c in checked.compared}
        assert compared and sorted(counted) == sorted(compared)
        recount = compute_tabulation(store)
    plural = {c.id for c in store.election.contests if not c.ranked}
    assert sorted(counted[len(compared):]) == sorted(plural - compared)  # the others, once
    assert recount == alone
    # by precinct, as the demo's certified results are: the recount takes the ALL entry
    table = store.cvrs()
    contest = next(c for c in store.election.contests if not c.ranked)
    memo: dict[object, object] = {}
    grouped = plurality.remembered_tally(memo, table, contest, "precinct")
    assert contest_column(contest.id) in table.column_names and len(grouped) > 1
    before = len(counted)
    assert plurality.remembered_tally(memo, table, contest) == {
        plurality.ALL: real(table, contest)[plurality.ALL]}
    assert len(counted) == before


def test_the_election_is_parsed_once_while_its_file_stays(store: Store,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from tallyproof import store as store_mod
    from tallyproof.fsutil import atomic_write_json

    parsed: list[int] = []
    real = store_mod.Election.from_json

    def spy(doc: dict[str, object]) -> object:
        parsed.append(1)
        return real(doc)

    monkeypatch.setattr(store_mod.Election, "from_json", staticmethod(spy))
    first = store.election
    assert store.election == first and len(parsed) == 2  # outside the block: every time
    with store.reading_cvrs_once():
        assert store.election == first and store.election is store.election
        assert len(parsed) == 3
        renamed = store_mod.replace(first, name="Renamed")
        atomic_write_json(store.election_path, renamed.to_json())
        assert store.election.name == "Renamed" and len(parsed) == 4  # a changed file
    store.election
    assert len(parsed) == 5

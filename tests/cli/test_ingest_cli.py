from __future__ import annotations

import json
from pathlib import Path

import pytest

from tallyproof.cli import main
from tallyproof.store import Store
from tests.conftest import require_shared_data
from tests.formats import vendor_fixtures as vf


def test_ingest_generic_csv_with_options_then_refuse_same_file(tmp_path: Path, capsys) -> None:
    src = require_shared_data("rctab/generic_csv_test/generic_csv_test_cvr.csv")
    store = tmp_path / "store"
    args = ["ingest", str(src), "--store", str(store), "--format", "generic_csv",
            "--option", "firstVoteColumnIndex=4", "--option", "idColumnIndex=1",
            "--option", "precinctColumnIndex=2", "--option", "batchColumnIndex=3", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cards_added"] == out["cards_total"] == Store.open(store).cvr_count() > 0
    assert out["sources"][0]["sha256"] and out["sources"][0]["cards"] == out["cards_added"]
    # The same export again is refused with a usage/input exit code, and the store is unchanged.
    before = (store / "cvrs.parquet").read_bytes()
    assert main(args) == 2
    assert "already ingested" in capsys.readouterr().err
    assert (store / "cvrs.parquet").read_bytes() == before


def test_ingest_bad_option_is_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["ingest", str(tmp_path), "--store", str(tmp_path / "s"), "--option", "novalue"]) == 2


def test_ingest_unrecognised_file_names_it(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not an export")
    assert main(["ingest", str(junk), "--store", str(tmp_path / "s")]) == 2
    assert "junk.bin" in capsys.readouterr().err


@pytest.mark.realdata
def test_ingest_nist_cdf_auto_detects(tmp_path: Path, capsys) -> None:
    src = require_shared_data("nist-cdf/cdf-test-method/test_data/synthetic/gen-01/cvr_v1/cvr-gen-01.json")
    assert main(["ingest", str(src), "--store", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "nist_cdf"


def test_unreadable_source_leaves_no_store_behind(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not an export")
    assert main(["ingest", str(junk), "--store", str(tmp_path / "s")]) == 2
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------ several exports (issue #10)
def _part(folder: Path, tab: int, recs: range, file: str = "CvrExport_3.json") -> Path:
    """A Dominion export part: the shared manifests and one CvrExport file of tabulator ``tab``."""
    sessions = [vf.dominion_session(tab, 1, r, [[vf._contest(2, [vf._mark(4 + r % 2, 1)])]])
                for r in recs]
    return vf.write_dominion_export(folder, {file: sessions})


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (the lock file aside) with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_second_export_with_identical_manifests_is_appended(tmp_path: Path, capsys) -> None:
    a, b = _part(tmp_path / "partA", 10, range(1, 4)), _part(tmp_path / "partB", 11, range(1, 3))
    store = tmp_path / "store"
    assert main(["ingest", str(a), "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["ingest", str(b), "--store", str(store), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["cards_added"], out["cards_total"]) == (2, 5)
    assert "ContestManifest.json" in out["shared_definition_files"]
    # the manifests are recorded once; partB's CvrExport_3.json is told apart by its folder
    st = Store.open(store)
    names = [s.name for s in st.election.sources]
    assert names.count("ContestManifest.json") == 1
    assert "CvrExport_3.json" in names and "partB/CvrExport_3.json" in names
    rows = st.cvrs(columns=["tabulator", "source_file"]).to_pylist()
    assert {r["source_file"] for r in rows if r["tabulator"] == "11"} == {"partB/CvrExport_3.json"}
    assert {s.name: s.cards for s in st.election.sources}["partB/CvrExport_3.json"] == 2


def test_two_exports_in_one_command(tmp_path: Path, capsys) -> None:
    a, b = _part(tmp_path / "partA", 10, range(1, 4)), _part(tmp_path / "partB", 11, range(1, 3))
    assert main(["ingest", str(a), str(b), "--store", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cards_total"] == 5


def test_second_export_with_other_manifests_is_refused_naming_the_difference(
    tmp_path: Path, capsys
) -> None:
    a, b = _part(tmp_path / "partA", 10, range(1, 4)), _part(tmp_path / "partB", 11, range(1, 3))
    cands = b / "CandidateManifest.json"
    cands.write_bytes(cands.read_bytes().replace(b"Bob Brown", b"Bob Browne"))
    store = tmp_path / "store"
    assert main(["ingest", str(a), "--store", str(store)]) == 0
    before = _files(store)
    capsys.readouterr()
    assert main(["ingest", str(b), "--store", str(store)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "CandidateManifest.json" in err and "'Bob Browne' here but 'Bob Brown' in the store" in err
    assert _files(store) == before


def test_duplicate_ballot_ids_across_exports_name_both_sources(tmp_path: Path, capsys) -> None:
    a = _part(tmp_path / "partA", 10, range(1, 4))
    b = _part(tmp_path / "partB", 10, range(3, 5), file="CvrExport_9.json")  # 10-1-3 again
    store = tmp_path / "store"
    assert main(["ingest", str(a), "--store", str(store)]) == 0
    before = _files(store)
    capsys.readouterr()
    assert main(["ingest", str(b), "--store", str(store)]) == 2
    err = " ".join(capsys.readouterr().err.split()).replace(" ", "")
    assert "10-1-3" in err
    assert str(a / "CvrExport_3.json").replace(" ", "") in err
    assert str(b / "CvrExport_9.json").replace(" ", "") in err
    assert _files(store) == before


# ------------------------------------------------------------------ one command, one transaction
def _manifest_csv(path: Path) -> Path:
    path.write_text("Container,Tabulator,Batch Name,Number of Ballots\nbox,10,1,3\n")
    return path


def _broken(folder: Path) -> Path:
    """A Dominion export whose CVR file is cut short: it fails while its rows are read."""
    part = _part(folder, 12, range(1, 3))
    f = part / "CvrExport_3.json"
    f.write_bytes(f.read_bytes()[:-40])
    return part


def test_failed_second_source_leaves_an_existing_store_byte_identical(tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    assert main(["ingest", str(_part(tmp_path / "first", 9, range(1, 3))), "--store", str(store)]) == 0
    before = _files(store)
    a, bad = _part(tmp_path / "partA", 10, range(1, 4)), _broken(tmp_path / "bad")
    manifest = _manifest_csv(tmp_path / "m.csv")
    for second in (bad, tmp_path / "m.csv"):  # a source that breaks mid-read; one not an export
        assert main(["ingest", str(a), str(second), "--store", str(store),
                     "--manifest", str(manifest)]) == 2
        assert _files(store) == before  # partA's cards, the manifest: none of it landed
        assert "nothing was written" in " ".join(capsys.readouterr().err.split())
    # and the same command without the bad source then works
    assert main(["ingest", str(a), "--store", str(store), "--manifest", str(manifest)]) == 0
    assert Store.open(store).cvr_count() == 5 and (store / "manifest.parquet").exists()


def test_failed_first_ingest_leaves_nothing(tmp_path: Path) -> None:
    a, bad = _part(tmp_path / "partA", 10, range(1, 4)), _broken(tmp_path / "bad")
    assert main(["ingest", str(a), str(bad), "--store", str(tmp_path / "county")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "partA"]


@pytest.mark.parametrize("where", ["staging", "commit"])
def test_crash_before_commit_leaves_the_store_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A crash once every source is staged (the last check), or while committing before the
    journal is written: the store is byte-identical and no temp file is left."""
    from tallyproof import fsutil, store_append

    store = tmp_path / "store"
    assert main(["ingest", str(_part(tmp_path / "first", 9, range(1, 3))), "--store", str(store)]) == 0
    before = _files(store)

    def crash(*args: object) -> None:
        raise RuntimeError("simulated crash")

    if where == "staging":
        monkeypatch.setattr(store_append, "_check_unique_ids", crash)
    else:
        monkeypatch.setattr(fsutil, "fsync_file", crash)
    a, b = _part(tmp_path / "partA", 10, range(1, 4)), _part(tmp_path / "partB", 11, range(1, 3))
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["ingest", str(a), str(b), "--store", str(store), "--debug",
              "--manifest", str(_manifest_csv(tmp_path / "m.csv"))])
    assert _files(store) == before


def test_killed_first_ingest_never_verifies_and_is_cleaned_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A killed process cleans nothing up: simulated by a crash with the clean-up disabled."""
    from tallyproof import fsutil

    a, b = _part(tmp_path / "partA", 10, range(1, 4)), _part(tmp_path / "partB", 11, range(1, 3))
    county = tmp_path / "county"
    with monkeypatch.context() as m:
        m.setattr(fsutil.Transaction, "commit", lambda self: (_ for _ in ()).throw(SystemExit(9)))
        m.setattr(fsutil.Transaction, "abort", lambda self: None)
        m.setattr(fsutil.shutil, "rmtree", lambda path: None)
        m.setattr(Path, "unlink", lambda self, missing_ok=False: None)
        with pytest.raises(SystemExit):
            main(["ingest", str(a), str(b), "--store", str(county), "--debug"])
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".county")]
    assert left and any(p.is_dir() and any(p.glob(".cvrs.parquet.*.tmp")) for p in left)
    capsys.readouterr()
    assert main(["verify", "--store", str(county)]) == 2  # not a store: nothing to vouch for
    stage = next(p for p in left if p.is_dir())
    assert main(["verify", "--store", str(stage)]) == 2
    assert "killed ingest" in " ".join(capsys.readouterr().err.split())
    # the next run removes what the killed one left, and ingests
    assert main(["ingest", str(a), str(b), "--store", str(county)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["county", "partA", "partB"]
    assert Store.open(county).cvr_count() == 5


# ------------------------------------------------------------------ contest rules (issue #10)
def _council_export(tmp_path: Path) -> tuple[Path, Path]:
    """A store whose contest 3 ("Council", vote for 2) is really a one-seat approval question:
    Eve Eng is approved on 3 cards, Dee Diaz on 2, Fay Fox on 1."""
    marks = [[6, 7], [7], [6, 7, 8]]
    sessions = [vf.dominion_session(10, 1, r + 1, [[vf._contest(3, [vf._mark(c, 1) for c in m])]])
                for r, m in enumerate(marks)]
    export = vf.write_dominion_export(tmp_path / "export", {"CvrExport_1.json": sessions})
    store = tmp_path / "county"
    assert main(["ingest", str(export), "--store", str(store)]) == 0
    return export, store


def _winners(store: Path, capsys, contest: str) -> list[str]:
    capsys.readouterr()
    assert main(["tabulate", "--store", str(store), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    return next(c["winners"] for c in doc["contests"] if c["contest_id"] == contest)


def test_contest_set_declares_approval_by_name_and_tabulate_report_use_it(
    tmp_path: Path, capsys
) -> None:
    _, store = _council_export(tmp_path)
    assert len(_winners(store, capsys, "3")) == 2  # as exported: vote for 2, two seats
    assert main(["contest", "set", "--store", str(store), "council", "--rule", "approval",
                 "--seats", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] and out["contest"]["rule"] == "approval" and out["contest"]["seats"] == 1
    assert out["next_steps"] and "tabulate" in out["next_steps"][0]  # results were stale
    contest = Store.open(store).election.contest("3")
    assert (contest.kind.value, contest.seats, contest.rule_declared) == ("approval", 1, True)
    assert _winners(store, capsys, "3") == ["7"]
    assert main(["report", "--store", str(store), "--out", str(tmp_path / "report")]) == 0
    html = " ".join((tmp_path / "report" / "report.html").read_text().split())
    assert "Approval, 1 winner: voters mark every choice they approve of" in html
    assert "Rule declared by the election office" in html
    capsys.readouterr()
    assert main(["contest", "list", "--store", str(store), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["contests"]
    assert {c["id"]: c["rule"] for c in listed} == {"1": "irv", "2": "plurality", "3": "approval"}


def test_contest_set_help_example_runs(tmp_path: Path, capsys) -> None:
    import shlex

    from tallyproof.cli.ingest import CONTEST_SET_EXAMPLE

    _, store = _council_export(tmp_path)
    args = shlex.split(CONTEST_SET_EXAMPLE.removeprefix("Example: tallyproof "))
    args[args.index("13")] = "3"  # the walk-through's approval contest is 13; here it is 3
    args[args.index("county")] = str(store)
    assert main(args) == 0


def test_contest_set_refuses_what_cannot_apply(tmp_path: Path, capsys) -> None:
    _, store = _council_export(tmp_path)
    before = (store / "election.json").read_bytes()
    bad = [
        ["Mayor", "--rule", "approval"],  # exported ranked
        ["3", "--rule", "irv"],  # exported with one mark position
        ["1", "--rule", "irv", "--seats", "2"],
        ["1", "--rule", "irv", "--rcv-option", "overvoteRule=sometimes"],
        ["1", "--rule", "irv", "--rcv-option", "noSuchRule=1"],
        ["1", "--rule", "irv", "--rcv-option", "numberOfWinners=2"],
        ["1", "--rule", "irv", "--rcv-option", "batchElimination=maybe"],
        ["3", "--rule", "approval", "--rcv-option", "batchElimination=true"],
        ["no such contest", "--rule", "approval"],
    ]
    for args in bad:
        assert main(["contest", "set", "--store", str(store), *args]) == 2, args
    assert (store / "election.json").read_bytes() == before


def test_rcv_options_are_recorded_and_used(tmp_path: Path, capsys) -> None:
    _, store = _council_export(tmp_path)
    assert main(["contest", "set", "--store", str(store), "1", "--rule", "irv",
                 "--rcv-option", "overvoteRule=alwaysSkipToNextRank",
                 "--rcv-option", "batchElimination=true"]) == 0
    assert dict(Store.open(store).election.contest("1").rcv_options) == {
        "overvoteRule": "alwaysSkipToNextRank", "batchElimination": True}
    capsys.readouterr()
    assert main(["tabulate", "--store", str(store), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rules = next(c for c in doc["contests"] if c["contest_id"] == "1")["rcv"]["rules"]
    assert (rules["overvote_rule"], rules["batch_elimination"]) == ("alwaysSkipToNextRank", True)


def test_rule_change_after_commit_needs_a_new_commit(tmp_path: Path, capsys) -> None:
    _, store = _council_export(tmp_path)
    key = tmp_path / "keys" / "county"
    assert main(["keys", "new", "--out", str(key)]) == 0
    assert main(["commit", "--store", str(store), "--key", str(key)]) == 0
    assert main(["tabulate", "--store", str(store)]) == 0
    assert main(["verify", "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["contest", "set", "--store", str(store), "3", "--rule", "approval",
                 "--seats", "1"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "tallyproof commit" in err and "tallyproof tabulate" in err
    # the committed definition and the published results are those of the old rule
    assert main(["verify", "--store", str(store), "--json"]) == 1
    failed = {c["name"] for c in json.loads(capsys.readouterr().out)["checks"]
              if c["status"] == "fail"}
    assert {"ledger", "tabulation"} <= failed
    assert main(["commit", "--store", str(store), "--key", str(key)]) == 0
    assert main(["tabulate", "--store", str(store)]) == 0
    assert main(["verify", "--store", str(store)]) == 0


def test_declared_rule_survives_a_second_export_and_audit_freezes_it(tmp_path: Path) -> None:
    _, store = _council_export(tmp_path)
    assert main(["contest", "set", "--store", str(store), "3", "--rule", "approval",
                 "--seats", "1"]) == 0
    part = vf.write_dominion_export(tmp_path / "late", {"CvrExport_2.json": [
        vf.dominion_session(11, 1, 1, [[vf._contest(3, [vf._mark(6, 1)])]])]})
    assert main(["ingest", str(part), "--store", str(store)]) == 0
    contest = Store.open(store).election.contest("3")
    assert (contest.kind.value, contest.seats) == ("approval", 1)
    # once an audit has started (its state file exists), the rule cannot change
    (store / "audit").mkdir(exist_ok=True)
    (store / "audit" / "audit.json").write_text("{}")
    assert main(["contest", "set", "--store", str(store), "3", "--rule", "plurality",
                 "--seats", "2"]) == 2
    assert Store.open(store).election.contest("3").kind.value == "approval"


@pytest.mark.realdata
def test_san_francisco_export_in_two_parts(tmp_path: Path, capsys) -> None:
    """The real SF export split as a county would deliver it: both parts carry the same
    manifests, each one of the two CvrExport files. Together they give the one-part store."""
    sf = require_shared_data("dominion-sf-2020/ContestManifest.json").parent
    exports = sorted(sf.glob("CvrExport_*.json"))
    parts = []
    for k, export in enumerate(exports):
        part = tmp_path / f"part{k}"
        part.mkdir()
        for f in [*sf.glob("*Manifest.json"), sf / "Configuration.json", export]:
            (part / f.name).symlink_to(f)
        parts.append(part)
    whole = tmp_path / "whole"
    assert main(["ingest", str(sf), "--store", str(whole), "--format", "dominion"]) == 0
    store = tmp_path / "parts"
    for part in parts:
        assert main(["ingest", str(part), "--store", str(store)]) == 0
    a, b = Store.open(whole), Store.open(store)
    assert b.cvr_count() == a.cvr_count() > 0
    assert b.election.contests == a.election.contests
    cols = ["ballot_id", *(c.column for c in a.election.contests)]
    assert b.cvrs(cols).sort_by("ballot_id").equals(a.cvrs(cols).sort_by("ballot_id"))
    assert [s.name for s in b.election.sources].count("CandidateManifest.json") == 1

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


def test_failed_second_source_leaves_an_existing_store_byte_identical(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert main(["ingest", str(_part(tmp_path / "first", 9, range(1, 3))), "--store", str(store)]) == 0
    before = _files(store)
    a, bad = _part(tmp_path / "partA", 10, range(1, 4)), _broken(tmp_path / "bad")
    manifest = _manifest_csv(tmp_path / "m.csv")
    for second in (bad, tmp_path / "m.csv"):  # a source that breaks mid-read; one not an export
        assert main(["ingest", str(a), str(second), "--store", str(store),
                     "--manifest", str(manifest)]) == 2
        assert _files(store) == before  # partA's cards, the manifest: none of it landed
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

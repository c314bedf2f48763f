from __future__ import annotations

import json
from pathlib import Path

import pytest

from tallyproof.cli import main
from tallyproof.store import Store
from tests.conftest import require_shared_data


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

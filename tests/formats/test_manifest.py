"""Ballot manifest CSV (Arlo column names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tallyproof.errors import InputError
from tallyproof.formats.manifest import read_manifest
from tallyproof.store import MANIFEST_SCHEMA


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "manifest.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_arlo_columns_tolerantly(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeff container ,TABULATOR,  Batch   Name ,Number of Ballots,Notes\n"
        'Box 1,T1,B1,100,x\nBox 1,T2,B1,"1,250",\n\n,T2,B2,0,\n',
    )
    t = read_manifest(path)
    assert t.schema == MANIFEST_SCHEMA
    assert t.to_pylist() == [
        {"container": "Box 1", "tabulator": "T1", "batch": "B1", "ballots": 100},
        {"container": "Box 1", "tabulator": "T2", "batch": "B1", "ballots": 1250},
        {"container": None, "tabulator": "T2", "batch": "B2", "ballots": 0},
    ]


def test_optional_columns_absent(tmp_path: Path) -> None:
    t = read_manifest(write(tmp_path, "Batch Name,Number of Ballots\nB1,3\nB2,4\n"))
    assert t.column("tabulator").null_count == 2
    assert t.column("ballots").to_pylist() == [3, 4]


@pytest.mark.parametrize(
    "text, record, field, message",
    [
        (
            "Batch Name,Number of Ballots\nB1,ten\n",
            "line 2",
            "Number of Ballots",
            "not a whole number",
        ),
        ("Batch Name,Number of Ballots\nB1,-3\n", "line 2", "Number of Ballots", "negative"),
        (
            "Tabulator,Batch Name,Number of Ballots\nT,B1,1\nT,B1,2\n",
            "line 3",
            "Batch Name",
            "line 2",
        ),
        ("Batch Name,Ballots\nB1,1\n", "line 1", "Number Of Ballots", "missing required column"),
        ("Number of Ballots\n1\n", "line 1", "Batch Name", "missing required column"),
        ("Batch Name,Number of Ballots\n,1\n", "line 2", "Batch Name", "empty batch name"),
        ("Batch Name,Number of Ballots\nB1\n", "line 2", None, "expected 2 fields"),
        ("", "line 1", None, "empty"),
    ],
)
def test_errors_name_line_and_column(
    tmp_path: Path, text: str, record: str, field: str | None, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message) as info:
        read_manifest(path)
    assert info.value.file == str(path)
    assert (info.value.record, info.value.field) == (record, field)


def test_same_batch_name_on_two_tabulators_is_fine(tmp_path: Path) -> None:
    t = read_manifest(write(tmp_path, "Tabulator,Batch Name,Number of Ballots\nA,1,5\nB,1,6\n"))
    assert t.num_rows == 2


def test_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="UTF-8"):
        read_manifest(write(tmp_path, b"Batch Name,Number of Ballots\n\xe9,1\n"))


def test_ingest_with_manifest(tmp_path: Path) -> None:
    from tallyproof.ingest import ingest
    from tallyproof.store import Store

    cvrs = tmp_path / "cvrs.csv"
    cvrs.write_text("ballot_id,tabulator,batch,Mayor\n1,T,B1,Alice\n2,T,B1,Bob\n")
    manifest = write(tmp_path, "Tabulator,Batch Name,Number of Ballots\nT,B1,2\n")
    ingest([cvrs], tmp_path / "store", manifest=manifest)
    stored = Store.open(tmp_path / "store").manifest()
    assert stored is not None and stored.column("ballots").to_pylist() == [2]

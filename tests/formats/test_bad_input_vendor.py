"""Every vendor reader fails on bad input with InputError (naming the file) and nothing else:
random bytes, truncations of a valid export at random offsets, wrong JSON types, wrong text
encodings. Property-based: hypothesis picks the damage."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallyproof.errors import InputError
from tallyproof.formats import clearballot, dominion, dominion_csv, ess, hart

from . import vendor_fixtures as vf

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@contextmanager
def workdir() -> Iterator[Path]:
    """A fresh folder per hypothesis example (tmp_path is shared by all examples of a test)."""
    d = Path(tempfile.mkdtemp(prefix="tp-bad-"))
    try:
        yield d
    finally:
        shutil.rmtree(d)


def corrupt(path: Path, position: int, byte: int) -> None:
    """Overwrite one byte of the file (``position`` taken modulo its size)."""
    raw = bytearray(path.read_bytes())
    raw[position % len(raw)] = byte
    path.write_bytes(bytes(raw))


def consume(read: Callable[[Path, dict[str, Any]], Any], path: Path, options: dict[str, Any] | None = None) -> int:
    px = read(path, options or {})
    return sum(b.num_rows for b in px.batches)


def only_input_error(read: Callable[[Path, dict[str, Any]], Any], path: Path, options: dict[str, Any] | None = None) -> None:
    """Reading either works or raises InputError naming a file; any other exception fails."""
    try:
        consume(read, path, options)
    except InputError as exc:
        assert exc.file is not None or exc.field is not None, exc


# ------------------------------------------------------------------------------ Dominion


def _small_dominion(d: Path) -> Path:
    return vf.small_dominion(d / "export")


@SETTINGS
@given(data=st.binary(max_size=300))
def test_dominion_random_bytes(data: bytes) -> None:
    with workdir() as d:
        folder = _small_dominion(d)
        (folder / "CvrExport_3.json").write_bytes(data)
        with pytest.raises(InputError) as info:
            consume(dominion.read, folder)
        assert info.value.file is not None and info.value.file.endswith("CvrExport_3.json")


@SETTINGS
@given(fraction=st.floats(0, 1, exclude_max=True), name=st.sampled_from(["CvrExport_3.json", "ContestManifest.json", "CandidateManifest.json", "PrecinctPortionManifest.json"]))
def test_dominion_truncated(fraction: float, name: str) -> None:
    with workdir() as d:
        folder = _small_dominion(d)
        raw = (folder / name).read_bytes()
        (folder / name).write_bytes(raw[: int(len(raw) * fraction)])
        with pytest.raises(InputError) as info:
            consume(dominion.read, folder)
        assert info.value.file is not None and info.value.file.endswith(name)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


_JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=5),
    st.lists(st.integers(0, 9), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(-9, 9), max_size=2),
)  # fmt: skip


@SETTINGS
@given(data=st.data(), value=_JSON_VALUES)
def test_dominion_wrong_types(data: st.DataObject, value: Any) -> None:
    with workdir() as d:
        folder = _small_dominion(d)
        target = folder / data.draw(st.sampled_from(["CvrExport_3.json", "ContestManifest.json", "CandidateManifest.json"]))
        doc = orjson.loads(target.read_bytes())
        paths = [p for p in _paths(doc) if p]
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
        target.write_bytes(orjson.dumps(doc))
        only_input_error(dominion.read, folder)


@SETTINGS
@given(field=st.sampled_from(["TabulatorId", "BatchId", "RecordId", "CountingGroupId"]), value=st.sampled_from(["1", 1.5, True, [1], {"a": 1}]))
def test_dominion_wrong_session_field_is_named(field: str, value: Any) -> None:
    with workdir() as d:
        folder = _small_dominion(d)
        target = folder / "CvrExport_17.json"
        doc = orjson.loads(target.read_bytes())
        doc["Sessions"][1][field] = value
        target.write_bytes(orjson.dumps(doc))
        with pytest.raises(InputError) as info:
            consume(dominion.read, folder)
        assert (info.value.record, info.value.field) == ("Sessions[1]", field)


def test_dominion_wrong_encoding(tmp_path: Path) -> None:
    folder = _small_dominion(tmp_path)
    doc = orjson.loads((folder / "CvrExport_3.json").read_bytes())
    text = orjson.dumps({**doc, "ElectionId": "Électión"}).decode()
    (folder / "CvrExport_3.json").write_bytes(text.encode("utf-16"))
    with pytest.raises(InputError, match="JSON"):
        consume(dominion.read, folder)


# ------------------------------------------------------------------------------ Dominion CSV


def _dominion_csv(d: Path, manifests: bool = True) -> Path:
    """CvrExport.csv written from the small JSON export: beside its manifests, or alone."""
    folder = _small_dominion(d)
    if manifests:
        return vf.dominion_csv_from_json(folder, folder / "CvrExport.csv")
    (d / "alone").mkdir()
    return vf.dominion_csv_from_json(folder, d / "alone" / "CvrExport.csv")


@SETTINGS
@given(data=st.binary(max_size=300))
def test_dominion_csv_random_bytes(data: bytes) -> None:
    with workdir() as d:
        path = _dominion_csv(d)
        path.write_bytes(data)
        with pytest.raises(InputError) as info:
            consume(dominion_csv.read, path)
        assert info.value.file == str(path)


@SETTINGS
@given(fraction=st.floats(0, 1, exclude_max=True), manifests=st.booleans())
def test_dominion_csv_truncated(fraction: float, manifests: bool) -> None:
    with workdir() as d:
        path = _dominion_csv(d, manifests)
        raw = path.read_bytes()
        cut = int(len(raw) * fraction)
        path.write_bytes(raw[:cut])
        lines = raw.split(b"\n")
        kept = raw[:cut].split(b"\n")
        try:
            n = consume(dominion_csv.read, path)
        except InputError as exc:
            assert exc.file == str(path)
        else:  # only a cut at the end of a card reads, and then it reads the whole cards
            assert len(kept) >= 4 and kept[:3] == lines[:3]
            assert n == sum(1 for k, line in zip(kept[4:], lines[4:], strict=False) if k == line)


@SETTINGS
@given(position=st.integers(0, 10**6), byte=st.integers(0, 255), manifests=st.booleans())
def test_dominion_csv_corrupted_byte(position: int, byte: int, manifests: bool) -> None:
    with workdir() as d:
        path = _dominion_csv(d, manifests)
        corrupt(path, position, byte)
        only_input_error(dominion_csv.read, path)


@SETTINGS
@given(data=st.data(), value=st.text(max_size=4))
def test_dominion_csv_random_cell(data: st.DataObject, value: str) -> None:
    """Any text in any cell of any row reads or fails with InputError naming the line."""
    with workdir() as d:
        path = _dominion_csv(d, data.draw(st.booleans()))
        rows = path.read_text(encoding="utf-8").split("\n")
        line = data.draw(st.integers(0, len(rows) - 2))
        cells = rows[line].split(",")
        cells[data.draw(st.integers(0, len(cells) - 1))] = value
        rows[line] = ",".join(cells)
        path.write_text("\n".join(rows), encoding="utf-8")
        try:
            consume(dominion_csv.read, path)
        except InputError as exc:
            assert exc.file == str(path) and exc.record is not None, exc


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_dominion_csv_wrong_encoding(tmp_path: Path, encoding: str) -> None:
    path = _dominion_csv(tmp_path, manifests=False)
    path.write_bytes(path.read_text().replace("Dee Diaz", "Dée Díaz").encode(encoding))
    with pytest.raises(InputError, match="UTF-8") as info:
        consume(dominion_csv.read, path)
    assert info.value.file == str(path) and info.value.record is not None


# ------------------------------------------------------------------------------ ES&S

ESS_OPTS = {"firstVoteColumnIndex": "3", "overvoteLabel": "overvote", "skippedRankLabel": "undervote", "undeclaredWriteInLabel": "UWI"}


@SETTINGS
@given(data=st.binary(max_size=300))
def test_ess_random_bytes(data: bytes) -> None:
    with workdir() as d:
        path = d / "cvr.xlsx"
        path.write_bytes(data)
        with pytest.raises(InputError) as info:
            consume(ess.read, path, ESS_OPTS)
        assert info.value.file == str(path)


@SETTINGS
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_ess_truncated(fraction: float) -> None:
    with workdir() as d:
        path = vf.write_ess_xlsx(d / "cvr.xlsx").path
        raw = path.read_bytes()
        path.write_bytes(raw[: int(len(raw) * fraction)])
        with pytest.raises(InputError) as info:
            consume(ess.read, path, ESS_OPTS)
        assert info.value.file == str(path)


@SETTINGS
@given(position=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_ess_corrupted_byte(position: int, byte: int) -> None:
    with workdir() as d:
        path = vf.write_ess_xlsx(d / "cvr.xlsx").path
        corrupt(path, position, byte)
        only_input_error(ess.read, path, ESS_OPTS)


def test_ess_sheet_needing_an_unreadable_zip_version_is_an_input_error() -> None:
    # a corrupted byte found by test_ess_corrupted_byte: the sheet's header asked for zip 6.4,
    # and Python's NotImplementedError escaped the reader instead of an InputError
    with workdir() as d:
        path = vf.write_ess_xlsx(d / "cvr.xlsx").path
        vf.needs_zip_version(path, "xl/worksheets/sheet1.xml")
        with pytest.raises(InputError, match="not a readable spreadsheet") as got:
            ess._row_elements_after(path, 0)
        assert got.value.file == str(path)
        only_input_error(ess.read, path, ESS_OPTS)


@SETTINGS
@given(cells=st.lists(st.lists(st.text(max_size=6), min_size=3, max_size=3), min_size=1, max_size=5))
def test_ess_random_cells(cells: list[list[str]]) -> None:
    """Any text in the rank cells reads (unknown names become candidates) or fails cleanly."""
    with workdir() as d:
        path = vf.write_ess_xlsx(d / "cvr.xlsx", rows=cells).path
        only_input_error(ess.read, path, ESS_OPTS)


# ------------------------------------------------------------------------------ Hart


@SETTINGS
@given(data=st.binary(max_size=300))
def test_hart_random_bytes(data: bytes) -> None:
    with workdir() as d:
        folder = vf.write_hart_folder(d / "hart")
        (folder / "1_g2.xml").write_bytes(data)
        with pytest.raises(InputError) as info:
            consume(hart.read, folder)
        assert info.value.file is not None and info.value.file.endswith("1_g2.xml")


@SETTINGS
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_hart_truncated(fraction: float) -> None:
    with workdir() as d:
        folder = vf.write_hart_folder(d / "hart")
        raw = (folder / "1_g1.xml").read_bytes()
        (folder / "1_g1.xml").write_bytes(raw[: int(len(raw) * fraction)])
        with pytest.raises(InputError) as info:
            consume(hart.read, folder)
        assert info.value.file is not None and info.value.file.endswith("1_g1.xml")


@SETTINGS
@given(position=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_hart_corrupted_byte(position: int, byte: int) -> None:
    with workdir() as d:
        folder = vf.write_hart_folder(d / "hart")
        corrupt(folder / "1_g3.xml", position, byte)
        only_input_error(hart.read, folder)


def test_hart_wrong_encoding(tmp_path: Path) -> None:
    folder = vf.write_hart_folder(tmp_path / "hart")
    text = (folder / "1_g1.xml").read_text(encoding="utf-8").replace("Ann Hart", "Ånn Hårt")
    (folder / "1_g1.xml").write_bytes(text.encode("latin-1", errors="replace").replace(b"\xef\xbb\xbf", b""))
    with pytest.raises(InputError, match="XML"):
        consume(hart.read, folder)


# ------------------------------------------------------------------------------ Clear Ballot

CB_BALLOTS = [([["Ann"], ["Ben"], []], "Dee"), ([["Cat"], [], ["Ben"]], None)]


@SETTINGS
@given(data=st.binary(max_size=300))
def test_clearballot_random_bytes(data: bytes) -> None:
    with workdir() as d:
        path = d / "x.cvr.csv"
        path.write_bytes(data)
        with pytest.raises(InputError) as info:
            consume(clearballot.read, path)
        assert info.value.file == str(path)


@SETTINGS
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_clearballot_truncated(fraction: float) -> None:
    with workdir() as d:
        path = vf.write_clearballot_csv(d / "x.cvr.csv", CB_BALLOTS)
        raw = path.read_bytes()
        cut = int(len(raw) * fraction)
        path.write_bytes(raw[:cut])
        lines = raw.split(b"\r\n")
        kept = raw[:cut].split(b"\r\n")
        try:
            n = consume(clearballot.read, path)
        except InputError as exc:
            assert exc.file == str(path)
        else:  # only a cut at the end of a row may read, and then it reads the whole rows
            # (a header cut between columns still reads, as an election with fewer choices)
            assert kept[0] == lines[0] or n == 0
            assert n == sum(1 for k, line in zip(kept[1:], lines[1:], strict=False) if k and k.rstrip(b"\r") == line)


@SETTINGS
@given(position=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_clearballot_corrupted_byte(position: int, byte: int) -> None:
    with workdir() as d:
        path = vf.write_clearballot_csv(d / "x.cvr.csv", CB_BALLOTS)
        corrupt(path, position, byte)
        only_input_error(clearballot.read, path)


def test_clearballot_wrong_encoding(tmp_path: Path) -> None:
    path = vf.write_clearballot_csv(tmp_path / "x.cvr.csv", CB_BALLOTS)
    path.write_bytes(path.read_text().replace("Ann", "Ånn").encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        consume(clearballot.read, path)

"""The columnar ES&S reader reads RCTab's ES&S inputs exactly as the per-cell reader did.

``ess_rctab_digests.json`` holds, for every distinct ES&S spreadsheet in ``../shared/data/rctab``
(each config's ``cvrFileSources`` options, as ``tabulate --rctab-config`` passes them) and a few
option variants that reach other paths (the candidates option, blanks as write-ins, an id /
precinct / batch column, one rank), what the per-cell reader (commit 3006f3a, before the
columnar rewrite) produced: a digest of the election, of each record batch in order (rows and
Arrow IPC bytes, so schema, values and chunking), and the error it raised (message, file,
record, field) after how many batches. Why digests rather than the old reader itself: that
reader is 200 lines, and a stored digest pins the output against any later change too.

Hand-made sheets (:data:`SYNTHETIC`, several problems in one sheet) pin which error comes
first. Regenerate (only when the output is meant to change) with
``PYTHONPATH=src python -m tests.formats.test_ess_columnar``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tallyproof.errors import InputError
from tallyproof.formats import ess
from tallyproof.formats.base import ParsedExport
from tests.conftest import SHARED_DATA, require_shared_data

pytestmark = pytest.mark.realdata

DIGESTS = Path(__file__).with_name("ess_rctab_digests.json")

Reader = Callable[[Path, Mapping[str, Any]], ParsedExport]


def _variants(options: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "rctab": options,
        "candidates": {**options, "candidates": raw.get("candidates") or []},
        "blank_uwi": {**options, "treatBlankAsUndeclaredWriteIn": True,
                      "undeclaredWriteInLabel": options.get("undeclaredWriteInLabel") or "UWI"},
        "id_columns": {**options, "idColumnIndex": "1", "precinctColumnIndex": "1",
                       "batchColumnIndex": "1"},
        "one_rank": {**options, "maxRankingsAllowed": "1"},
    }


def ess_inputs(rctab: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """``case/file/variant`` → (spreadsheet, reader options), each distinct (file content,
    options) once. Options are built as :func:`tallyproof.tabulate.rctab.read_config_ballots`
    builds them."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    seen: set[tuple[str, str]] = set()
    for config in sorted(rctab.glob("*/*_config.json")):
        raw = json.loads(config.read_text(encoding="utf-8"))
        rules = raw.get("rules") or {}
        max_rank = str(rules.get("maxRankingsAllowed") or "max")
        winners = str(rules.get("numberOfWinners") or "")
        for source in raw.get("cvrFileSources") or []:
            if source.get("provider") != "ess":
                continue
            path = (config.parent / str(source.get("filePath") or "")).resolve()
            if not path.is_file():
                continue
            options = dict(source)
            options.setdefault("maxRankingsAllowed", max_rank)
            if winners not in ("", "0"):
                options.setdefault("numberOfWinners", winners)
            content = hashlib.sha256(path.read_bytes()).hexdigest()
            for name, opts in _variants(options, raw).items():
                # the reader ignores filePath: RCTab's scale case lists one file 13 times
                key = (content, json.dumps({k: v for k, v in opts.items() if k != "filePath"},
                                           sort_keys=True))
                if key not in seen:
                    seen.add(key)
                    out[f"{config.parent.name}/{path.name}/{name}"] = (path, opts)
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(read: Reader, path: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    """What reading ``path`` gives: election, batches (rows, IPC digest) and the error."""
    out: dict[str, Any] = {"election": None, "batches": [], "error": None}
    try:
        px = read(path, options)
        out["election"] = _sha(repr(px.election).encode())
        for batch in px.batches:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as writer:
                writer.write_batch(batch)
            out["batches"].append([batch.num_rows, _sha(sink.getvalue().to_pybytes())])
    except InputError as exc:
        out["error"] = [exc.message, Path(exc.file).name if exc.file else None, exc.record,
                        exc.field]
    return out


HEADER = ["Id", "Precinct", "1st Choice", "2nd Choice", "3rd Choice", "Count"]
CANDS = [{"name": "Ann"}, {"name": "Ben", "code": "B"}, {"name": "Cat", "aliases": ["Kat"]}]
OPTS = {"firstVoteColumnIndex": "3", "idColumnIndex": "1", "precinctColumnIndex": "2",
        "overvoteDelimiter": "|", "undeclaredWriteInLabel": "UWI"}
DAY = datetime.datetime(2024, 1, 1)


def _sheet(*rows: list[Any]) -> list[list[Any]]:
    return [HEADER, *(list(r) for r in rows)]


#: sheets as calamine returns them (values of any cell type), with several problems each: the
#: error must be the first in row order (in a row: width, each rank cell, then Count)
SYNTHETIC: dict[str, tuple[list[list[Any]], dict[str, Any]]] = {
    "codes_in_row_order": (_sheet([1, "P", "Cat", "Ann", "", 1], [2, "P", "Ben", "Dan", "Ann", 1],
                                  [3, "P", "Eve|Ann", "UWI", "overvote", ""]), OPTS),
    "numbers_as_names": (_sheet([1, "P", 1, 1.0, "1", 1.0], [2.0, 7, " 2 ", 2.5, "", 1],
                                [" 3", "P", -0.0, 0, "x", 1]), OPTS),
    "blank_uwi": (_sheet([1, "P", "", "Ann", "  ", 1], [2, "P", "Ben", "", "UWI", 1]),
                  {**OPTS, "treatBlankAsUndeclaredWriteIn": True}),
    "unknown_then_width": (_sheet([1, "P", "Ann", "B", "Kat", 1], [2, "P", "Ann", "Zed", "", 1],
                                  [3, "P", "Ann"]), {**OPTS, "candidates": CANDS}),
    "width_then_unknown": (_sheet([1, "P", "Ann", "B", "", 1], [2, "P", "Ann"],
                                  [3, "P", "Zed", "", "", 1]), {**OPTS, "candidates": CANDS}),
    "unknown_later_column_earlier_row": (
        _sheet([1, "P", "Ann", "", "", 1], [2, "P", "Ann", "", "Yan", 1],
               [3, "P", "Zed", "", "", 1]), {**OPTS, "candidates": CANDS}),
    "type_before_unknown_in_row": (_sheet([1, "P", "Ann", "", "", 1],
                                          [2, "P", "Ann", True, "Zed", 1]),
                                   {**OPTS, "candidates": CANDS}),
    "unknown_before_type_in_row": (_sheet([1, "P", "Zed", DAY, "", 1]),
                                   {**OPTS, "candidates": CANDS}),
    "type_before_count": (_sheet([1, "P", "Ann", "", "", 1], [2, "P", "Ann", "", None, 2]), OPTS),
    "count_before_type": (_sheet([1, "P", "Ann", "", "", 3], [2, "P", "Ann", "", None, 1]), OPTS),
    "bool_next_to_one": (_sheet([1, "P", 1, "", "", 1], [2, "P", True, "", "", 1]), OPTS),
    "bool_count": (_sheet([1, "P", "Ann", "", "", 1], [2, "P", "Ann", "", "", True]), OPTS),
    "float_count": (_sheet([1, "P", "Ann", "", "", 1.0], [2, "P", "Ann", "", "", 1.5]), OPTS),
    "empty_id_before_repeat": (_sheet([1, "P", "Ann", "", "", 1], [" ", "P", "Ann", "", "", 1],
                                      [1.0, "P", "Ann", "", "", 1]), OPTS),
    "repeat_before_empty_id": (_sheet([1, "P", "Ann", "", "", 1], ["1", "P", "Ann", "", "", 1],
                                      [DAY, "P", "Ann", "", "", 1]), OPTS),
    "date_precinct_and_batch": (_sheet([1, DAY, "Ann", "", "", 1], [2, False, "Ann", "", "", 1]),
                                {**OPTS, "batchColumnIndex": "2"}),
    "generated_ids": (_sheet([1, "P", "Ann", "", "", 1], [1, "P", "Ben", "", "", 1]),
                      {k: v for k, v in OPTS.items() if k != "idColumnIndex"}),
    "header_only": (_sheet(), OPTS),
    "no_rank_columns": (_sheet([1, "P", "Ann", "", "", 1]), {**OPTS, "maxRankingsAllowed": "0"}),
    "first_row_3": (_sheet([1, "P", True, "", "", 1], [2, "P", "Ann", "", "", 1]),
                    {**OPTS, "firstVoteRowIndex": "3"}),
}


def synthetic(module: Any, folder: Path) -> dict[str, Any]:
    """Digests of :data:`SYNTHETIC` read by ``module`` (an ES&S reader module), its sheet
    loader replaced. The file is an ``.xls`` so that no row elements are looked for."""
    file = folder / "synthetic.xls"
    file.write_bytes(b"")
    saved = module._load_rows
    out: dict[str, Any] = {}
    try:
        for name, (rows, opts) in SYNTHETIC.items():
            module._load_rows = lambda _path, rows=rows: [list(r) for r in rows]
            out[f"synthetic/{name}"] = digest(module.read, file, opts)
    finally:
        module._load_rows = saved
    return out


def compute(module: Any, rctab: Path, folder: Path) -> dict[str, Any]:
    out = {key: digest(module.read, path, opts) for key, (path, opts) in ess_inputs(rctab).items()}
    return {**out, **synthetic(module, folder)}


def test_synthetic_sheets_match_per_cell_reader(tmp_path: Path) -> None:
    expected = json.loads(DIGESTS.read_text(encoding="utf-8"))
    for key, got in synthetic(ess, tmp_path).items():
        assert got == expected[key], key


def test_columnar_reader_matches_per_cell_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    rctab = require_shared_data("rctab")
    # each spreadsheet is read with several option variants: calamine parses it once, the
    # parse being most of this test's time (the reader only reads the rows: a reader that
    # changed them would change the next variant's digest and fail here)
    parsed: dict[Path, list[list[Any]]] = {}
    load = ess._load_rows

    def load_once(path: Path) -> list[list[Any]]:
        if path not in parsed:
            parsed[path] = load(path)
        return parsed[path]

    monkeypatch.setattr(ess, "_load_rows", load_once)
    expected = json.loads(DIGESTS.read_text(encoding="utf-8"))
    inputs = ess_inputs(rctab)
    assert sorted(inputs) == sorted(k for k in expected if not k.startswith("synthetic/"))
    # the digests cover refusals and lazily raised id errors, not only clean reads
    assert any(expected[k]["error"] for k in inputs)
    for key, (path, opts) in inputs.items():
        assert digest(ess.read, path, opts) == expected[key], key


def write_digests(module: Any) -> None:
    """Write :data:`DIGESTS` from ``module``'s reading (atomically)."""
    with tempfile.TemporaryDirectory() as folder:
        text = json.dumps(compute(module, SHARED_DATA / "rctab", Path(folder)), indent=1,
                          sort_keys=True) + "\n"
    tmp = DIGESTS.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(DIGESTS)


if __name__ == "__main__":
    write_digests(ess)


def test_repeated_id_after_a_full_chunk_is_raised_after_that_chunk(tmp_path: Path) -> None:
    """As the per-card reader did: the batches of the cards before the bad one, then the error
    (a consumer may already have stored them; the error must not come earlier or later)."""
    from tallyproof.cvr_table import CvrBuilder

    from . import vendor_fixtures as vf

    chunk = CvrBuilder(()).chunk_rows
    rows = [[f"b{i}", "Ann", ""] for i in range(chunk + 10)]
    rows[chunk + 5][0] = "b7"
    sample = vf.write_ess_xlsx(tmp_path / "cvr.xlsx", rows=rows, with_count=False)
    px = ess.read(sample.path, {"idColumnIndex": "3", "firstVoteColumnIndex": "4"})
    first = next(px.batches)
    assert first.num_rows == chunk
    assert first.column("ballot_id")[7].as_py() == "b7"
    with pytest.raises(InputError) as exc:
        next(px.batches)
    # header row 1, so rows[k] is spreadsheet row k + 2
    assert (exc.value.message, exc.value.record) == ("ballot id 'b7' appears twice", chunk + 7)

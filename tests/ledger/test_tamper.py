"""Tampering with a committed store: verify must fail and name the cause (and the ballots).

One committed store (two commits) is built per module; every example works on a copy.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallyproof.ledger import commit_store, verify_store
from tallyproof.ledger.log import checkpoint_path, segment_path
from tallyproof.store import Store

from .conftest import add_cards, make_store

N = 24
SETTINGS = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory, key_pair: tuple[Path, Path]) -> Path:
    root = tmp_path_factory.mktemp("tamper") / "store"
    store = make_store(root, n=N)
    commit_store(store, key_pair[0])
    add_cards(store, 6, seed=4, prefix="late", source="late.csv")
    commit_store(store, key_pair[0])
    assert verify_store(store).ok
    return root


@pytest.fixture
def fresh(committed: Path) -> Iterator[Any]:
    made: list[Path] = []

    def copy() -> Store:
        d = Path(tempfile.mkdtemp(prefix="tamper-"))
        made.append(d)
        shutil.copytree(committed, d / "s")
        return Store.open(d / "s")

    yield copy
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def rewrite_cvrs(store: Store, rows: list[dict[str, Any]]) -> None:
    schema = store.cvrs().schema
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), store.cvrs_path)


def checks(store: Store) -> dict[str, list[str]]:
    rep = verify_store(store)
    assert not rep.ok
    out: dict[str, list[str]] = {}
    for f in rep.failures:
        out.setdefault(f.check, []).extend(f.ballot_ids)
        assert f.message
    return out


STRING_COLS = ["tabulator", "batch", "precinct", "ballot_style", "vote_type", "source_file",
               "source_record"]
CONTEST_COLS = ["contest:mayor", "contest:council", "contest:rcv"]
new_marks = st.one_of(st.none(), st.lists(st.lists(st.integers(0, 3), max_size=3), max_size=3))


@SETTINGS
@given(row=st.integers(0, N + 5), column=st.sampled_from(STRING_COLS + ["record"] + CONTEST_COLS),
       data=st.data())
def test_changing_any_field_is_caught_by_ballot_id(fresh: Any, row: int, column: str,
                                                   data: st.DataObject) -> None:
    store = fresh()
    rows = store.cvrs().to_pylist()
    old = rows[row][column]
    if column == "record":
        new = data.draw(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)).filter(lambda v: v != old))
    elif column.startswith("contest:"):
        new = data.draw(new_marks.filter(lambda v: v != old))
    else:
        new = data.draw(st.one_of(st.none(), st.text(max_size=5)).filter(lambda v: v != old))
    rows[row][column] = new
    rewrite_cvrs(store, rows)
    found = checks(store)
    assert found["changed"] == [rows[row]["ballot_id"]]
    assert set(found) <= {"changed", "batch-close"}


@SETTINGS
@given(row=st.integers(0, N + 5), new_id=st.text(min_size=1, max_size=6))
def test_changing_a_ballot_id_is_missing_plus_added(fresh: Any, row: int, new_id: str) -> None:
    store = fresh()
    rows = store.cvrs().to_pylist()
    old = rows[row]["ballot_id"]
    if any(r["ballot_id"] == new_id for r in rows):
        return
    rows[row]["ballot_id"] = new_id
    rewrite_cvrs(store, rows)
    found = checks(store)
    assert found["missing"] == [old] and found["added"] == [new_id]


@SETTINGS
@given(picks=st.sets(st.integers(0, N + 5), min_size=1, max_size=4))
def test_deleting_cvrs_names_them(fresh: Any, picks: set[int]) -> None:
    store = fresh()
    rows = store.cvrs().to_pylist()
    gone = sorted(rows[i]["ballot_id"] for i in picks)
    rewrite_cvrs(store, [r for i, r in enumerate(rows) if i not in picks])
    found = checks(store)
    assert found["missing"] == gone
    assert "batch-close" in found


@SETTINGS
@given(row=st.integers(0, N + 5))
def test_duplicating_a_cvr_is_caught(fresh: Any, row: int) -> None:
    store = fresh()
    rows = store.cvrs().to_pylist()
    rewrite_cvrs(store, [*rows, dict(rows[row])])
    found = checks(store)
    assert found["duplicated"] == [rows[row]["ballot_id"]]


def test_inserting_a_cvr_is_caught(fresh: Any) -> None:
    store = fresh()
    rows = store.cvrs().to_pylist()
    extra = dict(rows[0], ballot_id="stuffed-1")
    rewrite_cvrs(store, [*rows[:3], extra, *rows[3:]])
    assert checks(store) == {"added": ["stuffed-1"]}


def test_reordering_cvr_rows_changes_nothing_committed(fresh: Any) -> None:
    """Leaf order comes from salted hashes, not table order: the table's row order is not
    committed (so it cannot leak scan order); a reorder of what *is* ordered — the log — is
    caught below."""
    store = fresh()
    rows = store.cvrs().to_pylist()
    rewrite_cvrs(store, rows[::-1])
    assert verify_store(store).ok


@SETTINGS
@given(seg=st.sampled_from([1, 2]), data=st.data())
def test_reordering_log_leaves_is_caught(fresh: Any, seg: int, data: st.DataObject) -> None:
    store = fresh()
    path = segment_path(store.log_dir, seg)
    t = pq.read_table(path)
    i = data.draw(st.integers(0, t.num_rows - 2))
    j = data.draw(st.integers(i + 1, t.num_rows - 1))
    order = list(range(t.num_rows))
    order[i], order[j] = order[j], order[i]
    moved = t.drop_columns(["leaf_index"]).take(pa.array(order))
    pq.write_table(moved.add_column(0, "leaf_index", t.column("leaf_index")).cast(t.schema), path)
    found = checks(store)
    assert "root" in found


def test_altering_a_stored_leaf_hash_is_caught(fresh: Any) -> None:
    store = fresh()
    path = segment_path(store.log_dir, 1)
    t = pq.read_table(path)
    hashes = t.column("leaf_hash").to_pylist()
    hashes[5] = bytes(32)
    t = t.set_column(t.schema.get_field_index("leaf_hash"), "leaf_hash",
                     pa.array(hashes, pa.binary(32)))
    pq.write_table(t, path)
    assert "root" in checks(store)


def test_truncating_the_log_is_caught(fresh: Any) -> None:
    store = fresh()
    segment_path(store.log_dir, 2).unlink()
    found = checks(store)
    assert "checkpoint-size" in found and sorted(found["added"]) == [f"late{i:05d}" for i in range(6)]
    store = fresh()
    segment_path(store.log_dir, 2).unlink()
    checkpoint_path(store.log_dir, 2).unlink()
    assert checks(store) == {"added": [f"late{i:05d}" for i in range(6)]}


def test_swapping_a_checkpoint_is_caught(fresh: Any) -> None:
    store = fresh()
    first = checkpoint_path(store.log_dir, 1).read_bytes()
    checkpoint_path(store.log_dir, 2).write_bytes(first)
    assert "checkpoint-size" in checks(store)


@SETTINGS
@given(pos=st.integers(0, 63), bit=st.integers(0, 7), which=st.sampled_from([1, 2]))
def test_forged_signature_is_caught(fresh: Any, pos: int, bit: int, which: int) -> None:
    import base64

    store = fresh()
    path = checkpoint_path(store.log_dir, which)
    body, sig_line = path.read_text().rsplit("\n\u2014 ", 1)
    name, sig64 = sig_line.strip().split(" ")
    raw = bytearray(base64.b64decode(sig64))
    raw[4 + pos] ^= 1 << bit
    path.write_text(f"{body}\n\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n")
    assert set(checks(store)) == {"signature"}


def test_forged_root_with_valid_format_is_caught(fresh: Any) -> None:
    store = fresh()
    path = checkpoint_path(store.log_dir, 2)
    lines = path.read_text().split("\n")
    lines[2] = lines[2][:-5] + ("AAAA=" if not lines[2].endswith("AAAA=") else "BBBB=")
    path.write_text("\n".join(lines))
    found = checks(store)
    assert "signature" in found and "root" in found


def test_editing_the_definition_is_caught(fresh: Any) -> None:
    from dataclasses import replace

    from tallyproof.fsutil import atomic_write_json

    store = fresh()
    e = store.election
    mayor = e.contests[0]
    renamed = replace(mayor, candidates=(replace(mayor.candidates[0], name="Someone Else"),
                                         *mayor.candidates[1:]))
    atomic_write_json(store.election_path, replace(e, contests=(renamed, *e.contests[1:])).to_json())
    assert checks(store) == {"definition": []}


def test_unreadable_log_is_a_structure_failure(fresh: Any) -> None:
    store = fresh()
    segment_path(store.log_dir, 1).write_bytes(b"not parquet")
    assert "log-structure" in checks(store) or "root" in checks(store)
    store = fresh()
    segment_path(store.log_dir, 1).unlink()
    assert set(checks(store)) == {"log-structure"}


def test_uncommitted_store_fails(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", n=3)
    rep = verify_store(store)
    assert not rep.ok and rep.failures[0].check == "log-structure"


def test_a_leaf_duplicated_in_the_log_is_caught(fresh: Any) -> None:
    store = fresh()
    path = segment_path(store.log_dir, 2)
    t = pq.read_table(path)
    cards = t.filter(pc.equal(t.column("leaf_type"), 1))
    copy = cards.slice(0, 1).drop_columns(["leaf_index"])
    copy = copy.add_column(0, "leaf_index", pa.array([t.column("leaf_index")[-1].as_py() + 1],
                                                     pa.uint64()))
    pq.write_table(pa.concat_tables([t, copy.cast(t.schema)]), path)
    found = checks(store)
    assert found["duplicated"] == [cards.column("ballot_id")[0].as_py()]
    assert "checkpoint-size" in found


def test_a_missing_salt_is_named(fresh: Any) -> None:
    store = fresh()
    path = segment_path(store.log_dir, 1)
    t = pq.read_table(path)
    types = t.column("leaf_type").to_pylist()
    row = types.index(1)
    salts = t.column("salt").to_pylist()
    salts[row] = None
    idx = t.schema.get_field_index("salt")
    pq.write_table(t.set_column(idx, t.schema.field(idx), pa.array(salts, pa.binary(16))), path)
    assert checks(store) == {"leaf-data": [t.column("ballot_id")[row].as_py()]}

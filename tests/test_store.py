from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from tallyproof.cvr_table import CvrBuilder
from tallyproof.errors import InputError, StoreError
from tallyproof.fsutil import JOURNAL, atomic_write_bytes, recover, transaction
from tallyproof.model import OVERVOTE_UNKNOWN, Candidate, Contest, Election, SourceFile


def _election(*cands: str) -> Election:
    return Election(
        contests=(Contest(id="mayor", name="Mayor", candidates=tuple(Candidate(c, c.upper()) for c in cands)),)
    )


def _batches(e: Election, rows: list[tuple[str, list[list[int]]]], source: str = "f") -> list[pa.RecordBatch]:
    b = CvrBuilder(e.contests, chunk_rows=2)
    out = [r for bid, marks in rows if (r := b.add(ballot_id=bid, source_file=source, votes={"mayor": marks})) is not None]
    last = b.finish()
    return out + ([last] if last is not None else [])


def _src(name: str) -> list[SourceFile]:
    return [SourceFile(path=name, name=name, sha256=name * 4, format="test", cards=0)]


def test_append_counts_and_remaps_candidate_codes(tmp_path: Path) -> None:
    from tallyproof.store import Store

    s = Store.create(tmp_path / "st")
    e1 = _election("a", "b")
    assert s.append(e1, iter(_batches(e1, [("x1", [[0]]), ("x2", [[1]]), ("x3", [[0, 1]])], "f")), _src("f")) == 3
    e2 = _election("b", "c")  # same contest, other code order and a new candidate
    assert s.append(e2, iter(_batches(e2, [("y1", [[0], [1]]), ("y2", [[OVERVOTE_UNKNOWN]])], "g")), _src("g")) == 2
    cands = [c.id for c in s.election.contest("mayor").candidates]
    assert cands == ["a", "b", "c"]
    rows = {r["ballot_id"]: r["contest:mayor"] for r in s.cvrs().to_pylist()}
    assert rows["y1"] == [[1], [2]]  # b → 1, c → 2 in store codes
    assert rows["y2"] == [[OVERVOTE_UNKNOWN]]
    assert rows["x3"] == [[0, 1]]
    assert [(src.name, src.cards) for src in s.election.sources] == [("f", 3), ("g", 2)]


def test_duplicate_ballot_id_refused_and_store_unchanged(tmp_path: Path) -> None:
    from tallyproof.store import Store

    s = Store.create(tmp_path / "st")
    e = _election("a", "b")
    s.append(e, iter(_batches(e, [("x1", [[0]])], "f")), _src("f"))
    before = (s.cvrs_path.read_bytes(), s.election_path.read_bytes())
    with pytest.raises(InputError, match="x1"):
        s.append(e, iter(_batches(e, [("x2", [[0]]), ("x1", [[1]])], "g")), _src("g"))
    assert (s.cvrs_path.read_bytes(), s.election_path.read_bytes()) == before
    assert not list((tmp_path / "st").glob(".*.tmp"))


def test_same_file_twice_refused(tmp_path: Path) -> None:
    from tallyproof.store import Store

    s = Store.create(tmp_path / "st")
    e = _election("a")
    s.append(e, iter(_batches(e, [("x1", [[0]])], "f")), _src("f"))
    with pytest.raises(InputError, match="already ingested"):
        s.append(e, iter(_batches(e, [("z1", [[0]])], "f")), _src("f"))


def test_open_requires_a_store(tmp_path: Path) -> None:
    from tallyproof.store import Store

    with pytest.raises(StoreError):
        Store.open(tmp_path)
    (tmp_path / "x").write_text("not a store")
    with pytest.raises(StoreError):
        Store.create(tmp_path)


def test_error_inside_transaction_discards_staging(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), transaction(tmp_path) as tx:
        tx.write_bytes(target, b"new")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(".*.tmp"))


def test_recover_rolls_an_interrupted_commit_forward(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"a0")
    b.write_bytes(b"b0")
    # Simulate a crash after the journal was written and one of two renames was done.
    (tmp_path / ".b.1.tmp").write_bytes(b"b1")
    a.write_bytes(b"a1")
    (tmp_path / JOURNAL).write_bytes(orjson.dumps([[".a.1.tmp", "a"], [".b.1.tmp", "b"]]))
    recover(tmp_path)
    assert (a.read_bytes(), b.read_bytes()) == (b"a1", b"b1")
    assert not (tmp_path / JOURNAL).exists()


def test_stray_temp_files_from_a_crash_before_the_journal_are_dropped(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a0")
    (tmp_path / ".a.x.tmp").write_bytes(b"half-written")
    recover(tmp_path)
    assert (tmp_path / "a").read_bytes() == b"a0"
    assert not (tmp_path / ".a.x.tmp").exists()


def test_store_given_as_a_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tallyproof.store import Store

    monkeypatch.chdir(tmp_path)
    s = Store.create(Path("rel/store"))
    e = _election("a")
    assert s.append(e, iter(_batches(e, [("x1", [[0]])], "f")), _src("f")) == 1
    assert Store.open(Path("rel/store")).cvr_count() == 1


def test_atomic_writes_are_public_unless_asked_private(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "pub", b"x")
    atomic_write_bytes(tmp_path / "key", b"secret", mode=0o600)
    assert (tmp_path / "pub").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600


def test_set_contest_rule_declares_approval(tmp_path: Path) -> None:
    from tallyproof.model import ContestKind
    from tallyproof.store import Store

    s = Store.create(tmp_path / "st")
    e = _election("a", "b", "c")
    s.append(e, iter(_batches(e, [("x1", [[0, 1]])], "f")), _src("f"))
    s.set_contest_rule("mayor", kind=ContestKind.APPROVAL, seats=1)
    assert s.election.contest("mayor").kind is ContestKind.APPROVAL
    with pytest.raises(InputError, match="no contest"):
        s.set_contest_rule("nope", kind=ContestKind.APPROVAL, seats=1)


def test_append_exports_is_one_transaction(tmp_path: Path) -> None:
    """A second export that fails while its rows are read leaves the store as it was, with the
    first export's rows and the manifest discarded too."""
    from tallyproof.store import MANIFEST_SCHEMA, Store
    from tallyproof.store_append import Incoming

    s = Store.create(tmp_path / "st")
    e = _election("a", "b")
    s.append(e, iter(_batches(e, [("x1", [[0]])], "f")), _src("f"))
    before = {p.name: p.read_bytes() for p in s.root.iterdir() if p.is_file() and p.name != ".lock"}

    def failing() -> Iterator[pa.RecordBatch]:
        yield from _batches(e, [("z1", [[1]])], "h")
        raise InputError("cut short", file="h")

    manifest = pa.table({"container": ["c"], "tabulator": ["t"], "batch": ["b"], "ballots": [1]},
                        schema=MANIFEST_SCHEMA)
    exports = [Incoming(e, iter(_batches(e, [("y1", [[0]])], "g")), _src("g")),
               Incoming(e, failing(), _src("h"))]
    with pytest.raises(InputError, match="cut short"):
        s.append_exports(exports, manifest)
    after = {p.name: p.read_bytes() for p in s.root.iterdir() if p.is_file() and p.name != ".lock"}
    assert after == before


def test_new_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    from tallyproof.fsutil import INCOMPLETE, new_folder

    target = tmp_path / "county"
    with pytest.raises(RuntimeError), new_folder(target, busy=StoreError, exists=StoreError) as st:
        (st / "a").write_text("x")
        assert (st / INCOMPLETE).exists()
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with new_folder(target, busy=StoreError, exists=StoreError) as st:
        (st / "a").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["county"]
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    # a folder that appeared meanwhile is never replaced
    other = tmp_path / "other"
    with pytest.raises(StoreError), new_folder(other, busy=StoreError, exists=StoreError) as st:
        other.mkdir()
        (other / "theirs").write_text("y")
    assert sorted(p.name for p in other.iterdir()) == ["theirs"]

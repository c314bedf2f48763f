"""commit, prove, consistency and corrections on small stores."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tallyproof.errors import StoreError, UsageError
from tallyproof.ledger import (
    commit_store,
    consistency,
    load_checkpoints,
    new_keypair,
    prove,
    verify_store,
)
from tallyproof.ledger import canonical as cn
from tallyproof.ledger.log import checkpoint_paths, load_leaves
from tallyproof.ledger.merkle import verify_consistency, verify_inclusion

from .conftest import add_cards, make_store, no_child_left_behind


def test_commit_is_idempotent_and_appends(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "s", n=30)
    first = commit_store(store, key_pair[0])
    assert first.committed and first.cards_added == 30 and first.definition_added
    # 30 cards in batches of 7 per tabulator: one batch record per (file, tabulator, batch)
    groups = store.cvrs().group_by(["tabulator", "batch"]).aggregate([([], "count_all")])
    assert first.batch_records == groups.num_rows
    assert first.tree_size == 1 + 30 + groups.num_rows
    again = commit_store(store, key_pair[0])
    assert not again.committed and again.tree_size == first.tree_size and again.root == first.root
    assert len(load_checkpoints(store.log_dir)) == 1
    add_cards(store, 5, seed=9, prefix="late", source="late.csv")
    second = commit_store(store, key_pair[0])
    assert second.committed and second.cards_added == 5 and not second.definition_added
    assert second.tree_size > first.tree_size
    assert [p.name for p in checkpoint_paths(store)] == ["000001.txt", "000002.txt"]
    report = verify_store(store)
    assert report.ok, report.failures
    assert report.checkpoints_checked == 2 and report.tree_size == second.tree_size


def test_leaf_order_is_by_salted_hash_not_scan_order(tmp_path: Path,
                                                     key_pair: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "s", n=40)
    commit_store(store, key_pair[0])
    t = load_leaves(store.log_dir).table
    cards = t.filter(pc.equal(t.column("leaf_type"), cn.CVR))
    hashes = [h.hex() for h in cards.column("leaf_hash").to_pylist()]
    assert hashes == sorted(hashes)
    assert cards.column("ballot_id").to_pylist() != sorted(cards.column("ballot_id").to_pylist())
    salts = cards.column("salt").to_pylist()
    assert len(set(salts)) == len(salts) and all(len(s) == 16 for s in salts)


def test_prove_verifies_against_the_signed_root(tmp_path: Path,
                                                key_pair: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "s", n=25)
    commit_store(store, key_pair[0])
    add_cards(store, 6, seed=2, prefix="z", source="z.csv")
    commit_store(store, key_pair[0])
    for ballot in ("b00000", "b00024", "z00005"):
        p = prove(store, ballot, with_data=True)
        leaf = bytes.fromhex(p["leaf_hash"])  # type: ignore[arg-type]
        path = [bytes.fromhex(h) for h in p["audit_path"]]  # type: ignore[union-attr]
        assert verify_inclusion(p["leaf_index"], p["tree_size"], leaf, path,  # type: ignore[arg-type]
                                bytes.fromhex(p["root"]))  # type: ignore[arg-type]
        data = bytes.fromhex(p["leaf_data"])  # type: ignore[arg-type]
        assert hashlib.sha256(b"\x00" + data).digest() == leaf
        assert data[2:18].hex() == p["salt"]
        assert p["checkpoint"] == load_checkpoints(store.log_dir)[-1].text
    with pytest.raises(UsageError):
        prove(store, "no-such-ballot")


def test_consistency_between_checkpoints(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "s", n=12)
    old = commit_store(store, key_pair[0])
    add_cards(store, 9, seed=5, prefix="y", source="y.csv")
    new = commit_store(store, key_pair[0])
    c = consistency(store, old.tree_size)
    assert c["old_root"] == old.root and c["new_root"] == new.root
    proof = [bytes.fromhex(h) for h in c["proof"]]  # type: ignore[union-attr]
    assert verify_consistency(old.tree_size, new.tree_size, bytes.fromhex(old.root),
                              bytes.fromhex(new.root), proof)
    with pytest.raises(UsageError):
        consistency(store, new.tree_size + 1)


def test_supersede_records_a_correction(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "s", n=15)
    commit_store(store, key_pair[0])
    t = store.cvrs()
    rows = t.to_pylist()
    target = rows[4]["ballot_id"]
    rows[4]["precinct"] = "corrected"
    pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), store.cvrs_path)
    bad = verify_store(store)
    assert not bad.ok and bad.failures[0].check == "changed" and bad.failures[0].ballot_ids == [target]
    res = commit_store(store, key_pair[0], {target: "precinct mis-keyed at ingest"})
    assert res.supersedes == 1 and res.cards_added == 0
    rep = verify_store(store)
    assert rep.ok, rep.failures
    p = prove(store, target)
    assert p["leaf_type"] == "supersede"
    with pytest.raises(UsageError):
        commit_store(store, key_pair[0], {"unknown": "x"})


def test_a_log_keeps_its_key(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "s", n=5)
    commit_store(store, key_pair[0])
    other, _ = new_keypair(tmp_path / "intruder")
    add_cards(store, 2, seed=1, prefix="n", source="n.csv")
    with pytest.raises(StoreError, match="must be signed"):
        commit_store(store, other)


def test_verify_with_trusted_keys(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "s", n=5)
    commit_store(store, key_pair[0])
    trusted = key_pair[1].read_text().strip()
    assert verify_store(store, [trusted]).ok
    _, other_pub = new_keypair(tmp_path / "other")
    rep = verify_store(store, [other_pub.read_text().strip()])
    assert not rep.ok and {f.check for f in rep.failures} == {"signature"}


def test_commit_refuses_to_append_to_a_damaged_log(tmp_path: Path,
                                                   key_pair: tuple[Path, Path]) -> None:
    from tallyproof.ledger.log import segment_path

    store = make_store(tmp_path / "s", n=6)
    commit_store(store, key_pair[0])
    path = segment_path(store.log_dir, 1)
    t = pq.read_table(path)
    hashes = t.column("leaf_hash").to_pylist()
    hashes[2] = bytes(32)
    idx = t.schema.get_field_index("leaf_hash")
    pq.write_table(t.set_column(idx, t.schema.field(idx), pa.array(hashes, pa.binary(32))), path)
    add_cards(store, 2, seed=1, prefix="n", source="n.csv")
    with pytest.raises(StoreError, match="do not match the last checkpoint"):
        commit_store(store, key_pair[0])
    assert len(load_checkpoints(store.log_dir)) == 1


def test_sort_order_settles_64_bit_prefix_ties() -> None:
    from tallyproof.ledger.log import sort_order

    hs = [hashlib.sha256(bytes([i])).digest() for i in range(50)]
    hs = [b"\x00" * 8 + h[8:] for h in hs[:20]] + [b"\xff" * 8 + h[8:] for h in hs[20:25]] + hs[25:]
    order = sort_order(b"".join(hs))
    assert [hs[i] for i in order] == sorted(hs)


def test_an_independent_reading_of_the_spec_checks_a_ballot(tmp_path: Path,
                                                           key_pair: tuple[Path, Path]) -> None:
    """What a verifier written from docs/commitment.md alone would do for one ballot: rebuild
    the leaf from the CVR row and salt, walk the audit path, check the Ed25519 signature."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    store = make_store(tmp_path / "s", n=12)
    commit_store(store, key_pair[0])
    row = store.cvrs().to_pylist()[5]
    p = prove(store, row["ballot_id"], with_data=True)
    votes = {c.removeprefix("contest:"): row[c] for c in row
             if c.startswith("contest:") and row[c] is not None}
    order = [c.id for c in store.election.contests]
    data = spec_encode_for(row, votes, order, bytes.fromhex(p["salt"]))  # type: ignore[arg-type]
    assert data.hex() == p["leaf_data"]
    node = hashlib.sha256(b"\x00" + data).digest()
    index, size = p["leaf_index"], p["tree_size"]
    fn, sn = index, size - 1  # RFC 9162 §2.1.3.2
    for h in p["audit_path"]:  # type: ignore[union-attr]
        sib = bytes.fromhex(h)
        if fn & 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sib + node).digest()
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hashlib.sha256(b"\x01" + node + sib).digest()
        fn, sn = fn >> 1, sn >> 1
    assert node.hex() == p["root"]
    body, _, sig_line = str(p["checkpoint"]).partition("\n\n")
    assert body.split("\n")[1:3] == [str(size), base64.b64encode(node).decode()]
    name, _, raw_key = key_pair[1].read_text().strip().split("+", 2)
    sig = base64.b64decode(sig_line.split(" ")[2])
    Ed25519PublicKey.from_public_bytes(base64.b64decode(raw_key)[1:]).verify(
        sig[4:], (body + "\n").encode())
    assert sig_line.startswith(f"\u2014 {name} ")


def spec_encode_for(card: dict, votes: dict, contest_order: list[str], salt: bytes) -> bytes:  # type: ignore[type-arg]
    """§1.2 of docs/commitment.md for any contest list."""
    out = bytes([1, 1]) + salt
    rec = card["record"]
    out += b"\x00" * 9 if rec is None else b"\x01" + rec.to_bytes(8, "big", signed=True)
    fields = ("ballot_id", "tabulator", "batch", "precinct", "ballot_style", "vote_type",
              "source_file", "source_record")
    vals = [None if card[f] is None else card[f].encode() for f in fields]
    out += b"".join((0xFFFFFFFF if v is None else len(v)).to_bytes(4, "big") for v in vals)
    out += b"".join(v or b"" for v in vals)
    for k, cid in enumerate(contest_order):
        if cid in votes:
            out += k.to_bytes(2, "big") + len(votes[cid]).to_bytes(2, "big")
            for rank in votes[cid]:
                out += len(rank).to_bytes(2, "big") + b"".join(x.to_bytes(2, "big") for x in rank)
    return out


@pytest.mark.parametrize("processes", [1, 2])
def test_unreadable_cvr_table_is_a_failure_not_a_crash(
    tmp_path: Path, key_pair: Any, processes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify_store reads the CVR table while the tree is built (in a forked child where there
    is one); a table that cannot be read is reported as such, and no child is left behind."""
    from tallyproof.ledger import parallel

    monkeypatch.setattr(parallel, "PROCESSES", processes)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ITEMS", 2)
    store = make_store(tmp_path / "s", n=300)
    commit_store(store, key_pair[0])
    assert verify_store(store).ok
    store.cvrs_path.write_bytes(b"PAR1 not a parquet file PAR1")
    with no_child_left_behind():
        report = verify_store(store)
    assert not report.ok
    assert [f.check for f in report.failures] == ["changed"]
    assert "the CVR table cannot be read" in report.failures[0].message


def test_rows_where_is_filter_without_copying_runs() -> None:
    import numpy as np
    import pyarrow as pa

    from tallyproof.ledger.log import rows_where

    t = pa.table({"a": np.arange(1000), "b": [str(i) for i in range(1000)]})
    i = np.arange(1000)
    masks = [i < 0, i >= 0, (i > 10) & (i < 900), (i < 5) | (i > 990), i % 3 == 0,
             np.random.default_rng(0).random(1000) < 0.5]
    for m in masks:
        got, want = rows_where(t, m), t.filter(pa.array(m))
        assert got.combine_chunks().equals(want.combine_chunks())
    one_run = rows_where(t, (i > 10) & (i < 900))
    assert one_run.column("a").chunks[0].offset == 11  # a slice of the table, not a copy

"""Canonical leaf bytes: the column-wise encoder against a literal reading of the spec."""

from __future__ import annotations

import hashlib

import numpy as np
import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.cvr_table import CvrBuilder
from tallyproof.ledger import canonical as cn
from tallyproof.model import Candidate, Contest, ContestKind, Election

CANDS = tuple(Candidate(f"c{i}", f"Cand {i}") for i in range(5))
CONTESTS = (
    Contest("a", "A", candidates=CANDS),
    Contest("r", "R", kind=ContestKind.IRV, candidates=CANDS, max_rankings=3),
)
ELECTION = Election(contests=CONTESTS)
FIELDS = ("ballot_id", "tabulator", "batch", "precinct", "ballot_style", "vote_type",
          "source_file", "source_record")


def spec_encode(card: dict, votes: dict, salt: bytes, sup: tuple[int, str] | None) -> bytes:  # type: ignore[type-arg]
    """docs/commitment.md §CVR leaf, written out byte by byte."""
    out = bytes([cn.CVR if sup is None else cn.SUPERSEDE, 1]) + salt
    if sup is not None:
        reason = sup[1].encode()
        out += sup[0].to_bytes(8, "big") + len(reason).to_bytes(4, "big") + reason
    rec = card["record"]
    out += b"\x00" * 9 if rec is None else b"\x01" + rec.to_bytes(8, "big", signed=True)
    vals = [None if card[f] is None else card[f].encode() for f in FIELDS]
    out += b"".join((0xFFFFFFFF if v is None else len(v)).to_bytes(4, "big") for v in vals)
    out += b"".join(v or b"" for v in vals)
    for i, c in enumerate(CONTESTS):
        if c.id in votes:
            marks = votes[c.id]
            out += i.to_bytes(2, "big") + len(marks).to_bytes(2, "big")
            for rank in marks:
                out += len(rank).to_bytes(2, "big") + b"".join(x.to_bytes(2, "big") for x in rank)
    return out


text = st.one_of(st.none(), st.text(max_size=6))
cards = st.fixed_dictionaries({
    "ballot_id": st.text(min_size=1, max_size=8), "tabulator": text, "batch": text,
    "record": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), "precinct": text,
    "ballot_style": text, "vote_type": text, "source_file": text, "source_record": text,
})
marks = st.lists(st.lists(st.sampled_from([0, 1, 2, 3, 4, 0xFFFF]), max_size=3), max_size=4)
votes = st.fixed_dictionaries({}, optional={"a": marks, "r": marks})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cards, votes), min_size=1, max_size=12), st.integers(0, 5), st.data())
def test_encoder_matches_spec(rows, skip: int, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    builder = CvrBuilder(CONTESTS)
    for card, v in rows:
        builder.add(votes=v, **card)
    table = pa.Table.from_batches([builder.finish()])
    skip = min(skip, len(rows) - 1)
    table = table.slice(skip)  # sliced arrays must encode like fresh ones
    n = table.num_rows
    salts = np.frombuffer(bytes(range(16)) * n, dtype=np.uint8).reshape(n, 16)
    sup = data.draw(st.lists(st.one_of(st.none(), st.tuples(st.integers(0, 2**64 - 1),
                                                            st.text(max_size=5))),
                             min_size=n, max_size=n))
    plain = cn.encode_cards(table, ELECTION, salts).to_pylist()
    mixed = cn.encode_cards(table, ELECTION, salts, sup).to_pylist()
    hashes = cn.encode_and_hash(table, ELECTION, salts, sup)
    for j, (card, v) in enumerate(rows[skip:]):
        assert plain[j] == spec_encode(card, v, bytes(range(16)), None)
        assert mixed[j] == spec_encode(card, v, bytes(range(16)), sup[j])
        assert hashes[32 * j : 32 * j + 32] == hashlib.sha256(b"\x00" + mixed[j]).digest()


def test_absent_and_empty_contests_differ() -> None:
    b = CvrBuilder(CONTESTS)
    b.add(ballot_id="x", votes={})
    b.add(ballot_id="x", votes={"a": [[]]})
    b.add(ballot_id="x", votes={"a": []})
    t = pa.Table.from_batches([b.finish()])
    enc = cn.encode_cards(t, ELECTION, np.zeros((3, 16), np.uint8)).to_pylist()
    assert len(set(enc)) == 3
    assert enc[1].endswith(b"\x00\x00\x00\x01\x00\x00") and enc[2].endswith(b"\x00\x00\x00\x00")


def test_definition_leaf_is_rfc8785_json() -> None:
    leaf = cn.definition_leaf(ELECTION)
    assert leaf[:2] == bytes([cn.DEFINITION, 1])
    body = leaf[2:]
    obj = orjson.loads(body)
    assert [c["id"] for c in obj["contests"]] == ["a", "r"]
    # sorted keys, no whitespace
    assert body.startswith(b'{"contests":[{"candidates":[{"id":"c0","name":"Cand 0","write_in":false}')
    assert b" " not in body.replace(b"Cand ", b"")


def test_batch_close_leaf_layout() -> None:
    leaf = cn.batch_close_leaf("f.csv", "ab" * 32, None, "7", 250)
    assert leaf == (bytes([cn.BATCH_CLOSE, 1]) + b"\x00\x00\x00\x05f.csv" + b"\x01" + b"\xab" * 32
                    + b"\xff\xff\xff\xff" + b"\x00\x00\x00\x017" + (250).to_bytes(8, "big"))
    assert cn.batch_close_leaf(None, None, "t", "b", 0)[2:7] == b"\xff\xff\xff\xff\x00"


def test_null_slots_that_span_values_encode_as_absent() -> None:
    """Arrow lets a null list slot cover child values; they must not leak into the leaf."""
    inner = pa.ListArray.from_arrays(pa.array([0, 1, 2, 3]), pa.array([1, 2, 3], pa.uint16()))
    odd = pa.ListArray.from_arrays(pa.array([0, 1, 3], pa.int32()), inner,
                                   mask=pa.array([False, True]))
    regular = pa.array([[[1]], None], type=odd.type)
    other = pa.array([None, None], type=odd.type)
    def table(col: pa.Array) -> pa.Table:
        cols = {f: pa.array(["x", "y"]) for f in FIELDS}
        return pa.table({**cols, "record": pa.array([1, 2], pa.int64()), "contest:a": col,
                         "contest:r": other})
    salts = np.zeros((2, 16), np.uint8)
    assert (cn.encode_cards(table(odd), ELECTION, salts).to_pylist()
            == cn.encode_cards(table(regular), ELECTION, salts).to_pylist())

"""The compiled SHA-256 loops (ledger/sha256_batch.py, sha256_kernels.py, leaf_kernel.py)
give exactly hashlib's digests: leaves, tree, sampler tickets; and refuse to run when not."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.audit import sampler
from tallyproof.cvr_table import CvrBuilder
from tallyproof.ledger import canonical as cn
from tallyproof.ledger import merkle, sha256_batch

from .test_canonical import CONTESTS, ELECTION, cards, spec_encode, votes

pytestmark = pytest.mark.skipif(sha256_batch.backend(sha256_batch.MIN_ITEMS) is None,
                                reason="the compiled loops cannot run here: "
                                f"{sha256_batch.unavailable_reason()}")


@contextmanager
def compiled(on: bool = True) -> Iterator[None]:
    """Every job, however small, through the compiled loops (or, ``on=False``, none)."""
    saved = sha256_batch.MIN_ITEMS
    sha256_batch.MIN_ITEMS = 0 if on else 1 << 62
    try:
        yield
    finally:
        sha256_batch.MIN_ITEMS = saved


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=70), st.lists(st.binary(max_size=200), min_size=1, max_size=30),
       st.integers(0, 3))
def test_slices_are_hashlib_digests(prefix: bytes, messages: list[bytes], pad: int) -> None:
    k = sha256_batch.backend(sha256_batch.MIN_ITEMS)
    data = np.frombuffer(b"\xee" * pad + b"".join(messages), dtype=np.uint8)
    offsets = np.concatenate(([0], np.cumsum([len(m) for m in messages]))) + pad
    want = b"".join(hashlib.sha256(prefix + m).digest() for m in messages)
    assert sha256_batch.slices(prefix, data, offsets.astype(np.int64), k) == want
    assert sha256_batch.slices(prefix, data, offsets.astype(np.int32), k) == want


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cards, votes), min_size=1, max_size=12), st.integers(0, 5),
       st.booleans())
def test_compiled_leaf_hashes_match_the_spec(rows, skip: int, supersede: bool) -> None:  # type: ignore[no-untyped-def]
    """The fused encode-and-hash loop against docs/commitment.md written out byte by byte:
    nulls, empty strings, non-ASCII text, several ranks and marks, sliced tables. A table with
    a supersede leaf takes the column-wise encoder (and must still give the same digests)."""
    builder = CvrBuilder(CONTESTS)
    for card, v in rows:
        builder.add(votes=v, **card)
    table = pa.Table.from_batches([builder.finish()]).slice(min(skip, len(rows) - 1))
    n = table.num_rows
    salts = np.frombuffer(bytes(range(16)) * n, dtype=np.uint8).reshape(n, 16)
    sup = [(7, "r")] + [None] * (n - 1) if supersede else None
    with compiled():
        got = cn.encode_and_hash(table, ELECTION, salts, sup)
    for j, (card, v) in enumerate(rows[len(rows) - n:]):
        leaf = spec_encode(card, v, bytes(range(16)), sup[j] if sup else None)
        assert got[32 * j : 32 * j + 32] == hashlib.sha256(b"\x00" + leaf).digest()


def test_compiled_leaves_treat_null_slots_that_span_values_as_absent() -> None:
    inner = pa.ListArray.from_arrays(pa.array([0, 1, 2, 3]), pa.array([1, 2, 3], pa.uint16()))
    odd = pa.ListArray.from_arrays(pa.array([0, 1, 3], pa.int32()), inner,
                                   mask=pa.array([False, True]))
    odd_rank = pa.ListArray.from_arrays(pa.array([0, 2, 2], pa.int32()), pa.ListArray.from_arrays(
        pa.array([0, 1, 3], pa.int32()), pa.array([1, 2, 3], pa.uint16()),
        mask=pa.array([False, True])))
    fields = ("ballot_id", "tabulator", "batch", "precinct", "ballot_style", "vote_type",
              "source_file", "source_record")

    def table(a: pa.Array) -> pa.Table:
        return pa.table({**{f: pa.array(["x", "é"]) for f in fields},
                         "record": pa.array([1, None], pa.int64()), "contest:a": a,
                         "contest:r": pa.array([None, None], type=a.type)})

    salts = np.zeros((2, 16), np.uint8)
    for col in (odd, odd_rank):
        with compiled(False):
            want = cn.encode_and_hash(table(col), ELECTION, salts)
        with compiled():
            assert cn.encode_and_hash(table(col), ELECTION, salts) == want
    with compiled():
        assert (cn.encode_and_hash(table(odd), ELECTION, salts)
                == cn.encode_and_hash(table(pa.array([[[1]], None], type=odd.type)), ELECTION,
                                      salts))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 127, 128, 129, 1000, 4099])
def test_tree_is_the_same_with_either_hasher(size: int) -> None:
    leaves = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size))
    with compiled(False):
        want = merkle.Tree(leaves)
    with compiled():
        got = merkle.Tree(leaves)
    assert got.levels == want.levels
    assert got.root() == want.root() and got.root(size // 2 or 1) == want.root(size // 2 or 1)


def test_sampler_tickets_are_the_same_with_either_hasher() -> None:
    """A sliced Arrow frame with non-ASCII ids: the same ticket prefixes, the same draws."""
    ids = pa.array(["x"] * 3 + [f"bállot-{i:05d}" for i in range(3000)]).slice(3)
    sampler._PREFIX_CACHE.clear()
    with compiled(False):
        want = sampler._ticket_prefixes(sampler.ArrowIds(ids), "seed 42")
        want_draws = sampler.sample(sampler.ArrowIds(ids), "seed 42", 25)
    sampler._PREFIX_CACHE.clear()
    with compiled():
        got = sampler._ticket_prefixes(sampler.ArrowIds(ids), "seed 42")
        got_draws = sampler.sample(sampler.ArrowIds(ids), "seed 42", 25)
    sampler._PREFIX_CACHE.clear()
    assert np.array_equal(got, want) and got_draws == want_draws
    assert not got.flags.writeable  # cached and handed out again: nobody may change it


def test_environment_keeps_every_hash_on_hashlib(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sha256_batch.name() == "openssl-batch"
    monkeypatch.setenv(sha256_batch.ENV, "hashlib")
    assert sha256_batch.backend(10**9) is None and sha256_batch.name() == "hashlib"


def test_small_jobs_are_hashed_with_hashlib() -> None:
    assert sha256_batch.backend(sha256_batch.MIN_ITEMS - 1) is None
    assert sha256_batch.backend(sha256_batch.MIN_ITEMS) is not None


def test_a_loop_that_gives_wrong_digests_is_refused() -> None:
    def wrong(prefix: np.ndarray, data: np.ndarray, offsets: np.ndarray, out: np.ndarray,
              ctx: np.ndarray) -> int:
        out[:] = 0
        return 0

    with pytest.raises(sha256_batch.HashBackendError, match="disagrees with hashlib"):
        sha256_batch._self_test(SimpleNamespace(hash_slices=wrong, CTX_BYTES=256))  # type: ignore[arg-type]


def test_openssl_failure_is_an_error_not_a_digest() -> None:
    def failing(prefix: np.ndarray, data: np.ndarray, offsets: np.ndarray, out: np.ndarray,
                ctx: np.ndarray) -> int:
        return 1

    with pytest.raises(sha256_batch.HashBackendError, match="reported a failure"):
        sha256_batch.slices(b"", np.zeros(4, np.uint8), np.array([0, 4]),
                            SimpleNamespace(hash_slices=failing, CTX_BYTES=256))  # type: ignore[arg-type]


def test_openssl_context_lives_in_the_callers_scratch() -> None:
    """OpenSSL writes its context through a raw address for the whole loop: an array the loop
    allocated itself for it would be freed by numba right after its address is taken (checked
    below), leaving OpenSSL writing into memory handed out again. Both loops must write it in
    the scratch the caller passes, which lives until they return."""
    import numba

    @numba.njit
    def address_reused() -> bool:  # the kernels' shape: the address taken, then a loop
        ctx = np.empty(256, np.uint8)
        c = ctx.ctypes.data
        reused = False
        for _ in range(2):
            other = np.empty(256, np.uint8)
            other[0] = 1
            reused |= other.ctypes.data == c
        return reused

    assert address_reused(), "numba keeps such arrays alive now: the scratch is still right"
    k = sha256_batch.backend(sha256_batch.MIN_ITEMS)
    ctx = np.zeros(k.CTX_BYTES, np.uint8)
    out = np.empty((1, 32), np.uint8)
    assert k.hash_slices(np.zeros(0, np.uint8), np.frombuffer(b"abc", np.uint8),
                         np.array([0, 3]), out, ctx) == 0
    assert out.tobytes() == hashlib.sha256(b"abc").digest() and ctx.any()
    from tallyproof.ledger import leaf_kernel

    builder = CvrBuilder(CONTESTS)
    builder.add(ballot_id="b1", votes={"a": [[1]]})
    table = pa.Table.from_batches([builder.finish()])
    cols = leaf_kernel.columns([table.column(f).combine_chunks().cast(pa.binary())
                                for f in cn.STRING_FIELDS],
                               table.column("record").combine_chunks(),
                               [(0, table.column("contest:a").combine_chunks())])
    buf, ctx = np.zeros(cols.max_leaf, np.uint8), np.zeros(k.CTX_BYTES, np.uint8)
    got = np.empty((1, 32), np.uint8)
    assert leaf_kernel._leaf_hashes(
        np.zeros((1, 16), np.uint8), cols.rec_valid, cols.rec_values, cols.str_valid,
        cols.str_offsets, cols.str_data, cols.contest_index, cols.contest_valid,
        cols.contest_ranks, cols.rank_codes, cols.code_bytes, buf, ctx, got) == 0
    assert buf.any() and ctx.any()
    assert got.tobytes() == leaf_kernel.leaf_hashes(cols, np.zeros((1, 16), np.uint8))[0].tobytes()


def test_a_small_commit_never_imports_numba() -> None:
    """numba's start (about 0.6 s) is paid only by jobs large enough to repay it."""
    code = (
        "import sys, numpy as np, pyarrow as pa\n"
        "from tallyproof.ledger import canonical as cn, merkle\n"
        "from tests.ledger.test_canonical import ELECTION\n"
        "from tallyproof.cvr_table import CvrBuilder\n"
        "from tests.ledger.test_canonical import CONTESTS\n"
        "b = CvrBuilder(CONTESTS)\n"
        "for i in range(50): b.add(ballot_id=str(i), votes={'a': [[1]]})\n"
        "t = pa.Table.from_batches([b.finish()])\n"
        "h = cn.encode_and_hash(t, ELECTION, np.zeros((50, 16), np.uint8))\n"
        "merkle.Tree(h).root()\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"

"""RFC 9162 tree, inclusion and consistency proofs against published reference vectors.

The vectors are the Certificate Transparency / transparency-dev test data: leaf inputs, node
hashes and roots for sizes 0-8 from transparency-dev/merkle ``testonly/constants.go``, and the
inclusion and consistency proofs (with their corruption probes) from
transparency-dev/merkle ``proof/verify_test.go`` (there leaves are numbered from 1; here the
indices are converted to RFC 9162's 0-based form).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.ledger.merkle import (
    EMPTY_ROOT,
    Tree,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_of,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

LEAF_INPUTS = [h(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
LEAF_HASHES = [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
)]
LEVEL1 = [h(x) for x in (
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
)]
LEVEL2 = [h(x) for x in (
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
)]
ROOTS = [EMPTY_ROOT] + [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (0-based leaf index, tree size, proof)
INCLUSION = [
    (0, 1, []),
    (0, 8, [LEAF_HASHES[1], LEVEL1[1], LEVEL2[1]]),
    (5, 8, [LEAF_HASHES[4], LEVEL1[3], LEVEL2[0]]),
    (2, 3, [LEVEL1[0]]),
    (1, 5, [LEAF_HASHES[0], LEVEL1[1], LEAF_HASHES[4]]),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [LEAF_HASHES[1], LEVEL1[1], LEVEL2[1]]),
    (6, 8, [LEVEL1[2], LEVEL1[3], LEVEL2[0]]),
    (2, 5, [LEVEL1[1], LEAF_HASHES[4]]),
    (6, 7, [LEVEL1[2], LEAF_HASHES[6], LEVEL2[0]]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")
TREE = Tree.from_leaves([leaf_hash(d) for d in LEAF_INPUTS])


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_of([]) == EMPTY_ROOT


def test_leaf_and_node_hashes() -> None:
    assert [leaf_hash(d) for d in LEAF_INPUTS] == LEAF_HASHES
    assert node_hash(LEAF_HASHES[0], LEAF_HASHES[1]) == LEVEL1[0]
    assert [TREE.subtree_root(2 * i, 2 * i + 2) for i in range(4)] == LEVEL1
    assert [TREE.subtree_root(4 * i, 4 * i + 4) for i in range(2)] == LEVEL2


@pytest.mark.parametrize("size", range(9))
def test_roots_of_sizes_0_to_8(size: int) -> None:
    assert TREE.root(size) == ROOTS[size]
    assert root_of(LEAF_HASHES[:size]) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, proof: list[bytes]) -> None:
    assert TREE.inclusion_proof(index, size) == proof
    leaf, root = LEAF_HASHES[index], ROOTS[size]
    assert root_from_inclusion_proof(index, size, leaf, proof) == root
    assert verify_inclusion(index, size, leaf, proof, root)
    for probe in _corrupt_inclusion(index, size, leaf, proof, root):
        assert not verify_inclusion(*probe)


def _corrupt_inclusion(index, size, leaf, proof, root):  # type: ignore[no-untyped-def]
    """The negative cases of transparency-dev's corruptInclusionProof."""
    probes = [
        (index - 1, size, leaf, proof, root), (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root), (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root), (index, size, b"WrongLeaf", proof, root),
        (index, size, leaf, proof, EMPTY_ROOT), (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root), (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root), (index, size, leaf, [root, *proof], root),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, leaf, bad, root))
    if proof:
        probes.append((index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root))
    return probes


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, proof: list[bytes]) -> None:
    assert TREE.consistency_proof(old, new) == proof
    r1, r2 = ROOTS[old], ROOTS[new]
    assert verify_consistency(old, new, r1, r2, proof)
    if not proof:
        return
    for probe in _corrupt_consistency(old, new, r1, r2, proof):
        assert not verify_consistency(*probe)


def _corrupt_consistency(old, new, r1, r2, proof):  # type: ignore[no-untyped-def]
    """The negative cases of transparency-dev's corruptConsistencyProof."""
    probes = [
        (old - 1, new, r1, r2, proof), (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof), (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof), (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof), (old, new, r2, r1, proof),
        (old, new, r1, r2, []), (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]), (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]), (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]), (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((old, new, r1, r2, bad))
    return probes


def test_consistency_edge_cases() -> None:
    r1, r2 = b"don't care 1", b"don't care 2"
    assert verify_consistency(0, 0, r1, r1, [])
    assert verify_consistency(0, 1, r1, r2, [])
    assert verify_consistency(1, 1, r2, r2, [])
    assert not verify_consistency(0, 0, r1, r2, [])
    assert not verify_consistency(1, 1, r1, r2, [])
    assert not verify_consistency(1, 0, r1, r2, [])
    assert not verify_consistency(2, 1, r1, r2, [])
    assert not verify_consistency(1, 2, r1, r2, [])
    for old, new in ((0, 0), (0, 1), (1, 1)):
        assert not verify_consistency(old, new, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


def test_inclusion_edge_cases() -> None:
    single = leaf_hash(b"data")
    assert verify_inclusion(0, 1, single, [], single)
    assert not verify_inclusion(0, 1, b"", [], single)
    assert not verify_inclusion(0, 1, single, [], b"")
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not verify_inclusion(index, size, SOME_HASH, [], b"")
        assert not verify_inclusion(index, size, b"", [], EMPTY_ROOT)
        assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)


def _reference_mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 written literally (recursive), to check the bottom-up builder."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(_reference_mth(hashes[:k]), _reference_mth(hashes[k:]))


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_proofs_round_trip_any_size(n: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = Tree.from_leaves(hashes)
    size = data.draw(st.integers(min_value=1, max_value=n))
    old = data.draw(st.integers(min_value=0, max_value=size))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    assert tree.root(size) == _reference_mth(hashes[:size])
    proof = tree.inclusion_proof(index, size)
    assert verify_inclusion(index, size, hashes[index], proof, tree.root(size))
    cproof = tree.consistency_proof(old, size)
    assert verify_consistency(old, size, tree.root(old), tree.root(size), cproof)
    if 0 < old < size:
        assert not verify_consistency(old, size, tree.root(old), SOME_HASH, cproof)

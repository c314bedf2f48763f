"""RFC 9162 §2.1 Merkle tree: tree hashes, inclusion proofs and consistency proofs.

Leaf hash ``SHA-256(0x00 ‖ data)``, interior node ``SHA-256(0x01 ‖ left ‖ right)``, and the
tree over ``n`` leaves splits at the largest power of two strictly below ``n`` (RFC 9162
§2.1.1). Building the tree bottom-up, pairing neighbours and carrying an unpaired last node up
unchanged, gives exactly that tree; it lets us hash a whole level in one tight loop and keep
every *complete* aligned subtree (``levels[h][j]`` = hash of leaves ``[j·2^h, (j+1)·2^h)``)
so that roots of earlier tree sizes and proofs cost O(log² n) hashes instead of O(n).

Indices are 0-based as in RFC 9162 (RFC 6962's test data numbers leaves from 1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from types import ModuleType

import numpy as np

from . import sha256_batch
from .parallel import PARENT_SHARE, processes_for, run_pair

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: MTH({}) = SHA-256() (RFC 9162 §2.1.1)
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
_BLOCK = 1 << 16  # node pairs laid out per block


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 ‖ d)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _largest_pow2_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two with k < n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _next_level(level: bytes, batch: ModuleType | None = None) -> bytes:
    """Hash neighbouring pairs of a level; an unpaired last node is carried up unchanged.
    ``batch``: the compiled loops to hash with (:mod:`.sha256_batch`), else ``hashlib``."""
    count = len(level) // HASH_SIZE
    pairs = count // 2
    flat = np.frombuffer(level, dtype=np.uint8, count=pairs * 2 * HASH_SIZE)
    if batch is not None:
        return sha256_batch.pairs(flat, pairs, batch) + (level[-HASH_SIZE:] if count % 2 else b"")
    sha = _sha256
    step = 1 + 2 * HASH_SIZE
    out: list[bytes] = []
    # lay out 0x01 ‖ left ‖ right contiguously so that each node hash is one bytes slice;
    # in blocks through one reused buffer, so the temporaries stay small and are not faulted
    # in afresh for every block
    rows = np.empty((min(pairs, _BLOCK), step), dtype=np.uint8)
    rows[:, 0] = NODE_PREFIX[0]
    for start in range(0, pairs, _BLOCK):
        stop = min(start + _BLOCK, pairs)
        k = stop - start
        rows[:k, 1:] = flat[start * 2 * HASH_SIZE : stop * 2 * HASH_SIZE].reshape(k, 2 * HASH_SIZE)
        raw = rows[:k].tobytes()
        out.append(b"".join([sha(raw[i : i + step]).digest() for i in range(0, len(raw), step)]))
    if count % 2:
        out.append(level[-HASH_SIZE:])
    return b"".join(out)


def _levels_up_to(level: bytes, height: int, batch: ModuleType | None) -> list[bytes]:
    """``level`` and the ``height`` levels above it (fewer if it reaches one node)."""
    out = [level]
    for _ in range(height):
        if len(out[-1]) <= HASH_SIZE:
            break
        out.append(_next_level(out[-1], batch))
    return out


#: Share of the lower levels the forked child hashes while this process also runs a
#: ``meanwhile`` task: a commit writes its log segment then, which takes about half as long as
#: hashing the whole tree, so this split has both processes finish at about the same time
#: (measured on 2,000,000-leaf commits).
MEANWHILE_CHILD_SHARE = 0.7


def _build_levels(
    leaves: bytes, n: int, meanwhile: Callable[[], None] | None, batch: ModuleType | None
) -> list[bytes]:
    """The bottom levels of the tree, the lower ones split between two processes where they
    are hashed with ``hashlib`` (with the compiled loops, ``batch``, a million leaves' tree
    takes about a tenth of a second: less than forking a child would save).

    Leaves ``[0, s)`` and ``[s, n)`` with ``s`` a multiple of ``2^k`` have disjoint subtrees
    up to height ``k``: no pair at those levels straddles ``s`` and any unpaired last node is
    the second part's, so concatenating the two parts' levels gives the whole tree's. Above
    ``k`` at most 128 nodes per level remain for :class:`Tree` to finish. ``meanwhile`` runs
    in this process first, while the child hashes (which then takes the larger part).
    """
    if batch is not None or processes_for(n) == 1 or n < 128:
        if meanwhile is not None:
            meanwhile()
        return [leaves]
    k = (n // 64).bit_length() - 1  # 2^k <= n/64 < 2^(k+1), so n/2^k is in [64, 128)
    share = 1 - PARENT_SHARE if meanwhile is None else MEANWHILE_CHILD_SHARE
    s = max(1, round(n * (1 - share) / (1 << k))) << k  # a multiple of 2^k, below n
    cut = s * HASH_SIZE

    def first() -> bytes:
        if meanwhile is not None:
            meanwhile()
        return b"".join(_levels_up_to(leaves[:cut], k, batch)[1:])

    def second() -> bytes:
        return b"".join(_levels_up_to(leaves[cut:], k, batch)[1:])

    mine, theirs = run_pair(first, second, True)
    levels = [leaves]
    a, b, m = 0, 0, n - s
    for h in range(1, k + 1):
        m = (m + 1) // 2
        width_a, width_b = (s >> h) * HASH_SIZE, m * HASH_SIZE
        levels.append(mine[a : a + width_a] + theirs[b : b + width_b])
        a, b = a + width_a, b + width_b
    if a != len(mine) or b != len(theirs):
        raise ValueError("parallel tree levels have unexpected sizes")
    return levels


class Tree:
    """A Merkle tree over concatenated 32-byte leaf hashes, with every level kept.

    Memory is about twice the leaf hashes (64 bytes per leaf).
    """

    def __init__(
        self, leaf_hashes: bytes, meanwhile: Callable[[], None] | None = None
    ) -> None:
        """``meanwhile``, if given, runs once in this process while the tree is built (while a
        forked child hashes most of it, where there is one): work that does not need the tree,
        such as writing the leaves, then costs no extra time."""
        if len(leaf_hashes) % HASH_SIZE:
            raise ValueError("leaf hashes must be a multiple of 32 bytes")
        self.size = len(leaf_hashes) // HASH_SIZE
        batch = sha256_batch.backend(self.size)  # one choice for the whole tree, before a fork
        levels = _build_levels(bytes(leaf_hashes), self.size, meanwhile, batch)
        while len(levels[-1]) > HASH_SIZE:
            levels.append(_next_level(levels[-1], batch))
        self.levels = levels

    @classmethod
    def from_leaves(cls, hashes: Sequence[bytes]) -> Tree:
        return cls(b"".join(hashes))

    def leaf(self, index: int) -> bytes:
        return self._node(0, index)

    def _node(self, height: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return self.levels[height][start : start + HASH_SIZE]

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges RFC 9162's recursion produces (start aligned)."""
        n = end - start
        if n <= 0:
            if n == 0 and start == 0:
                return EMPTY_ROOT
            raise ValueError(f"empty or negative range [{start}, {end})")
        if end > self.size:
            raise ValueError(f"range [{start}, {end}) is beyond the tree size {self.size}")
        if n & (n - 1) == 0 and start % n == 0:
            return self._node(n.bit_length() - 1, start // n)
        k = _largest_pow2_below(n)
        return node_hash(self.subtree_root(start, start + k), self.subtree_root(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """Root of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if size < 0 or size > self.size:
            raise ValueError(f"tree size {size} is not in [0, {self.size}]")
        return self.subtree_root(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side first."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"leaf index {index} is not in a tree of size {size}")
        path: list[bytes] = []
        start, end, m = 0, size, index
        while end - start > 1:
            k = _largest_pow2_below(end - start)
            if m < k:
                path.append(self.subtree_root(start + k, end))
                end = start + k
            else:
                path.append(self.subtree_root(start, start + k))
                start, m = start + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1."""
        new_size = self.size if new_size is None else new_size
        if not 0 <= old_size <= new_size <= self.size:
            raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
        if old_size == 0 or old_size == new_size:
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self.subtree_root(start, end)]
        k = _largest_pow2_below(n)
        if m <= k:
            return self._subproof(m, start, start + k, complete) + [
                self.subtree_root(start + k, end)
            ]
        return self._subproof(m - k, start + k, end, False) + [self.subtree_root(start, start + k)]


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (convenience for small inputs)."""
    return Tree.from_leaves(hashes).root() if hashes else EMPTY_ROOT


def _well_formed(proof: Sequence[bytes], *hashes: bytes) -> bool:
    return all(len(h) == HASH_SIZE for h in (*proof, *hashes))


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes | None:
    """The root an inclusion proof implies (RFC 9162 §2.1.3.2), or None if it is malformed."""
    if not 0 <= index < size or not _well_formed(proof, leaf):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    got = root_from_inclusion_proof(index, size, leaf, proof)
    return got is not None and len(root) == HASH_SIZE and got == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 §2.1.4.2. Size 0 is consistent with anything and needs an empty proof; equal sizes
    need an empty proof and equal roots.
    """
    if old_size < 0 or new_size < old_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof or not _well_formed(proof, old_root, new_root):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root

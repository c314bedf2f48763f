"""Rivest's SHA-256 consistent sampler, bit-for-bit compatible with the reference
``consistent_sampler`` package (Rivest 2018, the version on PyPI that Arlo uses).

Why this design: a sample drawn from a public seed must be reproducible by anyone, in any
language, from the written algorithm alone; and a later round must *extend* the first round's
sample, never redraw it. Consistent sampling gives both: every id gets a pseudo-random
"ticket number" that depends only on (seed, id, generation), and ids are drawn in increasing
ticket order. Filtering the stream of a large collection to a sub-collection gives the same
order as sampling the sub-collection directly.

The algorithm (Rivest, ``consistent_sampler``; tickets are decimal strings ``"0.ddd..."``):

* ``uniform(s)`` = ``"0." + reversed(64-digit zero-padded decimal of int(SHA256(s)))``;
  reversing puts the unbiased low-order digits first.
* generation-1 ticket of ``id``: ``uniform(hex(SHA256(str(seed))) + str(id))``.
* next ticket after ``x`` (sampling with replacement): keep the leading run of 9s of ``x``'s
  fraction digits, append the digits of ``uniform(x + ":" + str(i))`` for i = 1, 2, ... until
  the result (as a string) is greater than ``x + "0"``.
* draw order: ascending ``(ticket, id, generation)`` compared as Python tuples of strings.
* tickets are shown trimmed to ``digits`` (default 9) significant digits after the leading 9s.

Speed (``benchmarks/bench_sampler.py``): the floor is one SHA-256 per id. The only per-id
Python work is that hash and ``int(digest) mod 10^18`` in one list comprehension; the rest is
numpy. A ticket's first 18 digits are the 18 low-order decimal digits of the hash reversed,
so ``R`` = that reversed 18-digit number (a uint64, reversed by table lookups on 6-digit
blocks) orders tickets exactly up to ties in those digits. ``np.argpartition`` finds the
k-th smallest ``R``; every id with ``R`` at most that value (k of them, plus any tied at the
cut) gets its full decimal ticket and is sorted exactly as the reference sorts, as
``(ticket, id, generation)`` strings. Sampling with replacement draws only from those k ids
(each later ticket of an id is above its first, so no other id can be among the first k
draws), through the reference's heap.
"""

from __future__ import annotations

import hashlib
import heapq
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import overload

import numpy as np
import pyarrow as pa

from ..errors import UsageError
from ..ledger import sha256_batch
from ..ledger.parallel import PARENT_SHARE, processes_for, run_pair

__all__ = ["ArrowIds", "Draw", "sample", "sample_until", "extend_sample", "first_ticket",
           "next_ticket", "iter_sample"]


@dataclass(frozen=True)
class Draw:
    """One draw of the sample: the id, its trimmed ticket number and its generation
    (the number of times this id has been drawn so far, including this draw)."""

    id: str
    ticket: str
    generation: int


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _uniform(text: str) -> str:
    """SHA-256 of ``text`` as a decimal fraction string (digits reversed, see module doc)."""
    digits = f"{int(_sha256_hex(text), 16):064d}"
    return "0." + digits[::-1]


def first_ticket(id_: str, seed: str) -> str:
    """Generation-1 ticket number (full precision) of ``id_`` under ``seed``."""
    return _uniform(_sha256_hex(str(seed)) + str(id_))


def _first_tickets(ids: Sequence[str], seed: str) -> Iterator[tuple[str, str, int]]:
    """(ticket, id, 1) for every id; the seed's hash is computed once."""
    seed_hex = _sha256_hex(str(seed))
    sha = hashlib.sha256
    for i in ids:
        digits = f"{int(sha((seed_hex + str(i)).encode('utf-8')).hexdigest(), 16):064d}"
        yield "0." + digits[::-1], str(i), 1


def _first_non_nine(x: str) -> int:
    x0 = x + "0"
    for i in range(2, len(x0)):
        if x0[i] < "9":
            return i
    raise UsageError(f"malformed ticket number {x!r}")  # unreachable: x0 ends in '0'


def next_ticket(x: str) -> str:
    """The next-generation ticket after ``x``: uniform on (x, 1), as the reference draws it."""
    if not x.startswith("0."):
        raise UsageError(f"ticket number must start with '0.': {x!r}")
    x0 = x + "0"
    keep = x0[: _first_non_nine(x)]
    i = 0
    y = "0."
    while y <= x0:
        i += 1
        y = keep + _uniform(f"{x}:{i}")[2:]
    return y


def _trim(x: str, digits: int) -> str:
    return x[: _first_non_nine(x) + digits]


_PREFIX_DIGITS = 18  # 10^18 < 2^64: the reversed prefix fits a uint64
_DIGITS = np.arange(1000, dtype=np.uint64)
#: ``_REV3[b]``: the three digits of b (zero-padded) reversed, as a number. Six look-ups in
#: this 8 KB table reverse 18 digits; a 6-digit table (8 MB, built in every process that
#: draws) took longer to build than the look-ups it saved, which miss the cache.
_REV3 = (_DIGITS % 10 * 100 + _DIGITS // 10 % 10 * 10 + _DIGITS // 100).astype(np.uint64)


_FIVE18 = 5**18
_LOW_MASK = (1 << 18) - 1
_INV_FIVE18 = pow(_FIVE18, -1, 1 << 18)  # 5^18 is odd, so invertible mod 2^18
#: ``2^(16 (15 - k)) mod 5^18``: the weight of a digest's k-th big-endian 16-bit limb.
_LIMB_WEIGHTS = np.array([pow(2, 16 * (15 - k), _FIVE18) for k in range(16)], dtype=np.uint64)
_CHUNK = 1 << 17  # ids per numpy chunk: bounded memory for any frame size


def _digest_prefixes(digests: bytes) -> np.ndarray:
    """``int(digest) mod 10^18`` reversed to 18 digits, for 32-byte big-endian digests.

    ``h mod 10^18`` by the Chinese remainder theorem: ``h mod 2^18`` is its low bits, ``h mod
    5^18`` the sixteen 16-bit limbs weighted by ``2^16k mod 5^18`` and reduced once (each
    product is below 2^16 · 5^18 < 2^58, so the sum of sixteen stays below 2^62), then
    ``x = b + 5^18 ((a - b) 5^-18 mod 2^18)`` < 10^18. ``digests``: concatenated."""
    limbs = np.frombuffer(digests, dtype=">u2").reshape(-1, 16).astype(np.uint64)
    m5 = np.uint64(_FIVE18)
    r = (limbs @ _LIMB_WEIGHTS) % m5
    low2 = ((limbs[:, 14] & np.uint64(3)) << np.uint64(16)) | limbs[:, 15]
    mask = np.uint64(_LOW_MASK)
    t = (((low2 - r) & mask) * np.uint64(_INV_FIVE18)) & mask
    x = r + m5 * t
    out = np.zeros_like(x)
    k = np.uint64(1000)
    for _ in range(6):  # three digits at a time, lowest first
        out = out * k + _REV3[x % k]
        x //= k
    return out


def _ticket_prefixes(ids: Sequence[str], seed: str) -> np.ndarray:
    """For every id, its generation-1 ticket's first 18 digits as a uint64 (exactly ordered
    as the tickets are, up to ties in those digits). One SHA-256 per id in Python, the rest
    in numpy, chunk by chunk; a large frame is split with a forked child as the log's hashing
    is (:mod:`tallyproof.ledger.parallel`: same bytes whoever computes them). A frame held as
    Arrow ids is remembered by its content, so later rounds (and ``verify``'s re-draw of each
    round) in the same process do not hash it again."""
    key = ids.fingerprint(seed) if isinstance(ids, ArrowIds) else None
    if key is not None:
        with _PREFIX_LOCK:
            hit = _PREFIX_CACHE.get(key)
        if hit is not None:
            return hit
    n = len(ids)
    bufs = ids.buffers() if isinstance(ids, ArrowIds) else None
    batch = sha256_batch.backend(n) if bufs is not None else None
    if bufs is not None and batch is not None:  # one compiled loop: quicker than forking
        out = _prefixes_batched(bufs, seed, batch)
        if key is not None:
            _remember(key, out)
        return out
    fork = processes_for(n) > 1
    mid = int(n * PARENT_SHARE) if fork else n
    first, second = run_pair(lambda: _prefixes_of(ids, seed, 0, mid).tobytes(),
                             lambda: _prefixes_of(ids, seed, mid, n).tobytes(), fork)
    out = np.frombuffer(first + second, dtype=np.uint64)  # read-only: safe to hand out again
    if key is not None:
        _remember(key, out)
    return out


def _remember(key: bytes, prefixes: np.ndarray) -> None:
    with _PREFIX_LOCK:
        while len(_PREFIX_CACHE) >= 2:
            del _PREFIX_CACHE[next(iter(_PREFIX_CACHE))]  # the oldest
        _PREFIX_CACHE[key] = prefixes


#: Ticket prefixes of the last two Arrow frames, by content and seed (:meth:`ArrowIds.fingerprint`);
#: at most 16 bytes per id of two frames (80 MB at 5,000,000 cards) stay held in a long-lived
#: process such as the server, whose jobs may draw from several threads (hence the lock).
_PREFIX_CACHE: dict[bytes, np.ndarray] = {}
_PREFIX_LOCK = threading.Lock()


def _prefixes_of(ids: Sequence[str], seed: str, lo: int, hi: int) -> np.ndarray:
    """:func:`_ticket_prefixes` of ``ids[lo:hi]``, in this process."""
    # SHA-256(utf8(seed_hex + id)) continued from the hashed seed_hex: same bytes, same digest
    start = hashlib.sha256(_sha256_hex(str(seed)).encode("utf-8"))
    fork = start.copy
    out = np.empty(hi - lo, dtype=np.uint64)
    for a in range(lo, hi, _CHUNK):
        digests: list[bytes] = []
        keep = digests.append
        for i in ids[a:min(a + _CHUNK, hi)]:
            h = fork()
            h.update(i.encode("utf-8"))
            keep(h.digest())
        out[a - lo:a - lo + len(digests)] = _digest_prefixes(b"".join(digests))
    return out


def _prefixes_batched(bufs: tuple[np.ndarray, np.ndarray], seed: str, batch: ModuleType
                      ) -> np.ndarray:
    """:func:`_ticket_prefixes` through :mod:`tallyproof.ledger.sha256_batch`: each id's
    UTF-8 bytes, straight from the Arrow buffers (:meth:`ArrowIds.buffers`), hashed after the
    seed's hex digest."""
    offsets, data = bufs
    n = len(offsets) - 1
    seed_hex = _sha256_hex(str(seed)).encode("utf-8")
    out = np.empty(n, dtype=np.uint64)
    for a in range(0, n, _CHUNK):
        b = min(a + _CHUNK, n)
        digests = sha256_batch.slices(seed_hex, data, offsets[a:b + 1], batch)
        out[a:b] = _digest_prefixes(digests)
    out.flags.writeable = False  # as the hashlib path's: safe to hand out again
    return out


def _smallest(ids: Sequence[str], seed: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, prefixes) of the ids with the k smallest first tickets, in draw order
    (exactly: ids whose prefixes tie are ordered by their full tickets, then ids)."""
    prefix = _ticket_prefixes(ids, seed)
    _check_unique(ids, prefix)
    return _smallest_of(ids, seed, prefix, k)


def _smallest_of(ids: Sequence[str], seed: str, prefix: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_smallest` given the ids' ticket prefixes."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    if k < prefix.size:
        cut = prefix[np.argpartition(prefix, k - 1)[k - 1]]
        chosen = np.flatnonzero(prefix <= cut)  # k ids, plus any tied with the k-th at 18 digits
    else:
        chosen = np.arange(prefix.size)
    chosen = chosen[np.argsort(prefix[chosen], kind="stable")]
    p = prefix[chosen]
    tied = np.flatnonzero(np.diff(p) == 0)
    if tied.size:  # rare: order each run of equal prefixes by the reference's full tuple
        seed_hex = _sha256_hex(str(seed))
        starts = np.flatnonzero(np.concatenate(([True], p[1:] != p[:-1])))
        ends = np.append(starts[1:], p.size)
        order = chosen.tolist()
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            if b - a > 1:
                order[a:b] = sorted(order[a:b],
                                    key=lambda i: (_uniform(seed_hex + ids[i]), ids[i]))
        chosen = np.array(order, dtype=np.int64)
    return chosen[:k], prefix[chosen[:k]]


class ArrowIds(Sequence[str]):
    """A string Arrow array as the sequence of ids the sampler reads, without a Python string
    per id held at once: the sampler hashes ids slice by slice (``ids[lo:hi]``, a list of one
    chunk) and looks up a handful by position (``ids[i]``). Millions of ids as one Python list
    took some 70 bytes each."""

    def __init__(self, array: pa.Array | pa.ChunkedArray) -> None:
        self._array = (array.combine_chunks() if isinstance(array, pa.ChunkedArray)
                       else array)

    def __len__(self) -> int:
        return len(self._array)

    def buffers(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(offsets, UTF-8 bytes) of the ids, offsets into the bytes, or ``None`` for a frame
        with a null or of a type other than string."""
        a = self._array
        if not len(a) or a.null_count or not pa.types.is_string(a.type):
            return None
        bufs = a.buffers()
        offsets = np.frombuffer(bufs[1], dtype=np.int32, count=a.offset + len(a) + 1)
        return offsets[a.offset:], np.frombuffer(bufs[2], dtype=np.uint8)

    def fingerprint(self, seed: str) -> bytes | None:
        """SHA-256 of the seed and of every id (lengths and bytes), or ``None`` for a frame
        with a null; hashing the id buffer runs at memory speed, a thousandth of ticketing."""
        bufs = self.buffers()
        if bufs is None:
            return None
        offsets, data = bufs
        h = hashlib.sha256(str(seed).encode("utf-8") + b"\x00")
        h.update((offsets - offsets[0]).tobytes())
        h.update(data[int(offsets[0]):int(offsets[-1])])
        return h.digest()

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self._array))
            if step != 1:
                return self._array.to_pylist()[i]
            return self._array.slice(start, max(stop - start, 0)).to_pylist()
        value = self._array[i].as_py()
        if value is None:
            raise UsageError(f"sampling frame entry {i} has no id")
        return str(value)


def sample_until(ids: Sequence[str], seed: str, enough: Callable[[np.ndarray], bool],
                 *, digits: int = 9, start: int = 1) -> tuple[np.ndarray, list[Draw]]:
    """The shortest prefix of the draw order without replacement, as whole doublings of
    ``start`` draws, for which ``enough(indices)`` holds (``indices``: positions in ``ids`` of
    the draws so far, in draw order), or the whole order; returned as (indices, draws).

    Why: an audit round needs each contest's first n draws from the union of the contests'
    frames, a few hundred ids of millions. The ids are hashed once; each doubling sorts only
    the ids below its cut, so the cost is one SHA-256 per id plus numpy, not a draw per id.
    The draws are exactly the first draws of :func:`sample` (same order, same tickets).
    """
    prefix = _ticket_prefixes(ids, seed)
    _check_unique(ids, prefix)
    k = max(1, start)
    while True:
        k = min(k, len(ids))
        index, pre = _smallest_of(ids, seed, prefix, k)
        if k == len(ids) or enough(index):
            draws = [Draw(id=ids[i], ticket=t, generation=1) for i, t in
                     zip(index.tolist(), _trimmed(ids, seed, index, pre, digits), strict=True)]
            return index, draws
        k *= 2


def _trimmed(ids: Sequence[str], seed: str, index: np.ndarray, prefix: np.ndarray,
             digits: int) -> list[str]:
    """The tickets of the chosen ids trimmed to ``digits`` after the leading 9s, from the
    18-digit prefix where it holds them, else from the full ticket."""
    seed_hex = _sha256_hex(str(seed))
    out = []
    for i, p in zip(index.tolist(), prefix.tolist(), strict=True):
        head = f"{p:018d}"
        keep = len(head) - len(head.lstrip("9")) + digits
        out.append("0." + head[:keep] if keep <= _PREFIX_DIGITS
                   else _trim(_uniform(seed_hex + ids[i]), digits))
    return out


def _smallest_first_tickets(ids: Sequence[str], seed: str, k: int
                            ) -> list[tuple[str, str, int]]:
    """The k smallest ``(ticket, id, 1)`` in the reference's order (full-precision tickets)."""
    index, _ = _smallest(ids, seed, k)
    seed_hex = _sha256_hex(str(seed))
    return [(_uniform(seed_hex + ids[i]), ids[i], 1) for i in index.tolist()]


def _check_unique(ids: Sequence[str], prefix: np.ndarray) -> None:
    """Duplicate ids have equal ticket prefixes: sort the prefixes (numpy) and compare the
    ids only where two prefixes are equal, instead of hashing every id into a set."""
    ordered = np.sort(prefix)
    same = ordered[1:] == ordered[:-1]
    if same.any():
        suspects = np.flatnonzero(np.isin(prefix, ordered[1:][same]))
        _check_ids([ids[i] for i in suspects.tolist()])


def _check_ids(ids: Sequence[str]) -> None:
    if len(set(ids)) != len(ids):
        counts = Counter(ids)
        dupes = sorted(i for i, c in counts.items() if c > 1)
        raise UsageError(f"duplicate ids in the sampling frame: {', '.join(dupes[:5])}")


def iter_sample(
    ids: Sequence[str], seed: str, *, with_replacement: bool = False, digits: int = 9
) -> Iterator[Draw]:
    """The (possibly infinite, with replacement) stream of draws in draw order."""
    _check_ids(ids)
    heap = list(_first_tickets(ids, seed))
    heapq.heapify(heap)
    while heap:
        ticket, id_, gen = heapq.heappop(heap)
        if with_replacement:
            heapq.heappush(heap, (next_ticket(ticket), id_, gen + 1))
        yield Draw(id=id_, ticket=_trim(ticket, digits), generation=gen)


def sample(
    ids: Sequence[str],
    seed: str,
    n: int,
    *,
    with_replacement: bool = False,
    output: str = "id",
    start: int = 0,
    digits: int = 9,
) -> list[Draw]:
    """Draws ``start+1 .. start+n`` of the consistent sample of ``ids`` under ``seed``.

    ``start`` is the reference package's ``drop``: a later round passes the number of draws
    already made, so its draws continue the same stream. ``output`` is accepted for
    signature compatibility with the reference ('id', 'tuple', 'ticket'); every draw is
    returned as a :class:`Draw` regardless, which carries all three fields.

    Example: ``sample(["A-1","A-2","A-3","B-1","B-2","B-3"], "314159", 4)`` draws
    B-2, B-3, A-3, A-2.
    """
    if output not in {"id", "tuple", "ticket"}:
        raise UsageError(f"output must be 'id', 'tuple' or 'ticket', not {output!r}")
    if n < 0 or start < 0:
        raise UsageError("sample size and start must be non-negative")
    if not with_replacement and start + n > len(ids):
        raise UsageError(
            f"cannot draw {start + n} ballots without replacement from {len(ids)} ids"
        )
    if n == 0:
        _check_ids(ids)
        return []
    # Only the ids with the smallest start+n first tickets can be among the first start+n
    # draws (with replacement too: an id's later tickets are above its first).
    if not with_replacement:
        index, prefix = _smallest(ids, seed, start + n)
        index, prefix = index[start:], prefix[start:]
        return [Draw(id=ids[i], ticket=t, generation=1) for i, t in
                zip(index.tolist(), _trimmed(ids, seed, index, prefix, digits), strict=True)]
    heap = _smallest_first_tickets(ids, seed, start + n)
    out: list[Draw] = []
    k = 0
    while heap and len(out) < n:  # heap is sorted, hence already a heap
        ticket, id_, gen = heapq.heappop(heap)
        heapq.heappush(heap, (next_ticket(ticket), id_, gen + 1))
        if k >= start:
            out.append(Draw(id=id_, ticket=_trim(ticket, digits), generation=gen))
        k += 1
    return out


def extend_sample(
    ids: Sequence[str],
    seed: str,
    previous: Iterable[Draw],
    n_more: int,
    *,
    with_replacement: bool = False,
    digits: int = 9,
) -> list[Draw]:
    """The next ``n_more`` draws after an earlier sample (a later audit round).

    The earlier draws are checked to be exactly the stream's first draws, so a round can
    never silently redraw or reorder what was already pulled.
    """
    prev = list(previous)
    head = sample(ids, seed, len(prev), with_replacement=with_replacement, digits=digits)
    if head != prev:
        raise UsageError("the previous draws are not the start of this seed's sample")
    return sample(
        ids, seed, n_more, with_replacement=with_replacement, start=len(prev), digits=digits
    )

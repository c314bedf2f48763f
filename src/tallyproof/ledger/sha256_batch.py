"""SHA-256 of many short messages at once: the log's leaves and nodes, sampler tickets.

``hashlib`` pays more interpreter work per call than hashing a 100-300-byte leaf costs
(measured on the 2-core development VM, 2026-12-07: 1,000,000 leaves of 250-350 bytes 1.5 s
through ``hashlib``, 0.3 s through the compiled loop; 500,000 interior nodes 0.75 s and
0.09 s). For a log of a million cards that per-call cost was most of ``commit`` and
``verify``. :mod:`.sha256_kernels` removes it: a numba-compiled loop that calls the OpenSSL
library ``hashlib`` itself uses, so every digest comes from the same SHA-256 code either way
and the bytes are identical (tested on random messages, and checked here against ``hashlib``
on every padding case each time the loop is loaded).

The compiled path is used for at least :data:`MIN_ITEMS` messages, where its one-time start
in a process (importing numba and loading the compiled loops from numba's cache: 0.75 s
measured, a few seconds more the first time on a machine, to compile them) is repaid;
smaller jobs, and machines where OpenSSL's library cannot be found (see
:mod:`.sha256_kernels`), hash with ``hashlib``. Setting ``TALLYPROOF_SHA256=hashlib`` keeps
every hash on ``hashlib``: an independent path for anyone re-checking a result, and what the
tests use to compare the two.
"""

from __future__ import annotations

import hashlib
import os
from types import ModuleType

import numpy as np

from ..compiled import CompiledLoops
from ..errors import TallyproofError

#: Jobs of fewer messages than this are hashed with ``hashlib``.
MIN_ITEMS = 1 << 16
#: ``TALLYPROOF_SHA256``: ``hashlib`` to never use the compiled loops.
ENV = "TALLYPROOF_SHA256"

_LOOPS = CompiledLoops(f"{__package__}.sha256_kernels", lambda k: _self_test(k))


class HashBackendError(TallyproofError):
    """The compiled SHA-256 loop gave a digest different from ``hashlib``'s, or OpenSSL
    reported a failure: nothing it computed is used."""


def backend(items: int) -> ModuleType | None:
    """The compiled loop (:mod:`.sha256_kernels`) to hash ``items`` messages with, or
    ``None`` to use ``hashlib``: for small jobs, when ``TALLYPROOF_SHA256=hashlib``, or
    where the loop is unavailable (:func:`unavailable_reason` says why)."""
    if os.environ.get(ENV, "").strip().lower() == "hashlib":
        return None
    if items < MIN_ITEMS or _LOOPS.unavailable is not None:
        return None
    return _LOOPS.get()


def name() -> str:
    """Which code hashes a large job in this process: ``openssl-batch`` or ``hashlib``."""
    return "openssl-batch" if backend(MIN_ITEMS) is not None else "hashlib"


def unavailable_reason() -> str | None:
    """Why the compiled loop cannot be used here (``None`` if it can or was not tried)."""
    return _LOOPS.unavailable


def _self_test(k: ModuleType) -> None:
    """Compare the loop with ``hashlib`` on messages of 0 to 300 bytes after prefixes of 0, 1
    and 64 bytes (every padding case: one block, two, exact multiples of the block) before
    trusting it with the log. Read-only bytes with 64-bit offsets, then read-only 32-bit ones,
    as the tree and Arrow's buffers give them: each kind of array is compiled (or loaded from
    numba's cache) once, here, rather than in each forked child that meets it first."""
    rng = np.random.default_rng(9162)
    offsets = np.concatenate(([0], np.cumsum(np.arange(301, dtype=np.int64))))
    raw = rng.integers(0, 256, int(offsets[-1]), dtype=np.uint8).tobytes()
    data = np.frombuffer(raw, dtype=np.uint8)
    narrow = np.frombuffer(offsets.astype(np.int32).tobytes(), dtype=np.int32)
    for prefix, off in ((b"", offsets), (b"\x01", narrow), (bytes(range(64)), narrow)):
        want = b"".join(hashlib.sha256(prefix + raw[a:b]).digest()
                        for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True))
        if slices(prefix, data, off, k) != want:
            raise HashBackendError("the compiled SHA-256 loop disagrees with hashlib on this "
                                   f"machine; set {ENV}=hashlib to hash with hashlib alone")


def slices(prefix: bytes, data: np.ndarray, offsets: np.ndarray, k: ModuleType) -> bytes:
    """SHA-256(``prefix`` ‖ ``data[offsets[i]:offsets[i+1]]``) for every ``i``, concatenated
    (``data``: a flat uint8 array; ``offsets``: int32 or int64, one more than the digests)."""
    out = np.empty((len(offsets) - 1, 32), dtype=np.uint8)
    if k.hash_slices(np.frombuffer(prefix or b"\x00", dtype=np.uint8)[: len(prefix)], data,
                     offsets, out, np.empty(k.CTX_BYTES, np.uint8)):
        raise HashBackendError("OpenSSL's SHA-256 reported a failure")
    return out.tobytes()


def pairs(level: np.ndarray, count: int, k: ModuleType) -> bytes:
    """RFC 9162 interior nodes SHA-256(0x01 ‖ left ‖ right) of the first ``count`` pairs of
    ``level`` (a flat uint8 array of 32-byte hashes), concatenated."""
    return slices(b"\x01", level, np.arange(0, 64 * count + 1, 64, dtype=np.int64), k)

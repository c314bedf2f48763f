"""A compiled loop that calls OpenSSL's SHA-256 once per message (see :mod:`.sha256_batch`).

Importing this module imports numba, finds the OpenSSL ``libcrypto`` that this Python's own
``hashlib`` uses (the same code computes every digest either way) and compiles, or loads from
numba's on-disk cache, one loop: the SHA-256 of a fixed prefix followed by each slice of one
byte buffer (the log's leaves, each already starting with its 0x00 prefix; the ``0x01 ‖ left
‖ right`` pairs of a Merkle level; a sampler's seed and each ballot id). It calls OpenSSL's
low-level ``SHA256_Init``/``_Update``/``_Final``, which keep no per-call allocation or
algorithm lookup (the one-shot ``SHA256()`` of OpenSSL 3 fetches the algorithm every call and
measured slower than ``hashlib``).

It raises :class:`ImportError` where that library cannot be found (not Linux, or a Python
whose OpenSSL is linked in statically); the caller then uses ``hashlib``.
"""

from __future__ import annotations

import ctypes
import re
import sys
from pathlib import Path

import numpy as np

#: OpenSSL's ``SHA256_CTX`` is 112 bytes in 1.1 and 3.x; the scratch space is larger.
CTX_BYTES = 256
_SYMBOLS = ("SHA256_Init", "SHA256_Update", "SHA256_Final")


def _hashlib_libcrypto() -> str:
    """The path of the ``libcrypto`` shared library this process's ``hashlib`` has loaded."""
    if not sys.platform.startswith("linux"):
        raise ImportError("the compiled SHA-256 loops look for libcrypto on Linux only")
    import _hashlib  # noqa: F401 - loads the libcrypto that hashlib uses

    maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    paths = sorted(set(re.findall(r"(/\S*/libcrypto\.so[.\d]*)$", maps, re.MULTILINE)))
    for path in paths:
        lib = ctypes.CDLL(path)
        if all(hasattr(lib, s) for s in _SYMBOLS):
            return path
    raise ImportError("hashlib's OpenSSL libcrypto (with SHA256_Init) is not a shared library "
                      "loaded in this process")


_LIBCRYPTO = _hashlib_libcrypto()

from llvmlite import binding as _llvm  # noqa: E402 - only once libcrypto is known to exist
from numba import njit, types  # noqa: E402

_llvm.load_library_permanently(_LIBCRYPTO)  # so compiled (and cached) code finds its symbols
_vp = types.voidptr
_init = types.ExternalFunction("SHA256_Init", types.int32(_vp))
_update = types.ExternalFunction("SHA256_Update", types.int32(_vp, _vp, types.uintp))
_final = types.ExternalFunction("SHA256_Final", types.int32(_vp, _vp))


@njit(nogil=True, cache=True)
def hash_slices(prefix: np.ndarray, data: np.ndarray, offsets: np.ndarray, out: np.ndarray,
                ctx: np.ndarray) -> int:
    """``out[i]`` = SHA-256(``prefix`` ‖ ``data[offsets[i]:offsets[i + 1]]``) for every row
    of ``out``; returns how many digests OpenSSL reported failing (0 when all were computed).

    ``ctx``: :data:`CTX_BYTES` of scratch for OpenSSL's context, allocated by the caller. An
    array allocated here whose only use is its address is freed by numba right after that
    use, while OpenSSL goes on writing there, into memory the allocator hands out again
    (another thread's, the GIL being released): a wrong digest or a corrupted heap. An
    argument lives until the call returns."""
    c = ctx.ctypes.data
    p = prefix.ctypes.data
    np_ = prefix.size
    bad = 0
    for i in range(out.shape[0]):
        a = offsets[i]
        ok = _init(c)
        if np_:
            ok &= _update(c, p, np_)
        ok &= _update(c, data[a:].ctypes.data, offsets[i + 1] - a)
        bad += 1 - (ok & _final(out[i].ctypes.data, c))
    return bad

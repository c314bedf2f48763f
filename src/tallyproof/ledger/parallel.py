"""Split the log's SHA-256 work between this process and one forked child.

Leaf and node hashing is one ``hashlib`` call per 100-odd bytes, so CPython holds the GIL
throughout (hashlib releases it only for inputs of 2 KiB or more) and threads cannot share
it. A forked child, though, sees the already-encoded bytes for free (copy-on-write) and only
its 32-byte digests travel back through a pipe. The split is by position, the parent's part
first, so the output is the same bytes whether one or two processes did the work.
(With the compiled loops of :mod:`.sha256_batch` the per-call cost is gone; a large job's
leaves are still split, its tree no longer is: a million leaves' tree takes a tenth of a
second.)

Fork is used only where it exists (POSIX), on Python 3.11 (3.12 deprecates forking a
process that has threads, as Arrow's pools make ours), with 2+ CPUs, and when there is enough
work to repay it (:data:`MIN_PARALLEL_ITEMS`); otherwise the same functions run both parts in
this process. A child that fails or dies raises :class:`ParallelHashError` in the parent.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import traceback
from collections.abc import Callable

from ..errors import TallyproofError

#: Processes that share the hashing (this one plus forked children); 1 disables forking.
PROCESSES = (
    2 if hasattr(os, "fork") and sys.version_info < (3, 12) and (os.cpu_count() or 1) >= 2 else 1
)
#: Fewer items than this are hashed in-process: a fork costs a few milliseconds.
MIN_PARALLEL_ITEMS = 1 << 17

#: Share of a split's items the parent keeps. A forked child does the same hashing some 15-20%
#: slower (everything it allocates is faulted in afresh, where the parent reuses its heap;
#: measured on 2,000,000-leaf commits and verifies), so an even split left the parent waiting.
#: Any split gives the same bytes; this one only balances the time.
PARENT_SHARE = 0.54

_OK, _FAILED = b"\x00", b"\x01"


class ParallelHashError(TallyproofError):
    """A hashing child process failed (its traceback is in the message) or died."""


#: True in a child forked by :func:`run_pair`: its parent already keeps the other core busy,
#: so work inside it (a sampler re-drawn within a verify part) is not split again.
_IN_CHILD = False


def processes_for(items: int) -> int:
    """How many processes :func:`run_pair` will use for ``items`` units of work.

    One while a pair runs, in its child and in its parent alike: the pair already keeps both
    cores busy, and a third process would only share them, paying its fork and page faults
    (``verify``'s ledger part split again while the other part ran took more CPU and no less
    time, measured on the 1,000,000-card demo bundle)."""
    if PROCESSES == 1 or items < MIN_PARALLEL_ITEMS or pair_running():
        return 1
    return PROCESSES


def pair_running() -> bool:
    """True while a pair runs, in its child and in its parent alike: both cores are taken,
    so an engine with its own threads (DuckDB's queries) should use one, not contend for
    the other process's core (``verify``'s reconciliation in the child took some 10% more
    CPU for its queries with two threads than with one, and was no sooner done)."""
    if _IN_CHILD:
        return True
    with _frozen_lock:
        return _frozen > 0


def run_pair(
    first: Callable[[], bytes], second: Callable[[], bytes], fork: bool
) -> tuple[bytes, bytes]:
    """``(first(), second())``; with ``fork`` a child process computes ``second`` meanwhile.

    The child inherits everything both callables need, writes one status byte and its result
    to a pipe and leaves with ``os._exit`` (no atexit handlers, no buffered output of the
    parent flushed twice). The parent reads the pipe to its end before reaping the child, so
    a large result cannot deadlock on a full pipe.
    """
    if not fork:
        return first(), second()
    rfd, wfd = os.pipe()
    _freeze()
    try:
        pid = os.fork()
    except BaseException:
        _unfreeze()
        os.close(rfd)
        os.close(wfd)
        raise
    if pid == 0:  # child
        global _IN_CHILD
        _IN_CHILD = True
        os.close(rfd)
        code = 0
        try:
            try:
                payload = _OK + second()
            except BaseException:  # report everything, including KeyboardInterrupt, to the parent
                payload = _FAILED + traceback.format_exc().encode("utf-8", "replace")
                code = 1
            with os.fdopen(wfd, "wb") as out:
                out.write(payload)
        finally:
            os._exit(code)
    os.close(wfd)
    try:
        mine = first()
    finally:
        try:
            with os.fdopen(rfd, "rb") as inp:
                theirs = inp.read()
            _, status = os.waitpid(pid, 0)
        finally:
            _unfreeze()
    if theirs[:1] == _FAILED:
        raise ParallelHashError("hashing child process failed:\n"
                                + theirs[1:].decode("utf-8", "replace"))
    if theirs[:1] != _OK or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        raise ParallelHashError(f"hashing child process {pid} died (wait status {status})")
    return mine, theirs[1:]


#: Pairs running (forks whose child is alive) and the lock that guards the count.
_frozen = 0
_frozen_lock = threading.Lock()


def _freeze() -> None:
    """Move every object alive at the fork out of the collector's reach (``gc.freeze``): a
    collection in either process would otherwise write to the headers of objects the two
    share, and each write copies a page (copy-on-write). Nested or concurrent pairs count."""
    global _frozen
    with _frozen_lock:
        if _frozen == 0:
            gc.freeze()
        _frozen += 1


def _unfreeze() -> None:
    """Give the frozen objects back to the collector once the last pair has ended."""
    global _frozen
    with _frozen_lock:
        _frozen -= 1
        if _frozen == 0:
            gc.unfreeze()

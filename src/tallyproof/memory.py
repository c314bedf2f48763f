"""Keep a long pipeline's memory down: a leaner Arrow allocator, and freed memory given back.

Why: a stage over millions of cards (verifying the log, tabulating) allocates and frees
gigabytes, and the allocators keep what was freed for reuse: Arrow's pool (mimalloc by default)
and glibc's heap (NumPy arrays, Python objects). A process that runs every stage in a row (the
demo, a county in a state run) then holds the sum of its stages' peaks instead of the largest;
measured on the demo at 500,000 cards, ``verify_store`` left 400 MB held with nothing
allocated. Freeing it costs a few milliseconds.

Arrow's default pool on Linux is mimalloc, which keeps per-thread pages: reading the 145 MB
CVR table of 500,000 cards raised the resident size by 267 MB with it, by 180 MB with jemalloc
(or the system allocator), and ``verify_store``'s peak fell from 515 MB to 378 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

__all__ = ["gc_paused", "lean_arrow_pool", "peak_rss_mb", "release_memory", "reset_peak_rss"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large tree of Python objects is built.

    With the collector on, every few hundred new container objects trigger a collection that
    walks (and promotes) the tree built so far, so decoding a document of n objects costs
    about n² / threshold object visits: ``orjson.loads`` of a batch county's 4,105 batches
    took 22× the time of 1,186. Only for code that makes no reference cycles: its objects are
    freed by reference counting; the collector's previous state is restored."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``; ``None`` where the C library has none (macOS, musl, Windows):
    there the allocator returns memory by its own rules and there is nothing to ask."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim: Callable[[int], int] | None = getattr(ctypes.CDLL(name), "malloc_trim", None)
    return trim


def lean_arrow_pool() -> str:
    """Make jemalloc Arrow's default pool where this pyarrow has it (the Linux and macOS wheels
    do), else the system allocator; returns the backend's name. Arrays already allocated keep
    their own pool, so this is safe at any time, but helps most before large reads. A pool
    chosen with Arrow's own ``ARROW_DEFAULT_MEMORY_POOL`` is left as it is: an explicit
    choice wins."""
    import os

    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return str(pa.default_memory_pool().backend_name)
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        pool = pa.system_memory_pool()
    # jemalloc's decay time is left as it is: giving freed pages back at once
    # (``jemalloc_set_decay_ms(0)``) lowered verify's peak at 5,000,000 cards by only 100 MB
    # (3%) and made verify at 1,000,000 cards 6-10% slower (pages faulted in again)
    pa.set_memory_pool(pool)
    return str(pool.backend_name)


def release_memory() -> None:
    """Return the free memory of Arrow's pool and of the C heap to the operating system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def reset_peak_rss() -> bool:
    """Start this process's peak resident size afresh (Linux: ``5`` to ``/proc/self/clear_refs``
    resets ``VmHWM``), so that :func:`peak_rss_mb` gives the peak of what follows; ``False``
    where it cannot be reset."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """This process's peak resident size since it started or since :func:`reset_peak_rss`
    (``VmHWM``), in MiB; ``None`` where ``/proc`` does not say. Forked children are not in it:
    their resident pages are mostly this process's, shared until written."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None

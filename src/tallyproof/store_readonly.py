"""Reading an election store without writing it: the control room's view of a county while a
job (ingest, commit) holds the store's writer lock.

:meth:`Store.open <tallyproof.store.Store.open>` takes the writer lock to finish an
interrupted commit, so it cannot be used while a writer runs. :func:`open_readonly` never takes
the lock, never writes (no roll-forward, no stray-file clean-up, no ``.lock`` file) and never
migrates; it pins the store's **last completed state** and :meth:`ReadOnlyStore.unchanged`
tells whether that state is still the one on disk.

Why this is enough for a consistent view. Every write of a store replaces whole files by
rename (:mod:`tallyproof.fsutil`), and a write of several files together (an ingest's
``cvrs.parquet`` + ``election.json`` + ``manifest.parquet``; a commit's new log segment +
checkpoint + key) writes a journal before its first rename and removes it after its last. The
tracked files are the store's state: ``store.json``, ``election.json``, ``cvrs.parquet``,
``manifest.parquet`` and every file under ``log/``. At open:

1. each tracked file is opened (the replaceable ones are held open, so their inode number
   cannot be re-used while we compare it) and its identity taken (device, inode, size,
   modification and change times);
2. *then* the journal must be absent, the listing unchanged and every path must still name
   the file pinned in step 1.

If the pinned files mixed two states of one multi-file write, that write had renamed one of
them before step 1 ended and left another to rename after; so its journal existed at some
point after step 1 began and until after its last rename. Either the journal is seen in step
2, or the write ended before step 2 and its late rename shows as a path that no longer names
the pinned file. A mixed pin is therefore always detected, and the open is retried.

Reads then go by path, as everywhere in the library. A writer only ever puts a *new* file at a
path, never the old one back, so if :meth:`~ReadOnlyStore.unchanged` finds every path still
naming its pinned file (and no new file under ``log/``) after the reads, every read saw the
pinned state. :func:`read_consistently` runs a read that way and retries it; when a writer
keeps changing the store it raises :class:`~tallyproof.errors.StoreUpdating`, which a page
shows as "updating" for that county only. A journal left by a crashed commit (rolled forward
by the next writer's :meth:`Store.open`) also reads as "updating".

``results/`` and ``audit/`` are not part of the pinned state: each of their files is written
atomically on its own, so a reader sees the old or the new version of each.

Writing through a read-only store raises :class:`~tallyproof.errors.StoreReadOnly`: the
store's own write methods and the library's writers ask :meth:`Store.writing
<tallyproof.store.Store.writing>` (or :meth:`~tallyproof.store.Store.check_writable`) first.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

from .errors import StoreError, StoreReadOnly, StoreUpdating
from .fsutil import JOURNAL
from .store import Store, check_store_folder

T = TypeVar("T")

#: files at the store's top level that are its state (the rest is results/, audit/, the lock)
TOP_FILES = ("store.json", "election.json", "cvrs.parquet", "manifest.parquet")
#: sub-folders of ``log/`` whose files are never replaced once written (only added)
APPEND_ONLY = ("segments",)
#: how many times an open or a read is tried before the store is reported "updating"
ATTEMPTS = 6
#: the first wait between attempts (doubled each time: 0.02 + 0.04 + … ≈ 0.6 s in all)
FIRST_WAIT = 0.02

Identity = tuple[int, int, int, int, int]


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _tracked(root: Path) -> list[str]:
    """The tracked files present now, relative to the store (temp files are not: they start
    with a dot)."""
    found = [name for name in TOP_FILES if (root / name).is_file()]
    log = root / "log"
    if log.is_dir():
        for dirpath, dirnames, filenames in os.walk(log):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(root)
            found += [(rel / f).as_posix() for f in sorted(filenames) if not f.startswith(".")]
    return found


class ReadOnlyStore(Store):
    """A store opened with :func:`open_readonly`: every read of :class:`Store`, no write.

    Use it as a context manager (or call :meth:`close`) to let go of the pinned files."""

    def __init__(self, root: Path, pins: dict[str, Identity], fds: list[int]) -> None:
        super().__init__(root)
        self._pins = pins
        self._fds = fds

    # ------------------------------------------------------------ writing is refused
    readonly = True

    def writing(self) -> AbstractContextManager[None]:
        raise StoreReadOnly(f"{self.root} was opened read-only; nothing can be written "
                            "through it (open it with Store.open to write)")

    def check_writable(self, what: str = "this") -> None:
        raise StoreReadOnly(f"{self.root} was opened read-only: {what} cannot be written "
                            "through it (open it with Store.open to write)")

    # ------------------------------------------------------------ the pinned state
    @property
    def pinned(self) -> tuple[str, ...]:
        """The tracked files of the pinned state, relative to the store."""
        return tuple(self._pins)

    def unchanged(self) -> bool:
        """True when the store on disk is still the pinned state: no commit in progress, no
        tracked file added, removed or replaced (see the module docstring)."""
        return _matches(self.root, self._pins)

    def close(self) -> None:
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)

    def __enter__(self) -> ReadOnlyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _matches(root: Path, pins: dict[str, Identity]) -> bool:
    if (root / JOURNAL).exists():
        return False
    if _tracked(root) != list(pins):
        return False
    for rel, ident in pins.items():
        try:
            if _identity(os.stat(root / rel)) != ident:
                return False
        except FileNotFoundError:
            return False
    return True


def _try_pin(root: Path) -> ReadOnlyStore | None:
    """Step 1 and 2 of the module docstring; None when a writer was in the middle."""
    if (root / JOURNAL).exists():
        return None
    pins: dict[str, Identity] = {}
    fds: list[int] = []
    try:
        for rel in _tracked(root):
            path, parts = root / rel, rel.split("/")
            if len(parts) > 2 and parts[1] in APPEND_ONLY:
                pins[rel] = _identity(os.stat(path))  # never replaced: no need to hold it
                continue
            fd = os.open(path, os.O_RDONLY)
            fds.append(fd)
            pins[rel] = _identity(os.fstat(fd))
    except FileNotFoundError:  # renamed away between the listing and the open
        for fd in fds:
            os.close(fd)
        return None
    if not _matches(root, pins):
        for fd in fds:
            os.close(fd)
        return None
    return ReadOnlyStore(root, pins, fds)


def _waits(attempts: int) -> Iterator[None]:
    for k in range(attempts):
        if k:
            time.sleep(FIRST_WAIT * 2 ** (k - 1))
        yield


def open_readonly(root: Path | str, attempts: int = ATTEMPTS) -> ReadOnlyStore:
    """The store's last completed state, read-only (see the module docstring).

    :class:`~tallyproof.errors.StoreError` when ``root`` is not a store (as
    :meth:`Store.open`); :class:`~tallyproof.errors.StoreUpdating` when a writer was in the
    middle of a multi-file write at each of ``attempts`` tries."""
    root = Path(root)
    check_store_folder(root)
    for _ in _waits(attempts):
        store = _try_pin(root)
        if store is not None:
            return store
    raise StoreUpdating(f"{root} is being updated (a write in progress, or one interrupted "
                        "that the next writer finishes); its last state cannot be read just now")


def read_consistently(root: Path | str, read: Callable[[ReadOnlyStore], T],
                      attempts: int = ATTEMPTS) -> T:
    """``read(store)`` on the store's last completed state, retried when a writer replaced
    any of its files meanwhile; :class:`~tallyproof.errors.StoreUpdating` after
    ``attempts`` tries. An error ``read`` raises while the store changed under it is a
    symptom of the change (a file the listing named, gone), so it is retried too."""
    for _ in _waits(attempts):
        with contextlib.suppress(StoreUpdating), open_readonly(root, attempts=1) as store:
            try:
                value = read(store)
            except (StoreError, OSError):
                if store.unchanged():
                    raise
                continue
            if store.unchanged():
                return value
    raise StoreUpdating(f"{Path(root)} is being updated (a writer kept replacing its files "
                        "while it was read); its last state cannot be read just now")

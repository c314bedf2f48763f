"""Crash-safe file writes: temp file, fsync, rename; and multi-file commits with a journal.

A single file is replaced atomically by writing a sibling temp file, fsyncing it, renaming it
over the target and fsyncing the folder. Several files that must change together (the CVR
table and ``election.json`` on ingest) are staged as temp files, then a journal naming every
rename is written and fsynced, the renames are done and the journal removed. If a crash
interrupts the renames, :func:`recover` finishes them (roll forward) the next time the folder
is opened; if it interrupts staging, the temp files are simply discarded. Either way the store
is the old one or the new one, never a mix.

A folder that does not exist yet (a new store) is built under a temp name beside it and renamed
into place when complete (:func:`new_folder`), so a failed or killed run leaves no half-made
folder where the store should be; what a killed run leaves under the temp name is removed by
the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

JOURNAL = ".commit-journal.json"

#: What reading a damaged zip member raises besides ``OSError``: a bad header or checksum
#: (``BadZipFile``), a bad deflate stream (``zlib.error``), a cut one (``EOFError``), or a
#: header asking for a zip version or compression this Python cannot read
#: (``NotImplementedError``). Readers of zips from outside turn these into ``InputError``.
ZIP_READ_ERRORS: tuple[type[Exception], ...] = (zipfile.BadZipFile, zlib.error, EOFError,
                                                NotImplementedError)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


PUBLIC_MODE = 0o644  # store and evidence files are public records; keys set their own mode


def temp_path_for(target: Path, mode: int = PUBLIC_MODE) -> Path:
    """A fresh temp file in the target's folder (same file system, so rename is atomic).

    ``mkstemp`` creates it 0600; it is given ``mode`` before anything is written, so a
    private key (0600) is never readable by others and public files are not left private.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return Path(name)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_with(target: Path, write: Callable[[Path], object],
                      mode: int | None = None) -> None:
    """Replace ``target`` with what ``write`` writes to the temp path it is given (a writer
    that streams, e.g. a large CSV, never holds the file in memory): fsynced, renamed over
    it, the folder fsynced; a crash leaves the old or the new content."""
    tmp = temp_path_for(target, PUBLIC_MODE if mode is None else mode)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _atomic_replace(target: Path, mode: int, write: Callable[[BinaryIO], object]) -> None:
    """:func:`atomic_write_with` for a writer of an open binary file."""

    def to_path(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    atomic_write_with(target, to_path, mode)


def atomic_write_bytes(target: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``target`` with ``data`` so that a crash leaves the old or the new content."""
    _atomic_replace(target, PUBLIC_MODE if mode is None else mode, lambda f: f.write(data))


def atomic_copy(src: Path, target: Path) -> None:
    """Replace ``target`` with a copy of ``src`` (streamed, never whole in memory) so that a
    crash leaves the old or the new content."""
    with open(src, "rb") as f:
        _atomic_replace(target, PUBLIC_MODE, lambda g: shutil.copyfileobj(f, g, 1 << 20))


def atomic_write_json(target: Path, obj: object) -> None:
    atomic_write_bytes(
        target, orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )


class Transaction:
    """Stage several files, then make them all visible together (see module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.staged: dict[Path, Path] = {}  # target -> temp

    def path_for(self, target: Path) -> Path:
        """A temp path to write ``target``'s new content to; fsynced on commit."""
        tmp = temp_path_for(target)
        self.staged[target] = tmp
        return tmp

    def write_bytes(self, target: Path, data: bytes) -> None:
        tmp = self.path_for(target)
        tmp.write_bytes(data)

    def write_json(self, target: Path, obj: object) -> None:
        self.write_bytes(
            target, orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )

    def commit(self) -> None:
        """Make every staged file visible. Until the journal is written a failure discards
        the staging (nothing changed); after, the renames are finished, now or by
        :func:`recover`."""
        try:
            for tmp in self.staged.values():
                fsync_file(tmp)
            journal = [  # relative to the folder, so a moved folder still recovers
                [os.path.relpath(tmp, self.folder), os.path.relpath(target, self.folder)]
                for target, tmp in self.staged.items()
            ]
            atomic_write_bytes(self.folder / JOURNAL, orjson.dumps(journal))
        except BaseException:
            self.abort()
            raise
        _apply_journal(self.folder)
        self.staged.clear()

    def abort(self) -> None:
        for tmp in self.staged.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.staged.clear()


def _apply_journal(folder: Path) -> None:
    jpath = folder / JOURNAL
    for tmp_rel, target_rel in orjson.loads(jpath.read_bytes()):
        tmp, target = folder / tmp_rel, folder / target_rel
        if tmp.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            fsync_dir(target.parent)
    jpath.unlink()
    fsync_dir(folder)


def recover(folder: Path) -> None:
    """Finish an interrupted commit (roll forward) and drop stray temp files of a crashed one."""
    if (folder / JOURNAL).exists():
        _apply_journal(folder)
    for stray in folder.rglob(".*.tmp"):
        stray.unlink()


@contextlib.contextmanager
def transaction(folder: Path) -> Iterator[Transaction]:
    """``with transaction(dir) as tx: ...`` commits on success and discards staging on error."""
    tx = Transaction(folder)
    try:
        yield tx
    except BaseException:
        tx.abort()
        raise
    tx.commit()


@contextlib.contextmanager
def exclusive_lock(lock_file: Path, busy: Callable[[], Exception]) -> Iterator[None]:
    """Hold an advisory ``flock`` on ``lock_file`` (one writer at a time); if another process
    holds it, raise ``busy()`` at once rather than wait."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, PUBLIC_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise busy() from exc
        yield
    finally:
        os.close(fd)


#: Present in a folder that :func:`new_folder` is still building; such a folder is not a store.
INCOMPLETE = ".incomplete"


def _building_prefix(target: Path) -> str:
    return f".{target.name}.building-"


@contextlib.contextmanager
def new_folder(target: Path, busy: Callable[[], Exception],
               exists: Callable[[], Exception]) -> Iterator[Path]:
    """``with new_folder(dir) as stage: ...`` builds ``stage`` (beside ``dir``, holding the
    :data:`INCOMPLETE` marker) and renames it to ``dir`` when the block succeeds; on error the
    stage is removed. ``dir`` may exist only as an empty folder (``exists()`` is raised
    otherwise). One builder per target at a time (``busy()`` otherwise, via a lock file beside
    it, removed at the end); a stage left by a killed builder is removed first."""
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    lock_file = parent / f".{target.name}.building.lock"
    with exclusive_lock(lock_file, busy):
        try:
            for stale in sorted(parent.glob(_building_prefix(target) + "*")):
                shutil.rmtree(stale)  # its builder is gone: we hold the lock it held
            stage = Path(tempfile.mkdtemp(prefix=_building_prefix(target), dir=parent))
            os.chmod(stage, 0o755)  # mkdtemp makes it private; a store is a public record
            try:
                (stage / INCOMPLETE).touch()
                yield stage
                (stage / INCOMPLETE).unlink()
                fsync_dir(stage)
                try:
                    os.rename(stage, target)  # replaces an empty folder, refuses anything else
                except OSError as exc:
                    raise exists() from exc
                fsync_dir(parent)
            except BaseException:
                if stage.exists():
                    shutil.rmtree(stage)
                raise
        finally:
            lock_file.unlink(missing_ok=True)

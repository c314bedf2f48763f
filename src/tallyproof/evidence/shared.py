"""The report made once per command: a bundle built in the same command takes it over.

The demo writes the report (``report/``) and then the bundle, whose ``report/`` folder holds
the very same report. Building the bundle's copy ran every check again (the ledger, the count,
the reconciliation, the audit) and drew every plot and page again on a copy of the same files:
as long as the report itself at 1,000,000 cards. Both are pure functions of the store's files
(the report's reproducibility rules, :mod:`.report`) and of the report's time
(``SOURCE_DATE_EPOCH``), so inside :func:`one_report` the report stage remembers what it made
together with the SHA-256 of every store file a bundle copies, and the bundle takes it over
only when the files it copied (hashed as they were copied) have exactly those digests and the
time is the same. Any difference, and the bundle builds its own as before.

The bundle's zip deflates the store's large files (the log and the CVR table: most of the
bundle's time). Once they are final (the demo: after the audit; otherwise while the report is
made, Python on one core), :func:`deflate_early` deflates them on the other core, hashing each
as it is read; the bundle uses a stream only for a copy with the same SHA-256
(:func:`deflated`), and deflates any other file itself.

Outside :func:`one_report` nothing is remembered (a long-running process, such as the server,
never holds a report it did not ask to keep), and the commands that build only one of the two
are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .collect import Evidence
from .deflate import Spooled, close_streams, deflate_file


@dataclass(frozen=True)
class Made:
    """A report as made from a store whose bundled files had ``digests``, at ``epoch``."""

    digests: dict[str, str]
    epoch: int
    evidence: Evidence
    ctx: dict[str, Any]
    html: bytes
    pdf: bytes
    appendix: bytes


_depth = 0
_made: Made | None = None
_early: list[Future[dict[str, Spooled]]] = []
_started: set[tuple[Path, str, int]] = set()
_pool: ThreadPoolExecutor | None = None


@contextmanager
def one_report() -> Iterator[None]:
    """Within this block a report built with :func:`remember` is offered to a bundle built
    from the same files (:func:`recall`); it is dropped when the outermost block ends."""
    global _depth, _made, _pool
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth:
            if _pool is not None:
                _pool.shutdown(wait=True, cancel_futures=True)
            for future in _early:
                close_streams(future)
            _made, _pool = None, None
            _early.clear()
            _started.clear()


def active() -> bool:
    """Whether a report made now would be kept (the caller then hashes the store's files)."""
    return _depth > 0


def remember(made: Made) -> None:
    """Keep ``made`` (only inside :func:`one_report`; the latest report replaces any other)."""
    global _made
    if _depth:
        _made = made


def recall(digests: Mapping[str, str], epoch: int) -> Made | None:
    """The report kept, when it was made from files with exactly ``digests`` (the same paths,
    the same SHA-256) at ``epoch``; otherwise ``None``."""
    made = _made
    if made is None or made.epoch != epoch or dict(digests) != made.digests:
        return None
    return made


def deflate_early(root: Path, rels: list[str], level: int) -> None:
    """Start deflating ``root``'s files ``rels`` on a second thread (zlib and hashlib release
    the GIL), for :func:`deflated`; only inside :func:`one_report`. A file already started
    in this block is not started again (the demo starts the store's files as soon as they
    are final, and the report asks for them again)."""
    global _pool
    if not _depth:
        return
    todo = [rel for rel in rels if (root, rel, level) not in _started]
    if not todo:
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(1)
    _started.update((root, rel, level) for rel in todo)
    _early.append(_pool.submit(
        lambda: {rel: deflate_file(root / rel, level, hashing=True) for rel in todo}))


def deflated() -> dict[str, Spooled]:
    """The streams :func:`deflate_early` made (waiting for them), by path, each with the
    SHA-256 of the bytes deflated; empty when none were started."""
    return {rel: spooled for future in _early for rel, spooled in future.result().items()}

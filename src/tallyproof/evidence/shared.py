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
bundle's time). While the report is made (Python on one core), :func:`deflate_early` deflates
them on the other, hashing each as it is read; the bundle uses a stream only for a copy with
the same SHA-256 (:func:`deflated`), and deflates any other file itself.

Outside :func:`one_report` nothing is remembered (a long-running process, such as the server,
never holds a report it did not ask to keep), and the commands that build only one of the two
are unchanged.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .collect import Evidence


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
_early: Future[dict[str, tuple[str, int, bytes]]] | None = None
_pool: ThreadPoolExecutor | None = None


@contextmanager
def one_report() -> Iterator[None]:
    """Within this block a report built with :func:`remember` is offered to a bundle built
    from the same files (:func:`recall`); it is dropped when the outermost block ends."""
    global _depth, _made, _early, _pool
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth:
            if _pool is not None:
                _pool.shutdown(wait=True, cancel_futures=True)
            _made, _early, _pool = None, None, None


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


def _deflate_hashing(path: Path, level: int) -> tuple[str, int, bytes]:
    """(SHA-256, size, raw DEFLATE stream) of a file from one read, the stream exactly as
    :func:`tallyproof.evidence.bundle.write_zip` makes it."""
    h = hashlib.sha256()
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    out, size = [], 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
            out.append(c.compress(block))
    out.append(c.flush())
    return h.hexdigest(), size, b"".join(out)


def deflate_early(root: Path, rels: list[str], level: int) -> None:
    """Start deflating ``root``'s files ``rels`` on a second thread (zlib and hashlib release
    the GIL), for :func:`deflated`; only inside :func:`one_report`."""
    global _early, _pool
    if not _depth:
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(1)
    _early = _pool.submit(lambda: {rel: _deflate_hashing(root / rel, level) for rel in rels})


def deflated() -> dict[str, tuple[str, int, bytes]]:
    """The streams :func:`deflate_early` made (waiting for them), by path: (SHA-256 of the
    bytes deflated, their size, the stream); empty when none were started."""
    return {} if _early is None else _early.result()

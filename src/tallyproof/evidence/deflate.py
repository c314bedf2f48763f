"""Zip entries deflated ahead of the zip, their streams spooled to temporary files.

The bundle's zip spends most of its time deflating the store's two large files (the log and
the CVR table). zlib releases the GIL, so a thread can deflate them while the command does
other work; the stream is then written into the zip as it is (:class:`Precompressed`), and
``zipfile`` still computes the entry's CRC-32 and sizes from the bytes it is given, so the
archive is the same bytes as one compressed on the spot.

The streams go to anonymous temporary files, not memory: at 5,000,000 cards the log's alone
is some 290 MB, which held as ``bytes`` (twice over while they were joined) sat on top of the
command's peak; a temporary file is in the page cache, which the kernel may reclaim.
"""

from __future__ import annotations

import hashlib
import tempfile
import zlib
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO

READ = 1 << 20


@dataclass(frozen=True)
class Spooled:
    """A file's raw DEFLATE stream (``stream``, rewound before each use), the size of the
    file it was made from and, when asked, that file's SHA-256 from the same read."""

    size: int
    stream: IO[bytes]
    sha256: str | None = None

    def close(self) -> None:
        self.stream.close()


def deflate_file(path: Path, level: int, hashing: bool = False) -> Spooled:
    """Deflate ``path`` exactly as ``zipfile`` does (``zlib.compressobj(level, DEFLATED,
    -15)`` fed the whole file) into a temporary file, hashing the bytes read if asked."""
    h = hashlib.sha256() if hashing else None
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    out = tempfile.TemporaryFile(prefix="tallyproof-deflate-")
    size = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(READ):
                if h is not None:
                    h.update(block)
                size += len(block)
                out.write(c.compress(block))
        out.write(c.flush())
        out.flush()
    except BaseException:
        out.close()
        raise
    return Spooled(size, out, None if h is None else h.hexdigest())


class Precompressed:
    """Stands in for ``zipfile``'s compressor with a stream deflated ahead: each ``compress``
    hands on as many bytes of the stream as it is given (any split of a stream is the same
    bytes in the archive), ``flush`` the rest."""

    def __init__(self, spooled: Spooled) -> None:
        self._stream = spooled.stream
        self._stream.seek(0)

    def compress(self, data: bytes) -> bytes:
        return self._stream.read(len(data))

    def flush(self) -> bytes:
        return self._stream.read()


def close_streams(made: Future[dict[str, Spooled]] | None) -> None:
    """Close the streams a finished deflating task made (their temporary files go with
    them); a task that failed, was cancelled or has not finished made none to close."""
    if made is None or not made.done() or made.cancelled() or made.exception() is not None:
        return
    for spooled in made.result().values():
        spooled.close()

"""Small helpers the CSV and JSON readers share: cheap file heads for sniffing, and turning a
UTF-8 decoding failure into an :class:`InputError` that names the line and byte offset."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

BOM = b"\xef\xbb\xbf"


def read_head(path: Path, size: int = 16_384) -> bytes | None:
    """The first ``size`` bytes of a regular file (``None`` for folders or unreadable files):
    sniffers must stay cheap and must never raise."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return None


def utf8_error(path: Path, data: bytes | None = None) -> InputError:
    """An InputError for the first byte of ``data`` (or of the file) that is not UTF-8, naming
    its line (1-based, as a text editor counts) and its offset in the file."""
    if data is None:
        data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return InputError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason})",
            file=path,
            record=f"line {line}",
        )
    return InputError("not UTF-8 text", file=path)


def read_bytes(path: Path) -> bytes:
    """A small input file's bytes; unreadable → InputError naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=path) from exc


def read_text(path: Path) -> tuple[bytes, str]:
    """A small text input (manifest, results, pollbooks, audit-board CSV) as raw bytes (for
    hashing) and UTF-8 text (a byte-order mark tolerated); unreadable or non-UTF-8 → InputError."""
    path = Path(path)
    raw = read_bytes(path)
    try:
        return raw, raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise utf8_error(path, raw) from exc

"""Opening a bundle that arrives as a zip, without trusting it.

Order of work, so that a hostile zip costs the verifier almost nothing:

1. every entry's name and type is checked (absolute paths, ``..``, symbolic links and special
   files, duplicate names are refused) before a byte is written;
2. ``SHA256SUMS`` is read from the zip (at most :data:`MAX_SUMS` bytes) and the member list is
   compared with it: a missing or extra member ends verification at once, naming them, with
   nothing extracted;
3. sizes are capped from the zip's own headers: each member (:data:`MAX_MEMBER`), the total
   (:data:`MAX_UNZIPPED`) and, for members above :data:`RATIO_FLOOR` bytes, the compression
   ratio (:data:`MAX_RATIO`, a zip bomb's signature; a bundle's Parquet and JSON compress far
   less);
4. members are then streamed to the target folder and hashed on the way, counting the bytes
   actually decompressed, so a header that lies about a size is caught when the count passes
   it; the digests are handed to the manifest check, which then hashes nothing again.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import InputError
from .fsutil import ZIP_READ_ERRORS

SUMS_FILE = "SHA256SUMS"
SUMS_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")
MAX_SUMS = 64 << 20
MAX_MEMBER = 32 << 30
MAX_UNZIPPED = 64 << 30
MAX_RATIO = 200
RATIO_FLOOR = 16 << 20
CHUNK = 1 << 20


@dataclass(frozen=True)
class Opened:
    """The zip's members were checked against SHA256SUMS; ``digests`` holds the SHA-256 of every
    extracted member (``None`` when the member list disagreed and nothing was extracted)."""

    listed: dict[str, str]
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    digests: dict[str, str] | None


def parse_sums(text: str) -> tuple[dict[str, str], list[str]]:
    """``SHA256SUMS`` lines as ``{path: digest}`` and the numbers of malformed lines."""
    listed: dict[str, str] = {}
    bad: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        m = SUMS_LINE.match(line)
        if not m or ".." in PurePosixPath(m.group(2)).parts or m.group(2).startswith("/"):
            bad.append(f"line {n}")
            continue
        listed[m.group(2)] = m.group(1)
    return listed, bad


def _check_entry(zpath: Path, info: zipfile.ZipInfo, seen: set[str]) -> None:
    name = info.filename
    pp = PurePosixPath(name)
    if "\\" in name or name.startswith("/") or pp.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise InputError("absolute path in the zip", file=zpath, record=name)
    if any(part in ("..", "") for part in pp.parts) or ".." in name.split("/"):
        raise InputError("path with '..' in the zip", file=zpath, record=name)
    ftype = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool recorded no type
    if ftype and ftype not in (stat.S_IFREG, stat.S_IFDIR):
        raise InputError("symbolic link or special file in the zip", file=zpath, record=name)
    if name in seen:
        raise InputError("the same name appears twice in the zip", file=zpath, record=name)
    seen.add(name)


def open_zip(zpath: Path, target: Path) -> Opened:
    """Check ``zpath`` and, when its members are exactly those SHA256SUMS lists, extract them
    into ``target`` while hashing them (see the module docstring)."""
    with _open(zpath) as zf:
        infos = zf.infolist()
        seen: set[str] = set()
        for info in infos:
            _check_entry(zpath, info, seen)
        files = {i.filename: i for i in infos if not i.is_dir()}
        sums = files.get(SUMS_FILE)
        listed: dict[str, str] = {}
        if sums is not None:
            if sums.file_size > MAX_SUMS:
                raise InputError(f"{SUMS_FILE} is larger than {MAX_SUMS >> 20} MiB", file=zpath)
            text = _read_capped(zpath, zf, sums, MAX_SUMS).decode("utf-8", "replace")
            listed, _ = parse_sums(text)
        members = set(files) - {SUMS_FILE}
        missing = tuple(sorted(set(listed) - members))
        extra = tuple(sorted(members - set(listed)))
        if sums is None or missing or extra:
            return Opened(listed, missing, extra, None)
        total = 0
        for info in files.values():
            total += info.file_size
            if info.file_size > MAX_MEMBER:
                raise InputError(f"a member would expand to {info.file_size:,} bytes",
                                 file=zpath, record=info.filename)
            if total > MAX_UNZIPPED:
                raise InputError(f"the zip would expand to more than {MAX_UNZIPPED >> 30} GiB",
                                 file=zpath)
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                    info.compress_size, 1):
                raise InputError(f"compression ratio above {MAX_RATIO}:1 (a zip bomb?)",
                                 file=zpath, record=info.filename)
        digests = {name: _stream(zpath, zf, info, _dest(zpath, target, name))
                   for name, info in sorted(files.items())}
        digests.pop(SUMS_FILE)
        return Opened(listed, (), (), digests)


def _dest(zpath: Path, target: Path, name: str) -> Path:
    dest = (target / PurePosixPath(name)).resolve()
    if target.resolve() not in dest.parents:
        raise InputError("path escapes the target folder", file=zpath, record=name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _stream(zpath: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> str:
    """Decompress one member to ``dest``, hashing it and counting the bytes actually produced
    (a header that understates the size is caught as soon as the count passes it)."""
    h = hashlib.sha256()
    written = 0
    try:
        with zf.open(info) as src, open(dest, "xb") as dst:
            while block := src.read(CHUNK):
                written += len(block)
                if written > info.file_size:
                    raise InputError("a member expands past the size its header gives",
                                     file=zpath, record=info.filename)
                h.update(block)
                dst.write(block)
    except ZIP_READ_ERRORS as exc:
        raise InputError(f"a damaged member ({exc})", file=zpath, record=info.filename) from exc
    return h.hexdigest()


def _read_capped(zpath: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    try:
        with zf.open(info) as f:
            data = f.read(cap + 1)
    except ZIP_READ_ERRORS as exc:
        raise InputError(f"a damaged member ({exc})", file=zpath, record=info.filename) from exc
    if len(data) > cap:
        raise InputError(f"{info.filename} expands past {cap:,} bytes", record=info.filename)
    return data


def _checked_members(zpath: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    seen: set[str] = set()
    infos = zf.infolist()
    for info in infos:
        _check_entry(zpath, info, seen)
    if sum(i.file_size for i in infos) > MAX_UNZIPPED:
        raise InputError(f"the zip would expand to more than {MAX_UNZIPPED >> 30} GiB",
                         file=zpath)
    return infos


def _open(zpath: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zpath)
    except (OSError, *ZIP_READ_ERRORS) as exc:
        raise InputError(f"not a zip file: {exc}", file=zpath) from exc


def check_members(zpath: Path) -> int:
    """Check every entry of a zip (no absolute path, no ``..``, no link or special file, no
    name twice, not over :data:`MAX_UNZIPPED` in all) from its central directory alone,
    extracting nothing; returns the number of entries. An upload is refused on this."""
    with _open(zpath) as zf:
        return len(_checked_members(zpath, zf))


def safe_extract(zpath: Path, target: Path) -> None:
    """Extract a zip with the entry checks and the streaming size checks of :func:`open_zip`,
    whatever its SHA256SUMS says (for tools and tests that unpack a bundle to inspect it)."""
    with _open(zpath) as zf:
        infos = _checked_members(zpath, zf)
        for info in infos:
            if info.is_dir():
                _dest(zpath, target, info.filename + "/x").parent.mkdir(exist_ok=True)
            else:
                _stream(zpath, zf, info, _dest(zpath, target, info.filename))

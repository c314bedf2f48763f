"""The control room's activity log (who did what, when), committed in the state log at each
publication: its entries are exported as canonical JSON lines into the state folder, and the
RFC 9162 Merkle root of all entries published so far is signed, with their count, as an
extension line of the state checkpoint (docs/commitment.md §9.7)::

    tallyproof-activity/v1 <count> <base64 root>

Storage, beside the state log's segments (one file per publication that carries the line)::

    STATE/log/activity/000003.jsonl   the entries first published by publication 3

The log committed by publication *k* is the concatenation of the files up to *k*; a later
file only appends. Since every signed root is computed over that one sequence, changing,
removing or reordering an entry already published changes the root of every publication that
covered it, whose signature then fails: the verifier needs no earlier copy of the log.

Why a Merkle root and not the SHA-256 of the exported file: each publication stores only its
new entries (a file per publication of the whole log would grow as the square of the log),
the append-only property is the same RFC 9162 consistency the state and county logs already
rest on (anyone holding only an old signed checkpoint can be given a consistency proof), and
one entry can be proven by an inclusion proof without handing over the others.

An entry (format version 1) is an object of exactly these keys, written as RFC 8785 JSON
(sorted keys, no whitespace, UTF-8), one per line, in order of ``id`` within a file::

    id       integer   the control room's row id (unique across the whole log)
    at       string    UTC time, "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    user     string or null   the account (or audit board) that acted; null for the server
    action   string    e.g. "login", "job_done", "alert_acknowledged"
    county   string or null
    detail   string

The leaf of an entry is its line without the newline. Nothing else of the control room's row
is exported: not the client address, and no secret (the rows hold none; the export is tested
against the seeded passwords, second-factor secrets, board passphrases and session tokens).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import StoreError, UsageError, VerificationError
from ..ledger.merkle import Tree, leaf_hash

EXTENSION = "tallyproof-activity/v1"
ACTIVITY_DIR = "activity"
FIELDS = ("action", "at", "county", "detail", "id", "user")
_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_FILE = re.compile(r"(\d{6})\.jsonl")


def entry_line(entry: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one entry (no newline); :class:`StoreError` naming the entry if
    it is not an entry of format version 1."""
    e = dict(entry)
    ident = e.get("id")
    if sorted(e) != list(FIELDS):
        raise StoreError(f"activity entry {ident}: its keys are {sorted(e)}, not {list(FIELDS)}")
    if not isinstance(ident, int) or isinstance(ident, bool) or ident < 1:
        raise StoreError(f"activity entry {ident!r}: id is not a positive integer")
    if not isinstance(e["at"], str) or not _AT.fullmatch(e["at"]):
        raise StoreError(f"activity entry {ident}: at is not a UTC time with microseconds")
    for key in ("action", "detail"):
        if not isinstance(e[key], str):
            raise StoreError(f"activity entry {ident}: {key} is not a string")
    for key in ("user", "county"):
        if e[key] is not None and not isinstance(e[key], str):
            raise StoreError(f"activity entry {ident}: {key} is neither a string nor null")
    # RFC 8785 for an object of strings, integers and nulls is orjson's sorted output
    return orjson.dumps(e, option=orjson.OPT_SORT_KEYS)


def activity_dir(log_dir: Path) -> Path:
    return Path(log_dir) / ACTIVITY_DIR


def extension_line(lines: Sequence[bytes]) -> str:
    """The checkpoint's extension line committing to ``lines`` (all entries so far)."""
    return f"{EXTENSION} {len(lines)} {base64.b64encode(merkle_root(lines)).decode()}"


def merkle_root(lines: Sequence[bytes]) -> bytes:
    return Tree(b"".join(leaf_hash(x) for x in lines)).root()


@dataclass(frozen=True)
class Commitment:
    """What one state checkpoint's extension line says: entry count and Merkle root."""
    count: int
    root: bytes


def commitment(extensions: Sequence[str]) -> Commitment | None:
    """The activity commitment among a checkpoint's extension lines (None: it has none);
    :class:`VerificationError` for a malformed or repeated line."""
    found = [x for x in extensions if x.split(" ", 1)[0] == EXTENSION]
    if not found:
        return None
    parts = found[0].split(" ")
    if len(found) > 1 or len(parts) != 3 or not re.fullmatch(r"0|[1-9][0-9]*", parts[1]):
        raise VerificationError(f"a malformed {EXTENSION} line in a state checkpoint")
    try:
        root = base64.b64decode(parts[2], validate=True)
    except ValueError as exc:
        raise VerificationError(f"the {EXTENSION} root is not base64") from exc
    if len(root) != 32:
        raise VerificationError(f"the {EXTENSION} root is not 32 bytes")
    return Commitment(int(parts[1]), root)


def load_files(log_dir: Path) -> dict[int, list[bytes]]:
    """The published activity files by publication number: each file's lines (no newline)."""
    d = activity_dir(log_dir)
    out: dict[int, list[bytes]] = {}
    if not d.is_dir():
        return out
    for p in sorted(d.iterdir()):
        m = _FILE.fullmatch(p.name)
        if m is None:
            raise StoreError(f"{p}: not an activity file (NNNNNN.jsonl)")
        raw = p.read_bytes()
        if raw and not raw.endswith(b"\n"):
            raise StoreError(f"{p}: the last line has no newline")
        out[int(m.group(1))] = raw.split(b"\n")[:-1] if raw else []
    return out


def file_bytes(lines: Sequence[bytes]) -> bytes:
    return b"".join(x + b"\n" for x in lines)


def _id_of(line: bytes) -> int:
    return int(orjson.loads(line)["id"])


def new_lines(published: dict[int, list[bytes]], entries: Sequence[Mapping[str, Any]]
              ) -> tuple[list[bytes], list[bytes]]:
    """``(all published lines, the lines to publish now)``: the entries (the control room's
    whole log) not yet published, in order of id. An entry already published must still be
    there, byte for byte: otherwise :class:`VerificationError` (the control room's log was
    changed, or this is another control room's database)."""
    old = [x for k in sorted(published) for x in published[k]]
    current = {}
    for e in entries:
        line = entry_line(e)
        current[_id_of(line)] = line
    changed = [i for i, line in ((_id_of(x), x) for x in old) if current.get(i) != line]
    if changed:
        head = ", ".join(map(str, changed[:10])) + (" …" if len(changed) > 10 else "")
        raise VerificationError(f"{len(changed)} activity entr{'y' if len(changed) == 1 else 'ies'}"
                                f" already published differ in or are missing from the "
                                f"control room's log (ids {head}): refusing to publish")
    done = {_id_of(x) for x in old}
    return old, [current[i] for i in sorted(current) if i not in done]


def require_activity(extensions_by_seq: Sequence[Sequence[str]]) -> None:
    """Once a publication committed the activity log, every later one must: refuse to
    publish without it (no silent drop of the commitment)."""
    for k, ext in enumerate(extensions_by_seq, start=1):
        if commitment(ext) is not None:
            raise UsageError(f"state checkpoint {k} commits the control room's activity log; "
                             "every later publication must too: name the control room's "
                             "database (--database-url, or TALLYPROOF_DATABASE_URL)")


def verify_activity(log_dir: Path, extensions_by_seq: Sequence[Sequence[str]]) -> list[str]:
    """Check the published activity files against the signed checkpoints' extension lines
    (``extensions_by_seq[k-1]``: publication *k*'s): a file exactly for each publication that
    commits the log, every later publication committing it too, every line a canonical entry,
    ids unique and in order within a file, and each publication's count and Merkle root those
    of all the entries up to its file. Returns the failures."""
    failures: list[str] = []
    try:
        files = load_files(log_dir)
    except StoreError as exc:
        return [str(exc)]
    n = len(extensions_by_seq)
    for k in sorted(files):
        if k < 1 or k > n:
            failures.append(f"activity file {k:06d}.jsonl belongs to no state checkpoint")
    lines: list[bytes] = []
    ids: set[int] = set()
    started = None
    for k, ext in enumerate(extensions_by_seq, start=1):
        try:
            c = commitment(ext)
        except VerificationError as exc:
            failures.append(f"state checkpoint {k}: {exc}")
            continue
        if c is None:
            if started is not None:
                failures.append(f"state checkpoint {k} no longer commits the activity log "
                                f"(checkpoint {started} did)")
            if k in files:
                failures.append(f"activity file {k:06d}.jsonl: state checkpoint {k} does not "
                                "commit it")
            continue
        started = started or k
        if k not in files:
            failures.append(f"state checkpoint {k} commits the activity log but "
                            f"{k:06d}.jsonl is missing")
            continue
        last = 0
        for i, line in enumerate(files[k], start=1):
            where = f"activity file {k:06d}.jsonl line {i}"
            try:
                entry = orjson.loads(line)
                if not isinstance(entry, dict) or entry_line(entry) != line:
                    raise StoreError("not a canonical entry (RFC 8785, the documented keys)")
            except (orjson.JSONDecodeError, StoreError) as exc:
                failures.append(f"{where}: {exc}")
                continue
            if entry["id"] in ids or entry["id"] <= last:
                failures.append(f"{where}: id {entry['id']} repeated or out of order")
            ids.add(entry["id"])
            last = entry["id"]
        lines.extend(files[k])
        if c.count != len(lines) or merkle_root(lines) != c.root:
            failures.append(f"state checkpoint {k}: the activity log it signs ({c.count} "
                            f"entries) is not the {len(lines)} entries of the files up to "
                            f"{k:06d}.jsonl (an entry was changed, removed or added)")
    return failures


def committed_count(extensions_by_seq: Sequence[Sequence[str]]) -> int | None:
    """Entries the latest publication commits (None: the log is not committed)."""
    for ext in reversed(extensions_by_seq):
        c = commitment(ext)
        if c is not None:
            return c.count
    return None

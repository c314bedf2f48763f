"""Do two versions of the code write the same bytes? The demo run deterministically, its outputs hashed.

Issue #16 asks that speed work leave every output byte-identical (same sample, same report,
same bundle) on the demo seeds. The demo has one source of randomness, the log's per-card salts
(``os.urandom``, as RFC 9162 commitments need); here it is replaced by a counter-mode SHA-256
stream, the report's clock is fixed (``SOURCE_DATE_EPOCH``), and the demo is run in this
process into ``--out``. The SHA-256 of every file it wrote (the synthetic exports left out: they
are the generator's input, not an output) goes to ``--manifest`` as JSON.

Run the same command under two checkouts, with the same ``--out`` path (paths appear in some
outputs), and compare the manifests::

    PYTHONPATH=old/src python benchmarks/same_outputs.py --cards 100000 --out /tmp/d --manifest old.json
    PYTHONPATH=src     python benchmarks/same_outputs.py --cards 100000 --out /tmp/d --manifest new.json
    python benchmarks/same_outputs.py --compare old.json new.json

Never use this stream for a real election: its salts are predictable by design.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import orjson

EPOCH = "1762790400"  # 10 November 2025, 16:00 UTC: any fixed time will do
LEFT_OUT = ("export", "export-mail")


def _deterministic_urandom(seed: bytes) -> None:
    """Replace ``os.urandom`` (inherited by forked workers) with a SHA-256 counter stream."""
    state: dict[str, Any] = {"counter": 0, "pool": b""}

    def urandom(n: int) -> bytes:
        pool = state["pool"]
        blocks = max(0, -(-(n - len(pool)) // 32))
        first = state["counter"] + 1
        state["counter"] += blocks
        pool += b"".join(hashlib.sha256(seed + c.to_bytes(8, "big")).digest()
                         for c in range(first, first + blocks))
        state["pool"] = pool[n:]
        return pool[:n]

    os.urandom = urandom


def manifest(out: Path) -> dict[str, str]:
    files = sorted(p for p in out.rglob("*") if p.is_file()
                   and p.relative_to(out).parts[0] not in LEFT_OUT)
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


def compare(a: Path, b: Path) -> int:
    old, new = orjson.loads(a.read_bytes()), orjson.loads(b.read_bytes())
    differ = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    only = sorted(old.keys() ^ new.keys())
    print(f"{len(old.keys() & new.keys())} files in both; {len(differ)} differ; "
          f"{len(only)} in one only")
    for k in differ:
        print(f"  differs: {k}")
    for k in only:
        print(f"  only in {'first' if k in old else 'second'}: {k}")
    return 0 if not differ and not only else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cards", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--manifest", type=Path)
    ap.add_argument("--compare", type=Path, nargs=2, metavar=("FIRST", "SECOND"))
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if args.out is None or args.manifest is None:
        ap.error("--out and --manifest are needed (or --compare FIRST SECOND)")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    _deterministic_urandom(f"tallyproof same-outputs {args.seed}".encode())
    from tallyproof.demo.pipeline import run_demo

    result = run_demo(args.out, cards=args.cards, seed=args.seed)
    digests = manifest(args.out)
    args.manifest.write_bytes(orjson.dumps(digests, option=orjson.OPT_INDENT_2))
    print(f"{args.cards:,} cards, demo ok: {result.ok}; {len(digests)} files hashed "
          f"into {args.manifest}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Consistency of each county's log across state publications (docs/commitment.md §9.4).

The state log keeps every county checkpoint it ever published, but two checkpoints of one
county are only evidence that the county's records did not change if the older tree is a
prefix of the newer one. A county that rebuilt its store with other CVRs (same key, more
cards) signs a perfectly valid new checkpoint; only an RFC 9162 consistency proof from the
published (size, root) to the new one tells the difference. So publication N, for every
county it re-publishes, obtains that proof from the county's own log, checks it, refuses the
publication when it fails, and stores it::

    STATE/log/consistency/NNNNNN.json   the proofs for publication N (absent when N
                                        re-publishes no county)

and verification walks the publications in order, checking every successive pair of each
county's checkpoints with the stored proof.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import Failure, InputError, UsageError, VerificationError
from ..ledger.checkpoint import Checkpoint, parse
from ..ledger.merkle import verify_consistency

if TYPE_CHECKING:
    from .statelog import StateLeaf

CONSISTENCY = "consistency"
FIELDS = ("county", "old_publication", "old_size", "old_root", "new_size", "new_root", "proof")


@dataclass(frozen=True)
class CountyConsistency:
    """RFC 9162 PROOF(old_size, D[new_size]) of one county's log between the checkpoint a
    previous state publication holds for it and the one publication ``publication`` adds."""

    county: str
    old_publication: int
    old: Checkpoint
    new: Checkpoint
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"county": self.county, "old_publication": self.old_publication,
                "old_size": self.old.size, "old_root": self.old.root.hex(),
                "new_size": self.new.size, "new_root": self.new.root.hex(),
                "proof": [p.hex() for p in self.proof]}

    def holds(self) -> bool:
        return verify_consistency(self.old.size, self.new.size, self.old.root, self.new.root,
                                  self.proof)


def consistency_path(log_dir: Path, seq: int) -> Path:
    return Path(log_dir) / CONSISTENCY / f"{seq:06d}.json"


def file_json(seq: int, proofs: Sequence[CountyConsistency]) -> dict[str, Any]:
    """The content of ``consistency/NNNNNN.json`` (written with sorted keys, 2-space indent)."""
    return {"publication": seq,
            "counties": [p.to_json() for p in sorted(proofs, key=lambda p: p.county)]}


def county_log_proof(root: Path, county: str, old: Checkpoint, new: Checkpoint) -> list[bytes]:
    """PROOF(old.size, D[new.size]) from the county's own log (its store's, or its batch log's
    for a county with batch tallies only), whose latest checkpoint must be ``new``. The proof
    is computed from the leaves the county holds now; that it leads from the *published* old
    root is for the caller to check."""
    from ..ledger.log import consistency
    from ..store import Store
    from .batch_county import is_batch_county, load_batch_county, tallies_dir
    from .spec import load_spec
    from .tasks import county_store_dir

    if old.size > new.size:
        raise VerificationError(f"county {county}: its new checkpoint covers fewer leaves "
                                f"({new.size}) than the one published ({old.size})")
    if is_batch_county(load_spec(Path(root)), county):
        tree = load_batch_county(tallies_dir(root, county)).tree()
        if new.size > tree.size or tree.root(new.size) != new.root:
            raise VerificationError(f"county {county}: its batch log does not match the "
                                    "checkpoint it publishes")
        return tree.consistency_proof(old.size, new.size)
    got = consistency(Store.open(county_store_dir(root, county)), old.size)
    if got["new_size"] != new.size or got["new_root"] != new.root.hex():
        raise VerificationError(f"county {county}: its log's latest checkpoint is not the one "
                                "it publishes")
    hexes = got["proof"]
    if not isinstance(hexes, list):
        raise VerificationError(f"county {county}: its log gave no consistency proof")
    return [bytes.fromhex(p) for p in hexes]


def prove_republished(root: Path, county: str, old_publication: int, old_text: str,
                      new_text: str) -> CountyConsistency:
    """The checked consistency proof for a county re-published; refuses (VerificationError
    naming the county) when the county's log no longer extends what the state published."""
    old = parse(old_text, f"county {county}").checkpoint
    new = parse(new_text, f"county {county}").checkpoint
    try:
        proof = county_log_proof(root, county, old, new)
    except UsageError as exc:
        raise VerificationError(f"county {county}: no consistency proof from its published "
                                f"checkpoint ({exc})") from exc
    cc = CountyConsistency(county, old_publication, old, new, tuple(proof))
    if not cc.holds():
        raise VerificationError([Failure(
            "state-log",
            f"county {county}: its log is not consistent with the checkpoint the state "
            f"published in publication {old_publication} (tree size {old.size}, root "
            f"{old.root.hex()}): its records changed after publication; the state log "
            "refuses this checkpoint")])
    return cc


def _load(log_dir: Path, seq: int) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The proofs stored for publication ``seq`` by county, and what is wrong with the file."""
    path = consistency_path(log_dir, seq)
    if not path.exists():
        return {}, []
    try:
        doc = orjson.loads(path.read_bytes())
        entries = doc["counties"]
        if doc["publication"] != seq or not isinstance(entries, list):
            raise ValueError("publication number or counties list")
        out: dict[str, dict[str, Any]] = {}
        for e in entries:
            if not isinstance(e, dict) or sorted(e) != sorted(FIELDS) or e["county"] in out:
                raise ValueError(f"entry {e!r:.60}")
            out[e["county"]] = e
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        return {}, [f"publication {seq}: {path.name} is not a consistency file ({exc})"]
    return out, []


def _check_entry(e: dict[str, Any], county: str, old_pub: int, old: Checkpoint,
                 new: Checkpoint, seq: int) -> str | None:
    where = f"county {county}: publications {old_pub} and {seq}"
    try:
        proof = [bytes.fromhex(p) for p in e["proof"]]
        stated = (int(e["old_publication"]), int(e["old_size"]), bytes.fromhex(e["old_root"]),
                  int(e["new_size"]), bytes.fromhex(e["new_root"]))
    except (TypeError, ValueError) as exc:
        return f"{where}: the stored consistency proof is malformed ({exc})"
    if stated != (old_pub, old.size, old.root, new.size, new.root):
        return f"{where}: the stored consistency proof is not between the two checkpoints the " \
               "state log publishes"
    if not verify_consistency(old.size, new.size, old.root, new.root, proof):
        return f"{where}: the stored RFC 9162 consistency proof between its two published " \
               "checkpoints fails (its records changed after publication, or the proof was " \
               "altered)"
    return None


def verify_county_histories(log_dir: Path, segments: Sequence[Sequence[StateLeaf]]
                            ) -> list[str]:
    """Walk the publications in order; for each county re-published, check its stored
    consistency proof from its previous published checkpoint. A proof missing, failing, or
    stored for a county the publication does not re-publish is a failure naming the county
    and the publications."""
    failures: list[str] = []
    last: dict[str, tuple[int, Checkpoint]] = {}
    folder = Path(log_dir) / CONSISTENCY
    stray = sorted(p.name for p in folder.glob("*.json")
                   if not p.stem.isdigit() or not 1 <= int(p.stem) <= len(segments)) \
        if folder.is_dir() else []
    failures += [f"{CONSISTENCY}/{n}: names no publication of the state log" for n in stray]
    for seq, seg in enumerate(segments, start=1):
        stored, bad = _load(log_dir, seq)
        failures += bad
        seen = set()
        for leaf in seg:
            try:
                new = parse(leaf.checkpoint, f"county {leaf.county}").checkpoint
            except InputError as exc:
                failures.append(f"county {leaf.county}: publication {seq}: its checkpoint does "
                                f"not parse ({exc})")
                continue
            prev = last.get(leaf.county)
            last[leaf.county] = (seq, new)
            if prev is None:
                continue
            seen.add(leaf.county)
            old_pub, old = prev
            e = stored.get(leaf.county)
            if e is None:
                why = "its publication's consistency file is unreadable" if bad else \
                    "no consistency proof is stored between its two published checkpoints"
                failures.append(f"county {leaf.county}: publications {old_pub} and {seq}: {why}")
                continue
            msg = _check_entry(e, leaf.county, old_pub, old, new, seq)
            if msg:
                failures.append(msg)
        for county in sorted(set(stored) - seen):
            failures.append(f"county {county}: publication {seq} stores a consistency proof "
                            "for it but does not re-publish it")
    return failures

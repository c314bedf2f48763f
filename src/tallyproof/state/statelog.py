"""The state log: an RFC 9162 log whose leaves are the counties' signed checkpoints (a log of
logs, as transparency logs federate), signed by the state's key.

A state checkpoint thus commits to every county's checkpoint, and through each to every CVR of
that county: a ballot's proof is its inclusion proof in its county's tree, the county
checkpoint that signs that tree, and that checkpoint's inclusion proof in the state tree.
Consistency proofs between state checkpoints show that no county checkpoint published earlier
was removed or altered (a county that re-publishes appends a new leaf; the old one stays), and
a county re-published must show, by an RFC 9162 consistency proof of its own log from the
checkpoint published before, that its records did not change (:mod:`.county_consistency`).

Leaf data (type 0x10, format version 0x01; ``str`` = u32 big-endian byte length ‖ UTF-8)::

    u8 0x10 ‖ u8 0x01 ‖ str county_id ‖ str county_vkey ‖ str county_checkpoint

``county_checkpoint`` is the county's signed note exactly as its log holds it (origin, tree
size, root, signature lines), ``county_vkey`` the county log's verifier key as recorded in
``state.json``. Storage::

    STATE/log/segments/000001.json     the leaves appended by publication 1 (county, vkey, text)
    STATE/log/checkpoints/000001.txt   the state checkpoint after publication 1, signed
    STATE/log/consistency/000002.json  the counties' consistency proofs for publication 2
    STATE/log/log.vkey                 the state's verifier key
    STATE/log/activity/000001.jsonl    the control room's activity entries publication 1
                                       commits (:mod:`.activity_log`), when a control room
                                       is used: its count and Merkle root are an extension
                                       line of checkpoint 1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from ..errors import StoreError, UsageError, VerificationError
from ..fsutil import transaction
from ..ledger.checkpoint import Checkpoint, SignedCheckpoint, parse, sign, slug
from ..ledger.keys import Verifier, load_signer, load_verifier, parse_vkey
from ..ledger.merkle import Tree, leaf_hash, verify_consistency, verify_inclusion
from ..store import locked
from . import activity_log
from .county_consistency import (
    CONSISTENCY,
    CountyConsistency,
    consistency_path,
    file_json,
    prove_republished,
    verify_county_histories,
)
from .spec import StateSpec, load_spec, save_spec, with_county
from .tasks import CountyCommit

STATE_LEAF, FORMAT_VERSION = 0x10, 0x01
LOG_DIR, SEGMENTS, CHECKPOINTS, LOG_KEY = "log", "segments", "checkpoints", "log.vkey"


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


@dataclass(frozen=True)
class StateLeaf:
    county: str
    vkey: str
    checkpoint: str

    def data(self) -> bytes:
        return (bytes([STATE_LEAF, FORMAT_VERSION]) + _str(self.county) + _str(self.vkey)
                + _str(self.checkpoint))

    @classmethod
    def decode(cls, data: bytes) -> StateLeaf:
        if data[:2] != bytes([STATE_LEAF, FORMAT_VERSION]):
            raise VerificationError("not a state log leaf (type 0x10, version 1)")
        parts, pos = [], 2
        for _ in range(3):
            n = int.from_bytes(data[pos:pos + 4], "big")
            parts.append(data[pos + 4:pos + 4 + n].decode("utf-8"))
            pos += 4 + n
        if pos != len(data):
            raise VerificationError("a state log leaf has trailing bytes")
        return cls(*parts)


def origin(spec: StateSpec) -> str:
    return f"tallyproof-state/{slug(spec.state or '-')}/{slug(spec.name)}/v1"


def log_dir(root: Path) -> Path:
    return Path(root) / LOG_DIR


def load_state_log(root: Path) -> tuple[list[list[StateLeaf]], list[SignedCheckpoint]]:
    """The segments (one per publication) and their signed checkpoints."""
    d = log_dir(root)
    segs = sorted((d / SEGMENTS).glob("*.json")) if (d / SEGMENTS).exists() else []
    cps = sorted((d / CHECKPOINTS).glob("*.txt")) if (d / CHECKPOINTS).exists() else []
    for k, (s, c) in enumerate(zip(segs, cps, strict=False), start=1):
        if s.stem != f"{k:06d}" or c.stem != f"{k:06d}":
            raise StoreError(f"{d}: publications are not numbered 1, 2, …")
    if len(segs) != len(cps):
        raise StoreError(f"{d}: {len(segs)} segments but {len(cps)} checkpoints")
    segments = [[StateLeaf(**x) for x in orjson.loads(s.read_bytes())] for s in segs]
    checkpoints = [parse(c.read_text(encoding="utf-8"), str(c)) for c in cps]
    return segments, checkpoints


def _tree(segments: list[list[StateLeaf]]) -> Tree:
    return Tree(b"".join(leaf_hash(x.data()) for seg in segments for x in seg))


@dataclass(frozen=True)
class Publication:
    published: bool
    counties_added: tuple[str, ...]
    tree_size: int
    root: str
    checkpoint: str | None
    #: activity entries the latest checkpoint commits, and how many this publication added
    #: (None: the state log does not commit an activity log)
    activity_entries: int | None = None
    activity_added: int = 0


def publish(root: Path, key: Path, commits: dict[str, CountyCommit],
            activity: Sequence[Mapping[str, Any]] | None = None) -> Publication:
    """Append each county's newest checkpoint that the state log does not hold yet (in county
    order), then sign a new state checkpoint. ``commits``: the counties' latest commits.

    A county published before must prove, from its own log, that its new tree extends the
    published one (RFC 9162 consistency); the proofs are stored with the publication, and a
    county whose records changed after publication is refused (VerificationError naming it):
    nothing is written then.


    ``activity``: the control room's whole activity log (entries as
    :func:`.activity_log.entry_line` takes them), or None when no control room is used. Its
    entries not yet published are written as this publication's activity file and the new
    checkpoint signs the count and Merkle root of all published entries; new entries alone
    make a publication. Once a checkpoint committed the log, None is refused, and so is a
    log in which an entry already published changed (:func:`.activity_log.new_lines`)."""
    signer = load_signer(key)
    root = Path(root)
    with locked(root):
        spec = load_spec(root)
        d = log_dir(root)
        key_file = d / LOG_KEY
        if key_file.exists() and load_verifier(key_file) != signer.verifier:
            raise StoreError(f"{key_file} names another key; the state log must be signed with "
                             "it")
        segments, checkpoints = load_state_log(root)
        tree = _tree(segments)
        if checkpoints and tree.root(checkpoints[-1].checkpoint.size) != \
                checkpoints[-1].checkpoint.root:
            raise StoreError(f"{d}: the leaves do not match the last state checkpoint")
        latest = {x.county: (k, x) for k, seg in enumerate(segments, start=1) for x in seg}
        new: list[StateLeaf] = []
        proofs: list[CountyConsistency] = []
        for county in sorted(commits):
            c = commits[county]
            known = spec.county(county).vkey
            if known is not None and known != c.vkey:
                raise StoreError(f"county {county}: its log is now signed by another key than "
                                 "the one the state recorded")
            cp = parse(c.checkpoint, f"county {county}")
            if not cp.signed_by(parse_vkey(c.vkey)):
                raise VerificationError(f"county {county}: its checkpoint is not signed by its "
                                        "log key")
            if county in latest:
                prev_seq, prev = latest[county]
                if prev.checkpoint == c.checkpoint:
                    continue
                # the county's log must extend what was published (RFC 9162 §2.1.4)
                proofs.append(prove_republished(root, county, prev_seq, prev.checkpoint,
                                                c.checkpoint))
            if known is None:
                spec = with_county(spec, replace(spec.county(county), vkey=c.vkey))
            new.append(StateLeaf(county, c.vkey, c.checkpoint))
        exts = [cp.checkpoint.extensions for cp in checkpoints]
        old_lines: list[bytes] = []
        add_lines: list[bytes] = []
        if activity is None:
            activity_log.require_activity(exts)
        else:
            old_lines, add_lines = activity_log.new_lines(activity_log.load_files(d), activity)
        if not new and not add_lines:
            cp0 = checkpoints[-1] if checkpoints else None
            return Publication(False, (), tree.size, tree.root().hex(),
                               cp0.text if cp0 else None, activity_log.committed_count(exts))
        segments.append(new)
        tree = _tree(segments)
        seq = len(segments)
        all_lines = old_lines + add_lines
        extensions = () if activity is None else (activity_log.extension_line(all_lines),)
        text = sign(Checkpoint(origin(spec), tree.size, tree.root(), extensions), signer)
        (d / SEGMENTS).mkdir(parents=True, exist_ok=True)
        (d / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        if proofs:
            (d / CONSISTENCY).mkdir(parents=True, exist_ok=True)
        if activity is not None:
            activity_log.activity_dir(d).mkdir(parents=True, exist_ok=True)
        with transaction(root) as tx:
            tx.write_json(d / SEGMENTS / f"{seq:06d}.json",
                          [{"county": x.county, "vkey": x.vkey, "checkpoint": x.checkpoint}
                           for x in new])
            if activity is not None:
                tx.write_bytes(activity_log.activity_dir(d) / f"{seq:06d}.jsonl",
                               activity_log.file_bytes(add_lines))
            tx.write_bytes(d / CHECKPOINTS / f"{seq:06d}.txt", text.encode("utf-8"))
            if proofs:
                tx.write_json(consistency_path(d, seq), file_json(seq, proofs))
            if not key_file.exists():
                tx.write_bytes(key_file, (signer.verifier.vkey + "\n").encode())
        save_spec(root, spec)
        return Publication(True, tuple(x.county for x in new), tree.size, tree.root().hex(),
                           text, None if activity is None else len(all_lines), len(add_lines))


def verify_state_log(root: Path, state_key: Verifier | None = None) -> list[str]:
    """Every state checkpoint signed and matching the leaves, each consistent with the next,
    every leaf's county checkpoint signed by that county's key, each county's successive
    published checkpoints consistent by the stored proofs
    (:func:`.county_consistency.verify_county_histories`), and the activity log the
    checkpoints commit (:func:`.activity_log.verify_activity`). Returns the failures."""
    failures: list[str] = []
    root = Path(root)
    spec = load_spec(root)
    segments, checkpoints = load_state_log(root)
    if not checkpoints:
        return ["the state log is empty: nothing has been published"]
    key = state_key or load_verifier(log_dir(root) / LOG_KEY)
    tree = _tree(segments)
    size = 0
    prev: SignedCheckpoint | None = None
    for k, (seg, cp) in enumerate(zip(segments, checkpoints, strict=True), start=1):
        size += len(seg)
        if cp.checkpoint.origin != origin(spec):
            failures.append(f"state checkpoint {k}: origin {cp.checkpoint.origin!r}")
        if not cp.signed_by(key):
            failures.append(f"state checkpoint {k}: not signed by the state key {key.name}")
        if cp.checkpoint.size != size or tree.root(size) != cp.checkpoint.root:
            failures.append(f"state checkpoint {k}: does not match the leaves")
        if prev is not None:
            a, b = prev.checkpoint, cp.checkpoint
            proof = tree.consistency_proof(a.size, b.size)
            if not verify_consistency(a.size, b.size, a.root, b.root, proof):
                failures.append(f"state checkpoints {k - 1} and {k} are not consistent")
        prev = cp
    vkeys = {c.id: c.vkey for c in spec.counties}
    for seg in segments:
        for leaf in seg:
            if vkeys.get(leaf.county) != leaf.vkey:
                failures.append(f"county {leaf.county}: its leaf names a key the state did not "
                                "record")
            elif not parse(leaf.checkpoint).signed_by(parse_vkey(leaf.vkey)):
                failures.append(f"county {leaf.county}: a published checkpoint is not signed "
                                "by its key")
    failures += activity_log.verify_activity(log_dir(root),
                                             [cp.checkpoint.extensions for cp in checkpoints])
    return failures + verify_county_histories(log_dir(root), segments)


def prove_ballot(root: Path, county: str, ballot_id: str, with_data: bool = False
                 ) -> dict[str, Any]:
    """A ballot's proof from its CVR leaf (a county with batch tallies only: a batch's tally
    leaf, ``ballot_id`` = ``tabulator/batch``) to the latest state checkpoint: the county proof
    (:func:`tallyproof.ledger.log.prove`) and the state proof of the county checkpoint it ends
    in. The county must have published its latest checkpoint to the state log. With
    ``with_data`` the county proof also carries the CVR leaf's salt and bytes (secret until
    publication), so the leaf hash can be tied to the ballot's data; a batch tally's leaf
    bytes are always there (they are public)."""
    from ..ledger.log import prove
    from ..store_readonly import read_consistently
    from .batch_county import is_batch_county, prove_batch
    from .tasks import county_store_dir

    if is_batch_county(load_spec(Path(root)), county):  # a batch tally, TABULATOR/BATCH
        county_proof = prove_batch(root, county, ballot_id)
    else:
        # read-only: a proof is served while a job writes the county's store
        county_proof = read_consistently(county_store_dir(root, county),
                                         lambda store: prove(store, ballot_id, with_data))
    segments, checkpoints = load_state_log(root)
    if not checkpoints:
        raise UsageError("the state log is empty: run tallyproof state commit")
    leaves = [x for seg in segments for x in seg]
    index = next((i for i in range(len(leaves) - 1, -1, -1)
                  if leaves[i].county == county
                  and leaves[i].checkpoint == county_proof["checkpoint"]), None)
    if index is None:
        raise UsageError(f"county {county}'s latest checkpoint is not in the state log yet: "
                         "run tallyproof state commit")
    cp = checkpoints[-1]
    tree = _tree(segments)
    return {
        "county": county,
        "county_proof": county_proof,
        "state_leaf_index": index,
        "state_tree_size": cp.checkpoint.size,
        "state_leaf_data": leaves[index].data().hex(),
        "state_audit_path": [p.hex() for p in tree.inclusion_proof(index, cp.checkpoint.size)],
        "state_root": cp.checkpoint.root.hex(),
        "state_checkpoint": cp.text,
    }


def verify_ballot_proof(proof: dict[str, Any], state_key: Verifier) -> list[str]:
    """Check a :func:`prove_ballot` proof with nothing but the state's public key: written
    from the documentation (docs/commitment.md §9.4), as an outside verifier would. Returns the failures (empty: the ballot's CVR leaf is in the state's tree)."""
    failures = []
    cpf = proof["county_proof"]
    leaf = StateLeaf.decode(bytes.fromhex(proof["state_leaf_data"]))
    if leaf.county != proof["county"] or leaf.checkpoint != cpf["checkpoint"]:
        failures.append("the state leaf is not the county checkpoint the ballot proof ends in")
    county_cp = parse(cpf["checkpoint"])
    if not county_cp.signed_by(parse_vkey(leaf.vkey)):
        failures.append("the county checkpoint is not signed by the county key in the leaf")
    if (county_cp.checkpoint.size != cpf["tree_size"]
            or county_cp.checkpoint.root.hex() != cpf["root"]
            or not verify_inclusion(cpf["leaf_index"], cpf["tree_size"],
                                    bytes.fromhex(cpf["leaf_hash"]),
                                    [bytes.fromhex(p) for p in cpf["audit_path"]],
                                    county_cp.checkpoint.root)):
        failures.append("the ballot's leaf is not in the county checkpoint's tree")
    if "leaf_data" in cpf and leaf_hash(bytes.fromhex(cpf["leaf_data"])).hex() != \
            cpf["leaf_hash"]:
        failures.append("the ballot's leaf data does not hash to the proof's leaf hash")
    state_cp = parse(proof["state_checkpoint"])
    if not state_cp.signed_by(state_key):
        failures.append("the state checkpoint is not signed by the state key")
    if (state_cp.checkpoint.size != proof["state_tree_size"]
            or not verify_inclusion(proof["state_leaf_index"], proof["state_tree_size"],
                                    leaf_hash(bytes.fromhex(proof["state_leaf_data"])),
                                    [bytes.fromhex(p) for p in proof["state_audit_path"]],
                                    state_cp.checkpoint.root)):
        failures.append("the county checkpoint is not in the state checkpoint's tree")
    return failures

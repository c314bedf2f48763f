"""A county with batch tallies only: no CVRs, a ballot manifest and per-batch vote tallies.

Counties without CVR-capable equipment publish what their scanners (or hand counts) total by
batch. Such a county (``kind`` ``batch_tallies`` in ``state.json``) has no election store;
its folder ``STATE/counties/<id>/tallies/`` holds::

    tallies.json                the county's contests (from its tallies file, with the rule of
                                the statewide contest each maps onto), and per batch of the
                                manifest: container, tabulator, batch, ballots, and the votes
                                of each contest tallied there; the input files' hashes
    log/checkpoints/NNNNNN.txt  signed checkpoints of the county's batch log
    log/log.vkey                the county's log key

**Its log** (docs/commitment.md §1.5b) is an RFC 9162 tree whose leaves are the county's
election definition (leaf 0x04, as a CVR county's) followed by one batch tally leaf (0x06)
per manifest batch, sorted by (tabulator, batch); its signed checkpoint goes into the state
log exactly as a CVR county's does, so the state checkpoint commits to every batch tally.
Batch tallies are public, so the leaves carry no salt, and anyone can rebuild every leaf from
``tallies.json``. A county whose tallies changed after its commit fails its log check.

What it contributes: statewide totals from its tallies (over- and undervotes are not in a
batch tally: they are counted 0 and vote_for × ballots − votes, respectively), its accounting
(every manifest batch tallied, no batch with more votes than its ballots allow, pollbook
check-ins against the manifest, certified results against the tallies), and its batches to
the statewide batch comparison audit (its stratum of a stratified audit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..errors import InputError, StoreError, UsageError
from ..evidence.checks import Check
from ..fsutil import atomic_write_bytes, atomic_write_json
from ..ledger.canonical import FORMAT_VERSION, definition_leaf, enc_str
from ..ledger.checkpoint import Checkpoint, origin_for, parse, sign
from ..memory import gc_paused
from ..ledger.merkle import Tree, leaf_hash
from ..model import Candidate, Contest, ContestKind, Election, SourceFile
from .spec import StateSpec, fold, map_county

BATCH_TALLIES = "batch_tallies"  # the county kind in state.json
BATCH_TALLY_LEAF = 0x06
TALLIES_JSON = "tallies.json"
SCHEMA_VERSION = 1
WRITE_IN_NAMES = ("write-in", "write-ins", "write in", "write ins")


def tallies_dir(root: Path | str, county: str) -> Path:
    return Path(root) / "counties" / county / "tallies"


def is_batch_county(spec: StateSpec, county: str) -> bool:
    return spec.county(county).kind == BATCH_TALLIES


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"
    out, k = base, 2
    while out in taken:
        out, k = f"{base}-{k}", k + 1
    taken.add(out)
    return out


@dataclass(frozen=True)
class BatchCounty:
    """One county's batches (sorted by tabulator, batch) and each contest's tallies in them:
    ``tallies[c][b, k]`` votes for candidate k of contest c in batch b, ``on_batch[c][b]``
    whether the contest was tallied in batch b at all."""

    election: Election
    containers: tuple[str, ...]
    tabulators: tuple[str, ...]
    batches: tuple[str, ...]
    ballots: np.ndarray
    tallies: dict[str, np.ndarray]
    on_batch: dict[str, np.ndarray]

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """Batch ids as the batch audit names them (``tabulator/batch``).

        Computed once per county: callers index it per batch (``keys[r]`` for each row), and
        rebuilding all B ids on each of those B reads made the statewide audit's batch stage
        quadratic in the county's batches (tests/state/test_audit_batch_county.py counts)."""
        from ..audit.batch import batch_key

        return tuple(batch_key(t, b) for t, b in zip(self.tabulators, self.batches,
                                                     strict=True))

    @property
    def cards(self) -> int:
        return int(self.ballots.sum())

    def leaves(self) -> list[bytes]:
        """The log's leaf data: the definition, then one batch tally leaf per batch."""
        out = [definition_leaf(self.election)]
        for b, (tab, batch) in enumerate(zip(self.tabulators, self.batches, strict=True)):
            parts = []
            for k, c in enumerate(self.election.contests):
                if not self.on_batch[c.id][b]:
                    continue
                votes = self.tallies[c.id][b]
                parts.append(k.to_bytes(2, "big") + len(votes).to_bytes(2, "big")
                             + b"".join(int(v).to_bytes(8, "big") for v in votes))
            out.append(bytes([BATCH_TALLY_LEAF, FORMAT_VERSION]) + enc_str(tab) + enc_str(batch)
                       + int(self.ballots[b]).to_bytes(8, "big")
                       + len(parts).to_bytes(2, "big") + b"".join(parts))
        return out

    def tree(self) -> Tree:
        return Tree.from_leaves([leaf_hash(x) for x in self.leaves()])

    def to_json(self) -> dict[str, Any]:
        rows = []
        for b in range(len(self.batches)):
            rows.append({"container": self.containers[b], "tabulator": self.tabulators[b],
                         "batch": self.batches[b], "ballots": int(self.ballots[b]),
                         "tallies": {c.id: [int(v) for v in self.tallies[c.id][b]]
                                     for c in self.election.contests if self.on_batch[c.id][b]}})
        return {"schema_version": SCHEMA_VERSION, "election": self.election.to_json(),
                "batches": rows}

    @classmethod
    def from_json(cls, d: dict[str, Any], path: Path | str = TALLIES_JSON) -> BatchCounty:
        if d.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"batch tallies schema version {d.get('schema_version')} is not "
                             "supported", file=path)
        election = Election.from_json(d["election"])
        rows = d["batches"]
        width = {c.id: len(c.candidates) for c in election.contests}
        # gathered per contest, then put in place in one step per contest (columnar): the
        # file is read at every step of the statewide audit, a row of numpy per batch is not
        where: dict[str, list[int]] = {cid: [] for cid in width}
        votes_of: dict[str, list[list[int]]] = {cid: [] for cid in width}
        for b, r in enumerate(rows):
            for cid, votes in r["tallies"].items():
                if width.get(cid) != len(votes):
                    raise InputError(f"batch {r['tabulator']}/{r['batch']}: tallies of "
                                     f"{cid!r} do not fit its contest", file=path)
                where[cid].append(b)
                votes_of[cid].append(votes)
        tallies = {cid: np.zeros((len(rows), w), dtype=np.int64) for cid, w in width.items()}
        on = {cid: np.zeros(len(rows), dtype=bool) for cid in width}
        for cid, at in where.items():
            if at:
                tallies[cid][at] = np.asarray(votes_of[cid], dtype=np.int64)
                on[cid][at] = True
        return cls(election, tuple(str(r["container"]) for r in rows),
                   tuple(str(r["tabulator"]) for r in rows), tuple(str(r["batch"]) for r in rows),
                   np.asarray([int(r["ballots"]) for r in rows], dtype=np.int64), tallies, on)


def load_batch_county(folder: Path) -> BatchCounty:
    """A batch county's ``tallies.json`` (``folder``: its tallies folder, in a state or a
    bundle)."""
    path = Path(folder) / TALLIES_JSON
    if not path.exists():
        raise StoreError(f"{folder}: no {TALLIES_JSON} (ingest the county's batch tallies)")
    with gc_paused():  # thousands of batches of nested dicts: no cycles among them
        return BatchCounty.from_json(orjson.loads(path.read_bytes()), path)


# ------------------------------------------------------------------ ingest
def build_batch_county(spec: StateSpec, county: str, tallies: Path, manifest: Path
                       ) -> BatchCounty:
    """Read the county's batch tallies and ballot manifest (errors name the file and line):
    every tallied batch must be in the manifest; a manifest batch without tallies is kept (the
    accounting names it)."""
    from ..formats.batch_tallies import read_batch_tallies
    from ..formats.manifest import read_manifest
    from ..store import sha256_file

    tf = read_batch_tallies(tallies)
    man = read_manifest(manifest).to_pylist()
    index = {(r["tabulator"] or "", r["batch"]): r for r in man}
    order = sorted(index)
    row_of = {k: i for i, k in enumerate(order)}
    names: dict[str, list[str]] = {}
    for r in tf.rows:
        if (r.tabulator, r.batch) not in index:
            raise InputError(f"batch {r.tabulator}/{r.batch} is not in the ballot manifest "
                             f"{Path(manifest).name}", file=tallies, record=f"line {r.line}",
                             field="batch name")
        choices = names.setdefault(r.contest, [])
        if r.choice not in choices:
            choices.append(r.choice)
    taken: set[str] = set()
    contests = []
    for name, choices in names.items():
        cand_ids: set[str] = set()
        contests.append(Contest(_slug(name, taken), name, ContestKind.PLURALITY, 1,
                                tf.vote_for[name], tuple(
                                    Candidate(_slug(ch, cand_ids), ch,
                                              write_in=fold(ch) in WRITE_IN_NAMES)
                                    for ch in choices)))
    # a contest that maps onto a statewide contest takes its rule (kind, seats)
    rules = {sc.id: sc for sc in spec.contests}
    for m in map_county(spec, county, tuple(contests)):
        sc = rules[m.state_contest]
        if sc.kind in (ContestKind.IRV, ContestKind.STV):
            raise InputError(f"county {county}: statewide contest {sc.id} is ranked; batch "
                             "tallies cannot hold rankings", file=tallies, field="contest")
        k = next(i for i, c in enumerate(contests) if c.id == m.county_contest)
        contests[k] = Contest(contests[k].id, contests[k].name, sc.kind, sc.seats,
                              contests[k].vote_for, contests[k].candidates)
    by_name = {c.name: c for c in contests}
    tallies_arr = {c.id: np.zeros((len(order), len(c.candidates)), dtype=np.int64)
                   for c in contests}
    on = {c.id: np.zeros(len(order), dtype=bool) for c in contests}
    for r in tf.rows:
        c = by_name[r.contest]
        b = row_of[(r.tabulator, r.batch)]
        tallies_arr[c.id][b, [x.name for x in c.candidates].index(r.choice)] = r.votes
        on[c.id][b] = True
    sources = (SourceFile(str(tallies), Path(tallies).name, tf.sha256, "batch_tallies",
                          len(tf.rows)),
               SourceFile(str(manifest), Path(manifest).name, sha256_file(Path(manifest)),
                          "manifest", len(man)))
    election = Election(spec.name, spec.county(county).name, spec.date or None,
                        tuple(contests), sources)
    return BatchCounty(election, tuple(index[k]["container"] or "" for k in order),
                       tuple(k[0] for k in order), tuple(k[1] for k in order),
                       np.asarray([int(index[k]["ballots"]) for k in order], dtype=np.int64),
                       tallies_arr, on)


def ingest_batch_county(root: Path | str, county: str, tallies: Path, manifest: Path | None
                        ) -> BatchCounty:
    """Ingest (or, before its first commit, replace) a batch county's tallies."""
    from .spec import load_spec

    spec = load_spec(Path(root))
    if not is_batch_county(spec, county):
        raise UsageError(f"county {county} reports CVRs, not batch tallies")
    if manifest is None:
        raise UsageError(f"county {county} reports batch tallies: give its ballot manifest "
                         "(--manifest)")
    folder = tallies_dir(root, county)
    if _checkpoints(folder):
        raise StoreError(f"county {county}: its batch tallies are already committed; a "
                         "committed county's tallies are not replaced")
    bc = build_batch_county(spec, county, Path(tallies), Path(manifest))
    atomic_write_json(folder / TALLIES_JSON, bc.to_json())
    return bc


# ------------------------------------------------------------------ the county's log
def _checkpoints(folder: Path) -> list[Path]:
    d = Path(folder) / "log" / "checkpoints"
    return sorted(d.glob("*.txt")) if d.exists() else []


def commit_batch_county(root: Path | str, county: str, key: Path) -> Any:
    """Sign a checkpoint over the county's batch log (nothing new if the latest one already
    covers it); a county whose tallies differ from its committed log is refused."""
    from ..ledger.keys import load_signer
    from .tasks import CountyCommit

    folder = tallies_dir(root, county)
    bc = load_batch_county(folder)
    tree = bc.tree()
    signer = load_signer(key)
    vkey_file = folder / "log" / "log.vkey"
    if vkey_file.exists() and vkey_file.read_text(encoding="utf-8").strip() != \
            signer.verifier.vkey:
        raise StoreError(f"county {county}: its batch log is signed by another key")
    cps = _checkpoints(folder)
    committed = False
    if cps:
        last = parse(cps[-1].read_text(encoding="utf-8"), str(cps[-1])).checkpoint
        if last.size > tree.size or tree.root(last.size) != last.root:
            raise StoreError(f"county {county}: its batch tallies differ from its committed "
                             "log")
    if not cps or last.size != tree.size:
        text = sign(Checkpoint(origin_for(bc.election), tree.size, tree.root()), signer)
        atomic_write_bytes(folder / "log" / "checkpoints" / f"{len(cps) + 1:06d}.txt",
                           text.encode("utf-8"))
        if not vkey_file.exists():
            atomic_write_bytes(vkey_file, (signer.verifier.vkey + "\n").encode())
        committed = True
    cps = _checkpoints(folder)
    return CountyCommit(committed, tree.size, tree.root().hex(),
                        cps[-1].read_text(encoding="utf-8"),
                        vkey_file.read_text(encoding="utf-8").strip())


def latest_checkpoint(folder: Path) -> str | None:
    cps = _checkpoints(folder)
    return cps[-1].read_text(encoding="utf-8") if cps else None


def verify_batch_log(folder: Path) -> list[str]:
    """Rebuild every leaf from ``tallies.json`` and check each signed checkpoint: signed by
    the log key, its origin, its root over the first ``size`` leaves (so each is consistent
    with the next), and the latest covering every leaf. Returns the failures."""
    from ..ledger.keys import load_verifier

    folder = Path(folder)
    cps = _checkpoints(folder)
    if not cps:
        return ["nothing committed: the batch log has no checkpoint"]
    bc = load_batch_county(folder)
    tree = bc.tree()
    key = load_verifier(folder / "log" / "log.vkey")
    failures = []
    size = 0
    for k, p in enumerate(cps, start=1):
        cp = parse(p.read_text(encoding="utf-8"), str(p))
        c = cp.checkpoint
        if not cp.signed_by(key):
            failures.append(f"checkpoint {k}: not signed by the county's log key")
        if c.origin != origin_for(bc.election):
            failures.append(f"checkpoint {k}: origin {c.origin!r}")
        if c.size < size or c.size > tree.size or tree.root(c.size) != c.root:
            failures.append(f"checkpoint {k}: does not match the batch tallies' leaves")
        size = c.size
    if size != tree.size and not failures:
        failures.append(f"{tree.size - size} batch leaf(s) are not committed")
    return failures


# ------------------------------------------------------------------ results and accounting
def batch_county_tally(bc: BatchCounty, county: str, spec: StateSpec) -> Any:
    """The county's statewide contests, summed from its batch tallies (a
    :class:`.tasks.CountyTally`)."""
    from .tasks import CountyContestTally, CountyTally

    kinds = {sc.id: sc.kind for sc in spec.contests}
    by_id = {c.id: c for c in bc.election.contests}
    out = []
    for m in map_county(spec, county, bc.election.contests):
        contest = by_id[m.county_contest]
        if contest.kind != kinds[m.state_contest]:
            raise StoreError(f"county {county}: contest {contest.name!r} is {contest.kind} "
                             f"here but statewide contest {m.state_contest} is "
                             f"{kinds[m.state_contest]}")
        on = bc.on_batch[contest.id]
        votes = bc.tallies[contest.id][on].sum(axis=0)
        cards = int(bc.ballots[on].sum())
        mapped = {k for k in m.codes if k >= 0}
        out.append(CountyContestTally(
            m.state_contest, contest.id, cards,
            tuple(int(votes[k]) if k >= 0 else 0 for k in m.codes), 0,
            max(0, contest.vote_for * cards - int(votes.sum())),
            int(sum(int(v) for k, v in enumerate(votes) if k not in mapped))))
    return CountyTally(bc.cards, tuple(out))


def batch_county_checks(bc: BatchCounty, pollbooks: Path | None, results: Path | None
                        ) -> list[Check]:
    """The county's accounting: tallies against the manifest, check-ins against the
    manifest's ballots, certified results against the tallies ("not run" without a file)."""
    over, untallied = [], []
    for b, key in enumerate(bc.keys):
        if not any(on[b] for on in bc.on_batch.values()):
            untallied.append(key)
        for c in bc.election.contests:
            if bc.on_batch[c.id][b] and \
                    bc.tallies[c.id][b].sum() > bc.ballots[b] * c.vote_for:
                over.append(f"{key} ({c.name}: {int(bc.tallies[c.id][b].sum()):,} votes, "
                            f"{int(bc.ballots[b]):,} ballots)")
    bad = [f"{len(untallied)} manifest batch(es) without tallies: "
           f"{', '.join(untallied[:5])}"] if untallied else []
    if over:
        bad.append(f"{len(over)} batch(es) with more votes than ballots allow: "
                   + "; ".join(over[:5]))
    checks = [Check("reconciliation.batch_tallies", "fail" if bad else "pass",
                    "; ".join(bad) if bad else
                    f"every one of the {len(bc.keys):,} manifest batches is tallied, none with "
                    f"more votes than its ballots allow ({bc.cards:,} ballots)",
                    {"manifest_ballots": bc.cards, "untallied": untallied})]
    if pollbooks is None:
        checks.append(Check("reconciliation.pollbooks", "not_run", "no pollbook counts"))
    else:
        from ..reconcile_inputs import read_pollbooks

        checkins = sum(r.checkins for r in read_pollbooks(pollbooks))
        same = checkins == bc.cards
        checks.append(Check("reconciliation.pollbooks", "pass" if same else "fail",
                            f"{checkins:,} check-ins, {bc.cards:,} ballots in the manifest"
                            + ("" if same else f": {checkins - bc.cards:+,}"),
                            {"checkins": checkins}))
    checks.append(_official(bc, results))
    return checks


def _official(bc: BatchCounty, results: Path | None) -> Check:
    if results is None:
        return Check("official_results", "not_run", "no certified results")
    from ..formats.results import ALL, read_official_results

    res = read_official_results(results, bc.election)
    diffs = []
    for c in bc.election.contests:
        got = bc.tallies[c.id][bc.on_batch[c.id]].sum(axis=0)
        certified = res.counts.get(c.id, {}).get(ALL, {})
        for k, cand in enumerate(c.candidates):
            if cand.id in certified and certified[cand.id] != int(got[k]):
                diffs.append(f"{c.name}/{cand.name}: certified {certified[cand.id]:,}, "
                             f"tallied {int(got[k]):,}")
    return Check("official_results", "fail" if diffs else "pass",
                 "; ".join(diffs[:5]) if diffs else
                 "the batch tallies add up to the certified results")


def prove_batch(root: Path | str, county: str, batch: str) -> dict[str, Any]:
    """A batch tally's inclusion proof in the county's latest checkpoint, in the form of a
    ballot's county proof (docs/commitment.md §8), with the leaf's bytes (batch tallies are
    public). ``batch``: ``tabulator/batch`` as the batch audit names it."""
    from ..errors import VerificationError
    from ..ledger.merkle import verify_inclusion

    folder = tallies_dir(root, county)
    bc = load_batch_county(folder)
    if batch not in bc.keys:
        raise UsageError(f"county {county} has no batch {batch!r} (write TABULATOR/BATCH)")
    text = latest_checkpoint(folder)
    if text is None:
        raise UsageError(f"county {county}: its batch tallies are not committed yet")
    cp = parse(text).checkpoint
    tree = bc.tree()
    index = bc.keys.index(batch) + 1  # leaf 0 is the definition
    if cp.size > tree.size or index >= cp.size:
        raise VerificationError(f"batch {batch} is not covered by the latest checkpoint")
    proof = tree.inclusion_proof(index, cp.size)
    if not verify_inclusion(index, cp.size, tree.leaf(index), proof, cp.root):
        raise VerificationError("the batch tallies do not match their latest checkpoint")
    return {"ballot_id": batch, "leaf_index": index, "leaf_type": "batch_tally",
            "tree_size": cp.size, "leaf_hash": tree.leaf(index).hex(),
            "audit_path": [p.hex() for p in proof], "root": cp.root.hex(), "checkpoint": text,
            "leaf_data": bc.leaves()[index].hex()}

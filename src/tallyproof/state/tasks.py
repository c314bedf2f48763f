"""Per-county tasks: each reads and writes one county's store only, takes paths and ids, and
returns a small frozen result (see :mod:`.executor`). The state folder's layout::

    STATE/state.json                 counties and statewide contests (:mod:`.spec`)
    STATE/counties/<id>/store/       the county's election store (unchanged format)
    STATE/counties/<id>/exports/     what its voting system exported, for `state ingest`
                                     (``ballot_manifest.csv`` there is its ballot manifest)
    STATE/keys/<id>[.pub]            a county's log key, when the state keeps it (the demo)
    STATE/log/                       the state log of county checkpoints (:mod:`.statelog`)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError, UsageError
from .spec import StateSpec, map_county


def county_store_dir(root: Path | str, county: str) -> Path:
    return Path(root) / "counties" / county / "store"


def county_key_path(root: Path | str, county: str) -> Path:
    return Path(root) / "keys" / county


EXPORTS = "exports"
MANIFEST_FILE = "ballot_manifest.csv"


def county_exports_dir(root: Path | str, county: str) -> Path:
    return Path(root) / "counties" / county / EXPORTS


def county_exports(root: Path | str, county: str) -> tuple[list[str], str | None]:
    """The county's sources (every entry of its exports folder but the manifest and hidden
    files, sorted) and its ballot manifest, if there is one. An absent or empty folder is a
    usage error naming the county: nothing to ingest is not "nothing new"."""
    folder = county_exports_dir(root, county)
    if not folder.is_dir():
        raise UsageError(f"county {county}: no exports folder {folder} (put its voting "
                         "system's export there, or name its files with --source)")
    manifest = folder / MANIFEST_FILE
    sources = [str(p) for p in sorted(folder.iterdir())
               if not p.name.startswith(".") and p.name != MANIFEST_FILE]
    if not sources:
        raise UsageError(f"county {county}: its exports folder {folder} holds no export")
    return sources, str(manifest) if manifest.is_file() else None


@dataclass(frozen=True)
class CountyIngest:
    format: str
    cards_added: int
    cards_total: int
    already: bool = False  # every export was in the store already: nothing added


def _already_ingested(root: str, county: str, sources: Sequence[str],
                      manifest: str | None) -> CountyIngest | None:
    """The answer for exports the county's store holds already (each file by its SHA-256,
    every file of an export folder among them, with the same ballot manifest), else None.

    Dask re-runs a task whose worker died before its result reached the scheduler, even when
    the task had finished: a re-run ingest must then find its own work done, not fail the
    county with "already ingested". Exports only partly in the store are still refused by the
    ingest itself (a real mistake, not a retry)."""
    from ..formats.manifest import read_manifest
    from ..store import Store, sha256_file

    store_dir = county_store_dir(root, county)
    if not sources or not (store_dir / "election.json").exists():
        return None
    with Store.open_readonly(store_dir) as store:
        by_sha = {s.sha256: s for s in store.election.sources}
        files = [f for s in map(Path, sources)
                 for f in (sorted(p for p in s.rglob("*") if p.is_file()) if s.is_dir() else [s])]
        found = [by_sha.get(sha256_file(f)) for f in files]
        if any(f is None for f in found):
            return None
        if manifest is not None:
            held = store.manifest()
            if held is None or not held.equals(read_manifest(Path(manifest))):
                return None
        first = found[0]
        return CountyIngest(first.format if first else "", 0, store.cvr_count(), True)


def ingest_task(county: str, root: str, sources: Sequence[str] | None = None, fmt: str = "auto",
                manifest: str | None = None, options: dict[str, Any] | None = None
                ) -> CountyIngest:
    """Ingest a county's exports into its store (one transaction: all or nothing); a county
    with batch tallies only takes one batch tallies CSV and its manifest
    (:mod:`.batch_county`). ``sources`` None: the county's exports folder
    (:func:`county_exports`), with its manifest unless ``manifest`` names one; an empty
    list: only ``manifest`` (the control room's manifest upload)."""
    from ..ingest import ingest
    from .batch_county import ingest_batch_county, is_batch_county
    from .spec import load_spec

    if sources is None:
        sources, found = county_exports(root, county)
        manifest = manifest or found

    if is_batch_county(load_spec(Path(root)), county):
        if len(sources) != 1:
            raise UsageError(f"county {county} reports batch tallies: give one batch tallies "
                             "CSV")
        bc = ingest_batch_county(root, county, Path(sources[0]),
                                 Path(manifest) if manifest else None)
        return CountyIngest("batch_tallies", bc.cards, bc.cards)
    done = _already_ingested(root, county, sources, manifest)
    if done is not None:
        return done
    res = ingest([Path(s) for s in sources], county_store_dir(root, county), fmt, options,
                 Path(manifest) if manifest else None)
    return CountyIngest(res.format, res.cards_added, res.cards_total)


@dataclass(frozen=True)
class CountyCommit:
    committed: bool
    tree_size: int
    root: str
    checkpoint: str  # the latest signed checkpoint, as published
    vkey: str  # the county log's verifier key


def commit_task(county: str, root: str, key: str | None = None) -> CountyCommit:
    """Commit the county's new CVRs (or its batch tallies) with its key (``key`` or
    ``STATE/keys/<county>``)."""
    from ..ledger.checkpoint import parse
    from ..ledger.log import LOG_KEY, checkpoint_paths, commit_store
    from ..store import Store
    from .batch_county import commit_batch_county, is_batch_county
    from .spec import load_spec

    if is_batch_county(load_spec(Path(root)), county):
        return commit_batch_county(root, county, Path(key) if key else
                                   county_key_path(root, county))  # type: ignore[no-any-return]
    store = Store.open(county_store_dir(root, county))
    res = commit_store(store, Path(key) if key else county_key_path(root, county))
    paths = checkpoint_paths(store)
    if not paths:
        raise StoreError(f"county {county}: nothing committed (no CVRs?)")
    text = paths[-1].read_text(encoding="utf-8")
    parse(text, str(paths[-1]))
    vkey = (store.log_dir / LOG_KEY).read_text(encoding="utf-8").strip()
    return CountyCommit(res.committed, res.tree_size, res.root, text, vkey)


@dataclass(frozen=True)
class CountyContestTally:
    """One statewide contest as counted in one county, in statewide candidate order."""

    contest: str  # statewide contest id
    county_contest: str
    cards: int
    votes: tuple[int, ...]  # per statewide candidate
    overvotes: int
    undervotes: int
    unmapped_votes: int  # votes for county candidates with no statewide counterpart (write-ins)


@dataclass(frozen=True)
class CountyTally:
    cards: int
    contests: tuple[CountyContestTally, ...]


def tabulate_task(county: str, root: str, spec_json: dict[str, Any]) -> CountyTally:
    """Count the county's vote-for-N and approval contests that map onto statewide ones
    (a county with batch tallies only: summed from its tallies)."""
    from ..store import Store
    from .batch_county import batch_county_tally, is_batch_county, load_batch_county, tallies_dir

    spec = StateSpec.from_json(spec_json)
    if is_batch_county(spec, county):
        return batch_county_tally(  # type: ignore[no-any-return]
            load_batch_county(tallies_dir(root, county)), county, spec)
    return county_tally(Store.open(county_store_dir(root, county)), county, spec)


def county_tally(store: Any, county: str, spec: StateSpec) -> CountyTally:
    """:func:`tabulate_task` on an open store (the verifier passes a bundle's, read-only)."""
    from ..tabulate.plurality import tally_store

    election = store.election
    maps = map_county(spec, county, election.contests)
    by_id = {c.id: c for c in election.contests}
    kinds = {c.id: c.kind for c in spec.contests}
    plain = [m for m in maps if not by_id[m.county_contest].ranked]  # ranked: state/ranked.py
    tallies = tally_store(store, [by_id[m.county_contest] for m in plain])
    out = []
    for m in plain:
        t = tallies[m.county_contest]
        contest = by_id[m.county_contest]
        if contest.kind != kinds[m.state_contest]:
            raise StoreError(f"county {county}: contest {contest.name!r} is {contest.kind} here "
                             f"but statewide contest {m.state_contest} is "
                             f"{kinds[m.state_contest]}")
        codes_to_votes = [t.votes[c.id] for c in contest.candidates]
        votes = tuple(codes_to_votes[k] if k >= 0 else 0 for k in m.codes)
        mapped = {k for k in m.codes if k >= 0}
        unmapped = sum(v for k, v in enumerate(codes_to_votes) if k not in mapped)
        out.append(CountyContestTally(m.state_contest, m.county_contest, t.cards, votes,
                                      t.overvotes, t.undervotes, unmapped))
    return CountyTally(store.cvr_count(), tuple(out))

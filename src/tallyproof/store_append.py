"""Appending exports to an election store: several exports, one transaction.

A county exports its CVRs in several parts (per tabulation centre, late mail batches,
provisionals), and one ``tallyproof ingest`` command may name several of them. Everything one
call of :func:`append_exports` reads — every export's cards, the merged election definition,
the list of source files and the ballot manifest — is staged and made visible together by one
:func:`tallyproof.fsutil.transaction`: all of it lands or none of it does.

Decisions (also in docs/formats.md, "Several exports into one store"):

* **Definition files** (a reader names them: Dominion's ``*Manifest.json``) define the election
  and are the same in every export of it. A second export whose definition file has the name of
  one already in the store must be byte-identical to it: it is then accepted and not recorded
  twice; otherwise the whole command is refused, naming the file, both paths and the contests
  or candidates that differ.
* **Source names.** The CVR table's ``source_file`` column names each card's file; names are
  unique in a store. A file whose base name is already taken (both parts hold a
  ``CvrExport.json``) is recorded as ``<folder>/<name>``; if that is taken too, the command is
  refused.
* **The same file twice** (same SHA-256, with cards) is refused, as before.
* **Duplicate ballot ids** — in the store and an export, or in two exports — are refused and
  the message names each id's source files: a card exported in two parts is a mistake in the
  export (or the same part ingested twice under another name), and adding it twice would count
  it twice.
* **Declared rules** (``tallyproof contest set``) survive later exports: the export's own guess
  of kind and seats is ignored for such a contest, as long as both are ranked or both are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .cvr_table import MARKS_TYPE, cvr_schema, map_distinct
from .errors import InputError
from .fsutil import Transaction, transaction
from .model import OVERVOTE_UNKNOWN, Candidate, Election, SourceFile

if TYPE_CHECKING:
    from .store import Store

#: At most this many differences or duplicate ids are listed in a message.
MAX_LISTED = 10


@dataclass
class Incoming:
    """One export to append.

    ``sources`` are its files; ``name`` is the value its cards carry in the ``source_file``
    column. A source whose ``sha256`` is empty gets it from ``digest``, which is asked once the
    batches are exhausted (a reader may hash a file from the bytes it parses) — or, for a
    definition file, before they are read. ``definition`` names the sources that define the
    election (see the module docstring).
    """

    election: Election
    batches: Iterator[pa.RecordBatch]
    sources: Sequence[SourceFile]
    digest: Callable[[SourceFile], str] | None = None
    definition: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Appended:
    """What one export added: its cards and the sources recorded for it; ``shared`` names its
    definition files identical to ones already in the store (not recorded again)."""

    cards: int
    sources: tuple[SourceFile, ...]
    shared: tuple[str, ...] = ()


@dataclass
class _State:
    """The election merged so far and the sources this command adds, with both indexes kept
    as sources are added (an export part has thousands of files: rebuilding them per file was
    quadratic). ``merge_elections`` keeps the store's sources, so replacing ``election`` leaves
    the indexes right."""

    election: Election  # merged so far, sources included
    added: list[SourceFile] = field(default_factory=list)
    _names: dict[str, SourceFile] = field(default_factory=dict, init=False, repr=False)
    _shas: dict[str, SourceFile] = field(default_factory=dict, init=False, repr=False)
    _added_ids: set[int] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        for s in self.election.sources:
            self._index(s)

    def _index(self, s: SourceFile) -> None:
        self._names[s.name] = s  # the later of two equal names, as a dict built in order
        self._shas.setdefault(s.sha256, s)  # the first of two equal digests

    def add(self, s: SourceFile) -> None:
        self.added.append(s)
        self._added_ids.add(id(s))
        self._index(s)

    def is_added(self, s: SourceFile) -> bool:
        return id(s) in self._added_ids

    def by_name(self) -> Mapping[str, SourceFile]:
        return MappingProxyType(self._names)

    def by_sha(self) -> Mapping[str, SourceFile]:
        return MappingProxyType(self._shas)


def append_exports(
    store: Store, exports: Iterable[Incoming], manifest: pa.Table | None = None
) -> list[Appended]:
    """Append every export (and replace the ballot manifest when one is given) in one
    transaction; the caller holds the store's lock. ``exports`` may be a generator: each export
    is asked for once the previous one has been written."""
    before = store.election
    state = _State(before)
    results: list[Appended] = []
    with transaction(store.root) as tx:
        out = _CvrWriter(store, tx)
        try:
            for inc in exports:
                results.append(_append_one(state, out, inc))
        finally:
            out.close()
        if out.path is not None:
            _check_unique_ids(out.path, state.by_name())
        merged = replace(state.election, sources=state.election.sources + tuple(state.added))
        if merged != before:
            tx.write_json(store.election_path, merged.to_json())
        if manifest is not None:
            pq.write_table(manifest, tx.path_for(store.manifest_path), compression="zstd")
    return results


def _append_one(state: _State, out: _CvrWriter, inc: Incoming) -> Appended:
    def sha(s: SourceFile) -> str:
        if s.sha256:
            return s.sha256
        if inc.digest is None:
            raise ValueError(f"source {s.name!r} has no SHA-256 and no digest function")
        return inc.digest(s)

    # Before a row is read: identical definition files are shared, disagreeing ones refused.
    shared = _shared_definitions(state, inc, sha)
    for s in inc.sources:
        if s.sha256 and s.name not in shared:
            _check_not_ingested(state, s, s.sha256)
    merged, remaps = merge_elections(state.election, inc.election)
    names = _assign_names(state, [s for s in inc.sources if s.name not in shared])
    out.use_schema(cvr_schema(merged.contests))
    rename = {old: new for old, new in names.items() if old != new}
    counted = out.write(inc.batches, remaps, rename)
    state.election = merged  # its sources are the store's; this command's are in `added`
    recorded: list[SourceFile] = []
    for s in inc.sources:
        if s.name in shared:
            continue
        digest = sha(s)
        name = names[s.name]
        cards = counted.get(name, 0)
        twin = state.by_name().get(s.name)
        if not cards and twin is not None and twin.sha256 == digest:
            shared.add(s.name)  # the same side file (e.g. an export's settings) again
            continue
        _check_not_ingested(state, s, digest)
        rec = replace(s, name=name, sha256=digest, cards=cards or s.cards)
        state.add(rec)
        recorded.append(rec)
    return Appended(cards=sum(counted.values()), sources=tuple(recorded),
                    shared=tuple(sorted(shared)))


def _shared_definitions(
    state: _State, inc: Incoming, sha: Callable[[SourceFile], str]
) -> set[str]:
    known = state.by_name()
    shared: set[str] = set()
    differing: list[tuple[SourceFile, SourceFile]] = []
    for s in inc.sources:
        have = known.get(s.name)
        if s.name not in inc.definition or have is None:
            continue
        if sha(s) == have.sha256:
            shared.add(s.name)
        else:
            differing.append((s, have))
    if differing:
        names = ", ".join(s.name for s, _ in differing)
        where = "; ".join(f"{s.path} vs {have.path}" for s, have in differing[:3])
        diffs = definition_differences(state.election, inc.election)
        detail = (
            "; ".join(diffs[:MAX_LISTED])
            + (f"; and {len(diffs) - MAX_LISTED} more" if len(diffs) > MAX_LISTED else "")
            if diffs
            else "the contests and candidates read from them agree, so they differ in what "
            "tallyproof does not use (" + ", ".join(
                f"{s.name} SHA-256 {sha(s)[:12]}… here, {have.sha256[:12]}… in the store"
                for s, have in differing[:3]) + ")"
        )
        raise InputError(
            f"this export's election definition ({names}) differs from the one already in the "
            f"store ({where}): {detail}. Exports of one election carry identical definition "
            "files; nothing was ingested",
            file=differing[0][0].path,
        )
    return shared


def definition_differences(store_el: Election, incoming: Election) -> list[str]:
    """How an export's contests and candidates differ from the store's, in words."""
    diffs: list[str] = []
    have = {c.id: c for c in store_el.contests}
    seen = {c.id for c in incoming.contests}
    for inc in incoming.contests:
        c = have.get(inc.id)
        label = f"contest {inc.id} ({inc.name!r})"
        if c is None:
            diffs.append(f"{label} is in this export but not in the store")
            continue
        if c.name != inc.name:
            diffs.append(f"contest {inc.id} is {inc.name!r} here but {c.name!r} in the store")
        if c.vote_for != inc.vote_for:
            diffs.append(f"{label}: vote for {inc.vote_for} here, {c.vote_for} in the store")
        if c.max_rankings != inc.max_rankings:
            diffs.append(f"{label}: {inc.max_rankings or 0} rank(s) here, "
                         f"{c.max_rankings or 0} in the store")
        if not c.rule_declared and (c.kind, c.seats) != (inc.kind, inc.seats):
            diffs.append(f"{label}: {inc.kind.value} for {inc.seats} seat(s) here, "
                         f"{c.kind.value} for {c.seats} in the store")
        cands = {x.id: x for x in c.candidates}
        for x in inc.candidates:
            y = cands.pop(x.id, None)
            if y is None:
                diffs.append(f"{label}: candidate {x.id} ({x.name!r}) is not in the store")
            elif (y.name, y.write_in) != (x.name, x.write_in):
                diffs.append(f"{label}: candidate {x.id} is {x.name!r} here but {y.name!r} in "
                             "the store")
        diffs += [f"{label}: candidate {y.id} ({y.name!r}) is in the store but not in this "
                  "export" for y in cands.values()]
    diffs += [f"contest {c.id} ({c.name!r}) is in the store but not in this export"
              for c in store_el.contests if c.id not in seen]
    return diffs


def _check_not_ingested(state: _State, s: SourceFile, digest: str) -> None:
    twin = state.by_sha().get(digest)
    if twin is None:
        return
    if state.is_added(twin):
        raise InputError(f"this exact file was already ingested by this command (as {twin.path})",
                         file=s.path)
    raise InputError(f"this exact file was already ingested into the store (as {twin.path})",
                     file=s.path)


def _assign_names(state: _State, sources: Sequence[SourceFile]) -> dict[str, str]:
    """Each source's name in the store: its own, or ``<folder>/<name>`` when that is taken."""
    taken = dict(state.by_name())
    names: dict[str, str] = {}
    for s in sources:
        name = s.name
        if name in taken:
            folder = Path(s.path).parent.name
            name = f"{folder}/{s.name}" if folder else ""
            if not name or name in taken:
                raise InputError(
                    f"a file named {s.name!r} is already in the store (from "
                    f"{taken[s.name].path}) and its folder name does not tell them apart; "
                    "give each part of the export its own folder name",
                    file=s.path,
                )
        names[s.name] = name
        taken[name] = s
    return names


class _CvrWriter:
    """The staged ``cvrs.parquet``: the store's rows, then each export's. Opened at the first
    export; if a later one adds contests, what is staged is re-written with the wider schema
    (never the case for parts of one election, whose definitions are identical)."""

    def __init__(self, store: Store, tx: Transaction) -> None:
        self.store = store
        self.tx = tx
        self.schema: pa.Schema | None = None
        self.writer: pq.ParquetWriter | None = None
        self.path: Path | None = None

    def use_schema(self, schema: pa.Schema) -> None:
        if self.schema is not None and schema.equals(self.schema, check_metadata=True):
            return
        previous = self.path
        self.close()
        self.path = self.tx.path_for(self.store.cvrs_path)  # replaces `previous` as staged
        self.writer = pq.ParquetWriter(self.path, schema, compression="zstd")
        self.schema = schema
        try:
            rows = (pq.ParquetFile(previous).iter_batches() if previous is not None
                    else self.store.iter_cvr_batches())
            for b in rows:
                self.writer.write_batch(_conform(b, schema, {}, {}))
        finally:
            if previous is not None:
                previous.unlink()

    def write(self, batches: Iterator[pa.RecordBatch], remaps: dict[str, np.ndarray],
              rename: dict[str, str]) -> dict[str, int]:
        if self.writer is None or self.schema is None:
            raise RuntimeError("use_schema() first")
        counted: dict[str, int] = {}
        for b in batches:
            b = _conform(b, self.schema, remaps, rename)
            self.writer.write_batch(b)
            vc = pc.value_counts(b.column(b.schema.get_field_index("source_file")))
            for item in vc.to_pylist():
                key = item["values"] or ""
                counted[key] = counted.get(key, 0) + item["counts"]
        return counted

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def merge_elections(
    current: Election, incoming: Election
) -> tuple[Election, dict[str, np.ndarray]]:
    """Union of contests and candidates; for each incoming contest whose codes change, the
    array mapping incoming code → store code. A contest whose rule was declared keeps it."""
    contests = {c.id: c for c in current.contests}
    order = [c.id for c in current.contests]
    remaps: dict[str, np.ndarray] = {}
    for inc in incoming.contests:
        have = contests.get(inc.id)
        if have is None:
            contests[inc.id] = inc
            order.append(inc.id)
            continue
        if have.rule_declared:
            if have.ranked != inc.ranked:
                raise InputError(
                    f"contest {inc.id!r} was declared {have.kind.value}, but this export has it "
                    f"{'ranked' if inc.ranked else 'not ranked'}",
                    field="contest",
                )
        elif have.kind != inc.kind or have.seats != inc.seats:
            raise InputError(
                f"contest {inc.id!r} is {inc.kind.value} with {inc.seats} seat(s) here but "
                f"{have.kind.value} with {have.seats} in the store",
                field="contest",
            )
        cands: list[Candidate] = list(have.candidates)
        ids = {c.id: i for i, c in enumerate(cands)}
        mapping = np.empty(max(len(inc.candidates), 1), dtype=np.uint16)
        for i, cand in enumerate(inc.candidates):
            if cand.id not in ids:
                ids[cand.id] = len(cands)
                cands.append(cand)
            mapping[i] = ids[cand.id]
        if len(inc.candidates) and not np.array_equal(mapping, np.arange(len(inc.candidates))):
            remaps[inc.id] = mapping
        contests[inc.id] = replace(
            have,
            candidates=tuple(cands),
            vote_for=max(have.vote_for, inc.vote_for),
            max_rankings=_max_opt(have.max_rankings, inc.max_rankings),
        )
    merged = replace(
        current,
        name=current.name if current.contests else incoming.name,
        jurisdiction=current.jurisdiction if current.contests else incoming.jurisdiction,
        date=current.date or incoming.date,
        contests=tuple(contests[i] for i in order),
    )
    return merged, remaps


def _max_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _remap_marks(arr: pa.Array, mapping: np.ndarray) -> pa.Array:
    """Re-code candidate codes in a list<list<uint16>> column (OVERVOTE_UNKNOWN kept)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    inner = arr.values  # list<uint16> per rank position
    codes = inner.values.to_numpy(zero_copy_only=False)
    full = np.arange(OVERVOTE_UNKNOWN + 1, dtype=np.uint16)
    full[: len(mapping)] = mapping
    new_codes = pa.array(full[codes], type=pa.uint16())
    new_inner = pa.ListArray.from_arrays(inner.offsets, new_codes, mask=inner.is_null())
    return pa.ListArray.from_arrays(arr.offsets, new_inner, type=MARKS_TYPE, mask=arr.is_null())


def _conform(batch: pa.RecordBatch, schema: pa.Schema, remaps: dict[str, np.ndarray],
             rename: dict[str, str]) -> pa.RecordBatch:
    cols = []
    for f in schema:
        idx = batch.schema.get_field_index(f.name)
        if idx < 0:
            cols.append(pa.nulls(batch.num_rows, type=f.type))
            continue
        col = batch.column(idx)
        cid = f.name.removeprefix("contest:")
        if f.name.startswith("contest:") and cid in remaps:
            col = _remap_marks(col, remaps[cid])
        col = col.cast(f.type) if col.type != f.type else col
        if f.name == "source_file" and rename:
            # over the distinct file names, not one pass over the column per renamed file
            # (an export part of thousands of files made that quadratic)
            col = map_distinct(col, lambda v: rename.get(v, v))
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def _check_unique_ids(parquet_path: Path, sources: Mapping[str, SourceFile]) -> None:
    con = duckdb.connect()
    try:
        dup = con.execute(
            "SELECT ballot_id, count(*) AS n, list(DISTINCT coalesce(source_file, '')) AS files "
            "FROM read_parquet(?) GROUP BY ballot_id HAVING n > 1 ORDER BY ballot_id LIMIT ?",
            [str(parquet_path), MAX_LISTED],
        ).fetchall()
        nulls = con.execute(
            "SELECT count(*) FROM read_parquet(?) WHERE ballot_id IS NULL OR ballot_id = ''",
            [str(parquet_path)],
        ).fetchone()
    finally:
        con.close()
    if nulls and nulls[0]:
        raise InputError(f"{nulls[0]} card(s) have no ballot id", field="ballot_id")
    if dup:
        def where(files: list[str]) -> str:
            paths = sorted(sources[f].path if f in sources else (f or "(no file)") for f in files)
            return f"twice in {paths[0]}" if len(paths) == 1 else "in " + " and ".join(paths)

        listed = "; ".join(f"{b} (×{n}, {where(files)})" for b, n, files in dup)
        raise InputError(
            f"duplicate ballot ids (already in the store or repeated in the input): {listed}; "
            "nothing was ingested",
            field="ballot_id",
        )


def one_export(election: Election, batches: Iterator[pa.RecordBatch],
               sources: Sequence[SourceFile]) -> list[Incoming]:
    """The single export of :meth:`tallyproof.store.Store.append`."""
    return [Incoming(election=election, batches=batches, sources=list(sources))]


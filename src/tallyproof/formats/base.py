"""What every reader returns, and the registry used by format detection.

A reader turns one export (a file or a folder, depending on the vendor) into a
:class:`ParsedExport`: the election definition it implies and an iterator of CVR-table record
batches (see :mod:`tallyproof.cvr_table`) that is consumed once, so memory stays bounded.

Reader options mirror the keys of RCTab's ``cvrFileSources`` entries where they apply
(``contestId``, ``firstVoteColumnIndex``, ``idColumnIndex``, ``precinctColumnIndex``,
``overvoteLabel``, ``undervoteLabel``, ``undeclaredWriteInLabel``, ``skippedRankLabel``,
``treatBlankAsUndeclaredWriteIn``, ``countingGroupId``...), so an RCTab configuration maps onto
reader options one to one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from ..model import Election


@dataclass
class ParsedExport:
    """An export read into the store's vocabulary. ``batches`` may be iterated only once."""

    election: Election
    batches: Iterator[pa.RecordBatch]
    format: str
    source_files: list[Path] = field(default_factory=list)
    #: SHA-256 (hex) of source files the reader hashed from the very bytes it parsed, filled in
    #: while ``batches`` is iterated and complete once it is exhausted; ingest hashes the
    #: other source files itself. Why: a large export is then read once, not twice, and the
    #: digest recorded is that of the bytes the CVRs came from.
    digests: dict[Path, str] = field(default_factory=dict)
    #: The files among ``source_files`` that define the election (Dominion's manifests) rather
    #: than hold cards: every export of one election carries identical copies, so a second
    #: export into a store must agree with the first (see :mod:`tallyproof.store_append`).
    definition_files: list[Path] = field(default_factory=list)


class Reader(Protocol):
    def __call__(self, path: Path, options: Mapping[str, Any]) -> ParsedExport: ...


@dataclass(frozen=True)
class FormatSpec:
    name: str
    read: Callable[[Path, Mapping[str, Any]], ParsedExport]
    sniff: Callable[[Path], bool]
    description: str


REGISTRY: dict[str, FormatSpec] = {}


def register(spec: FormatSpec) -> FormatSpec:
    REGISTRY[spec.name] = spec
    return spec

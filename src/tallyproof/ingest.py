"""Ingest: read exports with the right reader and append them to a store in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .errors import InputError, UsageError
from .formats import load_readers
from .formats.base import ParsedExport
from .model import SourceFile
from .store import Store, sha256_file


@dataclass(frozen=True)
class IngestResult:
    store: Path
    format: str
    cards_added: int
    cards_total: int
    sources: tuple[SourceFile, ...]


def read_export(path: Path, fmt: str = "auto", options: Mapping[str, Any] | None = None) -> ParsedExport:
    """Read one export with the named reader, or the one whose sniffer recognises it."""
    registry = load_readers()
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", file=path)
    if fmt == "auto":
        matches = [spec for spec in registry.values() if spec.sniff(path)]
        if not matches:
            raise InputError(
                "cannot tell which voting-system format this is; pass --format "
                f"(one of: {', '.join(sorted(registry))})",
                file=path,
            )
        if len(matches) > 1:
            raise InputError(
                f"several formats could match ({', '.join(s.name for s in matches)}); pass --format",
                file=path,
            )
        spec = matches[0]
    else:
        if fmt not in registry:
            raise UsageError(f"unknown format {fmt!r}; known: {', '.join(sorted(registry))}")
        spec = registry[fmt]
    return spec.read(path, dict(options or {}))


def _sources(files: Sequence[Path], parsed: ParsedExport) -> list[SourceFile]:
    """The source files of a read export with their SHA-256: the reader's digest of the bytes
    it parsed where it made one (a large export is then read once, not twice), else the file's
    as it is now."""
    return [
        SourceFile(
            path=str(f),
            name=f.name,
            sha256=parsed.digests.get(f) or sha256_file(f),
            format=parsed.format,
            cards=0,
        )
        for f in files
    ]


def ingest(
    sources: Sequence[Path],
    store_dir: Path,
    fmt: str = "auto",
    options: Mapping[str, Any] | None = None,
    manifest: Path | None = None,
) -> IngestResult:
    """Read every source and append its cards to the store (created if needed), atomically
    per source: a source that fails leaves the store as it was before that source."""
    from .formats.manifest import read_manifest

    # Validate everything that can be validated before the store is touched. The first
    # export is opened first: a reader that decodes in worker processes starts them then, and
    # they work while the ballot manifest is read.
    parsed_first = read_export(Path(sources[0]), fmt, options) if sources else None
    manifest_table = read_manifest(Path(manifest)) if manifest is not None else None
    store = Store.create(Path(store_dir))
    added = 0
    used_format = fmt
    all_sources: list[SourceFile] = []
    for i, src in enumerate(sources):
        parsed = parsed_first if i == 0 and parsed_first else read_export(Path(src), fmt, options)
        used_format = parsed.format
        files = parsed.source_files or [Path(src)]
        # named once the rows are read: the reader may hash files from the bytes it parses
        added += store.append(parsed.election, parsed.batches, partial(_sources, files, parsed))
        names = {f.name for f in files}
        all_sources += [s for s in store.election.sources if s.name in names]
    if manifest_table is not None:
        store.write_manifest(manifest_table)
    return IngestResult(
        store=store.root,
        format=used_format,
        cards_added=added,
        cards_total=store.cvr_count(),
        sources=tuple(all_sources),
    )


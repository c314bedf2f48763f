"""Ingest: read exports with the right reader and append them all to a store in one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import InputError, StoreError, UsageError
from .formats import load_readers
from .formats.base import ParsedExport
from .fsutil import new_folder
from .model import SourceFile
from .store import Store, sha256_file
from .store_append import Incoming


@dataclass(frozen=True)
class IngestResult:
    store: Path
    format: str
    cards_added: int
    cards_total: int
    sources: tuple[SourceFile, ...]
    #: definition files identical to ones already in the store (accepted, not recorded again)
    shared: tuple[str, ...] = ()


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


def _incoming(parsed: ParsedExport, src: Path) -> Incoming:
    """A read export as the store appends it: its files (named by base name, hashed by the
    reader from the bytes it parsed where it did so, else as they are now) and which of them
    define the election."""
    files = parsed.source_files or [src]
    by_path = {str(f): f for f in files}

    def digest(s: SourceFile) -> str:
        f = by_path[s.path]
        return parsed.digests.get(f) or sha256_file(f)

    return Incoming(
        election=parsed.election,
        batches=parsed.batches,
        sources=[SourceFile(path=str(f), name=f.name, sha256="", format=parsed.format, cards=0)
                 for f in files],
        digest=digest,
        definition=frozenset(f.name for f in parsed.definition_files),
    )


def ingest(
    sources: Sequence[Path],
    store_dir: Path,
    fmt: str = "auto",
    options: Mapping[str, Any] | None = None,
    manifest: Path | None = None,
) -> IngestResult:
    """Read every source and append its cards to the store (created if needed), and replace
    the ballot manifest when one is given — in one transaction: if anything fails, the store is
    exactly as it was before (a store this command would have created does not appear)."""
    from .formats.manifest import read_manifest

    root = Path(store_dir)
    if not (root / "store.json").exists() and root.exists() and (
        not root.is_dir() or any(root.iterdir())
    ):
        raise StoreError(f"{root} exists, is not empty and is not an election store")
    # Validate everything that can be validated before the store is touched. The first
    # export is opened first: a reader that decodes in worker processes starts them then, and
    # they work while the ballot manifest is read.
    parsed_first = read_export(Path(sources[0]), fmt, options) if sources else None
    manifest_table = read_manifest(Path(manifest)) if manifest is not None else None
    formats: list[str] = []

    def exports() -> Iterator[Incoming]:  # read one at a time: one export's workers at a time
        for i, src in enumerate(sources):
            parsed = parsed_first if i == 0 and parsed_first else read_export(Path(src), fmt, options)
            formats.append(parsed.format)
            yield _incoming(parsed, Path(src))

    def run(store: Store) -> IngestResult:
        done = store.append_exports(exports(), manifest_table)
        return IngestResult(
            store=root,
            format=formats[-1] if formats else fmt,
            cards_added=sum(d.cards for d in done),
            cards_total=store.cvr_count(),
            sources=tuple(s for d in done for s in d.sources),
            shared=tuple(name for d in done for name in d.shared),
        )

    if (root / "store.json").exists():
        return run(Store.open(root))
    with new_folder(
        root,
        busy=lambda: StoreError(f"{root} is being created by another tallyproof process"),
        exists=lambda: StoreError(f"{root} appeared while this ingest ran (another process?); "
                                  "nothing was written"),
    ) as stage:
        result = run(Store.create(stage))
    return replace(result, cards_total=Store.open(root).cvr_count())

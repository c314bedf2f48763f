"""The verification bundle: a folder (and a .zip of it) holding everything needed to re-check
the election, with a SHA-256 manifest of its files. Layout and rules: docs/bundle.md.

::

    BUNDLE/bundle.json          schema version, tool version, inputs' hashes, parameters, seed
    BUNDLE/SHA256SUMS           "<sha256>  <path>" for every other file, sorted by path
    BUNDLE/store/...            the election store (election.json, cvrs.parquet, manifest,
                                log/ with checkpoints and public keys, results/, audit/)
    BUNDLE/evidence/tabulation.json   the published outcome of every contest
    BUNDLE/evidence/checks.json       every check's status and numbers when the bundle was made
    BUNDLE/evidence/claims.json       the claims section
    BUNDLE/report/report.html, report.pdf, input-files.sha256 (every input file's SHA-256)

The zip is reproducible: entries sorted, timestamps = the report's SOURCE_DATE_EPOCH,
fixed permissions, no directories entries, no extra fields.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from .. import __version__
from ..errors import UsageError
from ..fsutil import JOURNAL, fsync_dir, fsync_file, temp_path_for
from ..store import Store, sha256_file
from ..reconcile import RECONCILIATION_FILE
from . import shared
from .collect import TABULATION_FILE
from .deflate import Precompressed, Spooled, close_streams, deflate_file

BUNDLE_SCHEMA_VERSION = 1
SUMS_FILE = "SHA256SUMS"
BUNDLE_JSON = "bundle.json"
STORE_DIR = "store"
#: Files of a store that are machinery, not evidence, and never go into a bundle (the log's
#: ``verified.json`` records what this machine checked; a verifier checks for itself).
SKIP_NAMES = {".lock", JOURNAL, "verified.json"}


@dataclass(frozen=True)
class BundlePaths:
    folder: Path
    zip: Path


def _json(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def build_bundle(store: Store, out: Path) -> BundlePaths:
    """Build ``out/`` and ``out.zip``. An existing bundle at ``out`` is replaced; any other
    existing non-empty folder is refused."""
    from .claims import claims_from_checks
    from .collect import collect
    from .report import (
        COUNTY_CHECKS,
        HASH_APPENDIX,
        render_hash_appendix,
        render_html,
        report_context,
        source_date_epoch,
    )

    from ..ledger.verified import record_path, verified_report

    out = Path(out)
    digests: dict[str, str] = {}
    ahead: Future[dict[str, Spooled]] | None = None
    try:
        with staged_bundle(out, digests) as stage, ThreadPoolExecutor(1) as pool:
            copied = _copy_store(store.root, stage / STORE_DIR)
            # streams deflated earlier in this command, for copies of the same bytes
            early = {f"{STORE_DIR}/{rel}": spooled for rel, spooled in shared.deflated().items()
                     if copied.get(rel) == spooled.sha256}
            ahead = pool.submit(deflate_ahead, stage, [f"{STORE_DIR}/{rel}" for rel in copied
                                                       if rel != f"results/{RECONCILIATION_FILE}"
                                                       and f"{STORE_DIR}/{rel}" not in early])
            bstore = Store(stage / STORE_DIR)
            epoch = source_date_epoch(bstore.election)
            # the report this command made already, from files with the digests just copied
            made = shared.recall(copied, epoch)
            if made is not None:
                evidence, ctx = made.evidence, made.ctx
                _require_committed(evidence)
            else:
                # the copies were hashed as they were written: when they are the files the
                # store's recorded verification read, that verification stands for the bundled
                # log too
                with bstore.reading_cvrs_once():
                    evidence = collect(bstore, verified_report(bstore, copied, record_path(store)))
                    _require_committed(evidence)
                    ctx = report_context(bstore, evidence)
            digests.update({f"{STORE_DIR}/{rel}": d for rel, d in copied.items()})
            if evidence.reconciliation is not None:
                # as the report shows it: recomputed now, so a reconciliation made before the
                # last commit (or another stage) is never bundled stale beside a fresh report
                (bstore.results_dir / RECONCILIATION_FILE).write_bytes(
                    _json(evidence.reconciliation))
                digests.pop(f"{STORE_DIR}/results/{RECONCILIATION_FILE}", None)
            (stage / "evidence").mkdir()
            (stage / "evidence" / TABULATION_FILE).write_bytes(_json(evidence.tabulation))
            (stage / "evidence" / "checks.json").write_bytes(
                _json({"schema_version": 1, "checks": [c.to_json() for c in evidence.checks]}))
            claims = claims_from_checks(evidence.checks, COUNTY_CHECKS)  # as the report does
            (stage / "evidence" / "claims.json").write_bytes(
                _json({"schema_version": 1, "claims": [c.to_json() for c in claims]}))
            (stage / "report").mkdir()
            if made is not None:
                html, pdf, appendix = made.html, made.pdf, made.appendix
            else:
                from .pdf import render_pdf

                html, pdf = render_html(ctx).encode("utf-8"), render_pdf(ctx)
                appendix = render_hash_appendix(ctx)
            (stage / "report" / "report.html").write_bytes(html)
            (stage / "report" / "report.pdf").write_bytes(pdf)
            (stage / "report" / HASH_APPENDIX).write_bytes(appendix)
            (stage / BUNDLE_JSON).write_bytes(_json(_bundle_meta(bstore, evidence, epoch)))
            deflated = {**early, **ahead.result()}  # before the staging folder is renamed
        zpath = out.with_name(out.name + ".zip")
        write_zip(out, zpath, epoch, deflated)
    finally:
        close_streams(ahead)  # this bundle's own (the early ones are the command's: shared)
    return BundlePaths(folder=out, zip=zpath)


@contextlib.contextmanager
def staged_bundle(out: Path, digests: Mapping[str, str] | None = None) -> Iterator[Path]:
    """Build a bundle in a private staging folder beside ``out``; on success write its
    SHA256SUMS and rename it into place (replacing an earlier bundle at ``out``), on any
    error remove it, so ``out`` is the old bundle or the new one, never half of one. Every
    kind of bundle (county, hand count, state) is published through here. ``digests``
    (filled in by the caller inside the block): SHA-256 of files already hashed as they were
    written, by bundle path, so SHA256SUMS does not hash them again."""
    if out.exists() and any(out.iterdir()) and not (out / BUNDLE_JSON).exists():
        raise UsageError(f"{out} exists, is not empty and is not a bundle; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(stage, 0o755)  # a bundle is for publishing (mkdtemp makes it private)
    try:
        yield stage
        write_sums(stage, digests)
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _require_committed(evidence: Any) -> None:
    """A bundle publishes committed evidence: refuse one whose log is missing, does not cover
    the CVR table, or does not verify (it could only fail ``verify``)."""
    ledger = next(c for c in evidence.checks if c.name == "ledger")
    if ledger.status == "not_run":
        raise UsageError("nothing to bundle yet: the CVRs have not been committed; run "
                         "tallyproof commit first")
    if ledger.status == "fail":
        raise UsageError(f"the store's log does not cover or match its CVRs ({ledger.summary}); "
                         "run tallyproof commit (new CVRs) or tallyproof verify --store to see "
                         "what changed")


def bundled_files(src: Path) -> list[str]:
    """The store's evidence files a bundle copies, as POSIX paths relative to ``src``, sorted
    (machinery and temporary files left out; a symbolic link is refused)."""
    rels: list[str] = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_symlink():
            raise UsageError(f"the store holds a symbolic link ({rel}); refusing to bundle it")
        if path.name in SKIP_NAMES or (path.name.startswith(".") and path.name.endswith(".tmp")):
            continue
        if path.is_dir():
            continue
        rels.append(rel.as_posix())
    return rels


def store_digests(src: Path) -> dict[str, str]:
    """SHA-256 of every file :func:`bundled_files` lists, by the same relative path."""
    return {rel: sha256_file(src / rel) for rel in bundled_files(src)}


def _copy_store(src: Path, dst: Path) -> dict[str, str]:
    """Copy the store's evidence files, hashing each as it is copied (one read per file);
    returns their SHA-256 by path relative to the store."""
    digests: dict[str, str] = {}
    for rel in bundled_files(src):
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        digests[rel] = copy_hashing(src / rel, target)
    return digests


def copy_hashing(src: Path, dst: Path, chunk: int = 1 << 20) -> str:
    """Copy ``src`` to ``dst`` and return the SHA-256 of the bytes copied."""
    h = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(chunk):
            h.update(block)
            fout.write(block)
    return h.hexdigest()


def _bundle_meta(store: Store, evidence: Any, epoch: int) -> dict[str, Any]:
    election = store.election
    recon = evidence.reconciliation or {}
    audit = evidence.audit or {}
    ledger = next(c for c in evidence.checks if c.name == "ledger")
    return {
        "schema_version": BUNDLE_SCHEMA_VERSION,
        "tool": "tallyproof",
        "tool_version": __version__,
        "source_date_epoch": epoch,
        "created": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "election": {"name": election.name, "jurisdiction": election.jurisdiction,
                     "date": election.date, "contests": len(election.contests),
                     "cards": store.cvr_count()},
        "inputs": {
            "cvr_sources": [{"name": s.name, "sha256": s.sha256, "format": s.format,
                             "cards": s.cards} for s in sorted(election.sources,
                                                                key=lambda s: s.name)],
            "pollbooks": (recon.get("inputs") or {}).get("pollbooks"),
            "official_results": (recon.get("inputs") or {}).get("results"),
        },
        "parameters": {
            "risk_limit": audit.get("risk_limit"),
            "seed": audit.get("seed"),
        },
        "ledger": {"tree_size": ledger.details.get("tree_size"),
                   "root": ledger.details.get("root")},
        "checks": {c.name: c.status for c in evidence.checks},
    }


def iter_files(folder: Path) -> list[str]:
    """Every regular file under ``folder`` as a POSIX relative path, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink())


def write_sums(folder: Path, digests: Mapping[str, str] | None = None) -> None:
    """``SHA256SUMS`` of every other file (``digests``: hashes already known, by path)."""
    known = digests or {}
    lines = [f"{known[rel] if rel in known else sha256_file(folder / rel)}  {rel}\n"
             for rel in iter_files(folder) if rel != SUMS_FILE]
    (folder / SUMS_FILE).write_text("".join(lines), encoding="utf-8")


#: Files of at least this size are deflated ahead, on a second core (:func:`deflate_ahead`).
DEFLATE_AHEAD_BYTES = 1 << 20
_ZIP_LEVEL = 6


def deflate_early(root: Path) -> None:
    """Start deflating the store's large files for a bundle built later in the same command
    (:func:`tallyproof.evidence.shared.deflate_early`; the reconciliation is left out: the
    bundle writes it anew)."""
    rels = [rel for rel in bundled_files(root) if rel != f"results/{RECONCILIATION_FILE}"
            and (root / rel).stat().st_size >= DEFLATE_AHEAD_BYTES]
    shared.deflate_early(root, rels, _ZIP_LEVEL)


def deflate_ahead(folder: Path, rels: list[str]) -> dict[str, Spooled]:
    """The zip entries' compressed streams of ``folder``'s files ``rels`` that hold at least
    :data:`DEFLATE_AHEAD_BYTES`, for :func:`write_zip` (:mod:`.deflate`). zlib releases the
    GIL, so run in a thread this overlaps the bundle's other work."""
    return {rel: deflate_file(folder / rel, _ZIP_LEVEL) for rel in rels
            if (folder / rel).stat().st_size >= DEFLATE_AHEAD_BYTES}


def write_zip(folder: Path, target: Path, epoch: int,
              deflated: Mapping[str, Spooled] | None = None) -> None:
    """Write a reproducible zip of ``folder``'s files to ``target`` atomically (no directory
    entries, fixed times and modes, entries sorted). ``deflated``: entries compressed ahead
    (:func:`deflate_ahead`), used as they are when the file still has their size."""
    stamp = datetime.fromtimestamp(max(epoch, 315_532_800), UTC).timetuple()[:6]
    tmp = temp_path_for(target)
    ahead = deflated or {}
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=_ZIP_LEVEL) as zf:
            for rel in iter_files(folder):
                info = zipfile.ZipInfo(rel, date_time=stamp)  # type: ignore[arg-type]
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o100644 << 16
                info.create_system = 3
                with open(folder / rel, "rb") as src, zf.open(info, "w") as dst:
                    if rel in ahead:
                        if os.fstat(src.fileno()).st_size != ahead[rel].size:
                            raise UsageError(f"{rel} changed while the bundle was zipped")
                        dst._compressor = Precompressed(ahead[rel])  # type: ignore[attr-defined]
                    shutil.copyfileobj(src, dst, 1 << 20)
        fsync_file(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

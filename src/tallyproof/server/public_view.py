"""What the public presentation pages show beside :mod:`.view`: the statewide audit's
progress and measured risk (``audit/status.json`` and the rounds, written by ``state audit``),
the claims board of the latest published bundle, and the files anyone may download
(published bundles, signed checkpoints, public keys).

Published bundles live in ``STATE/published/``: ``tallyproof state bundle --out
STATE/published/<name>`` writes the folder ``<name>/`` and ``<name>.zip``; the pages offer
every zip whose folder is a state bundle, newest name last. The claims board answers each
claim of the claims registry (:mod:`tallyproof.evidence.claims`) from that bundle's county
checks, as the statewide report does; before a bundle is published it says so. Nothing here
computes an election fact, and nothing a client sends becomes a path: a download is looked
up by name in the listing of its folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ledger.log import CHECKPOINTS, LOG_KEY
from ..state.audit_tasks import audit_dir
from ..state.spec import load_spec
from ..state.statelog import log_dir
from ..state.tasks import county_store_dir
from .view import read_json

PUBLISHED_DIR = "published"
STATUS_FILE = "status.json"


@dataclass(frozen=True)
class Download:
    name: str
    size: int
    url: str


@dataclass(frozen=True)
class Published:
    name: str
    folder: Path
    zip: Download
    meta: dict[str, Any]  # the bundle's bundle.json


def published(root: Path) -> list[Published]:
    """The published state bundles (``STATE/published/<name>.zip`` beside a folder whose
    ``bundle.json`` says kind "state"), oldest name first."""
    d = Path(root) / PUBLISHED_DIR
    out = []
    for z in sorted(d.glob("*.zip")) if d.is_dir() else []:
        meta_path = z.with_suffix("") / "bundle.json"
        if not meta_path.is_file():
            continue
        meta = read_json(meta_path)
        if meta.get("kind") != "state":
            continue
        out.append(Published(z.stem, z.with_suffix(""), Download(
            z.name, z.stat().st_size, f"/download/published/{z.name}"), meta))
    return out


def publish(root: Path, bundle: Path, name: str) -> Published:
    """Publish a state bundle built elsewhere (its folder and the ``.zip`` beside it) as
    ``STATE/published/<name>``: both are copied under temporary names and renamed into
    place, the folder last, so the pages never list half a bundle."""
    import os
    import shutil
    import tempfile

    from ..errors import UsageError
    from ..fsutil import fsync_dir, temp_path_for

    d = Path(root) / PUBLISHED_DIR
    target = d / name
    if target.exists() or target.with_suffix(".zip").exists():
        raise UsageError(f"{target} is already published")
    d.mkdir(exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=d)) / name
    zip_tmp = temp_path_for(target.with_suffix(".zip"))
    try:
        shutil.copytree(bundle, stage)
        shutil.copyfile(bundle.with_name(bundle.name + ".zip"), zip_tmp)
        os.replace(zip_tmp, target.with_suffix(".zip"))
        os.rename(stage, target)
        fsync_dir(d)
    finally:
        zip_tmp.unlink(missing_ok=True)
        shutil.rmtree(stage.parent)
    return next(p for p in published(root) if p.name == name)


def published_zip(root: Path, name: str) -> Path | None:
    """The published bundle zip called ``name``, looked up in the listing (None if absent)."""
    return next((p.folder.with_suffix(".zip") for p in published(root) if p.zip.name == name),
                None)


def _checkpoint_files(folder: Path) -> dict[str, Path]:
    d = folder / CHECKPOINTS
    return {p.name: p for p in sorted(d.glob("*.txt"))} if d.is_dir() else {}


def _county_log(root: Path, county: str) -> Path:
    return county_store_dir(root, county) / "log"


def checkpoint_file(root: Path, county: str | None, name: str) -> Path | None:
    """A signed checkpoint of the state log (``county`` None) or of a county's log, by file
    name as listed (None if there is none such)."""
    folder = log_dir(root) if county is None else _county_log(root, county)
    return _checkpoint_files(folder).get(name)


def key_file(root: Path, county: str | None) -> Path | None:
    """The published verifier key of the state log or of a county's log."""
    p = (log_dir(root) if county is None else _county_log(root, county)) / LOG_KEY
    return p if p.is_file() else None


def downloads(root: Path, county: str | None = None) -> dict[str, Any]:
    """The checkpoints and the key of the state log (or of one county's log), and the
    published bundles."""
    folder = log_dir(root) if county is None else _county_log(root, county)
    where = "state" if county is None else f"county/{county}"
    cps = [Download(n, p.stat().st_size, f"/download/{where}/checkpoints/{n}")
           for n, p in _checkpoint_files(folder).items()]
    key = key_file(root, county)
    return {"checkpoints": cps,
            "key": Download(LOG_KEY, key.stat().st_size, f"/download/{where}/{LOG_KEY}")
            if key else None,
            "bundles": [p.zip for p in published(root)]}


def audit_progress(root: Path) -> dict[str, Any] | None:
    """The statewide audit as ``state audit status`` last wrote it (risk limit, rounds,
    status, each contest's measured risk, the cards each county has not recorded yet), with
    each round's cards to pull per county; None before ``state audit start``."""
    d = audit_dir(root)
    if not (d / "audit.json").is_file():
        return None
    spec = load_spec(root)
    names = {c.id: c.name for c in spec.contests}
    status = read_json(d / STATUS_FILE) if (d / STATUS_FILE).is_file() else None
    rounds = []
    k = 1
    while (p := d / "rounds" / f"round-{k}.json").is_file():
        r = read_json(p)
        rounds.append({"round": r["round"], "new_cards": r["new_cards"]})
        k += 1
    params = read_json(d / "audit.json")
    contests = [{**c, "name": names.get(c["contest_id"], c["contest_id"])}
                for c in (status or {}).get("contests", [])]
    return {"risk_limit": params["risk_limit"], "kind": params["kind"],
            "seed": params["seed"], "rounds": rounds, "status": status, "contests": contests}


def state_claims(root: Path) -> dict[str, Any] | None:
    """The claims board of the latest published bundle: every claim of the registry answered
    from the bundle's county checks by the statewide report's own functions; None when no
    bundle is published."""
    from ..evidence.claims import CHECK_LABELS, claims_from_checks
    from ..evidence.report import COUNTY_CHECKS
    from ..state.evidence import aggregate_checks

    pubs = published(root)
    if not pubs:
        return None
    last = pubs[-1]
    counties = {c: last.folder / "counties" / c for c in last.meta["counties"]}
    claims = [c.to_json() for c in claims_from_checks(aggregate_checks(counties),
                                                      COUNTY_CHECKS)]
    return {"bundle": last.name, "claims": claims, "labels": CHECK_LABELS}


def county_claims(root: Path, county: str) -> dict[str, Any] | None:
    """The county's claims as its bundle inside the latest published state bundle states
    them (``counties/<id>/evidence/claims.json``); None when none is published."""
    from ..evidence.claims import CHECK_LABELS

    pubs = published(root)
    if not pubs:
        return None
    path = pubs[-1].folder / "counties" / county / "evidence" / "claims.json"
    if not path.is_file():
        return None
    return {"bundle": pubs[-1].name, "claims": read_json(path)["claims"], "labels": CHECK_LABELS}


def state_key_text(root: Path) -> str | None:
    """The state log's published verifier key (``name+id+key``), shown for the in-browser
    proof check."""
    p = key_file(root, None)
    return p.read_text(encoding="utf-8").strip() if p else None

"""A batch-tally county's part of the state bundle, and its verification from scratch.

::

    BUNDLE/counties/<id>/bundle.json          kind "batch_tallies", county, cards
    BUNDLE/counties/<id>/tallies/tallies.json the county's batches and tallies
    BUNDLE/counties/<id>/tallies/log/...      its signed checkpoints and log key
    BUNDLE/counties/<id>/inputs/...           pollbooks.csv, official_results.csv, if given
    BUNDLE/counties/<id>/evidence/checks.json its checks (log, accounting, certified results)

``verify`` rebuilds every leaf from ``tallies.json``, checks the county's checkpoints
(:func:`.batch_county.verify_batch_log`) and recomputes its checks from the bundled files;
they must be exactly the bundled ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from ..evidence.checks import Check
from ..fsutil import atomic_write_bytes
from .accounting import POLLBOOKS, RESULTS, county_inputs
from .batch_county import (
    BATCH_TALLIES,
    batch_county_checks,
    load_batch_county,
    tallies_dir,
    verify_batch_log,
)

KIND = BATCH_TALLIES


def _json(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def batch_checks(folder: Path) -> list[Check]:
    """The county's checks from a county folder holding ``tallies/`` and ``inputs/``."""
    failures = verify_batch_log(folder / "tallies")
    bc = load_batch_county(folder / "tallies")
    inputs = folder / "inputs"
    ledger = Check("ledger", "fail" if failures else "pass", "; ".join(failures) if failures
                   else f"the signed batch log covers every one of the {len(bc.keys):,} batch "
                        "tallies")
    return [ledger, *batch_county_checks(
        bc, inputs / POLLBOOKS if (inputs / POLLBOOKS).exists() else None,
        inputs / RESULTS if (inputs / RESULTS).exists() else None)]


def build_batch_county_bundle(root: Path, county: str, out: Path) -> Path:
    """Copy the county's tallies, log and inputs into ``out`` and state its checks."""
    shutil.copytree(tallies_dir(root, county), out / "tallies")
    inputs = county_inputs(root, county)
    if inputs.exists():
        shutil.copytree(inputs, out / "inputs")
    checks = batch_checks(out)
    (out / "evidence").mkdir()
    atomic_write_bytes(out / "evidence" / "checks.json",
                       _json({"checks": [c.to_json() for c in checks]}))
    atomic_write_bytes(out / "bundle.json", _json({
        "kind": KIND, "county": county,
        "election": {"cards": load_batch_county(out / "tallies").cards}}))
    return out


def verify_batch_county_bundle(folder: Path) -> tuple[tuple[str, str, str], ...]:
    """The county's checks recomputed from its bundled files, then a verdict: it passes when
    its log verifies and the recomputed checks are exactly the bundled ones."""
    ours = batch_checks(folder)
    bundled = orjson.loads((folder / "evidence" / "checks.json").read_bytes())["checks"]
    same = [c.to_json() for c in ours] == bundled
    ledger = ours[0]
    ok = same and ledger.status == "pass"
    text = ("the batch log and every batch-tally check verify" if ok else
            ledger.summary if ledger.status != "pass" else
            "the bundled checks differ from those recomputed from the bundled tallies")
    return tuple((c.name, c.status, c.summary) for c in ours) + (
        ("verdict", "pass" if ok else "fail", text),)

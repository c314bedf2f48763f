"""Statewide ballot accounting and the statewide certified-results check.

Each county is reconciled in its own store (:func:`tallyproof.reconcile.reconcile_store`, on
the executor), with the pollbook counts and certified county results found in
``STATE/counties/<id>/inputs/`` (``pollbooks.csv``, ``official_results.csv``; a missing file
leaves that check "not run" for the county, never "passed"). The statewide account is the
exact sum of the counties' (CVRs, manifest ballots, pollbook check-ins), and every difference
is reported with the county it comes from, so a statewide discrepancy of 40 cards is read as
"county-07: 40 CVRs in no manifest batch", not as a statewide mystery.

The statewide certified results (one CSV, ``contest,candidate,votes`` with the statewide ids or
names) are compared with the statewide merge of the counties' tabulations, exactly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..evidence.checks import Check
from ..formats.detect import read_text
from ..fsutil import atomic_write_json
from .executor import Executor, Outcome
from .spec import fold, load_spec
from .tasks import county_store_dir

INPUTS = "inputs"
POLLBOOKS, RESULTS = "pollbooks.csv", "official_results.csv"


def county_inputs(root: Path | str, county: str) -> Path:
    return Path(root) / "counties" / county / INPUTS


@dataclass(frozen=True)
class CountyAccount:
    cvrs: int
    manifest_ballots: int | None
    checkins: int | None
    checks: tuple[tuple[str, str, str], ...]  # (name, status, summary)


def reconcile_task(county: str, root: str) -> CountyAccount:
    from ..reconcile import reconcile_store
    from ..store import Store
    from .batch_county import (
        batch_county_checks,
        is_batch_county,
        load_batch_county,
        tallies_dir,
    )

    folder = county_inputs(root, county)
    pollbooks = folder / POLLBOOKS
    results = folder / RESULTS
    if is_batch_county(load_spec(Path(root)), county):
        bc = load_batch_county(tallies_dir(root, county))
        checks = batch_county_checks(bc, pollbooks if pollbooks.exists() else None,
                                     results if results.exists() else None)
        polls = next(c for c in checks if c.name == "reconciliation.pollbooks")
        return CountyAccount(0, bc.cards, polls.details.get("checkins"),
                             tuple((c.name, c.status, c.summary) for c in checks))
    rep = reconcile_store(Store.open(county_store_dir(root, county)),
                          pollbooks=pollbooks if pollbooks.exists() else None,
                          results=results if results.exists() else None)
    manifest = rep.check("reconciliation.manifest")
    polls = rep.check("reconciliation.pollbooks")
    return CountyAccount(
        rep.cards,
        manifest.details.get("manifest_ballots") if manifest.status != "not_run" else None,
        polls.details.get("checkins") if polls.status != "not_run" else None,
        tuple((c.name, c.status, c.summary) for c in rep.checks))


@dataclass(frozen=True)
class StateAccount:
    counties: dict[str, CountyAccount]
    cvrs: int
    manifest_ballots: int
    checkins: int
    counties_without_manifest: tuple[str, ...]
    counties_without_pollbooks: tuple[str, ...]
    check: Check

    def to_json(self) -> dict[str, Any]:
        return {"cvrs": self.cvrs, "manifest_ballots": self.manifest_ballots,
                "checkins": self.checkins,
                "counties_without_manifest": list(self.counties_without_manifest),
                "counties_without_pollbooks": list(self.counties_without_pollbooks),
                "check": self.check.to_json(),
                "counties": {c: asdict(a) for c, a in sorted(self.counties.items())}}


def reconcile_state(root: Path, ex: Executor,
                    progress: Callable[[Outcome[Any]], None] | None = None) -> StateAccount:
    """Reconcile every county on the executor and sum the accounts (see module docstring);
    writes ``results/reconciliation.json``."""
    from .workflow import CountyFailures

    spec = load_spec(root)
    outs = ex.map(reconcile_task, [c.id for c in spec.counties], str(root), progress=progress)
    failed = [o for o in outs if not o.ok]
    if failed:
        raise CountyFailures("reconcile", failed)
    accounts = {o.county: o.value for o in outs if o.value is not None}
    bad = {c: [(n, s) for n, s, _ in a.checks if s == "fail"] for c, a in accounts.items()}
    bad = {c: v for c, v in bad.items() if v}
    no_manifest = tuple(c for c, a in accounts.items() if a.manifest_ballots is None)
    no_polls = tuple(c for c, a in accounts.items() if a.checkins is None)
    cvrs = sum(a.cvrs for a in accounts.values())
    manifest = sum(a.manifest_ballots or 0 for a in accounts.values())
    checkins = sum(a.checkins or 0 for a in accounts.values())
    if bad:
        summary = (f"differences in {len(bad)} of {len(accounts)} counties: " + "; ".join(
            f"{c} ({', '.join(n for n, _ in v)})" for c, v in sorted(bad.items()))
            + f"; statewide {cvrs:,} CVRs, {manifest:,} manifest ballots, {checkins:,} "
              "check-ins")
        status = "fail"
    elif len(no_manifest) == len(accounts) and len(no_polls) == len(accounts):
        summary, status = "no county gave a ballot manifest or pollbook counts", "not_run"
    else:
        summary = (f"every county's accounting adds up: {cvrs:,} CVRs, {manifest:,} manifest "
                   f"ballots, {checkins:,} check-ins across {len(accounts)} counties")
        status = "pass"
        missing = sorted(set(no_manifest) | set(no_polls))
        if missing:
            summary += f"; not checked in {', '.join(missing)} (no manifest or pollbooks)"
    account = StateAccount(accounts, cvrs, manifest, checkins, no_manifest, no_polls,
                           Check("state.reconciliation", status, summary,
                                 {"failing_counties": sorted(bad)}))
    folder = Path(root) / "results"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "reconciliation.json", {"schema_version": 1, **account.to_json()})
    return account


def check_statewide_results(root: Path, certified: Path) -> Check:
    """Compare the statewide merge (``results/statewide.json``) with certified statewide
    totals: a CSV ``contest,candidate,votes`` naming statewide contests and candidates by id
    or by name. Every difference is listed; a certified row that names nothing is an error."""
    import orjson

    spec = load_spec(root)
    merged = orjson.loads((Path(root) / "results" / "statewide.json").read_bytes())
    ours = {c["contest"]: c["votes"] for c in merged["contests"]}
    _, text = read_text(certified)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or [f.strip().lower() for f in reader.fieldnames] != [
            "contest", "candidate", "votes"]:
        raise InputError("the header must be contest,candidate,votes", file=certified,
                         record="line 1")
    theirs: dict[str, dict[str, int]] = {}
    for row in reader:
        line = reader.line_num
        vals = {k.strip().lower(): (v or "").strip() for k, v in row.items()}
        sc = next((c for c in spec.contests if vals["contest"] in (c.id,)
                   or fold(vals["contest"]) == fold(c.name)), None)
        if sc is None:
            raise InputError(f"no statewide contest {vals['contest']!r}", file=certified,
                             record=f"line {line}", field="contest")
        cand = next((c for c in sc.candidates if vals["candidate"] == c.id
                     or fold(vals["candidate"]) == fold(c.name)), None)
        if cand is None:
            raise InputError(f"contest {sc.id} has no candidate {vals['candidate']!r}",
                             file=certified, record=f"line {line}", field="candidate")
        if not vals["votes"].isdigit():
            raise InputError(f"votes must be a whole number, not {vals['votes']!r}",
                             file=certified, record=f"line {line}", field="votes")
        theirs.setdefault(sc.id, {})[cand.id] = int(vals["votes"])
    diffs = [{"contest": c, "candidate": k, "certified": v, "counted": ours.get(c, {}).get(k, 0)}
             for c, cands in sorted(theirs.items()) for k, v in sorted(cands.items())
             if ours.get(c, {}).get(k, 0) != v]
    not_compared = sorted(set(ours) - set(theirs))
    if diffs:
        summary = f"{len(diffs)} statewide count(s) differ from the certified results: " + \
            "; ".join(f"{d['contest']}/{d['candidate']}: certified {d['certified']:,}, "
                      f"counted {d['counted']:,}" for d in diffs[:5])
    else:
        summary = (f"counting every county's CVRs gives the certified statewide totals in "
                   f"{len(theirs)} contest(s)")
    if not_compared:
        summary += f"; not in the certified file: {', '.join(not_compared)}"
    return Check("state.official_results", "fail" if diffs else "pass", summary,
                 {"differences": diffs, "not_compared": not_compared})

"""``state.audit``: ``verify`` re-draws and re-measures the statewide audit of a state bundle
instead of taking its ``state/audit/status.json`` on trust.

* every round's draws are what the public seed and the round's targets give, through the
  audit's own drawing code (:func:`.audit.draw_counties`, :func:`.audit.merge_targets`); the
  first round's targets are the planner's, and each round's new cards per county follow from
  its draws;
* the status is measured again from the bundled audit-board records by the library's own
  :func:`.audit_status.state_audit_status` (or :func:`.audit_status.hand_count_status`) and
  must equal the bundled ``status.json`` and the latest ``history/round-NNN.json``.

The library reads a state folder (``ROOT/counties/<id>/store``, :mod:`.tasks`) while a bundle
keeps each county under ``BUNDLE/counties/<id>/`` beside ``BUNDLE/state/``: the state folder
is mirrored in a temporary directory of symbolic links, removed afterwards. The county stores
are real directories of links there, so what opening a store writes (its lock file) stays in
the temporary directory: nothing is written into the bundle.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from ..audit.workflow import cap_size, plan_size
from ..evidence.checks import Check
from .audit import (
    StateAuditParams,
    StateRound,
    draw_counties,
    load_state_audit,
    load_state_rounds,
    merge_targets,
)
from .audit_tasks import audit_dir, county_batches, split_ballot_id
from .executor import Executor
from .spec import load_spec

NAME = "state.audit"
#: county parts the statewide audit reads: a store, or a batch county's tallies
COUNTY_PARTS = ("store", "tallies")


@contextmanager
def mirrored_state(folder: Path, counties: Sequence[str]) -> Iterator[Path]:
    """A state folder laid out as the library expects, of links into the bundle ``folder``
    (removed on exit)."""
    with tempfile.TemporaryDirectory(prefix="tallyproof-verify-") as tmp:
        root = Path(tmp) / "state"
        root.mkdir()
        for p in sorted((folder / "state").iterdir()):
            if p.name != "counties":  # the bundle's state folder has none; never shadow ours
                (root / p.name).symlink_to(p.resolve())
        for county in counties:
            for part in COUNTY_PARTS:
                src = folder / "counties" / county / part
                if src.is_dir():
                    dst = root / "counties" / county / part
                    dst.mkdir(parents=True)
                    for p in sorted(src.iterdir()):
                        (dst / p.name).symlink_to(p.resolve())
        yield root


def state_audit_check(folder: Path, counties: Sequence[str], ex: Executor) -> Check:
    """The ``state.audit`` check of a state bundle (``not_run`` without a statewide audit)."""
    from ..verify import DAMAGE

    if not (folder / "state" / "audit" / "audit.json").exists():
        return Check(NAME, "not_run", "no statewide audit in this bundle")
    try:
        with mirrored_state(folder, counties) as root:
            return _recheck(root, ex)
    except DAMAGE as exc:
        return Check(NAME, "fail", f"the statewide audit could not be re-measured: {exc}")


def _recheck(root: Path, ex: Executor) -> Check:
    params = load_state_audit(root)
    rounds = load_state_rounds(root)
    problems = redraw_problems(root, ex, params, rounds)
    if params.kind == "handcount":
        from .audit_status import hand_count_json, hand_count_status

        measured = hand_count_json(hand_count_status(root, ex, write=False))
    else:
        from .audit_status import state_audit_status

        measured = state_audit_status(root, ex, write=False).to_json()
    published = _published(root, len(rounds))
    for name, doc in published.items():
        problems += [f"{name}: {d}" for d in status_differences(measured, doc)]
    details = {"kind": params.kind, "rounds": len(rounds), "status": measured.get("status"),
               "compared": sorted(published), "problems": problems}
    if problems:
        return Check(NAME, "fail", "; ".join(problems[:8])
                     + (f"; and {len(problems) - 8} more" if len(problems) > 8 else ""),
                     details)
    return Check(NAME, "pass", _summary(params, rounds, measured, published), details)


def _published(root: Path, n_rounds: int) -> dict[str, dict[str, Any]]:
    """The bundled statuses to compare: ``status.json`` and the latest round's history."""
    folder = audit_dir(root)
    paths = [folder / "status.json", folder / "history" / f"round-{n_rounds:03d}.json"]
    return {f"{p.parent.name}/{p.name}" if p.parent != folder else p.name:
            orjson.loads(p.read_bytes()) for p in paths if p.exists()}


def redraw_problems(root: Path, ex: Executor, params: StateAuditParams,
                    rounds: Sequence[StateRound]) -> list[str]:
    """Where the bundled rounds are not what the seed gives: the first round's targets, each
    round's draws, each round's new units per county."""
    spec = load_spec(root)
    if params.kind == "handcount":
        want = {c.id: len(county_batches(c.id, str(root))) for c in spec.counties}
        return [f"round {r.number}: the lists name {r.new_cards} batches, the counties have "
                f"{want}" for r in rounds if r.new_cards != want]
    problems = []
    if rounds:
        first = {cid: cap_size(max((plan_size(params, a, None)
                                    for a in params.assertions_of(cid)), default=0.0),
                               params.frame_sizes[cid]) for cid in params.contests}
        if rounds[0].targets != first:
            problems.append(f"round 1: targets {rounds[0].targets}, the plan gives {first}")
    largest = {cid: max(r.targets.get(cid, 0) for r in rounds) for cid in params.contests}
    per_county = draw_counties(root, ex, spec, params, largest) if rounds else {}
    before: set[tuple[str, str]] = set()
    for r in rounds:
        unknown = sorted(set(r.targets) - set(params.contests))
        if unknown:
            problems.append(f"round {r.number}: contest(s) {', '.join(unknown)} not audited")
            continue
        drawn = merge_targets(params, per_county, r.targets)
        for cid in sorted(set(drawn) | set(r.draws)):
            problems += _draw_differences(r.number, cid, r.draws.get(cid, []),
                                          drawn.get(cid, []))
        new: dict[str, set[str]] = {}
        for cid, ds in r.draws.items():
            for d in ds:
                if (cid, d["id"]) not in before:
                    county, unit = split_ballot_id(d["id"])
                    new.setdefault(county, set()).add(unit)
        counted = {c: len(u) for c, u in sorted(new.items())}
        if r.new_cards != counted:
            problems.append(f"round {r.number}: new units per county {r.new_cards}, its draws "
                            f"give {counted}")
        before = {(cid, d["id"]) for cid, ds in r.draws.items() for d in ds}
    return problems


def _draw_differences(number: int, cid: str, bundled: list[dict[str, str]],
                      drawn: list[dict[str, str]]) -> list[str]:
    if _canon(bundled) == _canon(drawn):
        return []
    at = next((i for i, (a, b) in enumerate(zip(bundled, drawn, strict=False))
               if _canon(a) != _canon(b)), min(len(bundled), len(drawn)))
    got = bundled[at]["id"] if at < len(bundled) else "nothing"
    want = drawn[at]["id"] if at < len(drawn) else "nothing"
    county = split_ballot_id(got)[0] if "/" in got else split_ballot_id(want)[0]
    return [f"round {number}, contest {cid}: draw {at + 1} of {len(bundled)} is {got}, the "
            f"seed gives {want} ({len(drawn)} draws; county {county})"]


def status_differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """What a bundled status claims that the re-measured one does not, by contest, county
    and assertion (empty when they are equal)."""
    if _canon(ours) == _canon(theirs):
        return []
    out = [f"{k} {theirs.get(k)!r}, re-measured {ours.get(k)!r}"
           for k in ("kind", "risk_limit", "rounds", "status", "waiting")
           if _canon(ours.get(k)) != _canon(theirs.get(k))]
    mine = {c.get("contest_id"): c for c in ours.get("contests", [])}
    given = {c.get("contest_id"): c for c in theirs.get("contests", [])
             if isinstance(c, dict)}
    for cid in sorted(set(mine) | set(given), key=str):
        a, b = mine.get(cid), given.get(cid)
        if a is None or b is None:
            out.append(f"contest {cid}: {'not re-measured' if a is None else 'absent'}")
        elif _canon(a) != _canon(b):
            out.append(f"contest {cid}: " + _contest_difference(a, b))
    return out or ["differs from the re-measured status"]


def _contest_difference(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    keys = [k for k in ("status", "measured_risk", "ballots_examined", "waiting",
                        "hand_votes", "counted") if _canon(ours.get(k)) != _canon(theirs.get(k))]
    parts = [f"{k} {theirs.get(k)!r}, re-measured {ours.get(k)!r}" for k in keys]
    counties: set[str] = set()
    for a, b in zip(ours.get("assertions", []), theirs.get("assertions", []), strict=False):
        x, y = a.get("discrepancies_by_county", {}), b.get("discrepancies_by_county", {})
        counties |= {c for c in set(x) | set(y) if _canon(x.get(c)) != _canon(y.get(c))}
        if _canon(a) != _canon(b) and not keys:
            parts.append(f"assertion {a.get('assertion_id')} differs")
    x, y = ours.get("by_county", {}), theirs.get("by_county", {})
    counties |= {c for c in set(x) | set(y) if _canon(x.get(c)) != _canon(y.get(c))}
    if counties:
        parts.append(f"in county(ies) {', '.join(sorted(counties))}")
    return "; ".join(parts) or "differs"


def _summary(params: StateAuditParams, rounds: Sequence[StateRound], measured: dict[str, Any],
             published: dict[str, dict[str, Any]]) -> str:
    risks = "; ".join(
        f"{c['contest_id']} {c['status'].replace('_', ' ')}"
        + (f", risk {c['measured_risk']:.4g} vs limit {params.risk_limit:g}"
           if "measured_risk" in c else f", {c['counted']} of {c['batches']} batches counted")
        for c in measured["contests"])
    said = (f"equals the bundled {' and '.join(sorted(published))}" if published
            else "no status was published")
    return (f"the {params.kind} audit re-drawn from the seed ({len(rounds)} round(s)) and "
            f"re-measured from the bundled records in {len(measured['contests'])} contest(s): "
            f"{risks}; {said}")


def _canon(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)

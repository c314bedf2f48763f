"""The statewide workflow: set up a state, run per-county stages through the executor seam,
merge the results deterministically, and publish the state log.

Merges are exact integer sums in county-id order, so the same counties give the same bytes
whatever executor ran them and in whatever order the tasks finished. A county whose task
failed is reported by name with its error; the merge then refuses to claim a statewide total
(a statewide result without that county would be wrong, not partial).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Failure, StoreError, TallyproofError, UsageError
from ..fsutil import atomic_write_json
from ..model import Candidate, ContestKind
from ..tabulate.plurality import decide
from .executor import Executor, Outcome
from .spec import (
    STATE_JSON,
    County,
    StateContest,
    StateSpec,
    load_spec,
    save_spec,
    with_county,
)
from .ranked import RANKED, ranked_results, rankings_task
from .tasks import (
    CountyCommit,
    CountyIngest,
    CountyTally,
    commit_task,
    county_store_dir,
    ingest_task,
    tabulate_task,
)

RESULTS_FILE = "statewide.json"


class CountyFailures(TallyproofError):
    """One or more counties' tasks failed; every other county's work is kept."""

    def __init__(self, stage: str, failed: Sequence[Outcome[Any]]) -> None:
        self.failures = [Failure(check=f"{stage}:{o.county}", message=o.error or "")
                         for o in failed]
        self.exit_code = max((o.exit_code for o in failed), default=2) or 2
        super().__init__(f"{stage} failed in {len(failed)} county(ies): " + "; ".join(
            f"{o.county}: {o.error}" for o in failed))


def init_state(root: Path, name: str, date: str = "", state: str = "") -> StateSpec:
    root = Path(root)
    if (root / STATE_JSON).exists():
        raise UsageError(f"{root} already holds a state election")
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} exists and is not empty")
    root.mkdir(parents=True, exist_ok=True)
    spec = StateSpec(name, date, state)
    save_spec(root, spec)
    return spec


def add_county(root: Path, county_id: str, name: str, kind: str = "cvrs") -> StateSpec:
    spec = load_spec(root)
    if any(c.id == county_id for c in spec.counties):
        raise UsageError(f"county {county_id!r} is already in this state")
    spec = with_county(spec, County(county_id, name, kind=kind))
    save_spec(root, spec)
    county_store_dir(root, county_id).parent.mkdir(parents=True, exist_ok=True)
    return spec


def add_contest(root: Path, contest: StateContest) -> StateSpec:
    spec = load_spec(root)
    if any(c.id == contest.id for c in spec.contests):
        raise UsageError(f"statewide contest {contest.id!r} already exists")
    from dataclasses import replace

    spec = replace(spec, contests=(*spec.contests, contest))
    save_spec(root, spec)
    return spec


def _ok_or_raise(stage: str, outcomes: list[Outcome[Any]]) -> None:
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise CountyFailures(stage, failed)


def ingest_counties(root: Path, ex: Executor, counties: Sequence[str] = (),
                    sources: Sequence[str] | None = None, fmt: str = "auto",
                    manifest: str | None = None) -> list[Outcome[CountyIngest]]:
    """Ingest the named counties (none named: every county) on the executor, each from its
    exports folder (``STATE/counties/<id>/exports/``) or, for one named county, from
    ``sources``; outcomes in the order asked, a county's failure kept beside the others'
    results (each county's ingest is one transaction: a failed one leaves its store as it
    was)."""
    spec = load_spec(root)
    known = [c.id for c in spec.counties]
    if not known:
        raise UsageError("the state has no counties yet")
    unknown = [c for c in counties if c not in known]
    if unknown:
        raise UsageError(f"no county {', '.join(map(repr, unknown))} in this state (its "
                         f"counties: {', '.join(known)})")
    if len(set(counties)) != len(counties):
        raise UsageError("a county is named twice")
    if (sources is not None or manifest is not None) and len(counties) != 1:
        raise UsageError("--source and --manifest are one county's files: name that one "
                         "county")
    chosen = list(counties) or known
    return ex.map_each(ingest_task, [(c, (str(root), sources, fmt, manifest))
                                     for c in chosen])


def commit_all(root: Path, ex: Executor, keys: dict[str, str] | None = None,
               progress: Callable[[Outcome[Any]], None] | None = None
               ) -> list[Outcome[CountyCommit]]:
    """Commit every county's log (its own key); outcomes in county order, failures kept."""
    spec = load_spec(root)
    counties = [c.id for c in spec.counties]
    keys = keys or {}
    return ex.map_each(commit_task, [(c, (str(root), keys.get(c))) for c in counties],
                       progress=progress)


@dataclass(frozen=True)
class StateContestResult:
    contest: str
    name: str
    kind: str
    cards: int
    votes: dict[str, int]  # statewide candidate id -> votes
    overvotes: int
    undervotes: int
    unmapped_votes: int
    winners: tuple[str, ...]
    tied: bool
    by_county: dict[str, dict[str, int]]  # county -> candidate id -> votes
    rcv: dict[str, Any] | None = None  # a ranked contest's rounds (RcvResult.to_json())

    def to_json(self) -> dict[str, Any]:
        return {"contest": self.contest, "name": self.name, "kind": self.kind,
                "cards": self.cards, "votes": self.votes, "overvotes": self.overvotes,
                "undervotes": self.undervotes, "unmapped_votes": self.unmapped_votes,
                "winners": list(self.winners), "tied": self.tied, "by_county": self.by_county,
                "rcv": self.rcv}


def merge_tallies(spec: StateSpec, tallies: dict[str, CountyTally]) -> list[StateContestResult]:
    """Exact statewide sums of the counties' tallies (county-id order)."""
    out = []
    for sc in spec.contests:
        if sc.kind in (ContestKind.IRV, ContestKind.STV):
            continue
        votes = np.zeros(len(sc.candidates), dtype=np.int64)
        cards = over = under = unmapped = 0
        by_county: dict[str, dict[str, int]] = {}
        for county in sorted(tallies):
            for t in tallies[county].contests:
                if t.contest != sc.id:
                    continue
                votes += np.asarray(t.votes, dtype=np.int64)
                cards += t.cards
                over += t.overvotes
                under += t.undervotes
                unmapped += t.unmapped_votes
                by_county[county] = {c.id: int(v) for c, v in
                                     zip(sc.candidates, t.votes, strict=True)}
        n = sc.seats if sc.kind == ContestKind.APPROVAL else sc.vote_for
        winners, tied = decide(votes, n) if by_county else ([], False)
        out.append(StateContestResult(
            sc.id, sc.name, sc.kind.value, cards,
            {c.id: int(v) for c, v in zip(sc.candidates, votes, strict=True)}, over, under,
            unmapped, tuple(sc.candidates[i].id for i in winners), tied, by_county))
    return out


def tabulate_state(root: Path, ex: Executor,
                   progress: Callable[[Outcome[Any]], None] | None = None
                   ) -> list[StateContestResult]:
    """Tabulate every county on the executor, merge, write ``results/statewide.json``."""
    spec = load_spec(root)
    if not spec.counties:
        raise UsageError("the state has no counties yet")
    counties = [c.id for c in spec.counties]
    outs = ex.map(tabulate_task, counties, str(root), spec.to_json(), progress=progress)
    _ok_or_raise("tabulate", outs)
    tallies = {o.county: o.value for o in outs if o.value is not None}
    results = merge_tallies(spec, tallies)
    if any(sc.kind in RANKED for sc in spec.contests):
        outs = ex.map(rankings_task, counties, str(root), spec.to_json(), progress=progress)
        _ok_or_raise("tabulate", outs)
        results += ranked_results(spec, {o.county: o.value for o in outs})
    order = {sc.id: i for i, sc in enumerate(spec.contests)}
    results.sort(key=lambda r: order[r.contest])
    folder = Path(root) / "results"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / RESULTS_FILE, {
        "schema_version": 1, "counties": {c: {"cards": t.cards} for c, t in tallies.items()},
        "contests": [r.to_json() for r in results]})
    return results


def contest_from_options(cid: str, name: str, candidates: Sequence[str], kind: str = "plurality",
                         seats: int = 1, vote_for: int = 1,
                         aliases: dict[str, Any] | None = None) -> StateContest:
    """A statewide contest from command-line values (candidates as ``id=Name``); ``kind`` one
    of :class:`~tallyproof.model.ContestKind` (plurality, approval, irv, stv). A ranked
    contest takes no rule options: the statewide count uses RCTab's defaults (:mod:`.ranked`),
    so an IRV contest has one seat."""
    from .spec import Alias

    cands = []
    for c in candidates:
        cand_id, sep, cand_name = c.partition("=")
        if not sep or not cand_id or not cand_name:
            raise UsageError(f"candidate {c!r}: write ID=Name")
        cands.append(Candidate(cand_id, cand_name))
    try:
        k = ContestKind(kind)
    except ValueError as exc:
        raise UsageError(f"unknown contest kind {kind!r}") from exc
    if k == ContestKind.IRV and seats != 1:
        # the statewide count runs IRV for one seat whatever ``seats`` says (ranked.py)
        raise UsageError(f"contest {cid}: an IRV contest elects one; for {seats} seats "
                         "choose stv")
    return StateContest(cid, name, k, seats, vote_for, tuple(cands),
                        {c: Alias(a["contest"], dict(a.get("candidates", {})))
                         for c, a in (aliases or {}).items()})


def parse_aliases(alias: Sequence[str], candidate_alias: Sequence[str], name: str,
                  alias_label: str = "", candidate_label: str = "") -> dict[str, Any]:
    """A statewide contest's aliases (the ``aliases`` of :func:`contest_from_options`) from
    ``COUNTY=CONTEST NAME`` and ``COUNTY:CANDIDATE_ID=NAME`` lines, as the command line and the
    control room's set-up page take them. A candidate alias without a contest alias keeps the
    statewide contest's ``name``. The labels name the option (or field) in an error."""
    aliases: dict[str, dict[str, Any]] = {}
    for a in alias:
        county, sep, cname = a.partition("=")
        if not sep:
            raise UsageError(f"{alias_label}{a!r}: write COUNTY=CONTEST NAME")
        aliases[county] = {"contest": cname, "candidates": {}}
    for a in candidate_alias:
        county, sep1, rest = a.partition(":")
        cid, sep2, cname = rest.partition("=")
        if not (sep1 and sep2):
            raise UsageError(f"{candidate_label}{a!r}: write COUNTY:ID=NAME")
        aliases.setdefault(county, {"contest": name, "candidates": {}})
        aliases[county]["candidates"][cid] = cname
    return aliases


def check_store_exists(root: Path, county: str) -> None:
    if not (county_store_dir(root, county) / "store.json").exists():
        raise StoreError(f"county {county} has no store yet: ingest its exports first")

"""Official-results check: tallyproof's own count against the certified results.

Contest by contest and reporting unit by reporting unit (``ALL`` = the whole jurisdiction, any
other unit a precinct id), every candidate's certified votes are compared with the count of
the CVRs in the store. Any difference, however small, is a mismatch listed with its contest,
unit, candidate and both numbers. Counts are exact integers.

Ranked (IRV/STV) contests are not compared here: certified RCV results report round-by-round
transfers whose layout varies by jurisdiction, so they are listed as ``not_compared`` and the
summary says so rather than claiming a match.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..model import Contest, Election
from ..store import Store, sha256_file
from .checks import Check, status_of

ALL_UNITS = "ALL"


@dataclass(frozen=True)
class Mismatch:
    contest: str
    reporting_unit: str
    candidate: str
    certified: int
    computed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "contest": self.contest,
            "reporting_unit": self.reporting_unit,
            "candidate": self.candidate,
            "certified": self.certified,
            "computed": self.computed,
            "difference": self.computed - self.certified,
        }


@dataclass(frozen=True)
class ResultsCheck:
    """What was compared and every difference found."""

    results_file: str
    results_sha256: str
    compared: list[dict[str, Any]]  # one entry per (contest, unit) compared
    mismatches: list[Mismatch]
    problems: list[str] = field(default_factory=list)  # contests/candidates that cannot be matched
    not_compared: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.problems

    def to_check(self) -> Check:
        contests = sorted({c["contest"] for c in self.compared})
        if self.ok:
            summary = (
                f"the count matches the certified results in {len(contests)} contest(s): "
                f"all {len(self.compared)} totals compared (one per contest and precinct, or "
                "per contest county-wide)"
            )
        else:
            summary = (
                f"{len(self.mismatches)} vote count(s) differ from the certified results"
                + (f"; {len(self.problems)} item(s) could not be matched" if self.problems else "")
            )
        if self.not_compared:
            summary += "; not compared: " + "; ".join(
                f"{n.get('name', n['contest'])} ({n['reason']})" for n in self.not_compared)
        status = status_of(not self.ok)
        if self.ok and not self.compared:  # nothing was compared: say so, claim no match
            status = "not_run"
            summary = "no contest of the certified results could be compared" + (
                "; not compared: " + "; ".join(f"{n.get('name', n['contest'])} ({n['reason']})"
                                               for n in self.not_compared)
                if self.not_compared else "")
        return Check(
            "official_results",
            status,
            summary,
            {
                "results_file": self.results_file,
                "results_sha256": self.results_sha256,
                "contests_compared": contests,
                "units_compared": len(self.compared),
                "mismatches": [m.to_json() for m in self.mismatches],
                "problems": self.problems,
                "not_compared": self.not_compared,
            },
        )


def check_official_results(store: Store, results_path: Path) -> ResultsCheck:
    """Compare the store's count with the certified results in ``results_path``
    (NIST SP 1500-100 v2 JSON, or CSV ``contest,candidate,reporting_unit,votes``)."""
    from ..formats.results import read_official_results
    from ..tabulate.plurality import group_index, remembered_tally

    results_path = Path(results_path)
    digest = sha256_file(results_path)
    memo = store.derived_memo()
    if memo is not None:  # the same comparison, made earlier in this command, is taken
        asked = ("official_results", digest, sha256_file(store.election_path))
        if asked in memo:
            return replace(memo[asked], results_file=results_path.name)
    official = read_official_results(results_path)
    election = store.election
    compared: list[dict[str, Any]] = []
    mismatches: list[Mismatch] = []
    problems: list[str] = []
    not_compared: list[dict[str, str]] = []
    precincts: tuple[Any, list[str]] | None = None  # every contest groups by the same column
    for key in sorted(official.counts):
        contest = _find_contest(election, key)
        if contest is None:
            problems.append(f"contest {key!r} is in the certified results but not in the CVRs")
            continue
        if contest.ranked:
            not_compared.append({"contest": contest.id, "name": contest.name,
                                 "reason": f"ranked-choice ({contest.kind.value}) contest: "
                                           "certified round-by-round results are not compared "
                                           "here; the recount checks its rounds"})
            continue
        units = official.counts[key]
        by = "precinct" if any(u != ALL_UNITS for u in units) else None
        table = store.cvrs(columns=["precinct", contest.column])
        if by is not None and precincts is None:
            precincts = group_index(table, by)
        tallies = remembered_tally(memo, table, contest, by, precincts if by else None)
        for unit in sorted(units):
            tally = tallies.get(unit)
            computed = dict(tally.votes) if tally is not None else {}
            certified: dict[str, int] = {}
            for cand_key, votes in units[unit].items():
                cand = _find_candidate(contest, cand_key)
                if cand is None:
                    problems.append(
                        f"contest {contest.id!r}: candidate {cand_key!r} is in the certified "
                        "results but not in the election definition"
                    )
                    continue
                certified[cand] = certified.get(cand, 0) + int(votes)
            for cand in sorted(set(certified) | {c for c, v in computed.items() if v}):
                a, b = certified.get(cand, 0), int(computed.get(cand, 0))
                if a != b:
                    mismatches.append(Mismatch(contest.id, unit, cand, a, b))
            compared.append({"contest": contest.id, "reporting_unit": unit})
    seen = {c["contest"] for c in compared} | {n["contest"] for n in not_compared}
    for contest in election.contests:
        if contest.id not in seen:
            not_compared.append({"contest": contest.id, "name": contest.name,
                                 "reason": "not in the certified results file"})
    checked = ResultsCheck(
        results_file=results_path.name,
        results_sha256=digest,
        compared=compared,
        mismatches=mismatches,
        problems=problems,
        not_compared=not_compared,
    )
    if memo is not None:
        memo[asked] = checked
    return checked


def _find_contest(election: Election, key: str) -> Contest | None:
    for c in election.contests:
        if c.id == key:
            return c
    folded = key.casefold().strip()
    named = [c for c in election.contests if c.name.casefold().strip() == folded]
    return named[0] if len(named) == 1 else None


def _find_candidate(contest: Contest, key: str) -> str | None:
    for c in contest.candidates:
        if c.id == key:
            return c.id
    folded = key.casefold().strip()
    named = [c.id for c in contest.candidates if c.name.casefold().strip() == folded]
    return named[0] if len(named) == 1 else None

"""The outcome of every contest in an election store, tied to the exact CVRs it came from.

Vote-for-N and approval contests are counted by :func:`~.plurality.tally_table`; IRV and STV
contests by the round engine under :class:`~.rules.RcvRules` (RCTab-style defaults, documented in
``docs/tabulation.md``, or the contest's own declared RCTab options, ``Contest.rcv_options``). The result records the SHA-256 of ``cvrs.parquet`` so that evidence
(report, bundle, verifier) can show which CVR table produced which outcome; it holds no time
stamp, so tabulating the same store twice gives identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .. import __version__
from ..errors import StoreError, UsageError
from ..fsutil import atomic_write_bytes
from ..model import Contest
from ..store import Store, sha256_file
from .ballots import from_table
from .plurality import ALL, ContestTally, remembered_tally
from .rcv import UWI_NAME, RcvResult, tabulate_ranked
from .rules import UNLIMITED, RcvRules, rules_from_rctab

RESULTS_SCHEMA_VERSION = 1
RESULTS_FILE = "tabulation.json"


@dataclass(frozen=True)
class ContestOutcome:
    """One contest's outcome: the tally (vote-for-N/approval) or the rounds (IRV/STV)."""

    contest_id: str
    name: str
    kind: str
    seats: int
    vote_for: int
    winners: tuple[str, ...]  # candidate ids
    tied: bool  # plurality: last seat tied; ranked: a tie had to be broken
    tally: ContestTally | None = None
    rcv: RcvResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "contest_id": self.contest_id,
            "name": self.name,
            "kind": self.kind,
            "seats": self.seats,
            "vote_for": self.vote_for,
            "winners": list(self.winners),
            "tied": self.tied,
            "tally": self.tally.to_json() if self.tally else None,
            "rcv": self.rcv.to_json() if self.rcv else None,
        }


@dataclass(frozen=True)
class StoreResults:
    """Outcome of every contest of a store (see :func:`tabulate_store`)."""

    election: str
    jurisdiction: str
    cvr_table_sha256: str | None  # None when the store has no CVRs yet
    cvr_count: int
    ranked_rules: RcvRules
    contests: tuple[ContestOutcome, ...]

    def contest(self, contest_id: str) -> ContestOutcome:
        for c in self.contests:
            if c.contest_id == contest_id:
                return c
        raise KeyError(contest_id)

    def to_json(self) -> dict[str, Any]:
        """The document written to ``results/tabulation.json`` (stable snake_case keys)."""
        return {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "generated_by": f"tallyproof {__version__}",
            "election": self.election,
            "jurisdiction": self.jurisdiction,
            "cvr_table_sha256": self.cvr_table_sha256,
            "cvr_count": self.cvr_count,
            "ranked_rules": self.ranked_rules.to_json(),
            "contests": [c.to_json() for c in self.contests],
        }

    def to_bytes(self) -> bytes:
        opts = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        return orjson.dumps(self.to_json(), option=opts) + b"\n"


def _open(store: Store | Path | str) -> Store:
    return store if isinstance(store, Store) else Store.open(Path(store))


def tally_ranked_store(store: Store | Path | str, contest_id: str,
                       rules: RcvRules | None = None) -> RcvResult:
    """IRV/STV outcome of one ranked contest of a store (candidate ids as names).

    A candidate named "Undeclared Write-ins" (the pseudo-candidate vendors' exports use for
    unnamed write-ins) is treated as RCTab does: dropped as soon as it holds votes, never elected.
    """
    st = _open(store)
    try:
        contest = st.election.contest(contest_id)
    except KeyError as exc:
        raise UsageError(f"no contest {contest_id!r} in the store") from exc
    return _ranked(st, contest, rules or RcvRules())


def _ranked(st: Store, contest: Contest, rules: RcvRules) -> RcvResult:
    if not contest.ranked:
        raise UsageError(f"contest {contest.id!r} is {contest.kind.value}, not ranked")
    if contest.rcv_options:  # declared for this contest (`tallyproof contest set`): they decide
        rules = rules_from_rctab(dict(contest.rcv_options),
                                 file=f"election.json, contest {contest.id}")
    rules = rules.with_winners(contest.seats) if rules.number_of_winners != contest.seats \
        else rules
    max_rank = None if rules.max_rankings_allowed == UNLIMITED else rules.max_rankings_allowed
    table = st.cvrs(columns=[contest.column])
    ballots = from_table(table, contest.column, max_rank)
    uwi = next((i for i, c in enumerate(contest.candidates) if c.name == UWI_NAME), None)
    return tabulate_ranked(ballots, [c.id for c in contest.candidates], rules,
                           contest_id=contest.id, uwi=uwi)


def tabulate_store(store: Store | Path | str, rules: RcvRules | None = None, *,
                   write: bool = False) -> StoreResults:
    """Tabulate every contest of a store; with ``write=True`` also write
    ``results/tabulation.json`` atomically (see :func:`write_results`)."""
    st = _open(store)
    rules = rules or RcvRules()
    election = st.election
    outcomes: list[ContestOutcome] = []
    for contest in election.contests:
        if contest.ranked:
            res = _ranked(st, contest, rules)
            outcomes.append(ContestOutcome(
                contest_id=contest.id, name=contest.name, kind=contest.kind.value,
                seats=contest.seats, vote_for=contest.vote_for, winners=res.winners,
                tied=bool(res.tiebreaks), rcv=res))
        else:
            table = st.cvrs(columns=[contest.column])
            t = remembered_tally(st.derived_memo(), table, contest)[ALL]
            outcomes.append(ContestOutcome(
                contest_id=contest.id, name=contest.name, kind=contest.kind.value,
                seats=contest.seats, vote_for=contest.vote_for, winners=t.winners, tied=t.tied,
                tally=t))
    results = StoreResults(
        election=election.name,
        jurisdiction=election.jurisdiction,
        cvr_table_sha256=sha256_file(st.cvrs_path) if st.has_cvrs() else None,
        cvr_count=st.cvr_count(),
        ranked_rules=rules,
        contests=tuple(outcomes),
    )
    if write:
        write_results(st, results)
    return results


def write_results(store: Store | Path | str, results: StoreResults) -> Path:
    """Write ``results/tabulation.json`` atomically; refuse results of another CVR table."""
    st = _open(store)
    st.check_writable("the tabulation results")
    current = sha256_file(st.cvrs_path) if st.has_cvrs() else None
    if current != results.cvr_table_sha256:
        raise StoreError("the store's CVR table changed since these results were computed")
    target = st.results_dir / RESULTS_FILE
    atomic_write_bytes(target, results.to_bytes())
    return target

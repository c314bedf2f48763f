"""The vocabulary: elections, contests, candidates, batches and source files.

These are plain frozen dataclasses so that every stage (readers, ledger, tabulation, audit,
evidence) speaks about the same things, and ``to_json``/``from_json`` give the documented
shape of ``election.json`` in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

ELECTION_SCHEMA_VERSION = 1

#: Candidate code meaning "an overvote at this rank whose candidates the export does not name"
#: (ES&S and RCTab-style exports write the word ``overvote`` instead of the marked names).
OVERVOTE_UNKNOWN = 0xFFFF

#: The value of one RCTab rule option: a string as RCTab writes them, or a JSON boolean.
RcvOptionValue = str | bool


class ContestKind(StrEnum):
    """How a contest is decided."""

    PLURALITY = "plurality"  # vote for N, the N highest win
    APPROVAL = "approval"  # vote for any number, the `seats` highest win
    IRV = "irv"  # ranked, single winner, instant runoff
    STV = "stv"  # ranked, multi-winner, single transferable vote


class VoteType(StrEnum):
    """How a card was cast; free text from vendors is mapped onto these."""

    ELECTION_DAY = "election_day"
    MAIL = "mail"
    EARLY = "early"
    PROVISIONAL = "provisional"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Candidate:
    """A choice in a contest. Write-ins are candidates too (``write_in=True``)."""

    id: str
    name: str
    write_in: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "write_in": self.write_in}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Candidate:
        return cls(id=str(d["id"]), name=str(d["name"]), write_in=bool(d.get("write_in", False)))


@dataclass(frozen=True)
class Contest:
    """A contest on the ballot.

    ``seats`` is the number of winners; ``vote_for`` the most marks a voter may make (for a
    ranked contest, ``max_rankings`` is the number of rank positions offered). Candidate codes
    in the CVR table are indices into ``candidates`` and never change once assigned.

    ``rule_declared`` is true when ``kind`` and ``seats`` were declared by the election office
    (``tallyproof contest set``) rather than read from the export, which cannot always say
    them (a Dominion manifest has only ``VoteFor``); a later export of the same election then
    keeps the declared rule. ``rcv_options`` are RCTab ``rules`` keys and values (sorted by
    key) that decide a ranked contest where RCTab's defaults do not. Both are written to
    ``election.json`` only when set, so the committed definition of a contest that has
    neither is unchanged.
    """

    id: str
    name: str
    kind: ContestKind = ContestKind.PLURALITY
    seats: int = 1
    vote_for: int = 1
    candidates: tuple[Candidate, ...] = ()
    max_rankings: int | None = None
    rule_declared: bool = False
    rcv_options: tuple[tuple[str, RcvOptionValue], ...] = ()

    @property
    def column(self) -> str:
        """Name of this contest's column in the CVR table."""
        return contest_column(self.id)

    @property
    def ranked(self) -> bool:
        return self.kind in (ContestKind.IRV, ContestKind.STV)

    def candidate_index(self, candidate_id: str) -> int:
        for i, c in enumerate(self.candidates):
            if c.id == candidate_id:
                return i
        raise KeyError(candidate_id)

    def with_candidates(self, candidates: tuple[Candidate, ...]) -> Contest:
        return replace(self, candidates=candidates)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "seats": self.seats,
            "vote_for": self.vote_for,
            "max_rankings": self.max_rankings,
            "candidates": [c.to_json() for c in self.candidates],
        }
        if self.rule_declared:
            d["rule_declared"] = True
        if self.rcv_options:
            d["rcv_options"] = dict(self.rcv_options)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Contest:
        return cls(
            id=str(d["id"]),
            name=str(d["name"]),
            kind=ContestKind(d.get("kind", "plurality")),
            seats=int(d.get("seats", 1)),
            vote_for=int(d.get("vote_for", 1)),
            max_rankings=d.get("max_rankings"),
            candidates=tuple(Candidate.from_json(c) for c in d.get("candidates", [])),
            rule_declared=bool(d.get("rule_declared", False)),
            rcv_options=tuple(sorted((d.get("rcv_options") or {}).items())),
        )


@dataclass(frozen=True)
class SourceFile:
    """A file that was ingested, with its SHA-256 so the evidence can name exactly what was read."""

    path: str  # as given at ingest (for people), not used to re-open
    name: str  # base name, the value stored in the CVR table's ``source_file`` column
    sha256: str
    format: str
    cards: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "sha256": self.sha256,
            "format": self.format,
            "cards": self.cards,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SourceFile:
        return cls(
            path=str(d["path"]),
            name=str(d["name"]),
            sha256=str(d["sha256"]),
            format=str(d["format"]),
            cards=int(d["cards"]),
        )


@dataclass(frozen=True)
class Election:
    """An election: its contests and the files its CVRs came from."""

    name: str = "election"
    jurisdiction: str = "jurisdiction"
    date: str | None = None
    contests: tuple[Contest, ...] = ()
    sources: tuple[SourceFile, ...] = ()

    def contest(self, contest_id: str) -> Contest:
        for c in self.contests:
            if c.id == contest_id:
                return c
        raise KeyError(contest_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": ELECTION_SCHEMA_VERSION,
            "name": self.name,
            "jurisdiction": self.jurisdiction,
            "date": self.date,
            "contests": [c.to_json() for c in self.contests],
            "sources": [s.to_json() for s in self.sources],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Election:
        return cls(
            name=str(d.get("name", "election")),
            jurisdiction=str(d.get("jurisdiction", "jurisdiction")),
            date=d.get("date"),
            contests=tuple(Contest.from_json(c) for c in d.get("contests", [])),
            sources=tuple(SourceFile.from_json(s) for s in d.get("sources", [])),
        )


@dataclass(frozen=True)
class Batch:
    """One row of a ballot manifest: a batch of paper cards in a container."""

    container: str
    tabulator: str
    batch: str
    ballots: int
    extra: dict[str, str] = field(default_factory=dict)


def contest_column(contest_id: str) -> str:
    """CVR-table column holding a contest's marks (prefixed so it never clashes with metadata)."""
    return f"contest:{contest_id}"

"""SHANGRLA assorters and assertions.

An *assertion* is a claim about the paper ballots that, if true, implies the reported outcome.
SHANGRLA (Stark 2020, "Sets of Half-Average Nulls Generate Risk-Limiting Audits: SHANGRLA",
Voting '20, LNCS 12063) reduces every assertion to "the mean of an *assorter* over all cards
is greater than 1/2", where an assorter A maps each card to a value in [0, u]:

* plurality / approval, winner w vs loser l (§2.1–2.2): A(b) = (1 + b_w − b_l)/2, u = 1,
  where b_c ∈ {0, 1} is a valid mark for c (a vote-for-N card with more than N marks counts
  for nobody);
* super-majority, winner w needing a share f of the valid votes (§2.3): A(b) = 1/(2f) for a
  valid vote for w, 0 for a valid vote for anyone else, 1/2 otherwise; u = 1/(2f);
* IRV "not eliminated before" NEB(w, l) (Blom, Stuckey, Teague 2019 "RAIRE", as assorters in
  SHANGRLA §2.6): A = 1 if w is the first preference, 0 if l is ranked above w (or l is
  ranked and w not), 1/2 otherwise; u = 1;
* IRV "not eliminated next" NEN(w, l | S): with only the candidates S continuing, A = 1 if the
  card's top continuing choice is w, 0 if it is l, 1/2 otherwise; u = 1.

A card that does not contain the contest gets 1/2 (it neither helps nor hurts), which is what
makes card-style sampling and SHANGRLA's diluted margins work.

The comparison (CVR-based) assorter (SHANGRLA §3.2, eq. 5–6): with overstatement
ω = A(cvr) − A(mvr) and reported assorter margin v = 2·mean(A(cvr)) − 1,
B = (1 − ω/u) / (2 − v/u) ∈ [0, 2/(2 − v/u)], and mean(A) > 1/2 ⟺ mean(B) > 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa

from ..cvr_table import MARKS_TYPE, Marks
from ..errors import AuditError
from ..model import OVERVOTE_UNKNOWN, Contest, ContestKind

#: ``ContestVotes.ranks`` value for a candidate the card does not (validly) rank.
NOT_RANKED = np.iinfo(np.int32).max


@dataclass(frozen=True)
class ContestVotes:
    """One contest's marks on a set of cards, as dense arrays the assorters read.

    ``present[i]``: card i contains the contest. ``marks[i, c]``: a valid mark for candidate c
    in a single-position contest (cleared on an overvoted card). ``ranks[i, c]``: the first rank
    position at which a ranked card validly ranks c, or :data:`NOT_RANKED`; an overvoted rank
    ends the ballot (ranks after it are ignored), skipped ranks are passed over, a repeated
    candidate counts at its first position.
    """

    contest: Contest
    present: np.ndarray
    marks: np.ndarray
    ranks: np.ndarray

    def __len__(self) -> int:
        return int(self.present.shape[0])

    def take(self, idx: np.ndarray) -> ContestVotes:
        return ContestVotes(self.contest, self.present[idx], self.marks[idx], self.ranks[idx])

    def top_among(self, continuing: tuple[int, ...]) -> np.ndarray:
        """Each card's highest-ranked continuing candidate code, or −1 (exhausted/absent)."""
        cols = np.asarray(continuing, dtype=np.int64)
        sub = self.ranks[:, cols]
        best = sub.argmin(axis=1)
        ok = sub[np.arange(sub.shape[0]), best] != NOT_RANKED
        return np.where(ok & self.present, cols[best], -1)


def contest_votes(contest: Contest, column: pa.Array | pa.ChunkedArray) -> ContestVotes:
    """Dense view of a ``list<list<uint16>>`` CVR-table column (vectorised over cards)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.type != MARKS_TYPE:
        arr = arr.cast(MARKS_TYPE)
    n = len(arr)
    n_cand = len(contest.candidates)
    present = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    outer = np.asarray(arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    inner_arr = arr.values
    inner = np.asarray(inner_arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    codes = np.asarray(inner_arr.values.to_numpy(zero_copy_only=False), dtype=np.int64)
    # rank-position index -> card, rank; code index -> rank-position index
    pos_card = np.repeat(np.arange(n), np.diff(outer))
    pos_rank = np.arange(len(inner) - 1) - outer[pos_card] if len(pos_card) else pos_card
    pos_len = np.diff(inner)
    code_pos = np.repeat(np.arange(len(pos_len)), pos_len)
    unknown_over = codes == OVERVOTE_UNKNOWN
    if np.any((codes >= n_cand) & ~unknown_over):
        raise AuditError(f"contest {contest.id!r}: candidate code out of range in the CVR table")
    marks = np.zeros((n, n_cand), dtype=bool)
    ranks = np.full((n, n_cand), NOT_RANKED, dtype=np.int32)
    if contest.ranked:
        pos_over = pos_len > 1
        np.logical_or.at(pos_over, code_pos[unknown_over], True)
        first_over = np.full(n, NOT_RANKED, dtype=np.int64)
        np.minimum.at(first_over, pos_card[pos_over], pos_rank[pos_over])
        keep = ~pos_over[code_pos] & (pos_rank[code_pos] < first_over[pos_card[code_pos]])
        np.minimum.at(ranks, (pos_card[code_pos][keep], codes[keep]),
                      pos_rank[code_pos][keep].astype(np.int32))
    else:
        card_of_code = pos_card[code_pos]
        known = ~unknown_over
        counts = np.bincount(card_of_code[known], minlength=n)
        over = counts > contest.vote_for
        over[card_of_code[unknown_over]] = True
        ok = known & ~over[card_of_code]
        marks[card_of_code[ok], codes[ok]] = True
        ranks[card_of_code[ok], codes[ok]] = 0
    marks &= present[:, None]
    return ContestVotes(contest, present, marks, ranks)


def votes_from_marks(contest: Contest, cards: list[Marks | None]) -> ContestVotes:
    """:class:`ContestVotes` from Python marks (audit-board readings); ``None`` = not on card."""
    return contest_votes(contest, pa.array(cards, type=MARKS_TYPE))


class AssertionKind(StrEnum):
    PAIRWISE = "pairwise"  # plurality / approval: winner beats loser
    SUPERMAJORITY = "supermajority"
    NEB = "neb"  # IRV: winner not eliminated before loser
    NEN = "nen"  # IRV: with `continuing` left, winner out-polls loser (is not eliminated next)


@dataclass(frozen=True)
class Assertion:
    """One SHANGRLA assertion: "the mean of this assorter over all cards exceeds 1/2".

    ``winner``/``loser`` are candidate codes of ``contest_id``; ``continuing`` the candidate
    codes still standing (NEN only); ``share`` the super-majority fraction f.
    """

    contest_id: str
    kind: AssertionKind
    winner: int
    loser: int | None = None
    continuing: tuple[int, ...] = ()
    share: Fraction | None = None
    notes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "continuing", tuple(sorted(self.continuing)))  # canonical order
        if self.kind is AssertionKind.SUPERMAJORITY and self.share is None:
            raise AuditError("a super-majority assertion needs its share")
        if self.kind is not AssertionKind.SUPERMAJORITY and self.loser is None:
            raise AuditError(f"a {self.kind.value} assertion needs a loser")

    @property
    def _loser(self) -> int:
        if self.loser is None:
            raise AuditError(f"assertion {self.id} has no loser")
        return self.loser

    @property
    def upper(self) -> float:
        """u, the largest value the assorter takes."""
        if self.kind is AssertionKind.SUPERMAJORITY:
            return float(1 / (2 * self.share))  # type: ignore[operator]
        return 1.0

    @property
    def id(self) -> str:
        """Stable identifier, used as a key in audit files."""
        if self.kind is AssertionKind.SUPERMAJORITY:
            return f"{self.contest_id}:supermajority:{self.winner}:{self.share}"
        base = f"{self.contest_id}:{self.kind.value}:{self.winner}>{self.loser}"
        if self.kind is AssertionKind.NEN:
            base += ":{" + ",".join(str(c) for c in sorted(self.continuing)) + "}"
        return base

    def describe(self, contest: Contest) -> str:
        """The assertion in words, with candidate names."""
        name = {i: c.name for i, c in enumerate(contest.candidates)}
        w = name[self.winner]
        if self.kind is AssertionKind.SUPERMAJORITY:
            return f"{w} has more than {self.share} of the valid votes"
        lo = name[self._loser]
        if self.kind is AssertionKind.PAIRWISE:
            return f"{w} has more votes than {lo}"
        if self.kind is AssertionKind.NEB:
            return f"{w} cannot be eliminated before {lo}"
        others = ", ".join(name[c] for c in sorted(self.continuing))
        return f"with only {{{others}}} continuing, {w} has more votes than {lo} (so {w} is not eliminated next)"

    def assort(self, votes: ContestVotes) -> np.ndarray:
        """Assorter value of every card (float64 in [0, u]); 1/2 where the contest is absent."""
        if votes.contest.id != self.contest_id:
            raise AuditError(f"assertion {self.id} applied to contest {votes.contest.id!r}")
        n = len(votes)
        out = np.full(n, 0.5)
        if self.kind is AssertionKind.PAIRWISE:
            out = (1.0 + votes.marks[:, self.winner] - votes.marks[:, self._loser].astype(float)) / 2
        elif self.kind is AssertionKind.SUPERMAJORITY:
            any_valid = votes.marks.any(axis=1)
            for_w = votes.marks[:, self.winner]
            out[any_valid & ~for_w] = 0.0
            out[for_w] = self.upper
        elif self.kind is AssertionKind.NEB:
            rw = votes.ranks[:, self.winner]
            rl = votes.ranks[:, self._loser]
            first = votes.ranks.min(axis=1)
            out[(rw == first) & (rw != NOT_RANKED)] = 1.0
            out[(rl < rw)] = 0.0
        else:
            top = votes.top_among(self.continuing)
            out[top == self.winner] = 1.0
            out[top == self._loser] = 0.0
        return np.where(votes.present, out, 0.5)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "contest_id": self.contest_id,
            "kind": self.kind.value,
            "winner": self.winner,
            "loser": self.loser,
            "continuing": sorted(self.continuing),
            "share": None if self.share is None else str(self.share),
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Assertion:
        return cls(
            contest_id=str(d["contest_id"]),
            kind=AssertionKind(d["kind"]),
            winner=int(d["winner"]),
            loser=None if d.get("loser") is None else int(d["loser"]),
            continuing=tuple(int(c) for c in d.get("continuing", ())),
            share=None if d.get("share") is None else Fraction(d["share"]),
            notes=dict(d.get("notes", {})),
        )


# ------------------------------------------------------------------ building assertions
def tally(votes: ContestVotes) -> np.ndarray:
    """Valid votes per candidate in a single-position contest (int64)."""
    return votes.marks.sum(axis=0).astype(np.int64)


def reported_winners(votes: ContestVotes) -> tuple[int, ...]:
    """The ``seats`` highest-tally candidates of a plurality/approval contest.

    Raises :class:`AuditError` on a tie for the last seat: the audit cannot confirm an outcome
    that the count itself leaves to a tie-break.
    """
    contest = votes.contest
    t = tally(votes)
    order = np.lexsort((np.arange(len(t)), -t))
    seats = contest.seats
    if seats >= len(t):
        raise AuditError(f"contest {contest.id!r}: {len(t)} candidate(s) for {seats} seat(s); "
                         "nothing to audit")
    if t[order[seats - 1]] == t[order[seats]]:
        raise AuditError(f"contest {contest.id!r}: tie for the last seat; resolve it by the "
                         "tie-break rules and name the winners explicitly")
    return tuple(int(i) for i in sorted(order[:seats]))


def pairwise_assertions(contest: Contest, winners: tuple[int, ...]) -> list[Assertion]:
    """Every reported winner beats every reported loser (SHANGRLA §2.1: the outcome of a
    vote-for-N plurality or an approval contest is right iff all these hold)."""
    losers = [i for i in range(len(contest.candidates)) if i not in winners]
    return [
        Assertion(contest.id, AssertionKind.PAIRWISE, w, l) for w in winners for l in losers
    ]


def supermajority_assertion(contest: Contest, winner: int, share: Fraction) -> Assertion:
    """Winner has more than ``share`` of the valid votes (SHANGRLA §2.3)."""
    if not Fraction(0) < share < Fraction(1):
        raise AuditError(f"super-majority share must be strictly between 0 and 1, not {share}")
    return Assertion(contest.id, AssertionKind.SUPERMAJORITY, winner, share=share)


def assertions_for_contest(
    votes: ContestVotes,
    *,
    winners: tuple[int, ...] | None = None,
    share: Fraction | None = None,
    risk_limit: float = 0.05,
) -> list[Assertion]:
    """The assertions that together imply the reported outcome of one contest.

    Plurality and approval: pairwise assertions (super-majority when ``share`` is given). IRV:
    RAIRE assertions (:mod:`tallyproof.audit.raire`). STV: no assertion-based method exists
    here, so :class:`AuditError` says so.
    """
    contest = votes.contest
    if contest.kind is ContestKind.STV:
        raise AuditError(f"contest {contest.id!r} is STV; tallyproof has no SHANGRLA "
                         "assertions for STV, so it cannot be risk-limit audited this way")
    if contest.kind is ContestKind.IRV:
        from .raire import raire_assertions

        result = raire_assertions(votes, risk_limit=risk_limit,
                                  winner=None if winners is None else winners[0])
        if not result.auditable:
            raise AuditError(f"contest {contest.id!r} cannot be audited with RAIRE "
                             f"assertions: {result.reason}")
        return list(result.assertions)
    if winners is None:
        winners = reported_winners(votes)
    if share is not None:
        if len(winners) != 1:
            raise AuditError("a super-majority contest has exactly one winner")
        return [supermajority_assertion(contest, winners[0], share)]
    return pairwise_assertions(contest, winners)


# ------------------------------------------------------------------ comparison
def assorter_margin(values: np.ndarray, n_cards: int | None = None) -> float:
    """Reported assorter margin v = 2·Ā − 1 over ``n_cards`` cards (SHANGRLA §3.2); cards
    beyond ``len(values)`` (e.g. in the manifest but without a CVR) count as 1/2."""
    n = len(values) if n_cards is None else n_cards
    if n <= 0:
        raise AuditError("no cards: the assorter margin is undefined")
    total = float(values.sum()) + 0.5 * (n - len(values))
    return 2.0 * total / n - 1.0


def overstatement(assertion: Assertion, cvr: ContestVotes, mvr: ContestVotes) -> np.ndarray:
    """ω = A(cvr) − A(mvr) per card (SHANGRLA §3.2)."""
    return assertion.assort(cvr) - assertion.assort(mvr)


def comparison_values(omega: np.ndarray, upper: float, margin: float) -> np.ndarray:
    """B = (1 − ω/u) / (2 − v/u), the comparison assorter (SHANGRLA §3.2, eq. 6)."""
    if margin <= 0:
        raise AuditError(f"reported assorter margin {margin:.6g} is not positive: the CVRs "
                         "do not support the reported outcome for this assertion")
    return (1.0 - omega / upper) / (2.0 - margin / upper)


def comparison_upper(upper: float, margin: float) -> float:
    """Largest value of the comparison assorter: 2 / (2 − v/u)."""
    return 2.0 / (2.0 - margin / upper)


@dataclass(frozen=True)
class Discrepancies:
    """Counts of 1- and 2-vote overstatements (o1, o2) and understatements (u1, u2).

    For u = 1 an overstatement of ω = 1/2 is one vote, ω = 1 two votes; in general an
    overstatement of (nearly) u counts as two-vote, any smaller non-zero one as one-vote.
    """

    o1: int = 0
    o2: int = 0
    u1: int = 0
    u2: int = 0

    @classmethod
    def from_omega(cls, omega: np.ndarray, upper: float) -> Discrepancies:
        eps = 1e-9
        big = np.abs(omega) >= upper - eps
        nz = np.abs(omega) > eps
        return cls(
            o1=int(np.sum((omega > eps) & ~big)),
            o2=int(np.sum((omega > eps) & big)),
            u1=int(np.sum((omega < -eps) & ~big)),
            u2=int(np.sum((omega < -eps) & big & nz)),
        )

    def to_json(self) -> dict[str, int]:
        return {"o1": self.o1, "o2": self.o2, "u1": self.u1, "u2": self.u2}

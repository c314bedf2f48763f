"""A synthetic county election, drawn deterministically from a seed.

The county has 36 precincts in two congressional and three state-senate districts, a city
that elects its mayor by ranked choice, election-day scanners in every precinct, two early-vote
centres and two central-count scanners for mail ballots. Every voter casts one card; the
marks on each card are drawn from a simple partisan-lean model (Plackett-Luce preferences whose
weights shift with the precinct's lean) so that results look like an election: precincts lean,
mail leans a little differently, some voters skip contests, a few overvote.

Everything is numpy-vectorised: the marks of a contest are one boolean array
``marks[card, rank, candidate]``, so 100,000 cards take well under a second. The same seed
always gives the same county, card for card (``numpy.random.PCG64``).

The county holds the *paper* (what voters marked). Faults that make a machine misreport
(:mod:`tallyproof.demo.faults`) change a copy, so the audit boards can still read the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..model import Candidate, Contest, ContestKind, Election
from .choices import DEFAULT_CARDS

ELECTION_NAME = "Riverton County General Election"
JURISDICTION = "Riverton County"
ELECTION_DATE = "2026-11-03"

#: Counting groups (Dominion ``CountingGroupId`` → description, tallyproof vote type).
COUNTING_GROUPS: dict[int, tuple[str, str]] = {
    1: ("Election Day", "election_day"),
    2: ("Vote by Mail", "mail"),
    3: ("Early Voting", "early"),
}
#: Share of cards by counting group (election day, mail, early) before precinct variation.
VOTE_TYPE_SHARE = np.array([0.45, 0.40, 0.15])


@dataclass(frozen=True)
class CandidateDef:
    """A choice with the Dominion id it gets in the export and its party (for the lean)."""

    id: int
    name: str
    party: str  # D, R, L, G, N (nonpartisan), "" for measure choices and write-ins
    write_in: bool = False


@dataclass(frozen=True)
class ContestDef:
    """A contest, where it is on the ballot and how voters behave in it.

    ``geo`` says which cards carry it: ``("county", 0)`` everywhere, ``("cd", 1)`` in
    congressional district 1, ``("sd", 2)`` in senate district 2, ``("city", 1)`` in the city.
    ``strength`` is each candidate's base log-odds of being preferred; ``undervote`` the share
    of cards that leave the contest blank; ``overvote`` the share that mark one too many.
    """

    id: int
    name: str
    kind: ContestKind
    vote_for: int
    ranks: int
    candidates: tuple[CandidateDef, ...]
    geo: tuple[str, int]
    strength: tuple[float, ...]
    undervote: float
    overvote: float = 0.0
    measure: bool = False

    def to_model(self) -> Contest:
        """The contest in tallyproof's vocabulary (ids are the Dominion ids as text)."""
        return Contest(
            id=str(self.id),
            name=self.name,
            kind=self.kind,
            seats=self.vote_for if self.kind == ContestKind.PLURALITY else 1,
            vote_for=self.vote_for,
            candidates=tuple(
                Candidate(id=str(c.id), name=c.name, write_in=c.write_in) for c in self.candidates
            ),
            max_rankings=self.ranks if self.kind == ContestKind.IRV else None,
        )


@dataclass(frozen=True)
class Precinct:
    id: int  # Dominion PrecinctPortionId (and PrecinctId)
    name: str
    external_id: str
    cd: int
    sd: int
    city: bool


@dataclass(frozen=True)
class Tabulator:
    id: int
    name: str
    kind: str  # Dominion tabulator type
    location: str
    location_number: int
    counting_group: int
    batch_size: int


@dataclass(frozen=True)
class BallotStyle:
    id: int  # Dominion BallotTypeId
    contests: tuple[int, ...]  # indices into County.contests


@dataclass(frozen=True)
class BatchInfo:
    """One batch of paper cards: the row of the ballot manifest."""

    container: str
    tabulator: int
    batch: int
    cards: int


@dataclass(frozen=True)
class CardTable:
    """One entry per card in every array, ordered by tabulator, batch and record.

    ``marks[c]`` holds contest ``c``'s marks (all False where the contest is not on the card;
    see ``on_card``). The county's table is the *paper*; faults derive the *reported* one.
    """

    tabulator: np.ndarray  # int32 tabulator id
    batch: np.ndarray  # int32 batch id (per tabulator)
    record: np.ndarray  # int32 record id (1-based within the batch)
    precinct: np.ndarray  # int16 index into County.precincts
    style: np.ndarray  # int16 index into County.styles
    counting_group: np.ndarray  # int8 Dominion counting group id
    on_card: np.ndarray  # bool [card, contest]
    marks: tuple[np.ndarray, ...]  # bool [card, rank, candidate] per contest

    def __len__(self) -> int:
        return int(self.tabulator.shape[0])

    def ballot_ids(self) -> np.ndarray:
        """``TabulatorId-BatchId-RecordId``, the id the Dominion reader gives each card."""
        return np.char.add(
            np.char.add(np.char.add(self.tabulator.astype(str), "-"), self.batch.astype(str)),
            np.char.add("-", self.record.astype(str)),
        )

    def vote_types(self) -> np.ndarray:
        """tallyproof vote type of each card."""
        names = np.array(["unknown"] + [COUNTING_GROUPS[g][1] for g in sorted(COUNTING_GROUPS)])
        return names[self.counting_group]

    def select(self, keep: np.ndarray) -> CardTable:
        """The cards where ``keep`` is True (a boolean mask or an index array)."""
        return CardTable(
            self.tabulator[keep],
            self.batch[keep],
            self.record[keep],
            self.precinct[keep],
            self.style[keep],
            self.counting_group[keep],
            self.on_card[keep],
            tuple(m[keep] for m in self.marks),
        )

    def concat(self, other: CardTable) -> CardTable:
        return CardTable(
            *(
                np.concatenate([a, b])
                for a, b in (
                    (self.tabulator, other.tabulator),
                    (self.batch, other.batch),
                    (self.record, other.record),
                    (self.precinct, other.precinct),
                    (self.style, other.style),
                    (self.counting_group, other.counting_group),
                    (self.on_card, other.on_card),
                )
            ),
            tuple(np.concatenate([a, b]) for a, b in zip(self.marks, other.marks, strict=True)),
        )

    def with_marks(self, contest: int, marks: np.ndarray) -> CardTable:
        new = list(self.marks)
        new[contest] = marks
        return replace(self, marks=tuple(new))


@dataclass(frozen=True)
class County:
    """The drawn election: its definitions, the paper cards and the ballot manifest."""

    seed: int
    contests: tuple[ContestDef, ...]
    precincts: tuple[Precinct, ...]
    tabulators: tuple[Tabulator, ...]
    styles: tuple[BallotStyle, ...]
    paper: CardTable
    batches: tuple[BatchInfo, ...]
    mail_rejected: np.ndarray = field(repr=False)  # int per precinct: mail envelopes rejected

    @property
    def cards(self) -> int:
        return len(self.paper)

    def election(self) -> Election:
        return Election(
            name=ELECTION_NAME,
            jurisdiction=JURISDICTION,
            date=ELECTION_DATE,
            contests=tuple(c.to_model() for c in self.contests),
        )

    def tabulator_by_id(self, tab_id: int) -> Tabulator:
        for t in self.tabulators:
            if t.id == tab_id:
                return t
        raise KeyError(tab_id)


# ---------------------------------------------------------------------------- definitions
def _cands(first_id: int, specs: list[tuple[str, str]], write_in: bool) -> tuple[CandidateDef, ...]:
    out = [CandidateDef(first_id + i, name, party) for i, (name, party) in enumerate(specs)]
    if write_in:
        out.append(CandidateDef(first_id + len(specs), "Write-in", "", write_in=True))
    return tuple(out)


def _yes_no(first_id: int) -> tuple[CandidateDef, ...]:
    return (CandidateDef(first_id, "YES", ""), CandidateDef(first_id + 1, "NO", ""))


def contest_definitions() -> tuple[ContestDef, ...]:
    """The sixteen contests on Riverton County's ballots (fixed; only the marks are random)."""
    P = ContestKind.PLURALITY
    return (
        ContestDef(
            1,
            "President / Vice President",
            P,
            1,
            0,
            _cands(
                101,
                [
                    ("Avery/Boone", "D"),
                    ("Carver/Dale", "R"),
                    ("Ellis/Frost", "L"),
                    ("Gale/Hart", "G"),
                ],
                True,
            ),
            ("county", 0),
            (1.55, 0.95, -0.9, -1.3, -3.0),
            0.012,
            0.002,
        ),
        ContestDef(
            2,
            "U.S. Senator",
            P,
            1,
            0,
            _cands(111, [("Imogen Reyes", "D"), ("Jasper Cole", "R"), ("Kira Patel", "L")], True),
            ("county", 0),
            (0.6, 1.3, -1.1, -3.2),
            0.025,
            0.001,
        ),
        ContestDef(
            3,
            "U.S. Representative District 1",
            P,
            1,
            0,
            _cands(121, [("Lena Ortiz", "D"), ("Marcus Webb", "R"), ("Nadia Fox", "N")], True),
            ("cd", 1),
            (1.35, 0.55, -0.8, -3.2),
            0.03,
            0.001,
        ),
        ContestDef(
            4,
            "U.S. Representative District 2",
            P,
            1,
            0,
            _cands(131, [("Owen Price", "R"), ("Priya Shah", "D")], True),
            ("cd", 2),
            (1.2, 0.45, -3.0),
            0.03,
            0.001,
        ),
        ContestDef(
            5,
            "Governor",
            P,
            1,
            0,
            _cands(
                141, [("Quinn Harper", "D"), ("Rosa Lindqvist", "R"), ("Sam Okafor", "L")], True
            ),
            ("county", 0),
            (1.3, 0.6, -0.9, -3.3),
            0.02,
            0.001,
        ),
        ContestDef(
            6,
            "State Senate District 11",
            P,
            1,
            0,
            _cands(151, [("Tara Kim", "D"), ("Uri Novak", "R")], True),
            ("sd", 1),
            (1.0, 0.25, -3.0),
            0.05,
            0.001,
        ),
        ContestDef(
            7,
            "State Senate District 12",
            P,
            1,
            0,
            _cands(161, [("Vera Moss", "R"), ("Wade Ibsen", "D")], True),
            ("sd", 2),
            (0.95, 0.2, -3.0),
            0.05,
            0.001,
        ),
        ContestDef(
            8,
            "State Senate District 13",
            P,
            1,
            0,
            _cands(171, [("Xena Duarte", "D"), ("Yosef Adler", "R")], True),
            ("sd", 3),
            (1.05, 0.3, -3.0),
            0.05,
            0.001,
        ),
        ContestDef(
            9,
            "County Commissioner At-Large (Vote for 2)",
            P,
            2,
            0,
            _cands(
                181,
                [
                    ("Abel Grant", "D"),
                    ("Bea Lund", "R"),
                    ("Cruz Ortega", "D"),
                    ("Dana Yu", "R"),
                    ("Eli Brandt", "N"),
                ],
                True,
            ),
            ("county", 0),
            (1.3, 1.05, 0.2, 0.0, -0.6, -3.0),
            0.06,
            0.004,
        ),
        ContestDef(
            10,
            "Sheriff",
            P,
            1,
            0,
            _cands(191, [("Frank Molina", "N"), ("Greta Hale", "N")], True),
            ("county", 0),
            (0.85, 0.0, -3.2),
            0.07,
            0.001,
        ),
        ContestDef(
            11,
            "Mayor of Riverton (Ranked Choice)",
            ContestKind.IRV,
            1,
            5,
            _cands(
                201,
                [
                    ("Hana Sato", "N"),
                    ("Ivan Petrov", "N"),
                    ("Jade Ruiz", "N"),
                    ("Kofi Mensah", "N"),
                    ("Lara Quist", "N"),
                ],
                False,
            ),
            ("city", 1),
            (1.0, 0.55, 0.3, -0.2, -0.8),
            0.04,
        ),
        ContestDef(
            12,
            "School Board (Vote for 3)",
            P,
            3,
            0,
            _cands(
                211,
                [
                    ("Mia Chen", "N"),
                    ("Noah Berg", "N"),
                    ("Omar Said", "N"),
                    ("Pia Lowe", "N"),
                    ("Reid Vance", "N"),
                    ("Sia Holm", "N"),
                ],
                True,
            ),
            ("county", 0),
            (1.25, 1.05, 0.85, 0.1, -0.1, -0.4, -3.0),
            0.10,
            0.003,
        ),
        ContestDef(
            13,
            "Library Advisory Question (mark every project you approve)",
            ContestKind.APPROVAL,
            4,
            0,
            _cands(
                221,
                [
                    ("Longer opening hours", "N"),
                    ("New east-side branch", "N"),
                    ("Digital lending", "N"),
                    ("Bookmobile", "N"),
                ],
                False,
            ),
            ("county", 0),
            (0.4, -0.1, -0.5, -1.2),
            0.08,
        ),
        ContestDef(
            14,
            "Proposition A - Transit Levy",
            P,
            1,
            0,
            _yes_no(231),
            ("county", 0),
            (0.35, 0.0),
            0.06,
            0.001,
            measure=True,
        ),
        ContestDef(
            15,
            "Proposition B - Charter Amendment",
            P,
            1,
            0,
            _yes_no(233),
            ("county", 0),
            (0.0, 0.4),
            0.08,
            0.001,
            measure=True,
        ),
        ContestDef(
            16,
            "Retain Judge Ruth Alvarez",
            P,
            1,
            0,
            _yes_no(235),
            ("county", 0),
            (0.7, 0.0),
            0.15,
            0.001,
            measure=True,
        ),
    )


_PLACES = ("Riverton", "Oak Hollow", "Millbrook", "Cedar Flats", "Stonebridge", "Ash Creek")


def precinct_definitions() -> tuple[Precinct, ...]:
    """36 precincts: the first 14 form the city of Riverton."""
    out = []
    for i in range(36):
        place = _PLACES[0] if i < 14 else _PLACES[1 + (i - 14) % 5]
        number = i + 1 if i < 14 else (i - 14) // 5 + 1
        ext = f"{1 + i // 12:02d}-{100 + 10 * i}"
        out.append(
            Precinct(
                id=i + 1,
                name=f"{ext} {place} No. {number}",
                external_id=ext,
                cd=1 if i < 20 else 2,
                sd=1 + (i * 3) // 36,
                city=i < 14,
            )
        )
    return tuple(out)


def tabulator_definitions(precincts: tuple[Precinct, ...]) -> tuple[Tabulator, ...]:
    """A precinct scanner per precinct, two early-vote centres, two central-count scanners."""
    tabs = [
        Tabulator(100 + p.id, f"{p.name} ICP", "ImagecastPrecinct2", p.name, p.id, 1, 400)
        for p in precincts
    ]
    tabs += [
        Tabulator(201, "Early Vote Center North", "ImagecastPrecinct2", "EV North", 90, 3, 500),
        Tabulator(202, "Early Vote Center South", "ImagecastPrecinct2", "EV South", 91, 3, 500),
        Tabulator(301, "ICC 1", "ImagecastCentral", "Central Count", 99, 2, 150),
        Tabulator(302, "ICC 2", "ImagecastCentral", "Central Count", 99, 2, 150),
    ]
    return tuple(tabs)


def on_geo(geo: tuple[str, int], p: Precinct) -> bool:
    """Whether precinct ``p`` lies in the geography ``geo`` (see :class:`ContestDef`)."""
    kind, value = geo
    if kind == "county":
        return True
    if kind == "cd":
        return p.cd == value
    if kind == "sd":
        return p.sd == value
    if kind == "city":
        return p.city == bool(value)
    raise ValueError(f"unknown geography {kind!r}")  # a bug in contest_definitions


# ---------------------------------------------------------------------------- drawing
def build_county(cards: int = DEFAULT_CARDS, seed: int = 2026) -> County:
    """Draw the county's cards and marks; the same (cards, seed) always gives the same county."""
    if cards < 100:
        raise ValueError("the demo county needs at least 100 cards")
    rng = np.random.Generator(np.random.PCG64(seed))
    contests = contest_definitions()
    precincts = precinct_definitions()
    tabulators = tabulator_definitions(precincts)
    n_p = len(precincts)

    # Ballot styles: one per distinct set of contests.
    style_of_precinct = np.empty(n_p, dtype=np.int16)
    styles: list[BallotStyle] = []
    seen: dict[tuple[int, ...], int] = {}
    for i, p in enumerate(precincts):
        key = tuple(c for c, contest in enumerate(contests) if on_geo(contest.geo, p))
        if key not in seen:
            seen[key] = len(styles)
            styles.append(BallotStyle(len(styles) + 1, key))
        style_of_precinct[i] = seen[key]

    # Cards per precinct and counting group.
    weights = rng.lognormal(0.0, 0.35, n_p)
    per_precinct = rng.multinomial(cards, weights / weights.sum())
    shares = rng.dirichlet(VOTE_TYPE_SHARE * 60, n_p)
    counts = np.stack(
        [rng.multinomial(int(n), s) for n, s in zip(per_precinct, shares, strict=True)]
    )

    # Card-level precinct and counting group, then the tabulator that scanned each card.
    prec = np.repeat(np.repeat(np.arange(n_p), 3), counts.ravel()).astype(np.int16)
    group = np.repeat(np.tile(np.array([1, 2, 3], dtype=np.int8), n_p), counts.ravel())
    tab = np.empty(cards, dtype=np.int32)
    ed = group == 1
    tab[ed] = 100 + prec[ed] + 1
    early = group == 3
    tab[early] = np.where(prec[early] < n_p // 2, 201, 202)
    mail = group == 2
    tab[mail] = rng.choice(np.array([301, 302], dtype=np.int32), size=int(mail.sum()))

    # Scan order: by tabulator, shuffled within it; then cut into batches.
    order = np.lexsort((rng.random(cards), tab))
    prec, group, tab = prec[order], group[order], tab[order]
    batch = np.empty(cards, dtype=np.int32)
    record = np.empty(cards, dtype=np.int32)
    size_of = {t.id: t.batch_size for t in tabulators}
    container_of = {t.id: t.location for t in tabulators}
    tab_ids, starts, tab_counts = np.unique(tab, return_index=True, return_counts=True)
    batches: list[BatchInfo] = []
    for t, s, n in zip(tab_ids.tolist(), starts.tolist(), tab_counts.tolist(), strict=True):
        pos = np.arange(n)
        size = size_of[t]
        batch[s : s + n] = pos // size + 1
        record[s : s + n] = pos % size + 1
        for b in range((n + size - 1) // size):
            batches.append(BatchInfo(container_of[t], t, b + 1, min(size, n - b * size)))

    style = style_of_precinct[prec]
    on_card = np.zeros((cards, len(contests)), dtype=bool)
    for s_idx, st in enumerate(styles):
        on_card[np.ix_(style == s_idx, np.array(st.contests))] = True

    # Voter preferences: precinct partisan lean (centred so county totals are stable across
    # seeds) plus a small mail-ballot lean; utilities give Plackett-Luce rankings by Gumbel-max.
    lean = rng.normal(0.0, 0.35, n_p)
    lean -= lean.mean()
    card_lean = lean[prec] + np.where(group == 2, 0.08, 0.0)
    marks = [_draw_marks(rng, c, card_lean, on_card[:, i]) for i, c in enumerate(contests)]

    paper = CardTable(
        tab, batch, record, prec, style.astype(np.int16), group, on_card, tuple(marks)
    )
    # Mail envelopes the county rejected (late, unsigned): in the pollbooks, not in the CVRs.
    mail_rejected = rng.binomial(counts[:, 1], 0.015)
    return County(
        seed=seed,
        contests=contests,
        precincts=precincts,
        tabulators=tabulators,
        styles=tuple(styles),
        paper=paper,
        batches=tuple(batches),
        mail_rejected=mail_rejected,
    )


_PARTY_SIGN = {"D": 1.0, "R": -1.0, "G": 0.5, "L": -0.5}


def _preference_order(
    rng: np.random.Generator, contest: ContestDef, card_lean: np.ndarray
) -> np.ndarray:
    """Each card's candidates from most to least preferred: sorting utilities plus Gumbel
    noise draws a Plackett-Luce ranking with weights ``exp(utility)`` (the Gumbel-max trick)."""
    sign = np.array([_PARTY_SIGN.get(c.party, 0.0) for c in contest.candidates])
    if contest.measure:  # measures lean too: YES is the "progressive" side here
        sign = np.array([0.4, -0.4])
    util = np.asarray(contest.strength)[None, :] + card_lean[:, None] * sign[None, :]
    noisy = util + rng.gumbel(size=util.shape)
    return np.argsort(-noisy, axis=1, kind="stable")


def _draw_marks(
    rng: np.random.Generator, contest: ContestDef, card_lean: np.ndarray, present: np.ndarray
) -> np.ndarray:
    n, k = card_lean.shape[0], len(contest.candidates)
    ranks = max(contest.ranks, 1)
    marks = np.zeros((n, ranks, k), dtype=bool)
    rows = np.arange(n)
    if contest.kind == ContestKind.APPROVAL:
        p = 1.0 / (
            1.0 + np.exp(-(np.asarray(contest.strength)[None, :] + 0.3 * card_lean[:, None]))
        )
        marks[:, 0, :] = rng.random((n, k)) < p
        blank = rng.random(n) < contest.undervote
        marks[blank] = False
    elif contest.kind == ContestKind.IRV:
        order = _preference_order(rng, contest, card_lean)
        # How many ranks each voter fills: many bullet-vote, many rank everyone.
        length = rng.choice(
            np.arange(ranks + 1),
            size=n,
            p=_normalise([contest.undervote, 0.28, 0.2, 0.17, 0.1] + [0.25] * (ranks - 4)),
        )
        for r in range(ranks):
            use = length > r
            marks[rows[use], r, order[use, r]] = True
        # A few voters leave rank 1 blank and start at rank 2 (a skipped rank).
        skip = (rng.random(n) < 0.01) & (length < ranks) & (length > 0)
        marks[skip, 1:, :] = marks[skip, :-1, :]
        marks[skip, 0, :] = False
    else:
        order = _preference_order(rng, contest, card_lean)
        v = contest.vote_for
        u = rng.random(n)
        n_marks = np.full(n, v)
        n_marks[u < contest.undervote] = 0
        if v > 1:  # some voters in a vote-for-N contest mark fewer than N
            partial = (u >= contest.undervote) & (u < contest.undervote + 0.15)
            n_marks[partial] = rng.integers(1, v, size=int(partial.sum()))
        over = (u >= 1.0 - contest.overvote) & (n_marks == v)
        n_marks[over] = min(v + 1, k)
        for r in range(min(v + 1, k)):
            use = n_marks > r
            marks[rows[use], 0, order[use, r]] = True
    marks[~present] = False
    return marks


def _normalise(p: list[float]) -> np.ndarray:
    a = np.asarray(p, dtype=float)
    return a / a.sum()


# ---------------------------------------------------------------------------- tallies
def valid_votes(contest: ContestDef, marks: np.ndarray) -> np.ndarray:
    """bool [card, candidate]: the marks that count as votes for a one-position contest
    (an overvoted contest counts for nobody)."""
    first = marks[:, 0, :]
    if contest.kind == ContestKind.APPROVAL:
        return first
    return first & (first.sum(axis=1) <= contest.vote_for)[:, None]


def first_choices(marks: np.ndarray) -> np.ndarray:
    """int [card]: the candidate of the first rank that has exactly one mark, else -1
    (skipped ranks are passed over; an overvoted rank ends the ballot)."""
    n = marks.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    for r in range(marks.shape[1]):
        cnt = marks[:, r, :].sum(axis=1)
        pick = (~done) & (cnt == 1)
        out[pick] = marks[pick, r, :].argmax(axis=1)
        done |= cnt >= 1
    return out

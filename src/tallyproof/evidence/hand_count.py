"""The hand count against the machine count, county by county and vote type by vote type.

A full hand count (Georgia, November 2020: every presidential ballot, 159 counties, batch by
batch in Arlo) settles "the machines switched votes" and "votes were deleted or lost" directly:
if the machines had moved votes, the paper would disagree with them where it happened. This
module lines the two counts up:

* the **machine count** comes from the results the state published (Clarity XML: votes per
  choice, per county, per vote type);
* the **hand count** from Arlo's audit report (votes per choice per batch, each batch typed
  Absentee By Mail, Advance, Election Day, Provisional or Other).

Names are matched without guessing: counties by case- and space-insensitive name; choices by the
candidate's name with the party and incumbency suffixes Clarity adds (``"Donald J. Trump (I)
(Rep)"``) removed; vote types through :data:`VOTE_TYPES`. Anything that does not match is an
:class:`InputError` naming it, never dropped. Hand-count columns that are not machine choices
(write-ins, blank/undervote, overvote) are kept as *other* categories: they count ballots but
no candidate's votes.

Batches typed "Other" (UOCAVA, duplicated or adjudicated ballots...) belong to no one vote type,
so a county that has them is compared at county level only; its per-type rows are marked not
comparable rather than blamed for a difference that only the typing made.

The verdict on the outcome is arithmetic, stated only because the numbers show it: the hand
count's winner(s) against the machine count's, and the statewide margin in each.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError, UsageError
from ..formats.arlo_report import ArloReport
from ..formats.clarity import CONTEST_LEVEL, ClarityResults
from ..fsutil import atomic_write_bytes
from .checks import Check

#: vote-type names in either source → one vocabulary (lower-cased, spaces folded)
VOTE_TYPES = {
    "election day": "Election Day", "election day votes": "Election Day",
    "advance": "Advance", "advanced voting": "Advance", "advanced voting votes": "Advance",
    "advance voting": "Advance", "early voting": "Advance", "early": "Advance",
    "absentee by mail": "Absentee by Mail", "absentee by mail votes": "Absentee by Mail",
    "mail": "Absentee by Mail", "absentee": "Absentee by Mail",
    "provisional": "Provisional", "provisional votes": "Provisional",
    "other": "Other",
}
OTHER = "Other"
COUNTY_LEVEL = "(all)"
SUFFIX = re.compile(r"\s*\((?:I|Inc|Incumbent|Rep|Dem|Lib|Grn|Ind|[A-Z][a-z]{0,3})\)\s*$")


def fold(name: str) -> str:
    """Case- and space-insensitive key for matching names between sources."""
    return " ".join(name.split()).casefold()


def candidate_key(name: str) -> str:
    """A choice's name without Clarity's ``(I)`` / ``(Rep)`` suffixes, folded."""
    prev = None
    while prev != name:
        prev, name = name, SUFFIX.sub("", name)
    return fold(name)


def vote_type(name: str, source: str) -> str:
    key = fold(name)
    if key not in VOTE_TYPES:
        raise InputError(f"unknown vote type {name!r}; known: "
                         f"{', '.join(sorted(set(VOTE_TYPES.values())))}", file=source,
                         field="vote type")
    return VOTE_TYPES[key]


@dataclass(frozen=True)
class Row:
    """One unit of comparison: a county and a vote type (``(all)`` for the county total)."""

    county: str
    vote_type: str
    comparable: bool
    machine: dict[str, int]  # candidate -> votes
    hand: dict[str, int]  # candidate -> votes
    hand_other: dict[str, int]  # write-ins, blank, overvote -> ballots
    hand_ballots: int  # every hand-counted ballot (candidates + other categories)
    difference: dict[str, int]  # hand - machine per candidate
    margin_machine: int  # winner - runner-up (statewide order) in this unit
    margin_hand: int
    margin_change: int  # margin_hand - margin_machine: what this unit does to the outcome
    abs_difference: int  # sum of |hand - machine| over candidates
    share_of_ballots: float  # abs_difference / hand_ballots (0 when no ballots)


@dataclass(frozen=True)
class HandCountComparison:
    contest: str
    candidates: tuple[str, ...]  # in the machine count's order of votes, most first
    other_categories: tuple[str, ...]
    machine_source: str
    machine_sha256: str
    hand_source: str
    hand_sha256: str
    counties: tuple[Row, ...]  # county-level rows, largest margin change first
    by_vote_type: tuple[Row, ...]
    statewide: Row
    statewide_by_type: tuple[Row, ...]
    machine_winners: tuple[str, ...]
    hand_winners: tuple[str, ...]
    seats: int

    @property
    def outcome_confirmed(self) -> bool:
        return set(self.machine_winners) == set(self.hand_winners)

    @property
    def largest_county_change(self) -> Row | None:
        return max(self.counties, key=lambda r: abs(r.margin_change), default=None)

    def to_json(self) -> dict[str, object]:
        return {
            "contest": self.contest, "candidates": list(self.candidates),
            "other_categories": list(self.other_categories),
            "machine": {"file": Path(self.machine_source).name, "sha256": self.machine_sha256},
            "hand": {"file": Path(self.hand_source).name, "sha256": self.hand_sha256},
            "seats": self.seats,
            "machine_winners": list(self.machine_winners),
            "hand_winners": list(self.hand_winners),
            "outcome_confirmed": self.outcome_confirmed,
            "statewide": asdict(self.statewide),
            "statewide_by_type": [asdict(r) for r in self.statewide_by_type],
            "counties": [asdict(r) for r in self.counties],
            "by_vote_type": [asdict(r) for r in self.by_vote_type],
        }


def _pick(names: Iterable[str], wanted: str | None, what: str) -> str:
    names = list(names)
    if wanted is None:
        if len(names) != 1:
            raise UsageError(f"the {what} has {len(names)} contests ({'; '.join(names)}): name "
                             "one with --contest")
        return names[0]
    hits = [n for n in names if fold(n) == fold(wanted)]
    if not hits:
        raise UsageError(f"no contest {wanted!r} in the {what}; it has: {'; '.join(names)}")
    return hits[0]


def compare_hand_count(machine: ClarityResults, hand: ArloReport,
                       contest: str | None = None) -> HandCountComparison:
    """Line up a Clarity machine count and an Arlo hand count of one contest, by county and
    vote type. See the module docstring for the matching rules."""
    if hand.batch_results is None:
        raise InputError("the audit report has no BATCH RESULTS section: it is not a hand "
                         "count by batch", file=hand.path)
    audited = [r.contest for r in hand.rounds] or [c.name for c in hand.contests]
    hand_contest = _pick(dict.fromkeys(audited), contest, "audit report")
    by_name = {fold(c.name): c for c in machine.contests}
    if fold(hand_contest) not in by_name:
        raise InputError(f"the machine count has no contest {hand_contest!r}; it has: "
                         f"{'; '.join(c.name for c in machine.contests)}", file=machine.path)
    m_contest = by_name[fold(hand_contest)]
    seats = next((c.winners for c in hand.contests if fold(c.name) == fold(hand_contest)),
                 m_contest.vote_for)

    con = duckdb.connect()
    votes = machine.votes
    con.register("mv", votes)
    m_rows = con.execute(
        "select choice, vote_type, unit, sum(votes) from mv where contest_key = ? and "
        "choice_key <> ? group by all", [m_contest.key, CONTEST_LEVEL]).fetchall()
    m_choices = sorted({r[0] for r in m_rows})
    key_to_machine = {candidate_key(c): c for c in m_choices}
    if len(key_to_machine) != len(m_choices):
        raise InputError("two machine-count choices have the same name once party suffixes are "
                         "removed", file=machine.path, field="Choice text")
    hand_cols = list(hand.choices)
    cand_cols = {c: key_to_machine[candidate_key(c)] for c in hand_cols
                 if candidate_key(c) in key_to_machine}
    missing = sorted(set(m_choices) - set(cand_cols.values()))
    if missing:
        raise InputError(f"the hand count has no column for machine choice(s) "
                         f"{', '.join(missing)}", file=hand.path, field="BATCH RESULTS header")
    other_cols = [c for c in hand_cols if c not in cand_cols]

    counties = {fold(u): u for u in (r[2] for r in m_rows)}
    batches = hand.batch_results
    h_counties = batches.column("jurisdiction").unique().to_pylist()
    unknown = sorted(c for c in h_counties if fold(c) not in counties)
    if unknown:
        raise InputError(f"the hand count names jurisdiction(s) the machine count does not: "
                         f"{', '.join(unknown[:10])}", file=hand.path, field="Jurisdiction Name")
    not_counted = sorted(set(counties) - {fold(c) for c in h_counties})
    if not_counted:
        raise InputError(f"no hand count for {len(not_counted)} county(ies) of the machine "
                         f"count: {', '.join(counties[k] for k in not_counted[:10])}",
                         file=hand.path, field="Jurisdiction Name")

    # machine[(county, type)][candidate]
    machine_cells: dict[tuple[str, str], dict[str, int]] = {}
    for choice, vt, unit, n in m_rows:
        cell = machine_cells.setdefault((counties[fold(unit)], vote_type(vt, machine.path)), {})
        cell[choice] = cell.get(choice, 0) + int(n)
    con.register("hb", batches)
    sums = ", ".join(f'sum("{c.replace(chr(34), chr(34) * 2)}")' for c in hand_cols)
    h_rows = con.execute(f"select jurisdiction, batch_type, {sums} from hb group by all").fetchall()
    hand_cells: dict[tuple[str, str], tuple[dict[str, int], dict[str, int]]] = {}
    for jur, bt, *counts in h_rows:
        key = (counties[fold(jur)], vote_type(bt, hand.path))
        cand, oth = hand_cells.setdefault(key, ({}, {}))
        for col, n in zip(hand_cols, counts, strict=True):
            if col in cand_cols:
                cand[cand_cols[col]] = cand.get(cand_cols[col], 0) + int(n)
            else:
                oth[col] = oth.get(col, 0) + int(n)

    totals = {c: sum(cell.get(c, 0) for cell in machine_cells.values()) for c in m_choices}
    order = tuple(sorted(m_choices, key=lambda c: (-totals[c], c)))
    leader, runner = order[0], order[1] if len(order) > 1 else None

    def row(county: str, vt: str, comparable: bool, m: dict[str, int], h: dict[str, int],
            o: dict[str, int]) -> Row:
        m = {c: m.get(c, 0) for c in order}
        h = {c: h.get(c, 0) for c in order}
        o = {c: o.get(c, 0) for c in other_cols}
        diff = {c: h[c] - m[c] for c in order}
        mm = m[leader] - (m[runner] if runner else 0)
        hm = h[leader] - (h[runner] if runner else 0)
        ballots = sum(h.values()) + sum(o.values())
        absd = sum(abs(v) for v in diff.values())
        return Row(county, vt, comparable, m, h, o, ballots, diff, mm, hm, hm - mm, absd,
                   absd / ballots if ballots else 0.0)

    def add(into: dict[str, int], more: dict[str, int]) -> None:
        for k, v in more.items():
            into[k] = into.get(k, 0) + v

    county_rows, type_rows = [], []
    state_m: dict[str, int] = {}
    state_h: dict[str, int] = {}
    state_o: dict[str, int] = {}
    type_totals: dict[str, tuple[dict[str, int], dict[str, int], dict[str, int]]] = {}
    for county in sorted(set(counties.values())):
        keys = sorted({vt for (c, vt) in machine_cells if c == county}
                      | {vt for (c, vt) in hand_cells if c == county})
        has_other = (county, OTHER) in hand_cells or (county, OTHER) in machine_cells
        cm: dict[str, int] = {}
        ch: dict[str, int] = {}
        co: dict[str, int] = {}
        for vt in keys:
            m = machine_cells.get((county, vt), {})
            h, o = hand_cells.get((county, vt), ({}, {}))
            add(cm, m)
            add(ch, h)
            add(co, o)
            tm, th, to = type_totals.setdefault(vt, ({}, {}, {}))
            add(tm, m)
            add(th, h)
            add(to, o)
            type_rows.append(row(county, vt, not has_other and vt != OTHER, m, h, o))
        county_rows.append(row(county, COUNTY_LEVEL, True, cm, ch, co))
        add(state_m, cm)
        add(state_h, ch)
        add(state_o, co)
    statewide = row("(statewide)", COUNTY_LEVEL, True, state_m, state_h, state_o)
    by_type = tuple(row("(statewide)", vt, vt != OTHER, *type_totals[vt])
                    for vt in sorted(type_totals))

    def winners(counts: dict[str, int]) -> tuple[str, ...]:
        ranked = sorted(order, key=lambda c: (-counts[c], c))
        return tuple(ranked[:seats])

    rank = lambda r: (-abs(r.margin_change), -r.abs_difference, r.county, r.vote_type)  # noqa: E731
    return HandCountComparison(
        contest=hand_contest, candidates=order, other_categories=tuple(other_cols),
        machine_source=machine.path, machine_sha256=machine.sha256,
        hand_source=hand.path, hand_sha256=hand.sha256,
        counties=tuple(sorted(county_rows, key=rank)),
        by_vote_type=tuple(sorted(type_rows, key=rank)),
        statewide=statewide, statewide_by_type=by_type,
        machine_winners=winners(statewide.machine), hand_winners=winners(statewide.hand),
        seats=seats,
    )


def rows_table(rows: Iterable[Row]) -> pa.Table:
    """Rows as an Arrow table (one column per candidate for each count), for CSV export."""
    rows = list(rows)
    cands = list(rows[0].machine) if rows else []
    cols: dict[str, list[object]] = {"county": [], "vote_type": [], "comparable": []}
    for c in cands:
        cols[f"machine: {c}"] = []
        cols[f"hand: {c}"] = []
        cols[f"difference: {c}"] = []
    for k in ("hand_ballots", "margin_machine", "margin_hand", "margin_change",
              "abs_difference", "share_of_ballots"):
        cols[k] = []
    for r in rows:
        cols["county"].append(r.county)
        cols["vote_type"].append(r.vote_type)
        cols["comparable"].append(r.comparable)
        for c in cands:
            cols[f"machine: {c}"].append(r.machine[c])
            cols[f"hand: {c}"].append(r.hand[c])
            cols[f"difference: {c}"].append(r.difference[c])
        for k in ("hand_ballots", "margin_machine", "margin_hand", "margin_change",
                  "abs_difference", "share_of_ballots"):
            cols[k].append(getattr(r, k))
    return pa.table(cols)


def comparison_files(cmp: HandCountComparison) -> dict[str, bytes]:
    """``comparison.json`` and the county and vote-type tables as CSV (name -> bytes), the
    same bytes for the same inputs: what ``--out`` writes and what a bundle carries."""
    files = {"comparison.json": orjson.dumps(cmp.to_json(), option=orjson.OPT_INDENT_2
                                              | orjson.OPT_SORT_KEYS) + b"\n"}
    for name, rows in (("counties.csv", (cmp.statewide, *cmp.counties)),
                       ("vote_types.csv", (*cmp.statewide_by_type, *cmp.by_vote_type))):
        buf = io.BytesIO()
        pacsv.write_csv(rows_table(rows), buf)
        files[name] = buf.getvalue()
    return files


def write_comparison(cmp: HandCountComparison, folder: Path) -> list[Path]:
    """:func:`comparison_files` written into ``folder``, each file atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in comparison_files(cmp).items():
        atomic_write_bytes(folder / name, data)
        written.append(folder / name)
    return written


def hand_count_check(cmp: HandCountComparison) -> Check:
    """The ``hand_count`` check: passes when the hand count elects the machine count's
    winner(s); its summary quotes the numbers a reader needs to weigh the differences."""
    s = cmp.statewide
    net = sum(s.difference.values())
    big = cmp.largest_county_change
    more_or_fewer = "more" if net >= 0 else "fewer"
    summary = (
        f"Counting {s.hand_ballots:,} paper ballots by hand gave {abs(net):,} {more_or_fewer} "
        f"votes for the {len(cmp.candidates)} candidates than the machine count "
        f"({s.abs_difference / s.hand_ballots:.3%} of the ballots counted, if every differing "
        f"vote is counted once); the margin between {cmp.candidates[0]} and "
        + (f"{cmp.candidates[1]} " if len(cmp.candidates) > 1 else "no one ")
        + f"was {s.margin_machine:,} by machine and {s.margin_hand:,} by hand"
        + (f"; the largest change to it in one county was {big.margin_change:+,} votes in "
           f"{big.county}" if big is not None else "")
        + ". " + ("The hand count elects the same winner." if cmp.outcome_confirmed else
                  f"The hand count elects {', '.join(cmp.hand_winners)}, not "
                  f"{', '.join(cmp.machine_winners)}.")
    )
    return Check("hand_count", "pass" if cmp.outcome_confirmed else "fail", summary, {
        "machine_winners": list(cmp.machine_winners), "hand_winners": list(cmp.hand_winners),
        "margin_machine": s.margin_machine, "margin_hand": s.margin_hand,
        "net_difference": net, "abs_difference": s.abs_difference,
        "hand_ballots": s.hand_ballots,
    })

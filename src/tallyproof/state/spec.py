"""``state.json``: the jurisdictions of a statewide election and its statewide contests.

Counties spell contests and candidates their own way ("President of the United States" in one
export, "PRESIDENT AND VICE PRESIDENT" in another; "Joseph R. Biden" and "BIDEN, JOSEPH R.").
As Arlo's standardized contests do, each statewide contest names, per county, the county's
contest and the county's name for each statewide candidate. Where a county has no entry, its
contest and candidates are matched to the statewide ones by name, ignoring case and spacing;
anything that matches nothing, or more than one thing, is an error naming the county. A
county contest that maps to no statewide contest is a county contest (tabulated in the county
only).

::

    {"schema_version": 1, "name": "…", "date": "2020-11-03", "state": "GA",
     "counties": [{"id": "fulton", "name": "Fulton", "vkey": null, "kind": "cvrs"}, …],
     "contests": [{"id": "president", "name": "President", "kind": "plurality", "seats": 1,
                   "vote_for": 1,
                   "candidates": [{"id": "biden", "name": "Joseph R. Biden"}, …],
                   "aliases": {"fulton": {"contest": "PRESIDENT AND VICE PRESIDENT",
                                          "candidates": {"biden": "BIDEN, JOSEPH R."}}}}]}

``kind`` is ``cvrs`` (the county's store holds its CVRs) or ``batch_tallies`` (a county without
CVRs: a ballot manifest and per-batch tallies, :mod:`.batch_county`). ``vkey`` is the
county's log key, recorded when the county first commits (after that a county
log signed by another key is refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from ..errors import InputError, StoreError, UsageError
from ..fsutil import atomic_write_json
from ..model import Candidate, Contest, ContestKind

STATE_SCHEMA_VERSION = 1
STATE_JSON = "state.json"
COUNTY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def fold(name: str) -> str:
    """Case- and space-insensitive form of a name, for matching across counties."""
    return " ".join(name.split()).casefold()


COUNTY_KINDS = ("cvrs", "batch_tallies")


@dataclass(frozen=True)
class County:
    """A jurisdiction; ``kind`` ``cvrs`` (an election store of CVRs) or ``batch_tallies`` (a
    ballot manifest and per-batch tallies only: :mod:`.batch_county`)."""

    id: str
    name: str
    vkey: str | None = None
    kind: str = "cvrs"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "vkey": self.vkey, "kind": self.kind}


@dataclass(frozen=True)
class Alias:
    """A county's own names for a statewide contest and (by statewide id) its candidates."""

    contest: str
    candidates: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StateContest:
    id: str
    name: str
    kind: ContestKind
    seats: int
    vote_for: int
    candidates: tuple[Candidate, ...]
    aliases: dict[str, Alias] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind.value, "seats": self.seats,
                "vote_for": self.vote_for,
                "candidates": [{"id": c.id, "name": c.name} for c in self.candidates],
                "aliases": {k: {"contest": a.contest, "candidates": dict(a.candidates)}
                            for k, a in sorted(self.aliases.items())}}

    def as_contest(self) -> Contest:
        return Contest(self.id, self.name, self.kind, self.seats, self.vote_for, self.candidates)


@dataclass(frozen=True)
class StateSpec:
    name: str
    date: str
    state: str
    counties: tuple[County, ...] = ()
    contests: tuple[StateContest, ...] = ()

    def county(self, county_id: str) -> County:
        for c in self.counties:
            if c.id == county_id:
                return c
        raise UsageError(f"no county {county_id!r} in this state; counties: "
                         f"{', '.join(c.id for c in self.counties) or 'none yet'}")

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": STATE_SCHEMA_VERSION, "name": self.name, "date": self.date,
                "state": self.state, "counties": [c.to_json() for c in self.counties],
                "contests": [c.to_json() for c in self.contests]}

    @classmethod
    def from_json(cls, d: dict[str, Any], path: Path | str = STATE_JSON) -> StateSpec:
        try:
            if d.get("schema_version") != STATE_SCHEMA_VERSION:
                raise InputError(f"state schema version {d.get('schema_version')} is not "
                                 "supported", file=path, field="schema_version")
            counties = tuple(County(str(c["id"]), str(c["name"]), c.get("vkey"),
                                    str(c.get("kind", "cvrs")))
                             for c in d.get("counties", []))
            contests = tuple(
                StateContest(
                    str(c["id"]), str(c["name"]), ContestKind(c.get("kind", "plurality")),
                    int(c.get("seats", 1)), int(c.get("vote_for", 1)),
                    tuple(Candidate(str(x["id"]), str(x["name"])) for x in c["candidates"]),
                    {str(k): Alias(str(a["contest"]), {str(i): str(n) for i, n in
                                                       a.get("candidates", {}).items()})
                     for k, a in c.get("aliases", {}).items()})
                for c in d.get("contests", []))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"not a valid state description: {exc!r}", file=path) from exc
        spec = cls(str(d["name"]), str(d.get("date", "")), str(d.get("state", "")), counties,
                   contests)
        spec.validate(path)
        return spec

    def validate(self, path: Path | str = STATE_JSON) -> None:
        ids = [c.id for c in self.counties]
        for cid in ids:
            if not COUNTY_ID.match(cid):
                raise InputError(f"county id {cid!r} must be lower-case letters, digits, _ or -",
                                 file=path, field="counties")
        if len(set(ids)) != len(ids):
            raise InputError("a county id appears twice", file=path, field="counties")
        for c in self.counties:
            if c.kind not in COUNTY_KINDS:
                raise InputError(f"county {c.id}: kind {c.kind!r} is not one of "
                                 f"{', '.join(COUNTY_KINDS)}", file=path, field="counties")
        cids = [c.id for c in self.contests]
        if len(set(cids)) != len(cids):
            raise InputError("a contest id appears twice", file=path, field="contests")
        for c in self.contests:
            cand = {x.id for x in c.candidates}
            for county, alias in c.aliases.items():
                if county not in ids:
                    raise InputError(f"contest {c.id}: alias for unknown county {county!r}",
                                     file=path, field="aliases")
                unknown = set(alias.candidates) - cand
                if unknown:
                    raise InputError(f"contest {c.id}, county {county}: aliases for unknown "
                                     f"candidate(s) {', '.join(sorted(unknown))}", file=path,
                                     field="aliases")


def load_spec(root: Path) -> StateSpec:
    path = Path(root) / STATE_JSON
    if not path.exists():
        raise StoreError(f"{root} is not a state election folder (no {STATE_JSON}); run "
                         "tallyproof state init")
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", file=path) from exc
    return StateSpec.from_json(doc, path)


def save_spec(root: Path, spec: StateSpec) -> None:
    spec.validate(Path(root) / STATE_JSON)
    atomic_write_json(Path(root) / STATE_JSON, spec.to_json())


def with_county(spec: StateSpec, county: County) -> StateSpec:
    others = tuple(c for c in spec.counties if c.id != county.id)
    return replace(spec, counties=tuple(sorted((*others, county), key=lambda c: c.id)))


@dataclass(frozen=True)
class ContestMap:
    """How one county's contest maps onto a statewide contest: the county contest id and, per
    statewide candidate index, the county's candidate code (-1: not on this county's ballot)."""

    state_contest: str
    county_contest: str
    codes: tuple[int, ...]


def map_county(spec: StateSpec, county_id: str, contests: tuple[Contest, ...]
               ) -> list[ContestMap]:
    """Map a county's contests onto the statewide contests (see the module docstring)."""
    out = []
    by_name: dict[str, list[Contest]] = {}
    for c in contests:
        by_name.setdefault(fold(c.name), []).append(c)
    for sc in spec.contests:
        alias = sc.aliases.get(county_id)
        wanted = fold(alias.contest) if alias else fold(sc.name)
        found = by_name.get(wanted, [])
        if alias is None and not found:
            continue  # this statewide contest is not on this county's ballots (a district)
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise InputError(f"county {county_id}: {what} contest named "
                             f"{alias.contest if alias else sc.name!r} for statewide contest "
                             f"{sc.id}", field="aliases")
        county_contest = found[0]
        names: dict[str, list[int]] = {}
        for code, cand in enumerate(county_contest.candidates):
            names.setdefault(fold(cand.name), []).append(code)
        codes = []
        for cand in sc.candidates:
            want = fold((alias.candidates.get(cand.id) if alias else None) or cand.name)
            hits = names.get(want, [])
            if len(hits) > 1:
                raise InputError(f"county {county_id}, contest {county_contest.name!r}: "
                                 f"{len(hits)} candidates named {want!r}", field="candidates")
            codes.append(hits[0] if hits else -1)
        mapped = {c for c in codes if c >= 0}
        unmapped = [c.name for k, c in enumerate(county_contest.candidates)
                    if k not in mapped and not c.write_in]
        if unmapped:
            raise InputError(f"county {county_id}, contest {county_contest.name!r}: candidate(s) "
                             f"{', '.join(unmapped)} match no candidate of statewide contest "
                             f"{sc.id}; add them to its aliases", field="candidates")
        out.append(ContestMap(sc.id, county_contest.id, tuple(codes)))
    return out

"""Synthetic voter files with known truth, for the demo, the tests and the benchmark.

Names are drawn with the frequencies of the 1990 US Census name files shipped by the ``names``
package (``dist.all.last``, ``dist.male.first``, ``dist.female.first``), so people share names
as often as in a real roll (SMITH is 1.0% of surnames); birth dates are uniform over 1930–2002,
so shared names *and* birthdays happen by chance exactly as McDonald & Levitt (2008) warn.

Planted truth (``truth.json``, voter ids; synthetic people only):

- ``dead_voter``    voters with a death record dated before they voted (left to explain);
- ``died_after``    mail voters whose ballot was returned before they died (explained by timing);
- ``double_vote``   the same person registered in two counties and credited in both;
- ``late_ballot``   mail ballots accepted with a return date after the deadline.

``faults`` plants more of each (``dead-voter``, ``double-vote``, ``late-ballot``).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import UsageError
from ..fsutil import atomic_write_json, atomic_write_with
from .readers import METHODS

FAULTS = ("dead-voter", "double-vote", "late-ballot")
ELECTION = dt.date(2020, 11, 3)
EPOCH = dt.date(1970, 1, 1)


@functools.lru_cache(maxsize=None)
def _census(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(names, probabilities) from one of the ``names`` package's census files (read once per
    process; the arrays are shared, so callers must not modify them)."""
    import names  # the 1990 Census frequency files ship inside this package

    path = Path(os.path.dirname(names.__file__)) / name
    words: list[str] = []
    freq: list[float] = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                words.append(parts[0])
                freq.append(float(parts[1]))
    p = np.asarray(freq, dtype=np.float64)
    return np.asarray(words), p / p.sum()


@dataclass(frozen=True)
class People:
    """Drawn people as codes (a few bytes each, so 8 million fit comfortably): ``first`` into
    :func:`_first_names` (male names, then female), ``last`` into the census surnames."""

    first: np.ndarray
    last: np.ndarray
    birth: np.ndarray  # days since 1970-01-01


def _first_names() -> list[str]:
    return [*_census("dist.male.first")[0].tolist(), *_census("dist.female.first")[0].tolist()]


def draw_people(rng: np.random.Generator, n: int) -> People:
    """``n`` people with census name frequencies and uniform birth dates 1930–2002."""
    last_w, last_p = _census("dist.all.last")
    male_w, male_p = _census("dist.male.first")
    fem_w, fem_p = _census("dist.female.first")
    male = rng.random(n) < 0.5
    first = np.where(male, rng.choice(len(male_w), n, p=male_p),
                     rng.choice(len(fem_w), n, p=fem_p) + len(male_w)).astype(np.int32)
    last = rng.choice(len(last_w), n, p=last_p).astype(np.int32)
    lo = (dt.date(1930, 1, 1) - EPOCH).days
    hi = (dt.date(2002, 11, 3) - EPOCH).days
    return People(first, last, rng.integers(lo, hi, n))


def _days(d: dt.date) -> int:
    return (d - EPOCH).days


@dataclass(frozen=True)
class Plan:
    """The ballots one county counted, one per voter credited: the voter files drawn for it
    then agree with the county's CVRs precinct by precinct (the county demo). ``precinct``
    holds codes into ``precincts``; ``method`` codes into :data:`METHODS`."""

    county: str
    precincts: tuple[str, ...]
    precinct: np.ndarray
    method: np.ndarray
    election: dt.date


def _strings(vocab: list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(list(vocab), pa.string()).take(pa.array(codes.astype(np.int32)))


def _ids(numbers: np.ndarray) -> pa.Array:
    return pa.array(numbers.astype(np.int64)).cast(pa.string())


def _const(text: str, n: int) -> pa.Array:
    return _strings([text], np.zeros(n, dtype=np.int32))


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.date32())


def generate(out: str | Path, *, voters: int = 20000, deaths: int = 4000, counties: int = 4,
             seed: int = 2020, faults: tuple[str, ...] = (),
             full_birth_date: bool = True, baseline_cases: bool = True,
             plan: Plan | None = None, died_after_cases: bool | None = None) -> dict[str, Any]:
    """Write roll.csv, history.csv, mail.csv, deaths.csv, ballots.csv and truth.json to
    ``out`` (documented ``tallyproof`` CSV layout) and return the truth.

    ``full_birth_date=False`` leaves the roll's birth_date empty (birth year only, as public
    files do). ``baseline_cases=False`` plants no case of a kind unless its fault is asked
    for (a clean run whose checks pass; a fault then fails only its own check);
    ``died_after_cases`` (default: as ``baseline_cases``) plants voters who died after their
    mail ballot was returned, lawful under the default rule. With a ``plan`` the voters
    credited are the plan's ballots (``voters`` is then ignored: about 70% turnout), in one
    county, and a double vote is a second registration in that county whose ballot is one of
    the plan's. Deterministic for a seed.
    """
    for f in faults:
        if f not in FAULTS:
            raise UsageError(f"unknown fault {f!r} (known: {', '.join(FAULTS)})")
    if plan is not None:
        voters = len(plan.precinct) + len(plan.precinct) * 3 // 7
    if voters < 100 or deaths < 10:
        raise UsageError("need at least 100 voters and 10 death records")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    election = plan.election if plan is not None else ELECTION
    base = 1 if baseline_cases else 0
    after_base = base if died_after_cases is None else int(died_after_cases)
    n_dead = max(3, voters // 4000) * (base + 4 * ("dead-voter" in faults))
    n_after = max(3, voters // 4000) * after_base  # lawful in the default rule: no fault
    n_double = max(2, voters // 5000) * (base + 4 * ("double-vote" in faults))
    n_late = max(2, voters // 5000) * (base + 4 * ("late-ballot" in faults))
    mail_code, in_person_code = METHODS.index("mail"), METHODS.index("in_person")

    ppl = draw_people(rng, voters)
    e = _days(election)
    if plan is None:
        county_names: tuple[str, ...] = tuple(f"C{i + 1:02d}" for i in range(counties))
        precincts = tuple(f"{c}-P{p}" for c in county_names for p in range(1, 6))
        county_no = rng.integers(0, counties, voters)
        precinct = county_no * 5 + rng.integers(1, 6, voters) - 1
        turnout = rng.random(voters) < 0.7
        method = rng.choice(len(METHODS), voters, p=[0.35, 0.35, 0.28, 0.02])
    else:
        n_voted = len(plan.precinct)
        county_names, precincts = (plan.county,), plan.precincts
        county_no = np.zeros(voters, dtype=np.int64)
        others_p = rng.choice(np.unique(plan.precinct), voters - n_voted)
        precinct = np.concatenate([plan.precinct, others_p])
        turnout = np.arange(voters) < n_voted
        method = np.concatenate([plan.method, np.full(voters - n_voted, in_person_code)])
    voter_id = rng.permutation(voters) + 100000000
    reg = e - rng.integers(40, 9000, voters)

    # double voters: the same person under a second registration, credited under both
    in_person = np.flatnonzero(turnout & (method != mail_code))
    if plan is None:  # a second registration in another county, with a ballot of its own
        dbl = rng.choice(in_person, n_double, replace=False)
        dup = np.zeros(0, dtype=np.int64)
        extra = dbl  # people with an extra roll and history row
        d_county = (county_no[dbl] + 1) % counties
        d_ids = 900000000 + np.arange(n_double)
    else:  # another registration in the county whose ballot the plan already counts
        pick = rng.choice(in_person, 2 * n_double, replace=False)
        dbl, dup = pick[:n_double], pick[n_double:]
        for arr in (ppl.first, ppl.last, ppl.birth):
            arr[dup] = arr[dbl]
        extra = dbl[:0]
        d_county = county_no[:0]
        d_ids = voter_id[:0]
    d_precinct = d_county * 5  # the other county's first precinct

    births = np.concatenate([ppl.birth, ppl.birth[extra]])
    n_roll = len(births)
    first_names, last_names = _first_names(), _census("dist.all.last")[0].tolist()
    roll = pa.table({
        "county": _strings(county_names, np.concatenate([county_no, d_county])),
        "voter_id": _ids(np.concatenate([voter_id, d_ids])),
        "first": _strings(first_names, np.concatenate([ppl.first, ppl.first[extra]])),
        "last": _strings(last_names, np.concatenate([ppl.last, ppl.last[extra]])),
        "birth_year": (births.astype("datetime64[D]").astype("datetime64[Y]")
                       .astype(np.int64) + 1970),
        "birth_date": _dates(births) if full_birth_date else pa.nulls(n_roll, pa.date32()),
        "precinct": _strings(precincts, np.concatenate([precinct, d_precinct])),
        "status": _const("ACTIVE", n_roll),
        "registration_date": _dates(np.concatenate([reg, reg[extra]])),
    })
    del births

    voted = np.flatnonzero(turnout)
    mail_idx = voted[method[voted] == mail_code]
    returned = e - rng.integers(1, 30, len(mail_idx))
    late_pick = rng.choice(len(mail_idx), n_late, replace=False)
    returned[late_pick] = e + rng.integers(1, 10, n_late)
    voted_date = np.full(voters, e)
    early = voted[method[voted] == METHODS.index("early")]
    voted_date[early] = e - rng.integers(1, 18, len(early))
    voted_date[mail_idx] = returned

    # dead voters (died before voting) and mail voters who died after returning the ballot
    not_mail = voted[(method[voted] != mail_code) & ~np.isin(voted, np.concatenate([dbl, dup]))]
    dead = rng.choice(not_mail, n_dead, replace=False)
    died_after_pos = rng.choice(np.setdiff1d(np.arange(len(mail_idx)), late_pick), n_after,
                                replace=False)
    after = mail_idx[died_after_pos]

    others = draw_people(rng, deaths)
    death_day = np.concatenate([
        e - rng.integers(30, 3000, deaths),
        voted_date[dead] - rng.integers(5, 400, n_dead),
        # died on or after the day the ballot was returned, before election day
        voted_date[after] + (rng.random(n_after) * (e - voted_date[after])).astype(np.int64),
    ])
    deaths_t = pa.table({
        "first": _strings(first_names, np.concatenate([others.first, ppl.first[dead],
                                                       ppl.first[after]])),
        "last": _strings(last_names, np.concatenate([others.last, ppl.last[dead],
                                                     ppl.last[after]])),
        "birth_date": _dates(np.concatenate([others.birth, ppl.birth[dead], ppl.birth[after]])),
        "death_date": _dates(death_day),
        "state": _const("XX", deaths + n_dead + n_after),
    })

    n_hist = len(voted) + len(extra)
    history = pa.table({
        "county": _strings(county_names, np.concatenate([county_no[voted], d_county])),
        "voter_id": _ids(np.concatenate([voter_id[voted], d_ids])),
        "election_date": _dates(np.full(n_hist, e)),
        "method": _strings(METHODS, np.concatenate([method[voted],
                                                    np.full(len(extra), in_person_code)])),
        "precinct": _strings(precincts, np.concatenate([precinct[voted], d_precinct])),
        "voted_date": _dates(np.concatenate([voted_date[voted], np.full(len(extra), e)])),
    })
    n_mail = len(mail_idx)
    mail = pa.table({
        "county": _strings(county_names, county_no[mail_idx]),
        "voter_id": _ids(voter_id[mail_idx]),
        "issued": _dates(returned - 20), "returned": _dates(returned),
        "accepted": _dates(returned + 1), "status": _const("ACCEPTED", n_mail),
        "reason": _const("", n_mail), "postmark": _dates(returned - 2),
        "uocava": _const("N", n_mail),
    })
    # ballots counted per precinct: equal to the voters credited (no fault planted here)
    ballots = (history.group_by(["county", "precinct"]).aggregate([([], "count_all")])
               .rename_columns(["county", "precinct", "ballots"])
               .sort_by([("county", "ascending"), ("precinct", "ascending")]))
    for name, table in (("roll", roll), ("history", history), ("mail", mail),
                        ("deaths", deaths_t), ("ballots", ballots)):
        atomic_write_with(out / f"{name}.csv", lambda tmp, t=table: pacsv.write_csv(
            t, str(tmp), pacsv.WriteOptions(quoting_style="needed")))

    def ids(idx: np.ndarray) -> list[str]:
        return sorted(str(int(v)) for v in voter_id[idx])

    truth = {
        "election_date": election.isoformat(),
        "seed": seed, "faults": list(faults),
        "dead_voter": ids(dead),
        "died_after": ids(after),
        "double_vote": ids(dbl),
        "late_ballot": ids(mail_idx[late_pick]),
        "deadline": election.isoformat(),
    }
    atomic_write_json(out / "truth.json", truth)
    return truth

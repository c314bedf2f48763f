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
from ..fsutil import atomic_write_bytes, atomic_write_json

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
    first: np.ndarray
    last: np.ndarray
    birth: np.ndarray  # days since 1970-01-01


def draw_people(rng: np.random.Generator, n: int) -> People:
    """``n`` people with census name frequencies and uniform birth dates 1930–2002."""
    last_w, last_p = _census("dist.all.last")
    male_w, male_p = _census("dist.male.first")
    fem_w, fem_p = _census("dist.female.first")
    male = rng.random(n) < 0.5
    first = np.where(male, rng.choice(male_w, n, p=male_p), rng.choice(fem_w, n, p=fem_p))
    last = rng.choice(last_w, n, p=last_p)
    lo = (dt.date(1930, 1, 1) - EPOCH).days
    hi = (dt.date(2002, 11, 3) - EPOCH).days
    return People(first, last, rng.integers(lo, hi, n))


def _days(d: dt.date) -> int:
    return (d - EPOCH).days


@dataclass(frozen=True)
class Plan:
    """The ballots one county counted, one per voter credited (precinct and method of each):
    the voter files drawn for it then agree with the county's CVRs precinct by precinct (the
    county demo). Methods are the canonical ones (in_person, early, mail, provisional)."""

    county: str
    precinct: np.ndarray
    method: np.ndarray
    election: dt.date


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

    ppl = draw_people(rng, voters)
    e = _days(election)
    if plan is None:
        names = np.asarray([f"C{i + 1:02d}" for i in range(counties)])
        county_no = rng.integers(0, counties, voters)
        county = names[county_no]
        precinct = np.char.add(np.char.add(county, "-P"),
                               rng.integers(1, 6, voters).astype(str))
        turnout = rng.random(voters) < 0.7
        method = rng.choice(np.asarray(["in_person", "early", "mail", "provisional"]), voters,
                            p=[0.35, 0.35, 0.28, 0.02])
    else:
        n_voted = len(plan.precinct)
        county = np.full(voters, plan.county)
        others_p = rng.choice(np.unique(plan.precinct), voters - n_voted)
        precinct = np.concatenate([np.asarray(plan.precinct, dtype=str), others_p])
        turnout = np.arange(voters) < n_voted
        method = np.concatenate([np.asarray(plan.method, dtype=str),
                                 np.full(voters - n_voted, "in_person")])
    voter_id = (rng.permutation(voters) + 100000000).astype(str)
    reg = e - rng.integers(40, 9000, voters)

    # double voters: the same person under a second registration, credited under both
    in_person = np.flatnonzero(turnout & (method != "mail"))
    if plan is None:  # a second registration in another county, with a ballot of its own
        dbl = rng.choice(in_person, n_double, replace=False)
        dup = np.zeros(0, dtype=np.int64)
        d_county = names[(county_no[dbl] + 1) % counties]
        d_ids = np.asarray([f"9{i:08d}" for i in range(n_double)], dtype=voter_id.dtype)
    else:  # another registration in the county whose ballot the plan already counts
        pick = rng.choice(in_person, 2 * n_double, replace=False)
        dbl, dup = pick[:n_double], pick[n_double:]
        for arr in (ppl.first, ppl.last, ppl.birth):
            arr[dup] = arr[dbl]
        d_county = county[:0]
        d_ids = voter_id[:0]
    extra = dbl if plan is None else dbl[:0]  # people with an extra roll and history row

    roll_first = np.concatenate([ppl.first, ppl.first[extra]])
    roll = pa.table({
        "county": np.concatenate([county, d_county]),
        "voter_id": np.concatenate([voter_id, d_ids]),
        "first": roll_first,
        "last": np.concatenate([ppl.last, ppl.last[extra]]),
        "birth_year": (np.concatenate([ppl.birth, ppl.birth[extra]]).astype("datetime64[D]")
                       .astype("datetime64[Y]").astype(np.int64) + 1970),
        "birth_date": pa.array(np.concatenate([ppl.birth, ppl.birth[extra]]).astype(np.int32),
                               pa.date32()) if full_birth_date
        else pa.nulls(len(roll_first), pa.date32()),
        "precinct": np.concatenate([precinct, np.char.add(d_county, "-P1")]),
        "status": ["ACTIVE"] * len(roll_first),
        "registration_date": pa.array(np.concatenate([reg, reg[extra]]).astype(np.int32),
                                      pa.date32()),
    })

    voted = np.flatnonzero(turnout)
    mail_idx = voted[method[voted] == "mail"]
    returned = e - rng.integers(1, 30, len(mail_idx))
    late_pick = rng.choice(len(mail_idx), n_late, replace=False)
    returned[late_pick] = e + rng.integers(1, 10, n_late)
    voted_date = np.full(voters, e)
    early = voted[method[voted] == "early"]
    voted_date[early] = e - rng.integers(1, 18, len(early))
    voted_date[mail_idx] = returned

    # dead voters (died before voting) and mail voters who died after returning the ballot
    not_mail = voted[(method[voted] != "mail") & ~np.isin(voted, np.concatenate([dbl, dup]))]
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
        "first": np.concatenate([others.first, ppl.first[dead], ppl.first[after]]),
        "last": np.concatenate([others.last, ppl.last[dead], ppl.last[after]]),
        "birth_date": pa.array(np.concatenate([others.birth, ppl.birth[dead], ppl.birth[after]])
                               .astype(np.int32), pa.date32()),
        "death_date": pa.array(death_day.astype(np.int32), pa.date32()),
        "state": ["XX"] * (deaths + n_dead + n_after),
    })

    hist_idx = np.concatenate([voted, extra])
    history = pa.table({
        "county": np.concatenate([county[voted], d_county]),
        "voter_id": np.concatenate([voter_id[voted], d_ids]),
        "election_date": pa.array([e] * len(hist_idx), pa.int32()).cast(pa.date32()),
        "method": np.concatenate([method[voted], ["in_person"] * len(extra)]),
        "precinct": np.concatenate([precinct[voted], np.char.add(d_county, "-P1")]),
        "voted_date": pa.array(np.concatenate([voted_date[voted], np.full(len(extra), e)])
                               .astype(np.int32), pa.date32()),
    })
    mail = pa.table({
        "county": county[mail_idx], "voter_id": voter_id[mail_idx],
        "issued": pa.array((returned - 20).astype(np.int32), pa.date32()),
        "returned": pa.array(returned.astype(np.int32), pa.date32()),
        "accepted": pa.array((returned + 1).astype(np.int32), pa.date32()),
        "status": ["ACCEPTED"] * len(mail_idx), "reason": [""] * len(mail_idx),
        "postmark": pa.array((returned - 2).astype(np.int32), pa.date32()),
        "uocava": ["N"] * len(mail_idx),
    })
    # ballots counted per precinct: equal to the voters credited (no fault planted here)
    ballots = (history.group_by(["county", "precinct"]).aggregate([([], "count_all")])
               .rename_columns(["county", "precinct", "ballots"])
               .sort_by([("county", "ascending"), ("precinct", "ascending")]))
    for name, table in (("roll", roll), ("history", history), ("mail", mail),
                        ("deaths", deaths_t), ("ballots", ballots)):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
        atomic_write_bytes(out / f"{name}.csv", sink.getvalue().to_pybytes())
    truth = {
        "election_date": election.isoformat(),
        "seed": seed, "faults": list(faults),
        "dead_voter": sorted(voter_id[dead].tolist()),
        "died_after": sorted(voter_id[after].tolist()),
        "double_vote": sorted(voter_id[dbl].tolist()),
        "late_ballot": sorted(voter_id[mail_idx[late_pick]].tolist()),
        "deadline": election.isoformat(),
    }
    atomic_write_json(out / "truth.json", truth)
    return truth

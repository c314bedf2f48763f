"""The demo county's voter files, checked and recorded in its store.

The voter roll, voter history, mail-ballot file and death records are drawn with
:func:`tallyproof.voters.synth.generate` from the county's *paper* ballots: one voter credited
per card, in the card's precinct, by the card's vote type (election day → in person, mail,
early), with about 70% turnout of the roll. So the voter history agrees with the pollbooks and
the CVRs precinct by precinct, and the four voter checks pass on a clean run. A few voters
who died after returning their mail ballot are always planted (lawful under the rule applied:
explained by timing); ``dead-voter``, ``double-vote`` and ``late-ballot`` plant the cases their
check must catch. The files go to ``OUT/voters/`` (with ``truth.json``, the planted truth):
they hold (synthetic) personal data and are never part of the report or the bundle; the
store gets only the counts (``results/voters.json``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from ..evidence.checks import Check
from ..store import Store
from ..voters import store_evidence
from ..voters.checks import Rules
from ..voters.readers import METHODS
from ..voters.report import VoterFiles, voter_evidence
from ..voters.synth import Plan, generate
from .county import COUNTING_GROUPS, ELECTION_DATE, JURISDICTION, County

#: The history's voting method of each counting group's vote type.
METHOD_OF = {"election_day": "in_person", "mail": "mail", "early": "early"}
#: Death records per card: a county's deaths over the few years a death list covers.
DEATHS_PER_CARD = 0.05


def voter_plan(county: County) -> Plan:
    """Every paper card as the ballot of one voter credited: its precinct and method."""
    paper = county.paper
    method_of_group = np.zeros(max(COUNTING_GROUPS) + 1, dtype=np.int8)
    for g, (_, vote_type) in COUNTING_GROUPS.items():
        method_of_group[g] = METHODS.index(METHOD_OF[vote_type])
    return Plan(county=JURISDICTION, precincts=tuple(p.name for p in county.precincts),
                precinct=paper.precinct.astype(np.int32),
                method=method_of_group[paper.counting_group.astype(np.int64)],
                election=dt.date.fromisoformat(ELECTION_DATE))


#: The planted truth's list for each fault, and what the demo's note says of it.
PLANTED = {"dead-voter": ("dead_voter", "voters credited after the date of their death record"),
           "double-vote": ("double_vote", "people registered twice and credited under both "
                                          "registrations"),
           "late-ballot": ("late_ballot", "mail ballots received after the deadline and "
                                          "counted")}


def draw_voter_files(county: County, folder: Path,
                     faults: tuple[str, ...]) -> dict[str, Any]:
    """Draw the county's voter files into ``folder`` (the synthetic input, like the export:
    the demo draws them with it, so the voter stage times the checks alone); returns the
    planted truth."""
    return generate(folder, deaths=max(100, int(county.cards * DEATHS_PER_CARD)),
                    seed=county.seed + 15, faults=tuple(f for f in faults if f in PLANTED),
                    baseline_cases=False, died_after_cases=True, plan=voter_plan(county))


def planted_notes(faults: tuple[str, ...], truth: dict[str, Any]) -> list[str]:
    """The demo's note for each voter fault planted (how many cases the files hold)."""
    return [f"{f}: the voter files hold {len(truth[PLANTED[f][0]])} {PLANTED[f][1]}"
            for f in faults if f in PLANTED]


def run_voter_checks(store: Store, folder: Path) -> list[Check]:
    """Run the four checks on the voter files drawn into ``folder`` by
    :func:`draw_voter_files` (ballots counted per precinct from the store's CVRs), record the
    counts in the store and return the checks. Nothing of the synthetic county is needed, so
    the demo lets the county go first (at 5,000,000 cards it is ~2 GB of the stage's peak)."""
    files = VoterFiles(roll=folder / "roll.csv", history=folder / "history.csv",
                       mail=folder / "mail.csv", deaths=folder / "deaths.csv",
                       truth=folder / "truth.json")
    election = dt.date.fromisoformat(ELECTION_DATE)
    # mail ballots must arrive by election day; a ballot cast before the voter died counts
    rules = Rules(election=election, deadline=election)
    doc = voter_evidence(files, rules, ballots=store_evidence.ballots_per_precinct(store))
    doc["ballots_source"] = store_evidence.FROM_STORE
    doc["ballots_county"] = JURISDICTION
    store_evidence.record(store, doc)
    return store_evidence.checks_of(doc)

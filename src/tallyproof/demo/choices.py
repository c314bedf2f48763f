"""What a person chooses when running the demo: how many cards, and which faults to inject.

Plain data with no numerical imports, so that ``tallyproof demo --help`` (and any form that
lists the faults) does not load numpy or pyarrow. :mod:`.faults` injects the faults named here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError

#: Ballot cards the demo county has unless told otherwise.
DEFAULT_CARDS = 100_000
#: The synthetic state (``tallyproof demo --state``): counties, and cards across all of them.
DEFAULT_STATE_COUNTIES, DEFAULT_STATE_CARDS = 20, 200_000
#: The ``verify`` check's summary when a demo is run without its evidence stages
#: (``evidence=False``: no report, bundle or verify).
EVIDENCE_NOT_ASKED = "report, bundle and verify not asked for"


@dataclass(frozen=True)
class FaultSpec:
    name: str
    caught_by: str  # check name (or prefix before ".") that must fail
    description: str


FAULTS: dict[str, FaultSpec] = {
    f.name: f
    for f in (
        FaultSpec(
            "delete-batch",
            "reconciliation",
            "one batch's CVRs dropped from the export; manifest and pollbooks still count it",
        ),
        FaultSpec(
            "add-ballots",
            "reconciliation",
            "extra CVRs injected that no manifest or pollbook accounts for",
        ),
        FaultSpec(
            "switch-votes",
            "audit",
            "a central-count scanner switches the winner's votes to the runner-up, "
            "reversing an outcome",
        ),
        FaultSpec(
            "alter-after-commit",
            "ledger",
            "one committed CVR changed in cvrs.parquet after the commitment",
        ),
        FaultSpec(
            "results-mismatch",
            "official_results",
            "the official results file differs from the count",
        ),
        FaultSpec(
            "results-shift",
            "results_history",
            "an election-night publication moves votes between candidates with no new ballots",
        ),
        FaultSpec(
            "dead-voter",
            "voters.deceased",
            "ballots credited to voters with a death record dated before they voted",
        ),
        FaultSpec(
            "double-vote",
            "voters.double_voting",
            "people registered twice in the county and credited under both registrations",
        ),
        FaultSpec(
            "late-ballot",
            "voters.late_ballots",
            "mail ballots received after the deadline accepted and counted",
        ),
    )
}


def check_fault_names(names: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise UsageError(
            f"unknown fault {', '.join(map(repr, unknown))}; known: {', '.join(FAULTS)}"
        )
    return tuple(dict.fromkeys(names))  # de-duplicated, in the order given

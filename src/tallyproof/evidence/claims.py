"""Claims people make about elections, each answered only as far as the checks go.

The claims are data (:data:`SPECS`, the claims registry): each has an id, the claim as people
phrased it, the question a check can answer, the checks that answer it, and (in
:data:`CHECK_DATA`) the data each check needs. The county report, the hand-count report and
the control room all read this one list, so a claim is worded and judged the same everywhere.

A claim is answered by named checks. Its verdict is:

- ``problem_found``   at least one answering check found a difference that bears on the claim
  (e.g. fewer CVRs than the manifest for "CVRs were deleted");
- ``no_problem_found`` every answering check that ran found nothing, and at least one ran;
- ``not_answered``    none of the checks that could answer it were run.

Checks that could have answered but were not run are named in the finding, so the text never
says more than the checks show (no audit → the machine-switching claim is not answered by a
paper check, however clean everything else is). Findings quote the checks' own numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .checks import Check

Verdict = Literal["problem_found", "no_problem_found", "not_answered"]

CHECK_LABELS = {
    "ledger": "the commitment log",
    "tabulation": "the recount of the CVRs",
    "official_results": "the comparison with the certified results",
    "reconciliation.manifest": "the ballot manifest comparison",
    "reconciliation.pollbooks": "the pollbook comparison",
    "reconciliation.mail": "the mail ballot accounting",
    "reconciliation.duplicates": "the duplicate ballot check",
    "reconciliation.log": "the log size comparison",
    "audit": "the risk-limiting audit of the paper ballots",
    "hand_count": "the full hand count of the paper ballots",
    "results_history": "the published results over time",
    "voters.deceased": "the match of voters credited against death records",
    "voters.double_voting": "the double-voting check of the voter history",
    "voters.late_ballots": "the check of mail-ballot receipt dates",
    "voters.more_votes_than_voters": "the per-precinct check of voters registered and "
                                     "credited",
}

#: What each check needs, so that an unanswered claim says which data would answer it.
CHECK_DATA = {
    "ledger": "the CVRs committed in the signed log (tallyproof ingest, commit)",
    "tabulation": "the CVRs (tallyproof ingest, tabulate)",
    "official_results": "the certified results (tallyproof reconcile --results)",
    "reconciliation.manifest": "the ballot manifest (tallyproof ingest --manifest)",
    "reconciliation.pollbooks": "pollbook counts (tallyproof reconcile --pollbooks)",
    "reconciliation.mail": "mail ballot counts (the pollbooks file's mail columns)",
    "reconciliation.duplicates": "the CVRs (tallyproof ingest)",
    "reconciliation.log": "the commitment log (tallyproof commit)",
    "audit": "a risk-limiting audit of the paper ballots (tallyproof audit)",
    "hand_count": "a full hand count by batch and the machine count (tallyproof compare "
                  "hand-count)",
    "results_history": "two or more published results snapshots (tallyproof results add)",
    "voters.deceased": "the voter roll with full dates of birth, the voter history and death "
                       "records (tallyproof voters check --roll --history --deaths)",
    "voters.double_voting": "the voter history, and the voter roll to match across counties "
                            "(tallyproof voters check --history --roll)",
    "voters.late_ballots": "the mail-ballot file and the receipt deadline (tallyproof voters "
                           "check --mail --deadline)",
    "voters.more_votes_than_voters": "the voter roll and the voter history or ballots counted "
                                     "per precinct (tallyproof voters check --roll --history)",
}


@dataclass(frozen=True)
class Claim:
    """One claim and what the checks say about it, in plain language."""

    id: str
    claim: str
    question: str
    verdict: Verdict
    finding: str
    answered_by: tuple[str, ...]
    not_run: tuple[str, ...]
    evidence: tuple[str, ...]  # anchors in the report, "#check-<name>"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "claim": self.claim,
            "question": self.question,
            "verdict": self.verdict,
            "finding": self.finding,
            "answered_by": list(self.answered_by),
            "not_run": list(self.not_run),
            "evidence": list(self.evidence),
        }


def anchor(check_name: str) -> str:
    return "#check-" + check_name.replace(".", "-")


# A "bears on" function says whether a failed check is evidence for this particular claim
# (a manifest check that found *extra* CVRs says nothing about deleted ones).
Bears = Callable[[Check], bool]


def _always(check: Check) -> bool:
    return check.status == "fail"


def _signed(check: Check) -> tuple[int, int]:
    """(cards missing, cards extra) in a failed reconciliation check's differences."""
    d = check.details
    missing = extra = 0
    if "difference" in d and isinstance(d["difference"], int):
        missing += max(-d["difference"], 0)
        extra += max(d["difference"], 0)
    for diff in d.get("differences", []):
        # ballots issued vs check-ins says nothing about cards; every other kind's
        # "difference" is found minus expected (mail: counted + rejected minus received,
        # so mail received but neither counted nor rejected counts as missing)
        if "difference" not in diff or diff.get("kind") == "ballots_issued_differs_from_checkins":
            continue
        missing += max(-int(diff["difference"]), 0)
        extra += max(int(diff["difference"]), 0)
    extra += int(d.get("extra_cards", 0))
    return missing, extra


def _in_progress(check: Check) -> bool:
    """An audit that needs another round, or waits for a round's cards to be recorded, has
    found nothing against the outcome yet, and has not confirmed it either: it answers no
    claim until it finishes."""
    return (check.name == "audit" and check.status == "fail"
            and check.details.get("status") in ("another_round", "waiting")
            and not any(v for k, v in (check.details.get("discrepancies") or {}).items()
                        if "overstatement" in k))


def _fewer(check: Check) -> bool:
    return check.status == "fail" and _signed(check)[0] > 0


def _more(check: Check) -> bool:
    return check.status == "fail" and _signed(check)[1] > 0


@dataclass(frozen=True)
class _ClaimSpec:
    id: str
    claim: str
    question: str
    checks: tuple[tuple[str, Bears], ...]
    clean: str  # what "no problem found" means, said modestly


SPECS: tuple[_ClaimSpec, ...] = (
    _ClaimSpec(
        "cvrs_deleted",
        "CVRs were deleted or lost.",
        "Is every ballot that was recorded still counted?",
        (("reconciliation.manifest", _fewer), ("reconciliation.pollbooks", _fewer),
         ("reconciliation.mail", _fewer), ("reconciliation.log", _fewer)),
        "No ballot records are missing compared with the counts that were checked.",
    ),
    _ClaimSpec(
        "ballots_added",
        "Ballots were added.",
        "Are there more ballot records than ballots?",
        (("reconciliation.manifest", _more), ("reconciliation.pollbooks", _more),
         ("reconciliation.mail", _more), ("reconciliation.duplicates", _always),
         ("reconciliation.log", _more)),
        "There are no more ballot records than the counts that were checked allow.",
    ),
    _ClaimSpec(
        "votes_switched",
        "Voting machines switched votes.",
        "Do the paper ballots say what the machines recorded?",
        (("audit", _always), ("hand_count", _always)),
        "The paper ballots, checked by hand, confirm the reported outcome.",
    ),
    _ClaimSpec(
        "votes_lost",
        "Votes were deleted or lost.",
        "Does a count of the paper ballots find votes the machine count left out, enough to "
        "change who won?",
        (("hand_count", _always),),
        "Counting every paper ballot by hand finds the same winner as the machine count.",
    ),
    _ClaimSpec(
        "results_shifted",
        "Results that changed after election night mean the count was hacked.",
        "When the published results changed, was it because more ballots were counted, or did "
        "counts go down or move between candidates?",
        (("results_history", _always),),
        "Every change between published results added counted ballots; no count went down "
        "and no votes moved between candidates.",
    ),
    _ClaimSpec(
        "results_changed",
        "Results were changed after counting.",
        "Are the ballot records the same as when they were committed, and do they give the "
        "published results?",
        (("ledger", _always), ("tabulation", _always)),
        "The ballot records are unchanged since they were committed, and counting them again "
        "gives the same results.",
    ),
    _ClaimSpec(
        "count_not_certified",
        "The count does not match the certified result.",
        "Does counting the ballot records give the certified numbers?",
        (("official_results", _always),),
        "Counting the ballot records gives exactly the certified numbers.",
    ),
    _ClaimSpec(
        "dead_voters",
        "Votes are being cast on behalf of dead people.",
        "Were ballots accepted from voters with a death record dated before the ballot was "
        "cast, more than coincidences of name and birthday explain?",
        (("voters.deceased", _always),),
        "No more voters credited match a death record than coincidences between different "
        "people sharing a name and birthday explain.",
    ),
    _ClaimSpec(
        "double_voting",
        "People voted twice.",
        "Is any voter credited twice in this election, under one registration or under two "
        "(in the same county or in another)?",
        (("voters.double_voting", _always),),
        "No registration is credited twice, and no more pairs of registrations match on name "
        "and date of birth than chance explains.",
    ),
    _ClaimSpec(
        "late_ballots",
        "Ballots that arrived after the deadline were counted.",
        "Were mail ballots accepted with a return date after the deadline, beyond the lawful "
        "exceptions given?",
        (("voters.late_ballots", _always),),
        "No accepted mail ballot was received after the deadline outside the exceptions given.",
    ),
    _ClaimSpec(
        "more_votes_than_voters",
        "There were more votes than voters.",
        "Does any precinct have more voters credited or ballots counted than voters "
        "registered?",
        (("voters.more_votes_than_voters", _always),),
        "No precinct has more voters credited or ballots counted than registered voters.",
    ),
)


def claims_from_checks(checks: Sequence[Check],
                       applicable: Collection[str] | None = None) -> list[Claim]:
    """Answer every claim in :data:`SPECS` from these checks (names not present = not run).

    ``applicable`` names the checks that this kind of evidence could ever run (a hand-count
    report has no CVRs, so no CVR check applies): claims none of whose checks apply are left
    out, and inapplicable checks are not listed as "not checked". ``None``: every check applies.
    """
    by_name = {c.name: c for c in checks}
    claims: list[Claim] = []
    for spec in SPECS:
        ran: list[Check] = []
        not_run: list[str] = []
        problems: list[Check] = []
        pending: list[Check] = []
        specs = [(n, b) for n, b in spec.checks if applicable is None or n in applicable]
        if not specs:
            continue
        for name, bears in specs:
            check = by_name.get(name)
            if check is None or check.status == "not_run":
                not_run.append(name)
                continue
            if _in_progress(check):
                pending.append(check)
                continue
            ran.append(check)
            if bears(check):
                problems.append(check)
        if problems:
            verdict: Verdict = "problem_found"
            finding = "Problem found. " + " ".join(
                f"{_sentence_case(_label(c.name))}: {c.summary.rstrip('.')}." for c in problems
            )
        elif pending and not ran:
            verdict = "not_answered"
            finding = "Not answered yet: " + " ".join(
                f"{_sentence_case(_label(c.name))}: {c.summary.rstrip('.')}." for c in pending)
        elif ran:
            verdict = "no_problem_found"
            finding = "No problem found. " + spec.clean + " " + " ".join(
                f"{_sentence_case(_label(c.name))}: {c.summary.rstrip('.')}." if c.status == "pass"
                else f"{_sentence_case(_label(c.name))} found differences, but none that bear on "
                f"this claim ({c.summary.rstrip('.')})."
                for c in ran
            )
        else:
            verdict = "not_answered"
            finding = "Not answered: " + _not_run_text(not_run, spec.id)
        if not_run and ran:
            finding += " Not checked: " + _not_run_text(not_run, spec.id)
        claims.append(
            Claim(
                id=spec.id,
                claim=spec.claim,
                question=spec.question,
                verdict=verdict,
                finding=finding,
                answered_by=tuple(c.name for c in ran),
                not_run=tuple(not_run),
                evidence=tuple(anchor(c.name) for c in ran),
            )
        )
    return claims


def _label(name: str) -> str:
    return CHECK_LABELS.get(name, name)


def _not_run_text(names: Sequence[str], claim_id: str) -> str:
    text = ", ".join(_label(n) for n in names) + " " + ("was" if len(names) == 1 else "were") + (
        " not run, so this report cannot say."
    )
    if claim_id == "votes_switched":
        text = (
            "no paper ballots were audited, so nothing here shows whether the machines "
            "recorded the votes on the paper correctly."
        )
    needs = [CHECK_DATA[n] for n in names if n in CHECK_DATA]
    return text + (" It needs " + "; or ".join(needs) + "." if needs else "")


def build_claims(store: object) -> list[Claim]:
    """The claims for a store, from every check :func:`collect_checks` can run on it."""
    from .collect import collect_checks

    return claims_from_checks(collect_checks(store))  # type: ignore[arg-type]


def _sentence_case(text: str) -> str:
    """First letter upper-case, the rest untouched (``str.capitalize`` would turn "CVRs" into
    "cvrs")."""
    return text[:1].upper() + text[1:]

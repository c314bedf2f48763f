"""Declaring how a contest is decided, when the export cannot say it.

A Dominion manifest has only ``VoteFor`` (and ``NumOfRanks``): an approval question reads as
vote-for-N with N winners, and a multi-seat ranked contest's rule options are not there at all.
The election office declares the rule (``tallyproof contest set``): kind, seats and, for a
ranked contest, RCTab rule options. The declaration is written to ``election.json`` with
``rule_declared`` set, so the report says the rule came from the office, later exports keep it
(:mod:`tallyproof.store_append`), and tabulation uses it.

A rule is part of the election definition the commitment log holds (a definition leaf,
docs/commitment.md), so changing it after ``commit`` makes ``verify`` fail until ``commit`` is
run again, which appends the new definition to the log (the old one stays there, in public);
results tabulated under the old rule are stale until ``tabulate`` is run again (``verify`` says
so: recounting no longer gives them). Once an audit has started the rule cannot change: the
audit's sample and assertions were drawn against the outcome under the rule it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from .errors import InputError, StoreError, UsageError
from .fsutil import atomic_write_json
from .model import Contest, ContestKind, Election, RcvOptionValue
from .store import Store

#: RCTab ``rules`` keys a ranked contest may declare (``numberOfWinners`` is ``--seats``);
#: the values are checked by :func:`tallyproof.tabulate.rules.rules_from_rctab`.
RCV_OPTION_KEYS = frozenset({
    "winnerElectionMode", "overvoteRule", "tiebreakMode", "randomSeed", "maxSkippedRanksAllowed",
    "maxRankingsAllowed", "exhaustOnDuplicateCandidate", "batchElimination",
    "continueUntilTwoCandidatesRemain", "minimumVoteThreshold", "decimalPlacesForVoteArithmetic",
    "nonIntegerWinningThreshold", "hareQuota", "doesFirstRoundDetermineThreshold",
    "multiSeatBottomsUpPercentageThreshold", "stopTabulationEarlyAfterRound",
})
#: Of those, the ones RCTab writes as JSON booleans.
BOOLEAN_KEYS = frozenset({
    "exhaustOnDuplicateCandidate", "batchElimination", "continueUntilTwoCandidatesRemain",
    "nonIntegerWinningThreshold", "hareQuota", "doesFirstRoundDetermineThreshold",
})


@dataclass(frozen=True)
class RuleChange:
    """What :func:`declare_rule` did and what must be run again because of it."""

    contest: Contest
    previous: Contest
    changed: bool
    next_steps: tuple[str, ...]


def contest_by_id_or_name(election: Election, key: str) -> Contest:
    """The contest whose id is ``key``, else the one whose name is ``key`` (case and spacing
    ignored); an ambiguous or unknown name is an error that lists the contests."""
    for c in election.contests:
        if c.id == key:
            return c

    def norm(s: str) -> str:
        return " ".join(s.split()).casefold()

    named = [c for c in election.contests if norm(c.name) == norm(key)]
    if len(named) == 1:
        return named[0]
    if named:
        ids = ", ".join(c.id for c in named)
        raise InputError(f"several contests are named {key!r} (ids {ids}); give the id",
                         field="contest")
    known = "; ".join(f"{c.id} {c.name!r}" for c in election.contests[:20])
    more = f" and {len(election.contests) - 20} more" if len(election.contests) > 20 else ""
    raise InputError(f"no contest {key!r} in the store (contests: {known or 'none'}{more})",
                     field="contest")


def parse_rcv_options(pairs: Mapping[str, str]) -> tuple[tuple[str, RcvOptionValue], ...]:
    """``KEY=VALUE`` strings → typed, checked RCTab rule options (sorted by key)."""
    from .tabulate.rules import rules_from_rctab

    out: dict[str, RcvOptionValue] = {}
    for key, value in pairs.items():
        if key == "numberOfWinners":
            raise UsageError("numberOfWinners is the contest's seats: give --seats")
        if key not in RCV_OPTION_KEYS:
            raise UsageError(f"unknown RCV option {key!r}; known: {', '.join(sorted(RCV_OPTION_KEYS))}")
        if key in BOOLEAN_KEYS:
            if value.strip().lower() not in ("true", "false"):
                raise UsageError(f"RCV option {key} is true or false, not {value!r}")
            out[key] = value.strip().lower() == "true"
        else:
            out[key] = value.strip()
    rules_from_rctab(out, file="--rcv-option")  # refuses bad values, as in an RCTab config
    return tuple(sorted(out.items()))


def checked_rule(contest: Contest, kind: ContestKind, seats: int | None,
                 rcv_options: tuple[tuple[str, RcvOptionValue], ...]) -> Contest:
    """``contest`` under the declared rule, or an error saying why the rule cannot apply."""
    seats = (1 if kind == ContestKind.IRV else contest.seats) if seats is None else seats
    label = f"contest {contest.id} ({contest.name!r})"
    if seats < 1:
        raise UsageError(f"{label}: seats must be at least 1")
    if kind == ContestKind.IRV and seats != 1:
        raise UsageError(f"{label}: IRV elects one; for {seats} seats declare stv")
    ranked = kind in (ContestKind.IRV, ContestKind.STV)
    exported_ranked = contest.max_rankings is not None
    if ranked != exported_ranked:
        how = f"with {contest.max_rankings} ranks" if exported_ranked else "with one mark position"
        allowed = "irv or stv" if exported_ranked else "plurality or approval"
        raise UsageError(f"{label} was exported {how}; its rule can be {allowed}, not {kind.value}")
    if rcv_options and not ranked:
        raise UsageError(f"{label}: RCV options apply to irv and stv contests only")
    if seats > max(len(contest.candidates), 1):
        raise UsageError(f"{label}: {seats} seats but {len(contest.candidates)} candidate(s)")
    return replace(contest, kind=kind, seats=seats, rule_declared=True, rcv_options=rcv_options)


def declare_rule(store: Store, contest_key: str, *, kind: ContestKind, seats: int | None = None,
                 rcv_options: Mapping[str, str] | None = None) -> RuleChange:
    """Declare a contest's rule (id or name); each declaration replaces the whole rule.
    Refused once an audit has started (see the module docstring)."""
    from .reconcile import log_exists

    options = parse_rcv_options(rcv_options or {})
    with store.writing():
        e = store.election
        old = contest_by_id_or_name(e, contest_key)
        new = checked_rule(old, kind, seats, options)
        changed = new != old
        if changed and (store.audit_dir / "audit.json").exists():
            raise StoreError(
                f"an audit has started ({store.audit_dir / 'audit.json'}); its sample and "
                "assertions rest on the outcome under the current rule, which cannot change now"
            )
        steps: list[str] = []
        if changed:
            contests = tuple(new if c.id == old.id else c for c in e.contests)
            atomic_write_json(store.election_path, replace(e, contests=contests).to_json())
            if log_exists(store):
                steps.append("tallyproof commit: the log holds the old rule; verify fails "
                             "until the new one is committed")
            if (store.results_dir / "tabulation.json").exists():
                steps.append("tallyproof tabulate: the published results were counted under "
                             "the old rule")
            if steps:
                steps.append("then rebuild the report and the bundle")
        return RuleChange(contest=new, previous=old, changed=changed, next_steps=tuple(steps))


def rule_text(contest: Contest) -> str:
    """The rule in words, for the report: kind, what voters mark, seats, who declared it."""
    if contest.kind == ContestKind.APPROVAL:
        marks = f"approve up to {contest.vote_for}"
    elif contest.ranked:
        marks = f"rank up to {contest.max_rankings}" if contest.max_rankings else "ranked"
    else:
        marks = f"vote for {contest.vote_for}"
    seat_text = f"{contest.seats} seat" + ("s" if contest.seats != 1 else "")
    text = f"{contest.kind.value} ({marks}), {seat_text}"
    if contest.rcv_options:
        text += "; RCV options " + ", ".join(
            f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in contest.rcv_options)
    return text + ("; rule declared by the election office" if contest.rule_declared
                   else "; rule as exported")

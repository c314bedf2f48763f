"""Status of the statewide audit (see :mod:`.audit`): the risk of every assertion measured on
the statewide sample from all counties' records, what each county still owes, the counties
whose sample shows overstatements, and the full hand count's comparison by batch.

Written to ``audit/status.json`` (the latest) and ``audit/history/round-NNN.json`` (the
status after round NNN, as last measured), which the statewide report reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audit.assorters import NOT_RANKED, Assertion, ContestVotes, Discrepancies
from ..audit.batch import assorter_sums, batch_comparison_risk
from ..audit.comparison import AssertionRisk, comparison_risk, mvr_assort
from ..audit.plan import ALPHA_POLLING_D
from ..audit.polling import polling_risk
from ..audit.stratified import StratumSample, stratified_risk
from ..audit.workflow import (
    ANOTHER_ROUND,
    CONFIRMED,
    AssertionStatus,
    ContestStatus,
    next_step,
)
from ..errors import AuditError
from ..fsutil import atomic_write_json
from ..model import Contest, ContestKind
from ..tabulate.plurality import decide
from .audit import (
    _SEVERITY,
    SCHEMA_VERSION,
    StateAuditParams,
    _counties,
    _ok,
    load_state_audit,
    load_state_rounds,
)
from .audit_tasks import (
    CountyBatches,
    CountyReadings,
    StateBatchFrame,
    audit_dir,
    batch_task,
    readings_task,
    split_ballot_id,
    state_batch_frame,
)
from .executor import Executor
from .spec import load_spec


@dataclass(frozen=True)
class StateAssertionStatus(AssertionStatus):
    """The county workflow's assertion status, with the discrepancies found in each county
    (card-level comparison: o1/o2/u1/u2 cards; batch comparison: o1/u1 batches)."""

    by_county: dict[str, Discrepancies] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(),
                "discrepancies_by_county": {c: d.to_json() for c, d in self.by_county.items()}}


@dataclass(frozen=True)
class StateContestStatus(ContestStatus):
    """The county workflow's contest status, measured statewide, with the drawn units each
    county still owes and the counties whose sample shows overstatements."""

    waiting: dict[str, int] = field(default_factory=dict)
    overstating_counties: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "waiting": self.waiting,
                "overstating_counties": list(self.overstating_counties)}


@dataclass(frozen=True)
class StateAuditStatus:
    kind: str
    risk_limit: float
    rounds: int
    status: str
    contests: tuple[StateContestStatus, ...]
    waiting: dict[str, int] = field(default_factory=dict)  # county -> unrecorded cards

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "kind": self.kind,
                "risk_limit": self.risk_limit, "rounds": self.rounds, "status": self.status,
                "waiting": self.waiting, "contests": [c.to_json() for c in self.contests]}


def _check_unchanged(params: StateAuditParams, cvrs: dict[str, str]) -> None:
    changed = sorted(c for c, h in cvrs.items()
                     if params.commitments.get(c, {}).get("cvrs_sha256") != h)
    if changed:
        raise AuditError("the CVRs changed since the audit started in county(ies) "
                         f"{', '.join(changed)}; the audit's frame no longer holds")


def _votes(contest: Contest, present: list[bool], marks: list[tuple[bool, ...]]) -> ContestVotes:
    m = np.asarray(marks, dtype=bool).reshape(len(marks), len(contest.candidates))
    return ContestVotes(contest, np.asarray(present, dtype=bool), m,
                        np.where(m, 0, NOT_RANKED).astype(np.int32))


def state_audit_status(root: Path, ex: Executor, *, write: bool = True) -> StateAuditStatus:
    """Measured statewide risk of every assertion from all counties' records so far.

    Each contest's statewide sample is used in draw order up to its first unit (card or
    batch) without a record (the sequential test sees a prefix of the random sequence, as in
    the county workflow); the units still waiting are counted per county. Decisions as in the
    county workflow (:func:`tallyproof.audit.workflow.audit_status`): confirmed at risk <=
    limit; else another round sized by the planner (from the discrepancy rates observed so
    far, for card-level comparison), at least ``ROUND_GROWTH`` times the sample; a full hand
    count when the plan reaches the whole statewide frame.
    """
    params = load_state_audit(root)
    if params.kind == "handcount":
        raise AuditError("a full hand count has no risk to measure; use hand_count_status")
    spec = load_spec(root)
    rounds = load_state_rounds(root)
    contests = {sc.id: sc.as_contest() for sc in spec.contests}
    seqs = {cid: [d["id"] for d in rounds[-1].draws.get(cid, [])] if rounds else []
            for cid in params.contests}
    measure: _CardMeasure | _BatchMeasure | _MixedMeasure
    if params.kind == "batch":
        measure = _batch_measure(root, ex, params, spec.to_json())
    elif params.kind == "stratified" and params.batch_counties:
        measure = _mixed_measure(root, ex, params, spec.to_json(), seqs)
    else:
        measure = _card_measure(root, ex, params, spec.to_json(), seqs)
    out: list[StateContestStatus] = []
    waiting_all: dict[str, int] = {}
    for cid in params.contests:
        contest = contests[cid]
        recorded = measure.recorded(cid, seqs[cid])
        got = recorded.index(False) if False in recorded else len(recorded)
        waiting: dict[str, int] = {}
        for sid, done in zip(seqs[cid], recorded, strict=True):
            if not done:
                county = split_ballot_id(sid)[0]
                waiting[county] = waiting.get(county, 0) + 1
        for c, n in waiting.items():
            waiting_all[c] = max(waiting_all.get(c, 0), n)
        n_frame = params.frame_sizes[cid]
        statuses = []
        for a, risk, by_county in measure.risks(contest, seqs[cid][:got]):
            statuses.append(_decide(params, a, contest, risk, by_county, len(seqs[cid])))
        worst = max((s.status for s in statuses), key=_SEVERITY.__getitem__, default=CONFIRMED)
        over = sorted({c for s in statuses for c, d in s.by_county.items() if d.o1 or d.o2})
        out.append(StateContestStatus(
            cid, n_frame, got, worst, max((s.risk.p_value for s in statuses), default=0.0),
            max((s.next_target for s in statuses if s.status != CONFIRMED), default=got),
            tuple(statuses), waiting_for=sum(waiting.values()),
            waiting=dict(sorted(waiting.items())), overstating_counties=tuple(over)))
    overall = max((c.status for c in out), key=_SEVERITY.__getitem__, default=CONFIRMED)
    if not rounds:
        overall = ANOTHER_ROUND
    status = StateAuditStatus(params.kind, params.risk_limit, len(rounds), overall, tuple(out),
                              dict(sorted(waiting_all.items())))
    if write:  # the latest, and the history the statewide report plots (one per round)
        atomic_write_json(audit_dir(root) / "status.json", status.to_json())
        if rounds:
            atomic_write_json(status_history_path(root, len(rounds)), status.to_json())
    return status


#: the last status measured in each round (``audit/history/round-NNN.json``): the risk over
#: rounds, which the statewide report and the control room plot
STATUS_HISTORY = "history"


def status_history_path(root: Path, round_number: int) -> Path:
    return audit_dir(root) / STATUS_HISTORY / f"round-{round_number:03d}.json"


def status_history(root: Path) -> list[dict[str, Any]]:
    """The status last measured in each round, in round order (rounds never measured are
    absent): what the statewide risk was after round 1, 2, ... The latest is also
    ``audit/status.json``."""
    return read_status_history(audit_dir(root))


def read_status_history(folder: Path) -> list[dict[str, Any]]:
    """:func:`status_history` of an audit folder (the state's, or a bundle's copy of it)."""
    import orjson

    folder = folder / STATUS_HISTORY
    found = sorted((int(p.stem.removeprefix("round-")), p) for p in folder.glob("round-*.json")
                   if p.stem.removeprefix("round-").isdigit()) if folder.is_dir() else []
    return [orjson.loads(p.read_bytes()) for _, p in found]


def discrepancies_by_county(status: StateAuditStatus | dict[str, Any],
                            ) -> dict[str, dict[str, dict[str, int]]]:
    """county -> contest -> discrepancy counts (o1, o2, u1, u2) its sample shows, the largest
    over the contest's assertions; counties and contests without any are left out.

    Takes the status or its JSON (``round-NNN.json``, ``status.json``): the statewide report
    is rebuilt from the published files, the demo from the live object, and both must count
    alike."""
    data = status.to_json() if isinstance(status, StateAuditStatus) else status
    out: dict[str, dict[str, dict[str, int]]] = {}
    for cs in data.get("contests", []):
        for a in cs.get("assertions", []):
            for county, got in (a.get("discrepancies_by_county") or {}).items():
                if not any(got.values()):
                    continue
                mine = out.setdefault(county, {}).setdefault(cs["contest_id"],
                                                             dict.fromkeys(got, 0))
                for k, v in got.items():
                    mine[k] = max(mine[k], int(v))
    return out


def _decide(params: StateAuditParams, a: Assertion, contest: Contest, risk: AssertionRisk,
            by_county: dict[str, Discrepancies], drawn: int) -> StateAssertionStatus:
    """The county workflow's decision rule (:func:`tallyproof.audit.workflow.next_step`),
    applied to the statewide risk."""
    st, nxt = next_step(params, a, risk, drawn)
    return StateAssertionStatus(a.id, a.describe(contest), params.margins[a.id], risk, st, nxt,
                                by_county)


Risks = list[tuple[Assertion, AssertionRisk, dict[str, Discrepancies]]]


@dataclass(frozen=True)
class _CardMeasure:
    """Polling and card-level comparison: the counties' readings of their drawn cards."""

    params: StateAuditParams
    index: dict[tuple[str, str], Any]  # (county, contest) -> CountyContestReadings
    position: dict[tuple[str, str], int]  # (contest, statewide id) -> row in its county's

    def recorded(self, cid: str, seq: list[str]) -> list[bool]:
        return [bool(self.index[(split_ballot_id(s)[0], cid)].recorded[self.position[(cid, s)]])
                for s in seq]

    def votes(self, contest: Contest, examined: list[str]
              ) -> tuple[ContestVotes, ContestVotes, np.ndarray, np.ndarray]:
        """CVR and paper votes of the examined cards, whether each was not found, and each
        card's county."""
        cid = contest.id
        picks = [(self.index[(split_ballot_id(s)[0], cid)], self.position[(cid, s)])
                 for s in examined]
        not_found = np.array([r.not_found[i] for r, i in picks], dtype=bool)
        mvr = _votes(contest, [r.paper_present[i] for r, i in picks],
                     [r.paper_marks[i] for r, i in picks])
        cvr = _votes(contest, [r.cvr_present[i] for r, i in picks],
                     [r.cvr_marks[i] for r, i in picks])
        county_of = np.array([split_ballot_id(s)[0] for s in examined], dtype=object)
        return cvr, mvr, not_found, county_of

    def risks(self, contest: Contest, examined: list[str]) -> Risks:
        params, cid = self.params, contest.id
        cvr, mvr, not_found, county_of = self.votes(contest, examined)
        n_frame = params.frame_sizes[cid]
        out: Risks = []
        for a in params.assertions_of(cid):
            margin = params.margins[a.id]
            by_county: dict[str, Discrepancies] = {}
            if params.kind == "stratified":
                risk, by_county = _stratified(params, a, cvr, mvr, not_found, county_of)
            elif params.kind == "comparison":
                risk = comparison_risk(a, cvr, mvr, margin=margin, N=n_frame,
                                       method=params.method, not_found=not_found)
                omega = a.assort(cvr) - mvr_assort(a, mvr, not_found)
                for c in sorted(set(county_of.tolist())):
                    by_county[c] = Discrepancies.from_omega(omega[county_of == c], a.upper)
            else:
                # ALPHA as the county workflow plans and measures polling (eta fixed at the
                # reported assorter mean (1 + v)/2; docs/audit-math.md)
                tuning = ({"eta0": (1.0 + margin) / 2.0, "d": ALPHA_POLLING_D}
                          if params.method == "alpha" else {})
                risk = polling_risk(a, mvr, N=n_frame, method=params.method,
                                    not_found=not_found, margin=margin, **tuning)
            out.append((a, risk, by_county))
        return out


def _card_measure(root: Path, ex: Executor, params: StateAuditParams,
                  spec_json: dict[str, Any], seqs: dict[str, list[str]]) -> _CardMeasure:
    counties = _counties(load_spec(root))
    drawn: dict[str, dict[str, list[str]]] = {c: {cid: [] for cid in params.contests}
                                              for c in counties}
    position: dict[tuple[str, str], int] = {}
    for cid, seq in seqs.items():
        for sid in seq:
            county, ballot = split_ballot_id(sid)
            position[(cid, sid)] = len(drawn[county][cid])
            drawn[county][cid].append(ballot)
    readings: dict[str, CountyReadings] = _ok("audit readings", ex.map(
        readings_task, counties, str(root), spec_json, drawn))
    _check_unchanged(params, {c: r.cvrs_sha256 for c, r in readings.items()})
    index = {(c, r.contest): r for c, rs in readings.items() for r in rs.contests}
    return _CardMeasure(params, index, position)


def _stratified(params: StateAuditParams, a: Assertion, cvr: ContestVotes, mvr: ContestVotes,
                not_found: np.ndarray, county_of: np.ndarray
                ) -> tuple[AssertionRisk, dict[str, Discrepancies]]:
    """Union-intersection risk over the comparison and polling strata (Spertus & Stark 2022,
    :func:`tallyproof.audit.stratified.stratified_risk`), as the county workflow's
    stratified audit measures it."""
    cid = a.contest_id
    polling = np.array([c in params.polling_counties for c in county_of], dtype=bool)
    n2 = sum(n for c, n in params.county_frames[cid].items() if c in params.polling_counties)
    n1 = params.frame_sizes[cid] - n2
    paper = mvr_assort(a, mvr, not_found)
    omega = a.assort(cvr)[~polling] - paper[~polling]
    res = stratified_risk(
        StratumSample("comparison", n1, omega, reported_mean=params.cvr_means[a.id]),
        StratumSample("polling", n2, paper[polling]), upper=a.upper, method=params.method)
    cvr_counties = county_of[~polling]
    by_county = {c: Discrepancies.from_omega(omega[cvr_counties == c], a.upper)
                 for c in sorted(set(cvr_counties.tolist()))}
    risk = AssertionRisk(a.id, len(county_of), Discrepancies.from_omega(omega, a.upper),
                         res.p_value, (res.p_value,), params.margins[a.id],
                         f"{params.method} (stratified)")
    return risk, by_county


@dataclass(frozen=True)
class _BatchMeasure:
    """Batch comparison: the statewide list of batches with the boards' hand counts."""

    params: StateAuditParams
    frames: dict[str, StateBatchFrame]
    vote_for: dict[str, int]

    def recorded(self, cid: str, seq: list[str]) -> list[bool]:
        sb = self.frames[cid]
        return [sb.recorded(sb.frame.row(s)) for s in seq]

    def risks(self, contest: Contest, examined: list[str]) -> Risks:
        cid = contest.id
        sb = self.frames[cid]
        rows = [sb.frame.row(s) for s in examined]
        not_found = np.array([sb.not_found[r] for r in rows], dtype=bool)
        width = len(contest.candidates)
        hand = np.array([sb.hand[r] or (0,) * width for r in rows],
                        dtype=np.int64).reshape(len(rows), width)
        county_of = np.array([sb.counties[r] for r in rows], dtype=object)
        out: Risks = []
        for a in self.params.assertions_of(cid):
            risk = batch_comparison_risk(a, sb.frame, examined, hand, not_found=not_found,
                                         method=self.params.method,
                                         vote_for=self.vote_for[cid])
            # by county: batches whose hand count lowers (o1) or raises (u1) the assertion's
            # assorter sum against the reported tallies (SHANGRLA §3.3)
            idx = np.asarray(rows, dtype=np.int64)
            reported = assorter_sums(a, sb.frame.tallies[idx], sb.frame.cards[idx],
                                     self.vote_for[cid])
            counted = np.where(not_found, 0.0, assorter_sums(a, hand, sb.frame.cards[idx],
                                                               self.vote_for[cid]))
            diff = reported - counted
            by_county = {c: Discrepancies(o1=int(np.sum(diff[county_of == c] > 1e-9)),
                                          u1=int(np.sum(diff[county_of == c] < -1e-9)))
                         for c in sorted(set(county_of.tolist()))}
            out.append((a, risk, by_county))
        return out


def _batch_measure(root: Path, ex: Executor, params: StateAuditParams,
                   spec_json: dict[str, Any], counties: list[str] | None = None
                   ) -> _BatchMeasure:
    spec = load_spec(root)
    batches: dict[str, CountyBatches] = _ok("audit batches", ex.map(
        batch_task, _counties(spec) if counties is None else counties, str(root), spec_json,
        list(params.contests)))
    _check_unchanged(params, {c: b.cvrs_sha256 for c, b in batches.items()})
    return _BatchMeasure(params, {cid: state_batch_frame(batches, cid)
                                  for cid in params.contests},
                         {sc.id: sc.vote_for for sc in spec.contests})


@dataclass(frozen=True)
class _MixedMeasure:
    """A stratified audit with a batch stratum: cards drawn in the CVR counties (card-level
    comparison), whole batches in the counties with batch tallies only (batch comparison),
    combined by the union-intersection test (:mod:`tallyproof.audit.stratified`)."""

    params: StateAuditParams
    cards: _CardMeasure
    batches: _BatchMeasure

    def _is_batch(self, sid: str) -> bool:
        return split_ballot_id(sid)[0] in self.params.batch_counties

    def recorded(self, cid: str, seq: list[str]) -> list[bool]:
        return [self.batches.recorded(cid, [s])[0] if self._is_batch(s)
                else self.cards.recorded(cid, [s])[0] for s in seq]

    def risks(self, contest: Contest, examined: list[str]) -> Risks:
        params, cid = self.params, contest.id
        card_ids = [s for s in examined if not self._is_batch(s)]
        batch_ids = [s for s in examined if self._is_batch(s)]
        cvr, mvr, not_found, card_county = self.cards.votes(contest, card_ids)
        sb = self.batches.frames[cid]
        rows = np.asarray([sb.frame.row(s) for s in batch_ids], dtype=np.int64)
        width = len(contest.candidates)
        hand = np.array([sb.hand[r] or (0,) * width for r in rows],
                        dtype=np.int64).reshape(len(rows), width)
        missing = np.array([sb.not_found[r] for r in rows], dtype=bool)
        batch_county = np.array([sb.counties[r] for r in rows], dtype=object)
        n2, b2 = sb.frame.n_cards, len(sb.frame.keys)
        vote_for = self.batches.vote_for[cid]
        out: Risks = []
        for a in params.assertions_of(cid):
            omega1 = a.assort(cvr) - mvr_assort(a, mvr, not_found)
            reported = assorter_sums(a, sb.frame.tallies[rows], sb.frame.cards[rows], vote_for)
            counted = np.where(missing, 0.0, assorter_sums(a, hand, sb.frame.cards[rows],
                                                           vote_for))
            omega2 = (b2 / n2) * (reported - counted)  # SHANGRLA §3.3, batch overstatement
            res = stratified_risk(
                StratumSample("comparison", params.frame_sizes[cid], omega1,
                              reported_mean=params.cvr_means[a.id]),
                StratumSample("batch", b2, omega2, reported_mean=params.batch_means[a.id],
                              cards=n2, upper=params.plan_uppers[a.id]),
                upper=a.upper, method=params.method)
            by_county = {c: Discrepancies.from_omega(omega1[card_county == c], a.upper)
                         for c in sorted(set(card_county.tolist()))}
            for c in sorted(set(batch_county.tolist())):
                mine = omega2[batch_county == c]
                by_county[c] = Discrepancies(o1=int(np.sum(mine > 1e-12)),
                                             u1=int(np.sum(mine < -1e-12)))
            d = Discrepancies.from_omega(omega1, a.upper)
            total = Discrepancies(d.o1 + int(np.sum(omega2 > 1e-12)), d.o2,
                                  d.u1 + int(np.sum(omega2 < -1e-12)), d.u2)
            risk = AssertionRisk(a.id, len(examined), total, res.p_value, (res.p_value,),
                                 params.margins[a.id], f"{params.method} (stratified: cards "
                                                       "and batches)")
            out.append((a, risk, by_county))
        return out


def _mixed_measure(root: Path, ex: Executor, params: StateAuditParams,
                   spec_json: dict[str, Any], seqs: dict[str, list[str]]) -> _MixedMeasure:
    batch = set(params.batch_counties)
    card_seqs = {cid: [s for s in seq if split_ballot_id(s)[0] not in batch]
                 for cid, seq in seqs.items()}
    return _MixedMeasure(params, _card_measure(root, ex, params, spec_json, card_seqs),
                         _batch_measure(root, ex, params, spec_json,
                                        list(params.batch_counties)))


# ------------------------------------------------------------------ full hand count
@dataclass(frozen=True)
class HandCountContest:
    contest_id: str
    reported_winners: tuple[str, ...]
    hand_winners: tuple[str, ...]
    cvr_votes: dict[str, int]
    hand_votes: dict[str, int]
    batches: int
    counted: int
    by_county: dict[str, dict[str, Any]]  # county -> vote differences, differing batches
    status: str  # confirmed | waiting | outcome_differs

    def to_json(self) -> dict[str, Any]:
        return {"contest_id": self.contest_id, "reported_winners": list(self.reported_winners),
                "hand_winners": list(self.hand_winners), "cvr_votes": self.cvr_votes,
                "hand_votes": self.hand_votes, "batches": self.batches,
                "counted": self.counted, "by_county": self.by_county, "status": self.status}


def hand_count_status(root: Path, ex: Executor, *, write: bool = True
                      ) -> tuple[HandCountContest, ...]:
    """Every county's batch hand counts against its CVR batch tallies, summed statewide.

    A contest is ``confirmed`` when every batch is counted (or recorded as not found) and the
    hand count's winners are the reported ones, whatever the per-batch differences (listed by
    county and batch); ``waiting`` while batches remain uncounted; ``outcome_differs``
    otherwise (including a tie for the last seat in the hand count).
    """
    params = load_state_audit(root)
    if params.kind != "handcount":
        raise AuditError(f"this audit is a {params.kind} audit, not a full hand count")
    spec = load_spec(root)
    res: dict[str, CountyBatches] = _ok("hand count", ex.map(
        batch_task, _counties(spec), str(root), spec.to_json(), list(params.contests)))
    _check_unchanged(params, {c: r.cvrs_sha256 for c, r in res.items()})
    out = []
    for sc in spec.contests:
        if sc.id not in params.contests:
            continue
        ids = [c.id for c in sc.candidates]
        sb = state_batch_frame(res, sc.id)
        zero = (0,) * len(ids)
        hand = np.array([h or zero for h in sb.hand], dtype=np.int64).reshape(-1, len(ids))
        counted = np.array([sb.recorded(r) for r in range(len(sb.hand))], dtype=bool)
        differs = [r for r in range(len(sb.hand))
                   if sb.hand[r] is None or tuple(sb.frame.tallies[r]) != sb.hand[r]]
        by_county: dict[str, dict[str, Any]] = {}
        for county in sorted(set(sb.counties)):
            mine = np.array([c == county for c in sb.counties], dtype=bool)
            diff = hand[mine].sum(axis=0) - sb.frame.tallies[mine].sum(axis=0)
            by_county[county] = {
                "batches": int(mine.sum()), "counted": int(counted[mine].sum()),
                "difference": {i: int(x) for i, x in zip(ids, diff, strict=True)},
                "differing_batches": [
                    {"batch": split_ballot_id(sb.frame.keys[r])[1],
                     "cvr": {i: int(x) for i, x in zip(ids, sb.frame.tallies[r], strict=True)},
                     "hand": None if sb.hand[r] is None else dict(zip(ids, sb.hand[r],
                                                                      strict=True)),
                     "not_found": sb.not_found[r]}
                    for r in differs if sb.counties[r] == county]}
        seats = sc.seats if sc.kind is ContestKind.APPROVAL else sc.vote_for
        totals = hand.sum(axis=0)
        win, tied = decide(totals, seats)
        hand_winners = tuple(sorted(ids[w] for w in win)) if not tied else ()
        reported = tuple(sorted(params.winners[sc.id]))
        st = ("waiting" if not counted.all() else
              CONFIRMED if hand_winners == reported else "outcome_differs")
        out.append(HandCountContest(
            sc.id, reported, hand_winners,
            {i: int(x) for i, x in zip(ids, sb.frame.tallies.sum(axis=0), strict=True)},
            {i: int(x) for i, x in zip(ids, totals, strict=True)},
            len(sb.hand), int(counted.sum()), by_county, st))
    if write:
        atomic_write_json(audit_dir(root) / "status.json", hand_count_json(out))
    return tuple(out)


def hand_count_json(contests: Sequence[HandCountContest]) -> dict[str, Any]:
    """``audit/status.json`` of a full hand count (what ``verify`` compares it with)."""
    return {"schema_version": SCHEMA_VERSION, "kind": "handcount",
            "contests": [c.to_json() for c in contests]}

"""The statewide audit: one risk limit, one public seed, one sample drawn from the statewide
frame, per-county retrieval lists and audit-board records, risk measured statewide.

Kinds (``kind``):

* ``polling``: ballot-polling (ALPHA, Stark 2023, as the county workflow runs it: eta fixed at
  the reported assorter mean, :data:`tallyproof.audit.plan.ALPHA_POLLING_D`), the paper alone;
* ``comparison``: card-level comparison against the counties' CVRs (SHANGRLA §3.2, the
  comparison assorter; Kelly/COBRA bets), discrepancies named by county;
* ``handcount``: a full hand count by batch (what Georgia did in 2020): every batch's hand
  tally against its CVR tally, differences per county and batch, and whether the hand count
  gives the reported winners.

The statewide frame of a contest is the concatenation, in county-id order, of the cards of
every county whose CVR holds the contest (card-style sampling, SHANGRLA §4), named
``county/ballot_id``. The sample is Rivest's consistent sampler over that frame with the
state's seed (:mod:`tallyproof.audit.sampler`): per-county tasks draw each county's first n and
:func:`merge_draws` orders them by ticket, which is the sampler's own order, so the draws do not
depend on the executor. Each assertion is "the mean of the assorter over the statewide frame
exceeds 1/2" (SHANGRLA, Stark 2020, §2.1 for plurality/approval pairwise assertions), with the
reported assorter margin v = (V_w − V_l)/N from the counties' CVR tallies (for A = (1 + b_w −
b_l)/2, mean(A) = 1/2 + (V_w − V_l)/(2N), so v = 2 mean(A) − 1). The risk of each assertion is
measured on the statewide sample in draw order by the county audit library
(:func:`tallyproof.audit.polling.polling_risk`,
:func:`tallyproof.audit.comparison.comparison_risk`); rounds escalate statewide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..audit.assorters import (
    NOT_RANKED,
    Assertion,
    ContestVotes,
    Discrepancies,
    pairwise_assertions,
)
from ..audit.comparison import AssertionRisk, comparison_risk, mvr_assort
from ..audit.plan import ALPHA_POLLING_D, plan_for_assertion
from ..audit.polling import polling_risk
from ..audit.records import Record, append_records, read_batch_records_csv, read_records_csv
from ..audit.risk import METHODS
from ..audit.sampler import first_ticket
from ..audit.workflow import (
    ANOTHER_ROUND,
    CONFIRMED,
    FULL_HAND_COUNT,
    ROUND_GROWTH,
)
from ..clock import utc_timestamp
from ..errors import AuditError, UsageError
from ..fsutil import atomic_write_json
from ..model import Contest, ContestKind
from ..tabulate.plurality import decide
from .executor import Executor, Outcome
from .spec import StateSpec, load_spec, map_county
from .audit_tasks import (
    CountyFrame,
    CountyHandCounts,
    CountyReadings,
    audit_dir,
    county_batches,
    county_records_path,
    draw_task,
    frame_task,
    handcount_task,
    readings_task,
    retrieval_task,
    split_ballot_id,
)
from .tasks import county_store_dir

KINDS = ("polling", "comparison", "handcount")
DEFAULT_METHOD = {"polling": "alpha", "comparison": "kelly", "handcount": "none"}
SCHEMA_VERSION = 1
_SEVERITY = {CONFIRMED: 0, ANOTHER_ROUND: 1, FULL_HAND_COUNT: 2}


def _ok(stage: str, outs: list[Outcome[Any]]) -> dict[str, Any]:
    """Every county's result by county id, or :class:`.workflow.CountyFailures` naming the
    counties whose task failed."""
    from .workflow import _ok_or_raise

    _ok_or_raise(stage, outs)
    return {o.county: o.value for o in outs}


@dataclass(frozen=True)
class StateAuditParams:
    """``audit/audit.json``: everything fixed before the first draw."""

    kind: str
    risk_limit: float
    seed: str
    method: str
    contests: tuple[str, ...]
    assertions: tuple[Assertion, ...]
    margins: dict[str, float]  # assertion id -> reported assorter margin over the state
    frame_sizes: dict[str, int]  # contest -> N statewide
    county_frames: dict[str, dict[str, int]]  # contest -> county -> cards in its frame
    winners: dict[str, list[str]]  # contest -> reported winners (statewide candidate ids)
    county_cvrs: dict[str, int]  # county -> CVRs when the audit started
    created: str

    def assertions_of(self, contest_id: str) -> list[Assertion]:
        return [a for a in self.assertions if a.contest_id == contest_id]

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "kind": self.kind,
                "risk_limit": self.risk_limit, "seed": self.seed, "method": self.method,
                "contests": list(self.contests),
                "assertions": [a.to_json() for a in self.assertions],
                "margins": self.margins, "frame_sizes": self.frame_sizes,
                "county_frames": self.county_frames, "winners": self.winners,
                "county_cvrs": self.county_cvrs, "created": self.created}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StateAuditParams:
        if d.get("schema_version") != SCHEMA_VERSION:
            raise AuditError(f"state audit.json schema version {d.get('schema_version')} is "
                             "not supported")
        return cls(str(d["kind"]), float(d["risk_limit"]), str(d["seed"]), str(d["method"]),
                   tuple(d["contests"]),
                   tuple(Assertion.from_json(a) for a in d["assertions"]),
                   {k: float(v) for k, v in d["margins"].items()},
                   {k: int(v) for k, v in d["frame_sizes"].items()},
                   {k: {c: int(n) for c, n in v.items()} for k, v in d["county_frames"].items()},
                   {k: list(v) for k, v in d["winners"].items()},
                   {k: int(v) for k, v in d["county_cvrs"].items()}, str(d["created"]))


def load_state_audit(root: Path) -> StateAuditParams:
    path = audit_dir(root) / "audit.json"
    if not path.exists():
        raise AuditError(f"no statewide audit started in {root} (run `tallyproof state audit "
                         "start`)")
    return StateAuditParams.from_json(orjson.loads(path.read_bytes()))


def _counties(spec: StateSpec) -> list[str]:
    if not spec.counties:
        raise UsageError("the state has no counties yet")
    return [c.id for c in spec.counties]


def start_state_audit(root: Path, ex: Executor, *, risk_limit: float, seed: str,
                      kind: str = "comparison", contests: Sequence[str] | None = None,
                      method: str | None = None, now: str | None = None) -> StateAuditParams:
    """Fix the statewide audit's parameters in ``audit/audit.json`` (refuses to overwrite).

    Reported winners are those of the counties' CVRs summed statewide; a tie for the last
    seat is refused (the audit cannot confirm an outcome left to a tie-break).
    """
    if kind not in KINDS:
        raise UsageError(f"statewide audit kind {kind!r}: choose from {', '.join(KINDS)}")
    if not 0 < risk_limit < 1:
        raise UsageError(f"risk limit must be strictly between 0 and 1, not {risk_limit}")
    seed = seed.strip()
    if not seed.isdigit() or not seed.isascii():
        raise UsageError("the seed must be a non-empty string of decimal digits "
                         "(e.g. 20 public rolls of a ten-sided die)")
    method = (method or DEFAULT_METHOD[kind]).lower()
    if kind != "handcount" and method not in METHODS:
        raise UsageError(f"unknown risk method {method!r}; choose from {', '.join(METHODS)}")
    path = audit_dir(root) / "audit.json"
    if path.exists():
        raise AuditError(f"a statewide audit is already started in {audit_dir(root)}")
    spec = load_spec(root)
    counties = _counties(spec)
    by_id = {sc.id: sc for sc in spec.contests}
    wanted = list(dict.fromkeys(contests)) if contests else [sc.id for sc in spec.contests]
    for cid in wanted:
        if cid not in by_id:
            raise UsageError(f"no statewide contest {cid!r}")
        if by_id[cid].kind in (ContestKind.IRV, ContestKind.STV):
            raise UsageError(f"contest {cid}: statewide ranked-choice audits are not built yet")
    frames: dict[str, CountyFrame] = _ok("audit frame", ex.map(
        frame_task, counties, str(root), spec.to_json(), wanted))
    assertions: list[Assertion] = []
    margins: dict[str, float] = {}
    sizes: dict[str, int] = {}
    county_frames: dict[str, dict[str, int]] = {}
    winners: dict[str, list[str]] = {}
    for cid in wanted:
        sc = by_id[cid]
        votes = np.zeros(len(sc.candidates), dtype=np.int64)
        county_frames[cid] = {}
        for county in sorted(frames):
            for f in frames[county].contests:
                if f.contest == cid:
                    votes += np.asarray(f.votes, dtype=np.int64)
                    county_frames[cid][county] = f.cards
        n = sum(county_frames[cid].values())
        if n == 0:
            raise AuditError(f"contest {cid}: no county's CVRs hold it")
        seats = sc.seats if sc.kind is ContestKind.APPROVAL else sc.vote_for
        if seats >= len(sc.candidates):
            raise AuditError(f"contest {cid}: {len(sc.candidates)} candidate(s) for {seats} "
                             "seat(s); nothing to audit")
        win, tied = decide(votes, seats)
        if tied:
            raise AuditError(f"contest {cid}: tie for the last seat statewide")
        contest = sc.as_contest()
        winners[cid] = [sc.candidates[w].id for w in sorted(win)]
        sizes[cid] = n
        for a in pairwise_assertions(contest, tuple(sorted(win))):
            assert a.loser is not None  # pairwise assertions always have one
            margins[a.id] = float(votes[a.winner] - votes[a.loser]) / n
            assertions.append(a)
    params = StateAuditParams(kind, risk_limit, seed, method, tuple(wanted), tuple(assertions),
                              margins, sizes, county_frames, winners,
                              {c: frames[c].cvrs for c in sorted(frames)},
                              now or utc_timestamp())
    atomic_write_json(path, params.to_json())
    return params


# ------------------------------------------------------------------ rounds
@dataclass(frozen=True)
class StateRound:
    number: int
    targets: dict[str, int]
    draws: dict[str, list[dict[str, str]]]  # contest -> [{"id", "ticket"}], cumulative
    retrieval: dict[str, str]  # county -> retrieval CSV path (counties with new cards)
    new_cards: dict[str, int]  # county -> cards to pull this round

    def to_json(self) -> dict[str, Any]:
        return {"round": self.number, "targets": self.targets, "draws": self.draws,
                "retrieval_lists": {c: Path(p).name for c, p in self.retrieval.items()},
                "new_cards": self.new_cards}


def load_state_rounds(root: Path) -> list[StateRound]:
    out = []
    k = 1
    folder = audit_dir(root) / "rounds"
    while (p := folder / f"round-{k}.json").exists():
        d = orjson.loads(p.read_bytes())
        out.append(StateRound(int(d["round"]), {c: int(n) for c, n in d["targets"].items()},
                              d["draws"], {c: str(folder / f"round-{k}" / n)
                                           for c, n in d["retrieval_lists"].items()},
                              {c: int(n) for c, n in d["new_cards"].items()}))
        k += 1
    return out


def merge_draws(seed: str, per_county: Sequence[Sequence[tuple[str, str]]],
                n: int) -> list[dict[str, str]]:
    """The first ``n`` draws of the statewide frame from the counties' first draws: ordered
    by full-precision ticket, then id, as the sampler orders its stream (Rivest's
    ``consistent_sampler``; :mod:`tallyproof.audit.sampler`)."""
    pool = [(first_ticket(i, seed), i, t) for draws in per_county for i, t in draws]
    pool.sort()
    return [{"id": i, "ticket": t} for _, i, t in pool[:n]]


def _plan(params: StateAuditParams, a: Assertion, rates: dict[str, float] | None) -> float:
    n = plan_for_assertion(params.margins[a.id], a.upper, params.frame_sizes[a.contest_id],
                           params.risk_limit, params.method,
                           rates if params.kind == "comparison" else None, audit=params.kind)
    return math.inf if n is None else float(n)


def _cap(planned: float, n_frame: int) -> int:
    return int(min(n_frame, math.ceil(planned))) if math.isfinite(planned) else n_frame


def next_state_round(root: Path, ex: Executor) -> StateRound:
    """Size the next round statewide, draw it, and write each county's retrieval list."""
    params = load_state_audit(root)
    if params.kind == "handcount":
        raise AuditError("a full hand count has no rounds: every batch is counted "
                         "(`tallyproof state audit record`, then `status`)")
    spec = load_spec(root)
    rounds = load_state_rounds(root)
    targets: dict[str, int] = {}
    if not rounds:
        for cid in params.contests:
            plans = [_plan(params, a, None) for a in params.assertions_of(cid)]
            targets[cid] = _cap(max(plans, default=0.0), params.frame_sizes[cid])
    else:
        status = state_audit_status(root, ex, write=False)
        if status.waiting:
            raise AuditError("cards drawn so far have no audit-board record yet: " + "; ".join(
                f"{n} in county {c}" for c, n in status.waiting.items()))
        if status.status == CONFIRMED:
            raise AuditError("every contest is confirmed; the audit is complete")
        last = rounds[-1]
        for cs in status.contests:
            prev = last.targets.get(cs.contest_id, 0)
            targets[cs.contest_id] = (max(cs.next_target, prev + 1)
                                      if cs.status == ANOTHER_ROUND else prev)
        if all(t == last.targets.get(c, 0) for c, t in targets.items()):
            raise AuditError("no contest needs more ballots: those not confirmed go to a full "
                             "hand count")
    counties = _counties(spec)
    per_county = _ok("audit draw", ex.map(draw_task, counties, str(root), spec.to_json(),
                                          params.seed, targets))
    draws = {cid: merge_draws(params.seed, [per_county[c].draws.get(cid, ())
                                            for c in sorted(per_county)], n)
             for cid, n in targets.items()}
    before = {(cid, d["id"]) for cid, ds in (rounds[-1].draws.items() if rounds else ())
              for d in ds}
    tickets: dict[str, dict[str, str]] = {}
    for cid, ds in draws.items():
        for d in ds:
            if (cid, d["id"]) not in before:
                county, ballot = split_ballot_id(d["id"])
                tickets.setdefault(county, {})[ballot] = d["ticket"]
    number = len(rounds) + 1
    with_new = sorted(tickets)
    retrieval = {c: r.path for c, r in _ok("audit retrieval", ex.map(
        retrieval_task, with_new, str(root), number, tickets)).items()}
    info = StateRound(number, targets, draws, retrieval,
                      {c: len(t) for c, t in sorted(tickets.items())})
    atomic_write_json(audit_dir(root) / "rounds" / f"round-{number}.json", info.to_json())
    return info


# ------------------------------------------------------------------ records
def record_county(root: Path, county: str, path: Path) -> list[Record]:
    """Validate a county's audit-board CSV (the county audit's form: the county's own ballot,
    contest and candidate ids) and append it to the county's records."""
    from ..store import Store

    params = load_state_audit(root)
    spec = load_spec(root)
    spec.county(county)
    election = Store.open(county_store_dir(root, county)).election
    maps = map_county(spec, county, election.contests)
    contests = {m.county_contest: election.contest(m.county_contest) for m in maps
                if m.state_contest in params.contests}
    if params.kind == "handcount":
        sampled = set(county_batches(county, str(root)))
        new = read_batch_records_csv(Path(path), contests=contests, sampled=sampled)
    else:
        rounds = load_state_rounds(root)
        if not rounds:
            raise AuditError("no round has been drawn yet (run `tallyproof state audit round`)")
        sampled = {split_ballot_id(d["id"])[1] for r in rounds for ds in r.draws.values()
                   for d in ds if d["id"].startswith(county + "/")}
        new = read_records_csv(Path(path), contests=contests, sampled=sampled)
    target = county_records_path(root, county)
    target.parent.mkdir(parents=True, exist_ok=True)
    return append_records(target, new)


# ------------------------------------------------------------------ status
@dataclass(frozen=True)
class StateAssertionStatus:
    assertion_id: str
    description: str
    margin: float
    risk: AssertionRisk
    status: str
    next_target: int
    by_county: dict[str, Discrepancies]  # comparison: discrepancies found in each county

    def to_json(self) -> dict[str, Any]:
        return {"assertion_id": self.assertion_id, "description": self.description,
                "margin": self.margin, "ballots_examined": self.risk.examined,
                "measured_risk": self.risk.p_value, "method": self.risk.method,
                "discrepancies": self.risk.discrepancies.to_json(),
                "discrepancies_by_county": {c: d.to_json() for c, d in self.by_county.items()},
                "status": self.status, "next_target": self.next_target}


@dataclass(frozen=True)
class StateContestStatus:
    contest_id: str
    frame_size: int
    examined: int
    status: str
    measured_risk: float
    next_target: int
    waiting: dict[str, int]  # county -> drawn cards of this contest not yet recorded
    overstating_counties: tuple[str, ...]  # counties whose sample shows overstatements
    assertions: tuple[StateAssertionStatus, ...]

    def to_json(self) -> dict[str, Any]:
        return {"contest_id": self.contest_id, "frame_size": self.frame_size,
                "ballots_examined": self.examined, "status": self.status,
                "measured_risk": self.measured_risk, "next_target": self.next_target,
                "waiting": self.waiting, "overstating_counties": list(self.overstating_counties),
                "assertions": [a.to_json() for a in self.assertions]}


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


def _check_unchanged(params: StateAuditParams, cvrs: dict[str, int]) -> None:
    changed = sorted(c for c, n in cvrs.items() if params.county_cvrs.get(c) != n)
    if changed:
        raise AuditError("the CVRs changed since the audit started in county(ies) "
                         f"{', '.join(changed)}; the audit's frame no longer holds")


def _votes(contest: Contest, present: list[bool], marks: list[tuple[bool, ...]]) -> ContestVotes:
    m = np.asarray(marks, dtype=bool).reshape(len(marks), len(contest.candidates))
    return ContestVotes(contest, np.asarray(present, dtype=bool), m,
                        np.where(m, 0, NOT_RANKED).astype(np.int32))


def state_audit_status(root: Path, ex: Executor, *, write: bool = True) -> StateAuditStatus:
    """Measured statewide risk of every assertion from all counties' records so far.

    Each contest's statewide sample is used in draw order up to its first card without a
    record (the sequential test sees a prefix of the random sequence, as in the county
    workflow); the cards still waiting are counted per county. Decisions as in the county
    workflow: confirmed at risk <= limit; else another round sized by the planner (from the
    discrepancy rates observed so far, for comparison), at least ``ROUND_GROWTH`` times the
    sample; a full hand count when the plan reaches the whole statewide frame.
    """
    params = load_state_audit(root)
    if params.kind == "handcount":
        raise AuditError("a full hand count has no risk to measure; use hand_count_status")
    spec = load_spec(root)
    rounds = load_state_rounds(root)
    contests = {sc.id: sc.as_contest() for sc in spec.contests}
    seqs = {cid: [d["id"] for d in rounds[-1].draws.get(cid, [])] if rounds else []
            for cid in params.contests}
    drawn: dict[str, dict[str, list[str]]] = {c: {cid: [] for cid in params.contests}
                                              for c in _counties(spec)}
    for cid, seq in seqs.items():
        for sid in seq:
            county, ballot = split_ballot_id(sid)
            drawn[county][cid].append(ballot)
    readings: dict[str, CountyReadings] = _ok("audit readings", ex.map(
        readings_task, sorted(drawn), str(root), spec.to_json(), drawn))
    _check_unchanged(params, {c: r.cvrs for c, r in readings.items()})
    index = {(c, r.contest): r for c, rs in readings.items() for r in rs.contests}
    out: list[StateContestStatus] = []
    waiting_all: dict[str, int] = {}
    for cid in params.contests:
        contest = contests[cid]
        rows: list[tuple[str, int]] = []  # (county, position in its readings) in draw order
        pos: dict[str, int] = {}
        for sid in seqs[cid]:
            county, _ = split_ballot_id(sid)
            rows.append((county, pos.get(county, 0)))
            pos[county] = pos.get(county, 0) + 1
        got = 0
        for county, i in rows:
            if not index[(county, cid)].recorded[i]:
                break
            got += 1
        waiting: dict[str, int] = {}
        for county, i in rows:
            if not index[(county, cid)].recorded[i]:
                waiting[county] = waiting.get(county, 0) + 1
        for c, n in waiting.items():
            waiting_all[c] = max(waiting_all.get(c, 0), n)
        ex_rows = rows[:got]
        pick = [index[(c, cid)] for c, _ in ex_rows]
        not_found = np.array([r.not_found[i] for r, (_, i) in zip(pick, ex_rows, strict=True)],
                             dtype=bool)
        mvr = _votes(contest, [r.paper_present[i] for r, (_, i) in zip(pick, ex_rows, strict=True)],
                     [r.paper_marks[i] for r, (_, i) in zip(pick, ex_rows, strict=True)])
        cvr = _votes(contest, [r.cvr_present[i] for r, (_, i) in zip(pick, ex_rows, strict=True)],
                     [r.cvr_marks[i] for r, (_, i) in zip(pick, ex_rows, strict=True)])
        county_of = np.array([c for c, _ in ex_rows], dtype=object)
        n_frame = params.frame_sizes[cid]
        statuses = []
        for a in params.assertions_of(cid):
            margin = params.margins[a.id]
            by_county: dict[str, Discrepancies] = {}
            if params.kind == "comparison":
                risk = comparison_risk(a, cvr, mvr, margin=margin, N=n_frame,
                                       method=params.method, not_found=not_found)
                omega = a.assort(cvr) - mvr_assort(a, mvr, not_found)
                for c in sorted(set(county_of.tolist())):
                    by_county[c] = Discrepancies.from_omega(omega[county_of == c], a.upper)
            else:
                tuning = ({"eta0": (1.0 + margin) / 2.0, "d": ALPHA_POLLING_D}
                          if params.method == "alpha" else {})
                risk = polling_risk(a, mvr, N=n_frame, method=params.method,
                                    not_found=not_found, margin=margin, **tuning)
            if risk.p_value <= params.risk_limit:
                st, nxt = CONFIRMED, risk.examined
            elif risk.examined >= n_frame:
                st, nxt = FULL_HAND_COUNT, n_frame
            else:
                d = risk.discrepancies
                k = max(risk.examined, 1)
                rates = ({"o1": d.o1 / k, "o2": d.o2 / k, "u1": d.u1 / k, "u2": d.u2 / k}
                         if risk.examined and params.kind == "comparison" else None)
                planned = _plan(params, a, rates)
                nxt = max(_cap(planned, n_frame),
                          min(n_frame, math.ceil(ROUND_GROWTH * max(len(seqs[cid]), 1))))
                st = (FULL_HAND_COUNT if not math.isfinite(planned) or planned >= n_frame
                      else ANOTHER_ROUND)
            statuses.append(StateAssertionStatus(a.id, a.describe(contest), margin, risk, st,
                                                 nxt, by_county))
        worst = max((s.status for s in statuses), key=_SEVERITY.__getitem__, default=CONFIRMED)
        over = sorted({c for s in statuses for c, d in s.by_county.items() if d.o1 or d.o2})
        out.append(StateContestStatus(
            cid, n_frame, got, worst, max((s.risk.p_value for s in statuses), default=0.0),
            max((s.next_target for s in statuses if s.status != CONFIRMED), default=got),
            dict(sorted(waiting.items())), tuple(over), tuple(statuses)))
    overall = max((c.status for c in out), key=_SEVERITY.__getitem__, default=CONFIRMED)
    if not rounds:
        overall = ANOTHER_ROUND
    status = StateAuditStatus(params.kind, params.risk_limit, len(rounds), overall, tuple(out),
                              dict(sorted(waiting_all.items())))
    if write:
        atomic_write_json(audit_dir(root) / "status.json", status.to_json())
    return status


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

    A contest is ``confirmed`` when every batch is counted and the hand count's winners are
    the reported ones (whatever the per-batch differences, which are listed by county and
    batch); ``waiting`` while batches remain uncounted; ``outcome_differs`` otherwise.
    """
    params = load_state_audit(root)
    if params.kind != "handcount":
        raise AuditError(f"this audit is a {params.kind} audit, not a full hand count")
    spec = load_spec(root)
    res: dict[str, CountyHandCounts] = _ok("hand count", ex.map(
        handcount_task, _counties(spec), str(root), spec.to_json(), list(params.contests)))
    _check_unchanged(params, {c: r.cvrs for c, r in res.items()})
    out = []
    for sc in spec.contests:
        if sc.id not in params.contests:
            continue
        ids = [c.id for c in sc.candidates]
        cvr = np.zeros(len(ids), dtype=np.int64)
        hand = np.zeros(len(ids), dtype=np.int64)
        batches = counted = 0
        by_county: dict[str, dict[str, Any]] = {}
        for county in sorted(res):
            for h in res[county].contests:
                if h.contest != sc.id:
                    continue
                cvr += np.asarray(h.cvr_votes, dtype=np.int64)
                hand += np.asarray(h.hand_votes, dtype=np.int64)
                batches += h.batches
                counted += h.counted
                by_county[county] = {
                    "batches": h.batches, "counted": h.counted,
                    "difference": {i: hv - cv for i, hv, cv in
                                   zip(ids, h.hand_votes, h.cvr_votes, strict=True)},
                    "differing_batches": [
                        {"batch": d.batch, "cvr": dict(zip(ids, d.cvr, strict=True)),
                         "hand": None if d.hand is None else dict(zip(ids, d.hand, strict=True))}
                        for d in h.differences]}
        seats = sc.seats if sc.kind is ContestKind.APPROVAL else sc.vote_for
        win, tied = decide(hand, seats)
        hand_winners = tuple(sorted(ids[w] for w in win)) if not tied else ()
        reported = tuple(sorted(params.winners[sc.id]))
        st = ("waiting" if counted < batches else
              CONFIRMED if hand_winners == reported else "outcome_differs")
        out.append(HandCountContest(sc.id, reported, hand_winners,
                                    dict(zip(ids, (int(x) for x in cvr), strict=True)),
                                    dict(zip(ids, (int(x) for x in hand), strict=True)),
                                    batches, counted, by_county, st))
    if write:
        atomic_write_json(audit_dir(root) / "status.json", {
            "schema_version": SCHEMA_VERSION, "kind": "handcount",
            "contests": [c.to_json() for c in out]})
    return tuple(out)

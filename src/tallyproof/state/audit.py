"""The statewide audit: one risk limit, one public seed, one sample drawn from the statewide
frame, per-county retrieval lists and audit-board records, risk measured statewide.

Kinds (``kind``):

* ``polling``: ballot-polling (ALPHA, Stark 2023, as the county workflow runs it: eta fixed at
  the reported assorter mean, :data:`tallyproof.audit.plan.ALPHA_POLLING_D`), the paper alone;
* ``comparison``: card-level comparison against the counties' CVRs (SHANGRLA §3.2, the
  comparison assorter; Kelly/COBRA bets), discrepancies named by county;
* ``batch``: batch comparison (SHANGRLA §3.3, :mod:`tallyproof.audit.batch`): whole batches
  (``county/tabulator/batch``) drawn from the statewide list of batches and hand counted,
  against the counties' reported batch tallies;
* ``stratified``: a mixed state, the counties named in ``polling_counties`` audited by ballot
  polling (their CVR votes are not used; their ballot list still makes the frame) and the
  others by card-level comparison: two strata combined by the union-intersection test of
  Spertus & Stark 2022 (SUITE; :mod:`tallyproof.audit.stratified`), as the county workflow's
  stratified audit does. One consistent sample is drawn over the whole statewide frame; its
  cards in each stratum are that stratum's consistent sample (the sampler's filtering
  property, :mod:`tallyproof.audit.sampler`). In a state with counties that report batch
  tallies only (:mod:`.batch_county`), those counties are the second stratum instead,
  audited by batch comparison (whole batches, SHANGRLA §3.3): the cards of the CVR counties
  and the batches of the batch counties are two consistent samples with the state's seed,
  the batch stratum drawing ``batch_ratio`` batches per card of the card stratum's target
  (both planned at start with the statewide margin: a card-level comparison over the CVR
  counties' cards, a batch comparison over the batch counties' batches);
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

from ..audit.batch import assorter_sums
from ..audit.assorters import (
    Assertion,
    pairwise_assertions,
)
from ..audit.records import Record, append_records, read_batch_records_csv, read_records_csv
from ..audit.risk import METHODS
from ..audit.sampler import first_ticket
from ..audit.workflow import (
    ANOTHER_ROUND,
    CONFIRMED,
    FULL_HAND_COUNT,
    AuditDesign,
    cap_size,
    plan_size,
)
from ..clock import utc_timestamp
from ..errors import AuditError, UsageError
from ..fsutil import atomic_write_json
from ..model import Contest, ContestKind
from ..tabulate.plurality import decide
from .batch_county import BATCH_TALLIES
from .executor import Executor, Outcome
from .spec import StateSpec, load_spec, map_county
from .audit_tasks import (
    CountyDraws,
    CountyFrame,
    audit_dir,
    batch_task,
    county_batches,
    county_records_path,
    draw_task,
    frame_task,
    retrieval_task,
    split_ballot_id,
    state_batch_frame,
)
from .tasks import county_store_dir

KINDS = ("polling", "comparison", "batch", "stratified", "handcount")
#: the kinds whose boards read single cards (the others hand count whole batches)
CARD_KINDS = ("polling", "comparison", "stratified")
DEFAULT_METHOD = {"polling": "alpha", "comparison": "kelly", "batch": "alpha",
                  "stratified": "alpha",
                  "handcount": "none"}
SCHEMA_VERSION = 1
_SEVERITY = {CONFIRMED: 0, ANOTHER_ROUND: 1, FULL_HAND_COUNT: 2}


def _ok(stage: str, outs: list[Outcome[Any]]) -> dict[str, Any]:
    """Every county's result by county id, or :class:`.workflow.CountyFailures` naming the
    counties whose task failed."""
    from .workflow import _ok_or_raise

    _ok_or_raise(stage, outs)
    return {o.county: o.value for o in outs}


@dataclass(frozen=True, kw_only=True)
class StateAuditParams(AuditDesign):
    """``audit/audit.json``: everything fixed before the first draw; the county audit's
    design (frame sizes and margins statewide) and what only a state has."""

    county_frames: dict[str, dict[str, int]]  # contest -> county -> cards in its frame
    commitments: dict[str, dict[str, Any]]  # county -> CVR table hash, latest checkpoint
    polling_counties: tuple[str, ...] = ()  # stratified: the ballot-polling stratum
    cvr_means: dict[str, float] = field(default_factory=dict)  # stratified: Ā^c, CVR stratum
    batch_counties: tuple[str, ...] = ()  # counties with batch tallies only (by batch)
    batch_means: dict[str, float] = field(default_factory=dict)  # stratified: Ā^c, batches
    batch_frames: dict[str, int] = field(default_factory=dict)  # stratified: contest -> B₂
    batch_ratio: dict[str, float] = field(default_factory=dict)  # contest -> batches per card

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **self.design_json(),
                "county_frames": self.county_frames, "commitments": self.commitments,
                "polling_counties": list(self.polling_counties), "cvr_means": self.cvr_means,
                "batch_counties": list(self.batch_counties), "batch_means": self.batch_means,
                "batch_frames": self.batch_frames, "batch_ratio": self.batch_ratio}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StateAuditParams:
        if d.get("schema_version") != SCHEMA_VERSION:
            raise AuditError(f"state audit.json schema version {d.get('schema_version')} is "
                             "not supported")
        return cls(**cls.design_fields(d),
                   county_frames={k: {c: int(n) for c, n in v.items()}
                                  for k, v in d["county_frames"].items()},
                   commitments={k: dict(v) for k, v in d["commitments"].items()},
                   polling_counties=tuple(d.get("polling_counties", ())),
                   cvr_means={k: float(v) for k, v in d.get("cvr_means", {}).items()},
                   batch_counties=tuple(d.get("batch_counties", ())),
                   batch_means={k: float(v) for k, v in d.get("batch_means", {}).items()},
                   batch_frames={k: int(v) for k, v in d.get("batch_frames", {}).items()},
                   batch_ratio={k: float(v) for k, v in d.get("batch_ratio", {}).items()})

    def batch_target(self, contest_id: str, n: int) -> int:
        """Stratified with batch counties: batches to draw when the card stratum draws n."""
        b = self.batch_frames[contest_id]
        return min(b, max(1, math.ceil(n * self.batch_ratio[contest_id])))


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


def check_strata(spec: StateSpec, kind: str, polling_counties: Sequence[str] = ()
                 ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The polling counties (sorted, each once) and the counties with batch tallies only, once
    ``kind`` and ``polling_counties`` are checked against the state's counties (what
    :func:`start_state_audit` checks before reading any county; the control room asks it
    before it queues the start). :class:`UsageError` with the reason otherwise."""
    counties = _counties(spec)
    polling = tuple(sorted(set(polling_counties)))
    for c in polling:
        spec.county(c)
    batch = tuple(c.id for c in spec.counties if c.kind == BATCH_TALLIES)
    if batch and kind in ("polling", "comparison"):
        raise UsageError(f"county(ies) {', '.join(batch)} report batch tallies only: audit "
                         "them by batch comparison (--kind stratified: card-level comparison "
                         "in the CVR counties, whole batches in these; or --kind batch)")
    if batch and (polling or set(batch) == set(counties)) and kind == "stratified":
        raise UsageError("a stratified audit has two strata: with counties that report batch "
                         "tallies only, they are the second one (no polling counties), and "
                         "some counties must have CVRs")
    if not batch and ((kind == "stratified") != bool(polling)
                      or set(polling) == set(counties)):
        raise UsageError("a stratified audit names some, not all, counties as polling "
                         "counties, and only a stratified audit names them")
    return polling, batch


def start_state_audit(root: Path, ex: Executor, *, risk_limit: float, seed: str,
                      kind: str = "comparison", contests: Sequence[str] | None = None,
                      method: str | None = None, polling_counties: Sequence[str] = (),
                      now: str | None = None) -> StateAuditParams:
    """Fix the statewide audit's parameters in ``audit/audit.json`` (refuses to overwrite).

    ``polling_counties`` (``stratified`` only) are the counties audited by ballot polling.

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
    polling, batch = check_strata(spec, kind, polling_counties)
    second = polling or (batch if kind == "stratified" else ())
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
    cvr_means: dict[str, float] = {}
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
            if kind == "stratified":  # mean of A over the CVR stratum: 1/2 + (V_w − V_l)/(2 N₁)
                n1 = sum(f.cards for c in sorted(frames) if c not in second
                         for f in frames[c].contests if f.contest == cid)
                d = sum(f.votes[a.winner] - f.votes[a.loser] for c in sorted(frames)
                        if c not in second for f in frames[c].contests if f.contest == cid)
                if n1 == 0 or n1 == n:
                    raise AuditError(f"contest {cid}: both strata must hold the contest")
                cvr_means[a.id] = 0.5 + d / (2.0 * n1)
    uppers: dict[str, float] = {}
    if kind == "batch":
        _batch_margins(root, ex, spec, assertions, margins, sizes, county_frames, uppers)
    params = StateAuditParams(
        kind=kind, risk_limit=risk_limit, seed=seed, method=method, contests=tuple(wanted),
        assertions=tuple(assertions), margins=margins, frame_sizes=sizes,
        county_frames=county_frames, winners=winners,
        commitments={c: frames[c].commitment for c in sorted(frames)},
        created=now or utc_timestamp(), plan_uppers=uppers, polling_counties=polling,
        cvr_means=cvr_means, batch_counties=batch)
    if kind == "stratified" and batch:
        params = _batch_stratum(root, ex, spec, params)
    atomic_write_json(path, params.to_json())
    return params


def _batch_margins(root: Path, ex: Executor, spec: StateSpec, assertions: list[Assertion],
                   margins: dict[str, float], sizes: dict[str, int],
                   county_frames: dict[str, dict[str, int]], uppers: dict[str, float]) -> None:
    """A batch comparison's frame is the statewide list of batches: its size B, each
    assertion's card-level margin over the batches' cards, and τ = u B max_b n_b / N, the
    bound of the batch overstatement (SHANGRLA §3.3; :mod:`tallyproof.audit.batch`)."""
    contests = list(county_frames)
    batches = _ok("audit batches", ex.map(batch_task, _counties(spec), str(root),
                                          spec.to_json(), contests))
    vote_for = {sc.id: sc.vote_for for sc in spec.contests}
    for cid in contests:
        sb = state_batch_frame(batches, cid)
        sizes[cid] = len(sb.frame.keys)
        county_frames[cid] = {c: sb.counties.count(c) for c in sorted(set(sb.counties))}
        for a in assertions:
            if a.contest_id != cid:
                continue
            sums = assorter_sums(a, sb.frame.tallies, sb.frame.cards, vote_for[cid])
            m = 2.0 * float(sums.sum()) / sb.frame.n_cards - 1.0
            if m <= 0:
                raise AuditError(f"{cid}: assertion {a.id} has no positive margin in the "
                                 "reported batch tallies")
            margins[a.id] = m
            uppers[a.id] = a.upper * len(sb.frame.keys) * float(sb.frame.cards.max()) \
                / sb.frame.n_cards


def _batch_stratum(root: Path, ex: Executor, spec: StateSpec,
                   params: StateAuditParams) -> StateAuditParams:
    """The batch stratum of a stratified audit (counties with batch tallies only): per
    assertion its reported assorter mean Ā₂ᶜ over its N₂ cards and the batch overstatement
    bound τ₂ = u B₂ max_b n_b / N₂ (SHANGRLA §3.3); per contest B₂ and the batches to draw
    per card of the card stratum's target: the batch comparison plan at the statewide margin
    over the B₂ batches, divided by the card-level comparison plan over the N₁ cards (both
    ALPHA/Kelly plans of :func:`tallyproof.audit.plan.plan_for_assertion`). The card stratum
    is the frame: ``frame_sizes`` is N₁."""
    from dataclasses import replace

    from ..audit.plan import plan_for_assertion

    batches = _ok("audit batches", ex.map(batch_task, list(params.batch_counties), str(root),
                                          spec.to_json(), list(params.contests)))
    vote_for = {sc.id: sc.vote_for for sc in spec.contests}
    means, uppers, frames, ratio, sizes = {}, dict(params.plan_uppers), {}, {}, {}
    for cid in params.contests:
        sb = state_batch_frame(batches, cid)
        n2, b2 = sb.frame.n_cards, len(sb.frame.keys)
        n1 = params.frame_sizes[cid] - n2
        frames[cid], sizes[cid] = b2, n1
        r = 0.0
        for a in params.assertions_of(cid):
            sums = assorter_sums(a, sb.frame.tallies, sb.frame.cards, vote_for[cid])
            means[a.id] = float(sums.sum()) / n2
            uppers[a.id] = a.upper * b2 * float(sb.frame.cards.max()) / n2
            p1 = plan_for_assertion(params.margins[a.id], a.upper, n1, params.risk_limit,
                                    params.method, None, audit="comparison") or n1
            p2 = plan_for_assertion(params.margins[a.id], uppers[a.id], b2,
                                    params.risk_limit, params.method, None,
                                    audit="comparison") or b2
            r = max(r, min(b2, p2) / max(1, min(n1, p1)))
        ratio[cid] = r
    return replace(params, frame_sizes=sizes, plan_uppers=uppers, batch_means=means,
                   batch_frames=frames, batch_ratio=ratio)


def merge_strata(seed: str, draws: dict[str, Sequence[tuple[str, str]]],
                 batch_counties: Sequence[str], n_cards: int, n_batches: int
                 ) -> list[dict[str, str]]:
    """A stratified audit with a batch stratum: the first ``n_cards`` draws of the card
    stratum and the first ``n_batches`` of the batch stratum (each the consistent sampler
    over its own frame, :func:`merge_draws`), interleaved in ticket order."""
    cards = merge_draws(seed, [d for c, d in sorted(draws.items())
                               if c not in batch_counties], n_cards)
    whole = merge_draws(seed, [d for c, d in sorted(draws.items()) if c in batch_counties],
                        n_batches)
    return sorted(cards + whole, key=lambda d: (first_ticket(d["id"], seed), d["id"]))


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


def _batch_targets(params: StateAuditParams, targets: dict[str, int]) -> dict[str, int] | None:
    """A stratified audit with a batch stratum: the batches each contest draws with the card
    stratum's targets (None in every other audit)."""
    if params.kind == "stratified" and params.batch_counties:
        return {cid: params.batch_target(cid, n) for cid, n in targets.items()}
    return None


def draw_counties(root: Path, ex: Executor, spec: StateSpec, params: StateAuditParams,
                  targets: dict[str, int]) -> dict[str, CountyDraws]:
    """Every county's first draws for ``targets`` (contest -> statewide sample size), on the
    executor. A county's first n contain its first m for every m < n (consistent sampling),
    so one draw at the largest targets serves every smaller round (:func:`merge_targets`)."""
    unit = "batch" if params.kind == "batch" else "card"
    return _ok("audit draw", ex.map(draw_task, _counties(spec), str(root), spec.to_json(),
                                    params.seed, targets, unit, _batch_targets(params, targets)))


def merge_targets(params: StateAuditParams, per_county: dict[str, CountyDraws],
                  targets: dict[str, int]) -> dict[str, list[dict[str, str]]]:
    """The statewide draws of a round with ``targets`` from the counties' first draws (drawn
    at these targets or larger ones): what ``next_state_round`` writes and ``verify``
    re-draws."""
    batch_targets = _batch_targets(params, targets)
    if batch_targets is not None:
        return {cid: merge_strata(params.seed, {c: per_county[c].draws.get(cid, ())
                                                for c in per_county},
                                  params.batch_counties, n, batch_targets[cid])
                for cid, n in targets.items()}
    return {cid: merge_draws(params.seed, [per_county[c].draws.get(cid, ())
                                           for c in sorted(per_county)], n)
            for cid, n in targets.items()}


def next_state_round(root: Path, ex: Executor) -> StateRound:
    """Size the next round statewide, draw it, and write each county's retrieval list."""
    params = load_state_audit(root)
    spec = load_spec(root)
    rounds = load_state_rounds(root)
    if params.kind == "handcount":
        if rounds:
            raise AuditError("a full hand count has one list of batches per county, already "
                             "written; record the counts, then run `status`")
        return _hand_count_lists(root, ex, spec)
    targets: dict[str, int] = {}
    if not rounds:
        for cid in params.contests:
            plans = [plan_size(params, a, None) for a in params.assertions_of(cid)]
            targets[cid] = cap_size(max(plans, default=0.0), params.frame_sizes[cid])
    else:
        from .audit_status import state_audit_status

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
    unit = "batch" if params.kind == "batch" else "card"
    draws = merge_targets(params, draw_counties(root, ex, spec, params, targets), targets)
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
        retrieval_task, with_new, str(root), number, tickets, unit)).items()}
    info = StateRound(number, targets, draws, retrieval,
                      {c: len(t) for c, t in sorted(tickets.items())})
    atomic_write_json(audit_dir(root) / "rounds" / f"round-{number}.json", info.to_json())
    return info


def _hand_count_lists(root: Path, ex: Executor, spec: StateSpec) -> StateRound:
    """A full hand count's only "round": every batch of every county, one list per county
    (the retrieval-list form, whole batches, no tickets)."""
    counties = _counties(spec)
    batches = _ok("hand count batches", ex.map(county_batches, counties, str(root)))
    tickets = {c: dict.fromkeys(batches[c], "") for c in counties}
    retrieval = {c: r.path for c, r in _ok("hand count lists", ex.map(
        retrieval_task, counties, str(root), 1, tickets, "batch")).items()}
    info = StateRound(1, {}, {}, retrieval, {c: len(tickets[c]) for c in counties})
    atomic_write_json(audit_dir(root) / "rounds" / "round-1.json", info.to_json())
    return info


# ------------------------------------------------------------------ records
def audited_contests(root: Path, county: str,
                     params: StateAuditParams | None = None) -> dict[str, Contest]:
    """The county's own contests under the statewide audit (county contest id -> contest):
    what its boards read, with the county's candidate ids."""
    from ..store import Store
    from .audit_batch_county import record_contests

    params = params or load_state_audit(root)
    spec = load_spec(root)
    if spec.county(county).kind == BATCH_TALLIES:
        return record_contests(county, str(root), spec, params.contests)
    with Store.open_readonly(county_store_dir(root, county)) as store:  # a job may write it
        election = store.election
    return {m.county_contest: election.contest(m.county_contest)
            for m in map_county(spec, county, election.contests)
            if m.state_contest in params.contests}


def record_county(root: Path, county: str, path: Path) -> list[Record]:
    """Validate a county's audit-board CSV (the county audit's form: the county's own ballot,
    contest and candidate ids) and append it to the county's records."""
    params = load_state_audit(root)
    contests = audited_contests(root, county, params)
    by_batch = load_spec(root).county(county).kind == BATCH_TALLIES
    if params.kind == "handcount":
        sampled = set(county_batches(county, str(root)))
    else:
        rounds = load_state_rounds(root)
        if not rounds:
            raise AuditError("no round has been drawn yet (run `tallyproof state audit round`)")
        sampled = {split_ballot_id(d["id"])[1] for r in rounds for ds in r.draws.values()
                   for d in ds if d["id"].startswith(county + "/")}
    reader = read_batch_records_csv if params.kind in ("batch", "handcount") or by_batch \
        else read_records_csv
    new = reader(Path(path), contests=contests, sampled=sampled)
    target = county_records_path(root, county)
    target.parent.mkdir(parents=True, exist_ok=True)
    return append_records(target, new)

"""The audit workflow on an election store: start, rounds, records, status.

Files (all under ``DIR/audit/``, a person can read every one)::

    audit.json                  parameters fixed before any ballot is drawn: kind, risk limit,
                                seed, method, contests, their assertions and reported margins,
                                the sample frame sizes, and the commitment the CVRs are held to
    rounds/round-N.json         the draws of round N, per contest, cumulative, in draw order
    rounds/round-N-retrieval.csv  the cards to pull in round N, sorted for retrieval, with the
                                board that reads each and the contests to read on it
    worksheets/round-N-board-B.csv|.pdf  board B's worksheet for round N (:mod:`.worksheets`)
    records.jsonl               audit-board readings, append-only (tallyproof.audit.records)
    status.json                 the last computed status

Sampling: one consistent sample per contest (Rivest's sampler, :mod:`.sampler`) over that
contest's frame, all from the same seed. A card's ticket depends only on the seed and its id,
so the contests' samples overlap as much as they can and one pull of a card serves every
contest it was drawn for (SHANGRLA §4, "multiple contests"); the frame of a contest is the
cards whose CVR contains it (card-style sampling) when CVRs are used, else every card of the
manifest. Round sizes come from :func:`tallyproof.audit.plan.plan_for_assertion`; a contest
whose plan reaches its whole frame goes to a full hand count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..clock import utc_timestamp
from ..cvr_table import Marks
from ..errors import AuditError, UsageError
from ..fsutil import atomic_write_bytes, atomic_write_json
from ..model import Contest
from ..store import Store
from .assorters import (
    Assertion,
    ContestVotes,
    Discrepancies,
    assertions_for_contest,
    assorter_margin,
    contest_votes,
    reported_winners,
    votes_from_marks,
)
from .batch import BatchFrame, batch_comparison_risk
from .batch_sheets import batch_sheet_csv, carried_batches, is_batch_sheet, read_batch_sheet
from .choices import mark_codes
from .commitment import check_commitment, held_commitment
from .comparison import AssertionRisk, comparison_risk
from .options import KINDS
from .frames import (
    Cards,
    card_frame_mask,
    contest_batch_frame,
    contest_rows,
    frame_id_array,
    frame_size,
    load_cards,
    no_cvr_slots,
)
from .frames import frame_ids as frame_ids  # re-exported: evidence.audit_view re-draws frames
from .plan import ALPHA_POLLING_D, plan_for_assertion
from .polling import polling_risk
from .records import (
    ALL_CONTESTS,
    Record,
    append_records,
    current_readings,
    load_records,
    read_batch_records_csv,
    read_records_csv,
)
from .sampler import ArrowIds, Draw, sample_until
from .stratified import StratumSample, stratified_risk
from .worksheets import (
    SheetCard,
    carried,
    csv_header,
    is_worksheet,
    read_worksheet,
    retrieval_csv,
    sheet_cards,
    worksheet_csv,
    worksheet_paths,
    worksheets_dir,
)

AUDIT_SCHEMA_VERSION = 1
DEFAULT_METHOD = {"polling": "alpha", "comparison": "kelly", "batch": "alpha",
                  "stratified": "alpha"}
ROUND_GROWTH = 1.5  # a later round at least multiplies the previous sample by this

CONFIRMED = "confirmed"
ANOTHER_ROUND = "another_round"
WAITING = "waiting"  # the round's cards are not all recorded yet: no decision
FULL_HAND_COUNT = "full_hand_count"
_SEVERITY = {CONFIRMED: 0, ANOTHER_ROUND: 1, WAITING: 2, FULL_HAND_COUNT: 3}


# ------------------------------------------------------------------ parameters
@dataclass(frozen=True, kw_only=True)
class AuditDesign:
    """What every audit fixes before its first draw, a county's (:class:`AuditParams`) or a
    state's (``tallyproof.state.audit.StateAuditParams``): each adds what it commits to."""

    kind: str
    risk_limit: float
    seed: str
    method: str
    contests: tuple[str, ...]
    assertions: tuple[Assertion, ...]
    margins: dict[str, float]  # assertion id -> reported (diluted) assorter margin
    frame_sizes: dict[str, int]  # contest id -> N, cards in its sample frame
    winners: dict[str, list[str]]  # contest id -> reported winner candidate ids
    created: str
    plan_uppers: dict[str, float] = field(default_factory=dict)  # batch: τ per assertion

    def assertions_of(self, contest_id: str) -> list[Assertion]:
        return [a for a in self.assertions if a.contest_id == contest_id]

    def design_json(self) -> dict[str, Any]:
        """The shared fields as ``audit.json`` writes them."""
        return {
            "kind": self.kind,
            "risk_limit": self.risk_limit,
            "seed": self.seed,
            "method": self.method,
            "contests": list(self.contests),
            "assertions": [a.to_json() for a in self.assertions],
            "margins": self.margins,
            "frame_sizes": self.frame_sizes,
            "winners": self.winners,
            "created": self.created,
            "plan_uppers": self.plan_uppers,
        }

    @staticmethod
    def design_fields(d: dict[str, Any]) -> dict[str, Any]:
        """The shared fields read back from ``audit.json`` (constructor keywords)."""
        return {
            "kind": str(d["kind"]),
            "risk_limit": float(d["risk_limit"]),
            "seed": str(d["seed"]),
            "method": str(d["method"]),
            "contests": tuple(d["contests"]),
            "assertions": tuple(Assertion.from_json(a) for a in d["assertions"]),
            "margins": {k: float(v) for k, v in d["margins"].items()},
            "frame_sizes": {k: int(v) for k, v in d["frame_sizes"].items()},
            "winners": {k: list(v) for k, v in d["winners"].items()},
            "created": str(d["created"]),
            "plan_uppers": {k: float(v) for k, v in d.get("plan_uppers", {}).items()},
        }


@dataclass(frozen=True, kw_only=True)
class AuditParams(AuditDesign):
    """What ``audit.json`` holds: everything fixed before the first draw."""

    commitment: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": AUDIT_SCHEMA_VERSION, **self.design_json(),
                "commitment": self.commitment}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AuditParams:
        if d.get("schema_version") != AUDIT_SCHEMA_VERSION:
            raise AuditError(f"audit.json schema version {d.get('schema_version')} not supported")
        return cls(**cls.design_fields(d), commitment=dict(d["commitment"]))


def audit_path(store: Store) -> Path:
    return store.audit_dir / "audit.json"


def rounds_dir(store: Store) -> Path:
    return store.audit_dir / "rounds"


def records_path(store: Store) -> Path:
    return store.audit_dir / "records.jsonl"


def load_audit(store: Store) -> AuditParams:
    p = audit_path(store)
    if not p.exists():
        raise AuditError(f"no audit started in {store.root} (run `tallyproof audit start`)")
    return AuditParams.from_json(orjson.loads(p.read_bytes()))


# ------------------------------------------------------------------ start
_SEED = re.compile(r"^[0-9]+$")


def start_audit(
    store: Store,
    *,
    risk_limit: float,
    seed: str,
    kind: str = "comparison",
    contests: Sequence[str] | None = None,
    method: str | None = None,
    winners: dict[str, list[str]] | None = None,
    now: str | None = None,
) -> AuditParams:
    """Fix the audit's parameters and assertions in ``audit.json`` (refuses to overwrite).

    The seed must be decimal digits (e.g. 20 rolls of a ten-sided die in public). Reported
    winners are ``winners[contest_id]`` (candidate ids) when given, else those of the CVRs
    (tabulated by the same rules the assertions use); a contest that cannot be audited (a tie,
    STV, an IRV contest RAIRE cannot handle, winners the CVRs do not support) is refused with
    the reason.
    """
    if kind not in KINDS:
        raise UsageError(f"audit kind {kind!r} cannot be run on a store here; choose from "
                         f"{', '.join(KINDS)}")
    if not 0 < risk_limit < 1:
        raise UsageError(f"risk limit must be strictly between 0 and 1, not {risk_limit}")
    seed = seed.strip()
    if not _SEED.match(seed):
        raise UsageError("the seed must be a non-empty string of decimal digits "
                         "(e.g. 20 public rolls of a ten-sided die)")
    if audit_path(store).exists():
        raise AuditError(f"an audit is already started in {store.audit_dir}; it cannot be "
                         "restarted with other parameters")
    from .risk import METHODS

    method = (method or DEFAULT_METHOD[kind]).lower()
    if method not in METHODS:
        raise UsageError(f"unknown risk method {method!r}; choose from {', '.join(METHODS)}")
    election = store.election
    # With no contests named, every contested one: a contest with no more candidates than
    # seats has no outcome a sample could overturn (named explicitly, it is refused).
    wanted = (list(dict.fromkeys(contests)) if contests else
              [c.id for c in election.contests if c.ranked or len(c.candidates) > c.seats])
    chosen: list[Contest] = []
    for cid in wanted:
        try:
            chosen.append(election.contest(cid))
        except KeyError as exc:
            raise UsageError(f"no contest {cid!r} in the store") from exc
    if not chosen:
        raise UsageError("no contests to audit")
    commitment = held_commitment(store, uses_cvrs=True)
    cards = load_cards(store, chosen)
    man_total = None
    if (m := store.manifest()) is not None:
        man_total = int(pc.sum(m.column("ballots")).as_py() or 0)
    if kind == "stratified":
        n_slots = len(no_cvr_slots(store, cards)) if man_total is not None else 0
        if not n_slots:
            raise AuditError("a stratified audit needs a manifest listing batches without CVRs "
                             "(the no-CVR stratum); there are none, so use a comparison audit")
        if man_total != cards.n + n_slots:
            raise AuditError(f"the manifest lists {man_total:,} cards but the CVRs ({cards.n:,}) "
                             f"and the batches without CVRs ({n_slots:,}) make "
                             f"{cards.n + n_slots:,}; reconcile first")
    if kind in ("comparison", "batch") and man_total is not None and man_total != cards.n:
        raise AuditError(f"the manifest lists {man_total:,} cards but there are "
                         f"{cards.n:,} CVRs; reconcile before a comparison audit")
    assertions: list[Assertion] = []
    margins: dict[str, float] = {}
    frames: dict[str, int] = {}
    reported: dict[str, list[str]] = {}
    uppers: dict[str, float] = {}
    unknown = sorted(set(winners or {}) - {c.id for c in chosen})
    if unknown:
        raise UsageError(f"winners given for contest(s) not audited: {', '.join(unknown)}")
    for contest in chosen:
        if kind == "batch" and contest.ranked:
            raise AuditError(f"contest {contest.id!r} is ranked: a batch comparison audit needs "
                             "only batch tallies, which cannot check an IRV/STV outcome; use a "
                             "comparison or polling audit")
        rows = contest_rows(cards, contest)
        votes = contest_votes(contest, cards.table.column(contest.column).take(pa.array(rows)))
        frame_n = frame_size(store, kind, cards, contest)
        given = (winners or {}).get(contest.id)
        win: tuple[int, ...]
        if given is not None:
            try:
                win = tuple(sorted(contest.candidate_index(w) for w in given))
            except KeyError as exc:
                raise UsageError(f"contest {contest.id!r} has no candidate {exc.args[0]!r}") \
                    from exc
            if len(win) != contest.seats:
                raise UsageError(f"contest {contest.id!r} has {contest.seats} seat(s); "
                                 f"{len(win)} winner(s) given")
        elif contest.ranked:
            from .raire import irv_elimination_order

            win = (irv_elimination_order(votes)[-1],)
        else:
            win = reported_winners(votes)
        found = assertions_for_contest(votes, winners=win, risk_limit=risk_limit)
        reported[contest.id] = [contest.candidates[w].id for w in win]
        frames[contest.id] = frame_n
        bframe = contest_batch_frame(cards, contest) if kind == "batch" else None
        for a in found:
            if bframe is not None:  # card-level margin over the frame's batches; τ for the plan
                n_cards = bframe.n_cards
                uppers[a.id] = a.upper * len(bframe.keys) * float(bframe.cards.max()) / n_cards
                m = assorter_margin(a.assort(votes), n_cards=n_cards)
            else:
                m = assorter_margin(a.assort(votes), n_cards=frame_n)
            if m <= 0:
                raise AuditError(f"{contest.id}: assertion '{a.describe(contest)}' has no "
                                 "positive margin; the outcome cannot be audited this way")
            margins[a.id] = m
            assertions.append(a)
    params = AuditParams(
        kind=kind,
        risk_limit=risk_limit,
        seed=seed,
        method=method,
        contests=tuple(c.id for c in chosen),
        assertions=tuple(assertions),
        margins=margins,
        frame_sizes=frames,
        winners=reported,
        commitment=commitment,
        created=now or utc_timestamp(),
        plan_uppers=uppers,
    )
    store.check_writable("the audit's parameters")
    atomic_write_json(audit_path(store), params.to_json())
    return params


# ------------------------------------------------------------------ planning
def plan_size(params: AuditDesign, a: Assertion, error_rates: dict[str, float] | None) -> float:
    """Planned total sample size for one assertion (M's planner), ∞ when it cannot finish."""
    n_frame = params.frame_sizes[a.contest_id]
    margin = params.margins[a.id]
    if params.kind == "batch":  # batches are the units; the comparison assorter's u is τ
        n = plan_for_assertion(margin, params.plan_uppers[a.id], n_frame, params.risk_limit,
                               params.method, None, audit="comparison")
    elif params.kind == "stratified":  # planned as a comparison over both strata (heuristic)
        n = plan_for_assertion(margin, a.upper, n_frame, params.risk_limit, params.method,
                               None, audit="comparison")
    else:
        n = plan_for_assertion(margin, a.upper, n_frame, params.risk_limit, params.method,
                               error_rates if params.kind == "comparison" else None,
                               audit=params.kind)
    return math.inf if n is None else float(n)


# ------------------------------------------------------------------ rounds
@dataclass(frozen=True)
class RoundInfo:
    number: int
    targets: dict[str, int]  # contest id -> cumulative sample size
    draws: dict[str, list[dict[str, str]]]  # contest id -> [{"id", "ticket"}] cumulative
    new_ballots: list[str]
    json_path: Path
    retrieval_path: Path
    boards: int = 1
    worksheets: tuple[Path, ...] = ()  # per board: its CSV, then its PDF

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.number,
            "targets": self.targets,
            "draws": self.draws,
            "new_ballots": self.new_ballots,
            "retrieval_list": self.retrieval_path.name,
            "boards": self.boards,
            "worksheets": [p.name for p in self.worksheets],
        }


def load_rounds(store: Store) -> list[RoundInfo]:
    out = []
    k = 1
    while (p := rounds_dir(store) / f"round-{k}.json").exists():
        d = orjson.loads(p.read_bytes())
        out.append(RoundInfo(int(d["round"]), {c: int(n) for c, n in d["targets"].items()},
                             d["draws"], list(d["new_ballots"]), p,
                             p.with_name(d["retrieval_list"]), int(d.get("boards", 1)),
                             tuple(worksheets_dir(store) / n for n in d.get("worksheets", []))))
        k += 1
    return out


def next_round(store: Store, *, boards: int = 1) -> RoundInfo:
    """Size, draw and write the next round (see module docstring for the sizing rule), with
    its retrieval list and a worksheet (CSV and PDF) for each of ``boards`` audit boards."""
    if boards < 1:
        raise UsageError(f"the number of audit boards must be at least 1, not {boards}")
    store.check_writable("an audit round")
    params = load_audit(store)
    check_commitment(store, params.commitment)
    rounds = load_rounds(store)
    election = store.election
    contests = [election.contest(c) for c in params.contests]
    cards = load_cards(store, contests)
    targets: dict[str, int] = {}
    if not rounds:
        for c in contests:
            plans = [plan_size(params, a, None) for a in params.assertions_of(c.id)]
            targets[c.id] = cap_size(max(plans, default=0.0), params.frame_sizes[c.id])
    else:
        status = audit_status(store, write=False)
        last = rounds[-1]
        unrecorded = status.unrecorded
        if unrecorded:
            raise AuditError(f"{len(unrecorded)} card(s) drawn so far have no audit-board "
                             f"record yet (e.g. {unrecorded[0]}); record them, or mark them "
                             "not found, before the next round")
        if status.status == CONFIRMED:
            raise AuditError("every contest is confirmed; the audit is complete")
        for cs in status.contests:
            prev = last.targets.get(cs.contest_id, 0)
            if cs.status == ANOTHER_ROUND:
                targets[cs.contest_id] = max(cs.next_target, prev + 1)
            else:
                targets[cs.contest_id] = prev
        if all(t == last.targets.get(c, 0) for c, t in targets.items()):
            raise AuditError("no contest needs more ballots: those not confirmed go to a full "
                             "hand count")
    number = len(rounds) + 1
    draws = _draw_all(store, params, cards, contests, targets)
    # a card is (re)pulled when it is newly drawn for a contest it has no reading of, even if
    # an earlier round pulled it for another contest; it is then read for every audited
    # contest it carries that has no reading yet (:mod:`.worksheets`)
    before = {(cid, d["id"]) for cid, ds in (rounds[-1].draws.items() if rounds else ())
              for d in ds}
    readings = current_readings(load_records(records_path(store)))
    tickets: dict[str, str] = {}
    for cid in params.contests:
        for d in draws.get(cid, []):
            if (cid, d["id"]) not in before and reading_for(readings, d["id"], cid) is None:
                tickets[d["id"]] = d["ticket"]
    carries = (carried_batches if params.kind == "batch" else carried)(cards, contests,
                                                                        list(tickets))
    to_read = {b: [k for k in ks if reading_for(readings, b, k) is None]
               for b, ks in carries.items()}
    new = sorted(tickets)
    rdir = rounds_dir(store)
    json_path = rdir / f"round-{number}.json"
    csv_path = rdir / f"round-{number}-retrieval.csv"
    sheet = sheet_cards(store, params.kind, cards, tickets, to_read, boards)
    by_id = {c.id: c for c in contests}
    atomic_write_bytes(csv_path, retrieval_csv(sheet, by_id, params.kind))
    paths = _write_worksheets(store, params, number, boards, sheet, contests)
    info = RoundInfo(number, targets, draws, new, json_path, csv_path, boards, paths)
    atomic_write_json(json_path, info.to_json())
    return info


def _write_worksheets(store: Store, params: AuditParams, number: int, boards: int,
                      sheet: list[SheetCard], contests: list[Contest]) -> tuple[Path, ...]:
    """Each board's worksheet CSV and PDF (a batch audit's: tally sheets, one row per batch,
    contest and choice, :mod:`.batch_sheets`)."""
    from datetime import datetime

    from .worksheet_pdf import SheetHeader, render_worksheet

    created = datetime.fromisoformat(params.created.replace("Z", "+00:00"))
    out: list[Path] = []
    for board in range(1, boards + 1):
        mine = [c for c in sheet if c.board == board]
        csv_path, pdf_path = worksheet_paths(store, number, board)
        make_csv = batch_sheet_csv if params.kind == "batch" else worksheet_csv
        atomic_write_bytes(csv_path, make_csv(number, mine, contests))
        head = SheetHeader(store.election, number, board, boards, params.kind, created)
        atomic_write_bytes(pdf_path, render_worksheet(head, mine, contests))
        out += [csv_path, pdf_path]
    return tuple(out)


def _draw_all(store: Store, params: AuditParams, cards: Cards, contests: list[Contest],
              targets: dict[str, int]) -> dict[str, list[dict[str, str]]]:
    """Each contest's first ``targets[c]`` draws of its frame, in draw order.

    Tickets depend only on (seed, id), so the consistent sample of a frame is the union's
    draw order filtered to the frame (Rivest's sampler; see :mod:`.sampler`): the union is
    ordered once instead of once per contest.
    """
    draws: dict[str, list[dict[str, str]]] = {c.id: [] for c in contests}
    needed = {cid: n for cid, n in targets.items() if n > 0}
    if not needed:
        return draws
    masks = {c.id: m for c in contests
             if (m := card_frame_mask(store, params.kind, cards, c)) is not None}
    if len(masks) == len(contests):
        return _draw_card_frames(params, cards, masks, needed, draws)
    # frames of manifest slots or batch keys: the union keeps first occurrences in order
    frames = {c.id: frame_id_array(store, params.kind, cards, c) for c in contests}
    union = pc.unique(pa.concat_arrays(list(frames.values())))

    def members(index: np.ndarray) -> dict[str, np.ndarray]:
        drawn = union.take(pa.array(index, type=pa.int64()))
        return {cid: np.flatnonzero(np.asarray(pc.is_in(drawn, value_set=frames[cid]).to_numpy(
            zero_copy_only=False), dtype=bool))[:n] for cid, n in needed.items()}

    index, order = sample_until(ArrowIds(union), params.seed,
                                lambda ix: _enough(members(ix), needed),
                                start=max(needed.values()))
    return _picked(draws, order, members(index))


def _enough(picked: dict[str, np.ndarray], needed: dict[str, int]) -> bool:
    """Every contest has its ``needed`` draws among those ``picked`` for it."""
    return all(len(picked[cid]) >= n for cid, n in needed.items())


def _picked(draws: dict[str, list[dict[str, str]]], order: list[Draw],
            picked: dict[str, np.ndarray]) -> dict[str, list[dict[str, str]]]:
    """``draws`` with each contest's picks (positions in ``order``) as id and ticket."""
    for cid, at in picked.items():
        draws[cid] = [{"id": order[k].id, "ticket": order[k].ticket} for k in at.tolist()]
    return draws


def _draw_card_frames(params: AuditParams, cards: Cards, masks: dict[str, np.ndarray],
                      needed: dict[str, int], draws: dict[str, list[dict[str, str]]]
                      ) -> dict[str, list[dict[str, str]]]:
    """:func:`_draw_all` for card-style frames, given as masks over the CVR table's rows: the
    union and each contest's membership are column operations; the draw order is the same
    (the sampler orders by ticket, then id, whatever the order of its input)."""
    union_rows = np.flatnonzero(np.logical_or.reduce(list(masks.values())))
    union = cards.ballot_ids.take(pa.array(union_rows, type=pa.int64()))

    def members(index: np.ndarray) -> dict[str, np.ndarray]:
        rows = union_rows[index]
        return {cid: np.flatnonzero(masks[cid][rows])[:n] for cid, n in needed.items()}

    index, order = sample_until(ArrowIds(union), params.seed,
                                lambda ix: _enough(members(ix), needed),
                                start=max(needed.values()))
    return _picked(draws, order, members(index))


def cap_size(planned: float, n_frame: int) -> int:
    return int(min(n_frame, math.ceil(planned))) if math.isfinite(planned) else n_frame


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class Recorded:
    """What ``audit record`` stored from a file, and (worksheets) what the file left out."""

    stored: list[Record]
    worksheet: bool = False
    unchanged: int = 0  # worksheet readings equal to ones already recorded
    not_filled: tuple[str, ...] = ()  # worksheet cards whose row is still empty


def record_file(store: Store, path: Path) -> Recorded:
    """Validate an audit-board file against the audit and append it to ``records.jsonl``:
    a filled-in board worksheet (:func:`.worksheets.read_worksheet`) or a CSV with one row
    per card and contest (:mod:`.records`). The whole file is checked before anything is
    stored."""
    params = load_audit(store)
    rounds = load_rounds(store)
    if not rounds:
        raise AuditError("no round has been drawn yet (run `tallyproof audit round`)")
    election = store.election
    contests = {c: election.contest(c) for c in params.contests}
    path = Path(path)
    header = csv_header(path)
    batch = params.kind == "batch"
    if is_batch_sheet(header) if batch else is_worksheet(header):
        drawn = list(dict.fromkeys(d["id"] for ds in rounds[-1].draws.values() for d in ds))
        audited = list(contests.values())
        carries = (carried_batches if batch else carried)(load_cards(store, audited), audited,
                                                          drawn)
        everything = current_readings(load_records(records_path(store)))
        readings = {(b, k): r for b, ks in carries.items() for k in ks
                    if (r := reading_for(everything, b, k)) is not None}
        read = read_batch_sheet if batch else read_worksheet
        got = read(path, contests=contests, carries=carries, readings=readings)
        return Recorded(append_records(records_path(store), got.records), True,
                        got.unchanged, got.not_filled)
    sampled = {d["id"] for r in rounds for ds in r.draws.values() for d in ds}
    reader = read_batch_records_csv if params.kind == "batch" else read_records_csv
    new = reader(path, contests=contests, sampled=sampled)
    return Recorded(append_records(records_path(store), new))


def record_interpretations(store: Store, path: Path) -> list[Record]:
    """:func:`record_file`, returning the entries stored."""
    return record_file(store, path).stored


# ------------------------------------------------------------------ status
@dataclass(frozen=True)
class AssertionStatus:
    assertion_id: str
    description: str
    margin: float
    risk: AssertionRisk
    status: str
    next_target: int

    def to_json(self) -> dict[str, Any]:
        return {
            "assertion_id": self.assertion_id,
            "description": self.description,
            "margin": self.margin,
            "ballots_examined": self.risk.examined,
            "discrepancies": self.risk.discrepancies.to_json(),
            "measured_risk": self.risk.p_value,
            "p_history": list(self.risk.p_history),
            "method": self.risk.method,
            "status": self.status,
            "next_target": self.next_target,
        }


@dataclass(frozen=True)
class ContestStatus:
    contest_id: str
    frame_size: int
    examined: int
    status: str
    measured_risk: float
    next_target: int
    assertions: tuple[AssertionStatus, ...]
    waiting_for: int = 0  # cards drawn for it with no reading yet

    def to_json(self) -> dict[str, Any]:
        return {
            "contest_id": self.contest_id,
            "frame_size": self.frame_size,
            "ballots_examined": self.examined,
            "status": self.status,
            "waiting_for": self.waiting_for,
            "measured_risk": self.measured_risk,
            "next_target": self.next_target,
            "assertions": [a.to_json() for a in self.assertions],
        }


@dataclass(frozen=True)
class AuditStatus:
    kind: str
    risk_limit: float
    rounds: int
    status: str  # confirmed | another_round | waiting | full_hand_count
    contests: tuple[ContestStatus, ...]
    unrecorded: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "risk_limit": self.risk_limit,
            "rounds": self.rounds,
            "status": self.status,
            "unrecorded_ballots": len(self.unrecorded),
            "contests": [c.to_json() for c in self.contests],
        }


def reading_for(readings: dict[tuple[str, str], Record], ballot: str,
                contest_id: str) -> Record | None:
    """The reading that counts for a card and contest: the latest of its own entry and a
    whole-card (``*``) not-found entry."""
    a = readings.get((ballot, contest_id))
    b = readings.get((ballot, ALL_CONTESTS))
    if a is None or b is None:
        return a or b
    return a if a.seq > b.seq else b


def _observed_rates(risk: AssertionRisk) -> dict[str, float]:
    n = max(risk.examined, 1)
    d = risk.discrepancies
    return {"o1": d.o1 / n, "o2": d.o2 / n, "u1": d.u1 / n, "u2": d.u2 / n}


def next_step(params: AuditDesign, a: Assertion, risk: AssertionRisk,
              drawn: int) -> tuple[str, int]:
    """The decision rule, for a county's audit and a state's alike: confirmed when the risk is
    at most the limit; a full hand count once every frame unit was examined or the planner
    cannot finish; else another round, sized by the planner (comparison audits: at the
    discrepancy rates seen so far) and at least :data:`ROUND_GROWTH` times ``drawn``."""
    n_frame = params.frame_sizes[a.contest_id]
    if risk.p_value <= params.risk_limit:
        return CONFIRMED, risk.examined
    if risk.examined >= n_frame:
        return FULL_HAND_COUNT, n_frame
    rates = _observed_rates(risk) if risk.examined and params.kind == "comparison" else None
    planned = plan_size(params, a, rates)
    nxt = max(cap_size(planned, n_frame), min(n_frame, math.ceil(ROUND_GROWTH * max(drawn, 1))))
    return (FULL_HAND_COUNT if not math.isfinite(planned) or planned >= n_frame
            else ANOTHER_ROUND), nxt


def audit_status(store: Store, *, write: bool = True) -> AuditStatus:
    """Measured risk of every assertion from the records so far, and what to do next.

    Each contest's sample is used in draw order up to its first card without a record (so
    the sequential test sees exactly a prefix of the random sequence). While some card drawn
    for a contest has no reading, the contest is *waiting* (for that many cards) and no
    decision is taken; once all are in, an assertion is
    *confirmed* when its measured risk is at most the risk limit; otherwise the next round's
    size is planned from the discrepancy rates observed so far, and when that plan (or the
    sample already) covers the contest's whole frame the contest goes to a *full hand count*.
    """
    params = load_audit(store)
    check_commitment(store, params.commitment)
    rounds = load_rounds(store)
    election = store.election
    contests = [election.contest(c) for c in params.contests]
    cards = load_cards(store, contests) if store.has_cvrs() else None
    readings = current_readings(load_records(records_path(store)))
    unrecorded: list[str] = []
    out: list[ContestStatus] = []
    for contest in contests:
        seq = [d["id"] for d in rounds[-1].draws.get(contest.id, [])] if rounds else []
        got: list[Record] = []
        for bid in seq:
            r = reading_for(readings, bid, contest.id)
            if r is None:
                break
            got.append(r)
        missing = [b for b in seq[len(got):] if reading_for(readings, b, contest.id) is None]
        unrecorded.extend(missing)
        examined_ids = seq[: len(got)]
        not_found = np.array([r.not_found for r in got], dtype=bool)
        mvr_cards: list[Marks | None] = [
            None if r.marks is None else mark_codes(contest, r.marks) for r in got
        ]
        mvr = votes_from_marks(contest, mvr_cards)
        cvr: ContestVotes | None = None
        bframe: BatchFrame | None = None
        if params.kind == "batch":
            if cards is None:
                raise AuditError("a batch comparison audit needs the store's CVRs")
            bframe = contest_batch_frame(cards, contest)
            hand = np.zeros((len(got), len(contest.candidates)), dtype=np.int64)
            for i, r in enumerate(got):
                for cand, votes in r.tallies or ():
                    hand[i, contest.candidate_index(cand)] = votes
        elif params.kind == "stratified":
            if cards is None:
                raise AuditError("a stratified audit needs the store's CVRs")
            strat_rows = contest_rows(cards, contest)
            strat_all = contest_votes(contest,
                                      cards.table.column(contest.column).take(pa.array(strat_rows)))
            pos_in_stratum = {str(cards.ids[r]): i for i, r in enumerate(strat_rows)}
            in_cvr = np.array([b in pos_in_stratum for b in examined_ids], dtype=bool)
            cvr_idx = np.array([pos_in_stratum[b] for b in examined_ids if b in pos_in_stratum],
                               dtype=np.int64)
        elif params.kind == "comparison":
            if cards is None:
                raise AuditError("a comparison audit needs the store's CVRs")
            rows = cards.rows(examined_ids)
            cvr = contest_votes(contest, cards.table.column(contest.column).take(pa.array(rows)))
        n_frame = params.frame_sizes[contest.id]
        statuses: list[AssertionStatus] = []
        for a in params.assertions_of(contest.id):
            margin = params.margins[a.id]
            if params.kind == "stratified":
                risk = _stratified_risk(a, params, strat_all, cvr_idx, mvr, in_cvr, not_found,
                                        n_frame, margin)
            elif bframe is not None:
                risk = batch_comparison_risk(a, bframe, examined_ids, hand, not_found=not_found,
                                             method=params.method, vote_for=contest.vote_for)
            elif cvr is not None:
                risk = comparison_risk(a, cvr, mvr, margin=margin, N=n_frame,
                                       method=params.method, not_found=not_found)
            else:
                # ALPHA for polling as planned (plan.py, docs/audit-math.md): η fixed at the
                # reported assorter mean (1 + v)/2, so the risk measured is the one planned for.
                tuning = ({"eta0": (1.0 + margin) / 2.0, "d": ALPHA_POLLING_D}
                          if params.method == "alpha" else {})
                risk = polling_risk(a, mvr, N=n_frame, method=params.method,
                                    not_found=not_found, margin=margin, **tuning)
            st, nxt = next_step(params, a, risk, len(seq))
            if missing:  # the round's cards are not all in: no decision yet
                st = WAITING
            statuses.append(AssertionStatus(a.id, a.describe(contest), margin, risk, st, nxt))
        worst = max((s.status for s in statuses), key=_SEVERITY.__getitem__, default=CONFIRMED)
        out.append(ContestStatus(
            contest.id, n_frame, len(got), worst,
            max((s.risk.p_value for s in statuses), default=0.0),
            max((s.next_target for s in statuses if s.status != CONFIRMED), default=len(got)),
            tuple(statuses), len(missing),
        ))
    overall = max((c.status for c in out), key=_SEVERITY.__getitem__, default=CONFIRMED)
    if not rounds:
        overall = ANOTHER_ROUND
    status = AuditStatus(params.kind, params.risk_limit, len(rounds), overall, tuple(out),
                         tuple(dict.fromkeys(unrecorded)))
    if write:
        store.check_writable("the audit status")
        atomic_write_json(store.audit_dir / "status.json", status.to_json())
    return status


def _stratified_risk(a: Assertion, params: AuditParams, strat_all: ContestVotes,
                     cvr_idx: np.ndarray, mvr: ContestVotes, in_cvr: np.ndarray,
                     not_found: np.ndarray, n_frame: int, margin: float) -> AssertionRisk:
    """Union-intersection risk (Spertus & Stark 2022) from the two strata's readings."""
    from .comparison import mvr_assort

    n_cvr = len(strat_all)
    a_cvr = a.assort(strat_all)
    paper = mvr_assort(a, mvr, not_found)
    omega = a_cvr[cvr_idx] - paper[in_cvr]
    res = stratified_risk(
        StratumSample("comparison", n_cvr, omega, reported_mean=float(a_cvr.mean())),
        StratumSample("polling", n_frame - n_cvr, paper[~in_cvr]),
        upper=a.upper, method=params.method,
    )
    return AssertionRisk(
        assertion_id=a.id,
        examined=len(in_cvr),
        discrepancies=Discrepancies.from_omega(omega, a.upper),
        p_value=res.p_value,
        p_history=(res.p_value,),  # the union over θ is evaluated where the sample stands
        margin=margin,
        method=f"{params.method} (stratified)",
    )


def audit_report_data(store: Store) -> dict[str, Any]:
    """What the evidence report needs: parameters, and per assertion the measured risk against
    ballots examined (``p_history``) and the discrepancies by type."""
    params = load_audit(store)
    status = audit_status(store, write=False)
    return {
        "parameters": {k: v for k, v in params.to_json().items() if k != "assertions"},
        "status": status.status,
        "rounds": status.rounds,
        "contests": [c.to_json() for c in status.contests],
    }


# ------------------------------------------------------------------ simulated audit boards
def simulate_audit_boards(
    store: Store,
    round_path_or_draws: Path | RoundInfo | Sequence[str],
    paper: Callable[[str], dict[str, Marks] | None] | None = None,
) -> Path:
    """The records CSV simulated audit boards hand in for a round (paper = CVR unless
    ``paper(ballot_id)`` says otherwise); see :func:`tallyproof.audit.boards.simulate_audit_boards`.
    """
    from .boards import simulate_audit_boards as simulate  # boards imports this module

    return simulate(store, round_path_or_draws, paper)

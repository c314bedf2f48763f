"""Per-county tasks of the statewide audit (run through :mod:`.executor`).

Each task reads one county's store and its audit records, maps the county's contest and
candidate codes onto the statewide ones (:func:`.spec.map_county`), and returns a small frozen
result; the statewide merge (:mod:`.audit`) orders and sums them in county-id order. Ballots
are named statewide as ``county/ballot_id`` (:func:`state_ballot_id`).

Layout of the audit's files (all under ``STATE/audit/``)::

    audit.json                            kind, risk limit, seed, contests, assertions, margins
    rounds/round-N.json                   the statewide draws of round N, per contest
    rounds/round-N/<county>-retrieval.csv that county's cards to pull in round N
    counties/<county>/records.jsonl       that county's audit-board records (append-only)
    status.json                           the last statewide status
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audit.assorters import NOT_RANKED, ContestVotes, contest_votes, tally, votes_from_marks
from ..audit.batch import BatchFrame
from ..audit.frames import Cards, contest_batch_frame, contest_rows, load_cards
from ..audit.choices import mark_codes
from ..audit.records import current_readings, load_records
from ..audit.sampler import sample
from ..errors import AuditError
from ..fsutil import atomic_write_bytes
from ..model import Contest
from ..store import Store, sha256_file
from . import audit_batch_county as abc
from .batch_county import is_batch_county
from .spec import ContestMap, StateSpec, load_spec, map_county
from .tasks import county_store_dir

AUDIT_DIR = "audit"


def audit_dir(root: Path | str) -> Path:
    return Path(root) / AUDIT_DIR


def county_records_path(root: Path | str, county: str) -> Path:
    return audit_dir(root) / "counties" / county / "records.jsonl"


def state_ballot_id(county: str, ballot: str) -> str:
    """A ballot's statewide id: unique across counties (county ids contain no ``/``)."""
    return f"{county}/{ballot}"


def split_ballot_id(state_id: str) -> tuple[str, str]:
    county, sep, ballot = state_id.partition("/")
    if not sep:
        raise AuditError(f"{state_id!r} is not a statewide ballot id (county/ballot)")
    return county, ballot


# ------------------------------------------------------------------ mapping
def state_votes(votes: ContestVotes, contest: Contest, codes: Sequence[int]) -> ContestVotes:
    """A county contest's votes with its columns put in statewide candidate order.

    Validity (overvotes, vote-for-N) was decided in the county's own contest by
    :func:`~tallyproof.audit.assorters.contest_votes`; a county candidate with no statewide
    counterpart (a write-in) is dropped, so its votes count for neither side of any pairwise
    assertion, which is what they are.
    """
    cols = np.asarray(codes, dtype=np.int64)
    ok = cols >= 0
    marks = np.zeros((len(votes), len(cols)), dtype=bool)
    marks[:, ok] = votes.marks[:, cols[ok]]
    ranks = np.where(marks, 0, NOT_RANKED).astype(np.int32)
    return ContestVotes(contest, votes.present, marks, ranks)


@dataclass(frozen=True)
class _County:
    store: Store
    maps: dict[str, ContestMap]  # statewide contest id -> its map in this county
    contests: dict[str, Contest]  # statewide contest id -> the county's contest
    state: dict[str, Contest]  # statewide contest id -> statewide contest


def _open(county: str, root: str, spec_json: dict[str, Any], wanted: Sequence[str]) -> _County:
    spec = StateSpec.from_json(spec_json)
    store = Store.open(county_store_dir(root, county))
    election = store.election
    maps = {m.state_contest: m for m in map_county(spec, county, election.contests)
            if m.state_contest in wanted}
    by_id = {c.id: c for c in election.contests}
    state = {sc.id: sc.as_contest() for sc in spec.contests if sc.id in wanted}
    return _County(store, maps, {k: by_id[m.county_contest] for k, m in maps.items()}, state)


def _cvr_votes(c: _County, cards: Cards, contest_id: str, rows: np.ndarray) -> ContestVotes:
    contest = c.contests[contest_id]
    import pyarrow as pa

    v = contest_votes(contest, cards.table.column(contest.column).take(pa.array(rows)))
    return state_votes(v, c.state[contest_id], c.maps[contest_id].codes)


# ------------------------------------------------------------------ frame (audit start)
@dataclass(frozen=True)
class CountyContestFrame:
    contest: str
    county_contest: str
    cards: int  # cards whose CVR holds the contest: this county's part of the frame
    votes: tuple[int, ...]  # valid votes per statewide candidate, as the assorters count them


@dataclass(frozen=True)
class CountyFrame:
    cvrs_sha256: str  # the county's CVR table (checked unchanged at every later step)
    commitment: dict[str, Any]  # what the county audit would hold its CVRs to
    contests: tuple[CountyContestFrame, ...]


def frame_task(county: str, root: str, spec_json: dict[str, Any],
               contests: Sequence[str]) -> CountyFrame:
    """The county's part of each contest's sample frame, its reported valid votes, and its
    commitment: the audit starts only after the county's CVRs are committed and its log
    verifies against them (the county workflow's rule, :mod:`tallyproof.audit.workflow`)."""
    from ..audit.commitment import held_commitment  # the county audit's own check

    spec = StateSpec.from_json(spec_json)
    if is_batch_county(spec, county):
        return abc.frame(county, root, spec, contests)  # type: ignore[no-any-return]
    c = _open(county, root, spec_json, contests)
    try:
        commitment = held_commitment(c.store, uses_cvrs=True)
    except AuditError as exc:
        raise AuditError(f"county {county}: {exc}") from exc
    cards = load_cards(c.store, list(c.contests.values()))
    out = []
    for cid in contests:
        if cid not in c.maps:
            continue
        rows = contest_rows(cards, c.contests[cid])
        v = _cvr_votes(c, cards, cid, rows)
        out.append(CountyContestFrame(cid, c.maps[cid].county_contest, len(rows),
                                      tuple(int(x) for x in tally(v))))
    return CountyFrame(str(commitment["cvrs_sha256"]), commitment, tuple(out))


# ------------------------------------------------------------------ draws
@dataclass(frozen=True)
class CountyDraws:
    """Per contest, the county's first draws (statewide ids, trimmed tickets) in draw order."""

    draws: dict[str, tuple[tuple[str, str], ...]]


def draw_task(county: str, root: str, spec_json: dict[str, Any], seed: str,
              targets: dict[str, int], unit: str = "card",
              batch_targets: dict[str, int] | None = None) -> CountyDraws:
    """The first ``targets[c]`` draws of the county's part of each contest's frame, with the
    state's seed (Rivest's consistent sampler over statewide ids). ``unit`` ``card``: the
    cards whose CVR holds the contest; ``batch``: the batches (``tabulator/batch``) holding it.
    A county with batch tallies only always draws batches (``batch_targets[c]`` of them when
    given: the batch stratum of a stratified audit).

    The statewide sample's first n draws are the n smallest tickets of the statewide frame, so
    each county's share of them is among the county's own n smallest: the merge of these
    per-county streams (:func:`tallyproof.state.audit.merge_draws`) is exactly the sampler run
    over the whole statewide frame (tested).
    """
    spec = StateSpec.from_json(spec_json)
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    if is_batch_county(spec, county):  # whole batches, whatever the other counties' unit
        wanted = targets if batch_targets is None else batch_targets
        frames = abc.batch_ids(county, root, spec, list(wanted))
        for cid, n in wanted.items():
            frame = [state_ballot_id(county, k) for k in frames.get(cid, ())]
            if frame and n > 0:
                out[cid] = tuple((d.id, d.ticket)
                                 for d in sample(frame, seed, min(n, len(frame))))
        return CountyDraws(out)
    c = _open(county, root, spec_json, list(targets))
    cards = load_cards(c.store, list(c.contests.values()))
    for cid, n in targets.items():
        if cid not in c.maps or n <= 0:
            continue
        if unit == "batch":
            keys = contest_batch_frame(cards, c.contests[cid]).keys
            frame = [state_ballot_id(county, k) for k in keys]
        else:
            rows = contest_rows(cards, c.contests[cid])
            frame = [state_ballot_id(county, str(cards.ids[i])) for i in rows]
        out[cid] = tuple((d.id, d.ticket) for d in sample(frame, seed, min(n, len(frame))))
    return CountyDraws(out)


# ------------------------------------------------------------------ retrieval lists
@dataclass(frozen=True)
class CountyRetrieval:
    path: str
    cards: int


def retrieval_task(county: str, root: str, round_no: int,
                   by_county: dict[str, dict[str, str]], unit: str = "card") -> CountyRetrieval:
    """Write the county's retrieval list for a round (``by_county[county]``: its ballot id ->
    ticket; one argument for every county, so the executor submits one map), in the
    county audit's retrieval-CSV form, sorted for pulling (container, tabulator, batch,
    position)."""
    from ..audit.worksheets import retrieval_csv, sheet_cards  # the county audit's writer

    tickets = by_county[county]
    path = audit_dir(root) / "rounds" / f"round-{round_no}" / f"{county}-retrieval.csv"
    if is_batch_county(load_spec(Path(root)), county):
        abc.write_retrieval(county, root, tickets, path)
        return CountyRetrieval(str(path), len(tickets))
    store = Store.open(county_store_dir(root, county))
    cards = load_cards(store, [])
    missing = sorted(set(tickets) - set(cards.index)) if unit == "card" else []
    if missing:
        raise AuditError(f"county {county}: drawn ballot(s) not in its CVRs: "
                         f"{', '.join(missing[:5])}")
    kind = "batch" if unit == "batch" else "comparison"
    # one board per county list (the county splits it among its boards); the contests to read
    # are the statewide audit's, named on the statewide worksheet, so none are listed here
    sheet = sheet_cards(store, kind, cards, tickets, {}, 1)
    atomic_write_bytes(path, retrieval_csv(sheet, {c.id: c for c in store.election.contests},
                                           kind))
    return CountyRetrieval(str(path), len(tickets))


# ------------------------------------------------------------------ readings
@dataclass(frozen=True)
class CountyContestReadings:
    """For the county's drawn ballots of one contest (in the order asked): whether the boards
    recorded it, whether it was found, and CVR and paper votes in statewide candidate order."""

    contest: str
    ballots: tuple[str, ...]  # county ballot ids
    recorded: tuple[bool, ...]
    not_found: tuple[bool, ...]
    cvr_present: tuple[bool, ...]
    cvr_marks: tuple[tuple[bool, ...], ...]
    paper_present: tuple[bool, ...]
    paper_marks: tuple[tuple[bool, ...], ...]


@dataclass(frozen=True)
class CountyReadings:
    cvrs_sha256: str
    contests: tuple[CountyContestReadings, ...]


def readings_task(county: str, root: str, spec_json: dict[str, Any],
                  by_county: dict[str, dict[str, list[str]]]) -> CountyReadings:
    """CVR and audit-board readings of the county's drawn ballots (``by_county[county]``:
    statewide contest -> the county's drawn ballot ids in draw order)."""
    from ..audit.workflow import reading_for

    drawn = by_county[county]
    if is_batch_county(StateSpec.from_json(spec_json), county):
        if any(drawn.values()):
            raise AuditError(f"county {county} reports batch tallies only: its batches are "
                             "audited whole, not card by card")
        return CountyReadings(abc.tallies_sha256(root, county), ())
    c = _open(county, root, spec_json, list(drawn))
    cards = load_cards(c.store, list(c.contests.values()))
    readings = current_readings(load_records(county_records_path(root, county)))
    out = []
    for cid, ballots in drawn.items():
        if cid not in c.maps:
            if ballots:
                raise AuditError(f"county {county}: ballots drawn for contest {cid}, which is "
                                 "not on its ballots")
            continue
        contest = c.contests[cid]
        cvr = _cvr_votes(c, cards, cid, cards.rows(ballots))
        recs = [reading_for(readings, b, contest.id) for b in ballots]
        paper_cards = [None if r is None or r.marks is None else mark_codes(contest, r.marks)
                       for r in recs]
        paper = state_votes(votes_from_marks(contest, paper_cards), c.state[cid],
                            c.maps[cid].codes)
        out.append(CountyContestReadings(
            cid, tuple(ballots), tuple(r is not None for r in recs),
            tuple(bool(r is not None and r.not_found) for r in recs),
            tuple(bool(x) for x in cvr.present), tuple(tuple(bool(y) for y in row)
                                                       for row in cvr.marks),
            tuple(bool(x) for x in paper.present), tuple(tuple(bool(y) for y in row)
                                                         for row in paper.marks)))
    return CountyReadings(sha256_file(c.store.cvrs_path), tuple(out))


# ------------------------------------------------------------------ batches
@dataclass(frozen=True)
class CountyContestBatches:
    """One contest's batches in a county (``tabulator/batch``, sorted): every card of a batch
    holding the contest, the CVR tallies and the boards' hand tallies in statewide candidate
    order (``hand[b]`` None: not counted yet; ``not_found[b]``: the batch was not found)."""

    contest: str
    county_contest: str
    keys: tuple[str, ...]
    cards: tuple[int, ...]
    cvr: tuple[tuple[int, ...], ...]
    hand: tuple[tuple[int, ...] | None, ...]
    not_found: tuple[bool, ...]


@dataclass(frozen=True)
class CountyBatches:
    cvrs_sha256: str
    contests: tuple[CountyContestBatches, ...]


def county_batches(county: str, root: str) -> list[str]:
    """Every batch (``tabulator/batch``) of the county's CVRs, sorted."""
    from ..audit.frames import batch_keys

    if is_batch_county(load_spec(Path(root)), county):
        return abc.all_batches(county, root)
    store = Store.open(county_store_dir(root, county))
    return sorted(set(batch_keys(load_cards(store, [])).tolist()))


def batch_task(county: str, root: str, spec_json: dict[str, Any],
               contests: Sequence[str]) -> CountyBatches:
    """Every batch's CVR tallies (the county audit's batch frame,
    :func:`tallyproof.audit.frames.contest_batch_frame`) and the boards' hand counts."""
    spec = StateSpec.from_json(spec_json)
    if is_batch_county(spec, county):
        return abc.batches(  # type: ignore[no-any-return]
            county, root, spec, contests, county_records_path(root, county))
    c = _open(county, root, spec_json, contests)
    cards = load_cards(c.store, list(c.contests.values()))
    readings = current_readings(load_records(county_records_path(root, county)))
    out = []
    for cid in contests:
        if cid not in c.maps:
            continue
        contest = c.contests[cid]
        codes = np.asarray(c.maps[cid].codes, dtype=np.int64)
        ok = codes >= 0
        frame = contest_batch_frame(cards, contest)
        reported = np.zeros((len(frame.keys), len(codes)), dtype=np.int64)
        reported[:, ok] = frame.tallies[:, codes[ok]]
        out.append(contest_batches(cid, contest, frame.keys, frame.cards, reported, readings,
                                   c.maps[cid].codes))
    return CountyBatches(sha256_file(c.store.cvrs_path), tuple(out))


def contest_batches(cid: str, contest: Contest, keys: Sequence[str], cards: Any,
                    reported: np.ndarray, readings: dict[Any, Any], codes: Sequence[int]
                    ) -> CountyContestBatches:
    """One contest's batches with the boards' hand counts (``readings``), in statewide
    candidate order (``codes``: the county's code of each statewide candidate, -1: none)."""
    from ..audit.workflow import reading_for

    hand: list[tuple[int, ...] | None] = []
    missing: list[bool] = []
    counted = {ballot for ballot, _ in readings}  # the few batches the boards recorded
    for key in keys:
        r = reading_for(readings, key, contest.id) if key in counted else None
        missing.append(bool(r is not None and r.not_found))
        if r is None or r.not_found:
            hand.append(None)
            continue
        got = dict(r.tallies or ())
        hand.append(tuple(int(got.get(contest.candidates[k].id, 0)) if k >= 0 else 0
                          for k in codes))
    return CountyContestBatches(
        cid, contest.id, tuple(keys), tuple(np.asarray(cards, dtype=np.int64).tolist()),
        tuple(map(tuple, np.asarray(reported, dtype=np.int64).tolist())), tuple(hand),
        tuple(missing))


@dataclass(frozen=True)
class StateBatchFrame:
    """One contest's statewide list of batches (``county/tabulator/batch``, county-id order):
    the county audit's :class:`~tallyproof.audit.batch.BatchFrame`, with each row's county and
    the boards' hand counts."""

    frame: BatchFrame
    counties: list[str]
    hand: list[tuple[int, ...] | None]
    not_found: list[bool]

    def recorded(self, row: int) -> bool:
        return self.hand[row] is not None or self.not_found[row]


def state_batch_frame(batches: dict[str, CountyBatches], contest: str) -> StateBatchFrame:
    keys: list[str] = []
    cards: list[int] = []
    tallies: list[tuple[int, ...]] = []
    counties: list[str] = []
    hand: list[tuple[int, ...] | None] = []
    missing: list[bool] = []
    for county in sorted(batches):
        for b in batches[county].contests:
            if b.contest != contest:
                continue
            keys.extend(state_ballot_id(county, k) for k in b.keys)
            cards.extend(b.cards)
            tallies.extend(b.cvr)
            counties.extend([county] * len(b.keys))
            hand.extend(b.hand)
            missing.extend(b.not_found)
    if not keys:
        raise AuditError(f"contest {contest}: no county has batches holding it")
    frame = BatchFrame(tuple(keys), np.asarray(cards, dtype=np.int64),
                       np.asarray(tallies, dtype=np.int64))
    return StateBatchFrame(frame, counties, hand, missing)

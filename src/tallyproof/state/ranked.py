"""Statewide ranked-choice contests: every county's ballots, one instant-runoff (IRV) or
single-transferable-vote (STV) count.

A ranked contest cannot be merged from county results (a county's eliminations are not the
state's), so each county ships its distinct rankings, renumbered into statewide candidate
codes, as compact arrays: a ``(rankings × ranks)`` int16 matrix of code + 1 (0: skipped),
the weight of each row, and only the rare rankings with several marks at one rank
(overvotes, which the rules treat specially) as Python tuples. The driver concatenates the
counties' arrays in county-id order, adds up the weights of identical rows and runs the same
IRV or STV engine as a county (RCTab's default rules; STV elects the statewide contest's
seats). A county candidate with no statewide
counterpart (a write-in) keeps its votes under the statewide pseudo-candidate
``(write-ins)``, which the count treats like any other candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model import Candidate, Contest, ContestKind
from .spec import StateContest, StateSpec, map_county
from .tasks import county_store_dir

WRITE_INS = "(write-ins)"


@dataclass(frozen=True)
class CountyRankings:
    contest: str
    dense: np.ndarray  # int16, (rows, ranks): statewide code + 1, 0 = skipped
    dense_weights: np.ndarray  # int64
    other: tuple[tuple[tuple[int, tuple[int, ...]], ...], ...]  # rankings with overvotes
    other_weights: tuple[int, ...]


RANKED = (ContestKind.IRV, ContestKind.STV)


def rankings_task(county: str, root: str, spec_json: dict[str, Any]
                  ) -> tuple[CountyRankings, ...]:
    """The county's ballots of every statewide ranked contest, in statewide codes."""
    from ..store import Store
    from .batch_county import is_batch_county

    spec = StateSpec.from_json(spec_json)
    if is_batch_county(spec, county):  # its tallies hold no ranked contest (refused at ingest)
        return ()
    return county_rankings(Store.open(county_store_dir(root, county)), county, spec)


def county_rankings(store: Any, county: str, spec: StateSpec) -> tuple[CountyRankings, ...]:
    """:func:`rankings_task` on an open store (the verifier passes a bundle's, read-only)."""
    from ..tabulate.ballots import as_ranking, from_table

    contests = {c.id: c for c in store.election.contests}
    state_contests = {c.id: c for c in spec.contests}
    out = []
    for m in map_county(spec, county, store.election.contests):
        sc = state_contests[m.state_contest]
        if sc.kind not in RANKED:
            continue
        contest = contests[m.county_contest]
        ballots = from_table(store.cvrs(columns=[contest.column]), contest.column,
                             contest.max_rankings)
        # county code -> statewide code (write-ins and the unmapped: the pseudo-candidate)
        remap = np.full(len(contest.candidates), len(sc.candidates), dtype=np.int64)
        for state_code, county_code in enumerate(m.codes):
            if county_code >= 0:
                remap[county_code] = state_code
        dense_rows, dense_w, other, other_w = [], [], [], []
        for item, w in zip(ballots.items, ballots.weights.tolist(), strict=True):
            if isinstance(item, list):
                dense_rows.append([0 if v == 0 else int(remap[v - 1]) + 1 for v in item])
                dense_w.append(w)
            else:  # OVERVOTE_UNKNOWN and other special codes pass through unchanged
                n = len(contest.candidates)
                other.append(tuple((rank, tuple(int(remap[c]) if c < n else c for c in codes))
                                   for rank, codes in as_ranking(item)))
                other_w.append(w)
        width = max((len(r) for r in dense_rows), default=0)
        dense = np.zeros((len(dense_rows), width), dtype=np.int16)
        for i, r in enumerate(dense_rows):
            dense[i, :len(r)] = r
        out.append(CountyRankings(sc.id, dense, np.asarray(dense_w, dtype=np.int64),
                                  tuple(other), tuple(other_w)))
    return tuple(out)


def merge_rankings(parts: list[CountyRankings]) -> tuple[np.ndarray, np.ndarray, list[Any],
                                                         list[int]]:
    """Identical rows summed; deterministic (rows sorted) whatever order the parts came in."""
    width = max((p.dense.shape[1] for p in parts), default=0)
    mats = [np.pad(p.dense, ((0, 0), (0, width - p.dense.shape[1]))) for p in parts]
    dense = np.concatenate(mats) if mats else np.zeros((0, width), dtype=np.int16)
    weights = np.concatenate([p.dense_weights for p in parts]) if parts else np.zeros(0, np.int64)
    if len(dense):
        rows, inverse = np.unique(dense, axis=0, return_inverse=True)
        w = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(rows))
        dense, weights = rows, w.astype(np.int64)
    other: dict[Any, int] = {}
    for p in parts:
        for r, w2 in zip(p.other, p.other_weights, strict=True):
            other[r] = other.get(r, 0) + w2
    keys = sorted(other)
    return dense, weights, keys, [other[k] for k in keys]


def tabulate_ranked_contest(sc: StateContest, parts: list[CountyRankings]) -> Any:
    """Run IRV (one seat) or STV (``sc.seats``) on the merged statewide ballots (RCTab's
    default rules)."""
    from ..tabulate.ballots import RankedBallots
    from ..tabulate.rcv import irv
    from ..tabulate.stv import stv

    dense, weights, other, other_w = merge_rankings(parts)
    entries = tuple(dense.astype(np.int64).tolist()) + tuple(other)
    ballots = RankedBallots(entries, np.concatenate([weights, np.asarray(other_w, np.int64)]))
    pseudo = len(sc.candidates)  # the write-ins' code: a candidate only where it has marks
    used = bool((dense == pseudo + 1).any()) or any(
        pseudo in codes for r in other for _, codes in r)
    cands = sc.candidates + ((Candidate(WRITE_INS, WRITE_INS, write_in=True),) if used else ())
    if sc.kind == ContestKind.STV:
        return stv(ballots, Contest(sc.id, sc.name, ContestKind.STV, sc.seats, 1, cands))
    return irv(ballots, Contest(sc.id, sc.name, ContestKind.IRV, 1, 1, cands))


def ranked_results(spec: StateSpec, parts: dict[str, tuple[CountyRankings, ...]]) -> list[Any]:
    """A :class:`~.workflow.StateContestResult` per statewide ranked contest, from every
    county's rankings (``parts``: county id -> its :func:`rankings_task` result); the
    tabulation and ``verify``'s recount both build them here."""
    from .workflow import StateContestResult

    out = []
    for sc in spec.contests:
        if sc.kind not in RANKED:
            continue
        mine = [(c, p) for c in sorted(parts) for p in parts[c] if p.contest == sc.id]
        res = tabulate_ranked_contest(sc, [p for _, p in mine])
        first = res.rounds[0].tally if res.rounds else {}
        by_county = {c: {"ballots": int(p.dense_weights.sum()) + sum(p.other_weights)}
                     for c, p in mine}
        out.append(StateContestResult(
            sc.id, sc.name, sc.kind.value, sum(v["ballots"] for v in by_county.values()),
            {k: int(v) for k, v in first.items()}, 0, 0, 0, tuple(res.winners),
            bool(res.tiebreaks), by_county, res.to_json()))
    return out

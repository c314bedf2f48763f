"""The synthetic state's statewide audit, with simulated audit boards reading the paper.

The demo runs the audit a state would: one risk limit and one public seed, rounds drawn
statewide (:mod:`tallyproof.state.audit`), each county's boards reading the paper of its drawn
cards (a CVR county: the county demo's :class:`~.pipeline.PaperBallots`) or hand counting
its drawn batches (the county with batch tallies only), recorded in the county's own CSV
form, the risk measured statewide. With a county that reports batch tallies only the audit
is stratified (card-level comparison in the CVR counties, batch comparison in that county);
otherwise a card-level comparison. Boards are simulated on the executor, county by county,
from each county's paper, rebuilt from its seed (paper never travels between tasks).

Checks: ``<county>:audit`` per county (fails when its sample shows discrepancies: the paper
disagrees with what the county reported, whichever way; one county's switched votes need not
change a statewide outcome, but they are what its canvass must explain) and ``state.audit``
(passes when every statewide outcome is confirmed at the risk limit; it names the counties
whose sample overstates the reported winners).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TallyproofError

RISK_LIMIT = 0.05
MAX_ROUNDS = 4


@dataclass(frozen=True)
class CountyBoards:
    """The records a county's boards handed in for a round."""

    records: int


def boards_task(county: str, root: str, cards: int, seed: int, index: int,
                faults: tuple[str, ...], out: str) -> CountyBoards:
    """Read the paper of the county's drawn cards (or count its drawn batches) that have no
    record yet, write the boards' CSV to ``out/<county>.csv`` and record it."""
    from ..audit.records import (
        codes_to_marks,
        format_marks,
        load_records,
        write_batch_records_csv,
        write_records_csv,
    )
    from ..state.audit import load_state_audit, load_state_rounds, record_county
    from ..state.audit_batch_county import record_contests
    from ..state.audit_tasks import county_records_path, split_ballot_id
    from ..state.spec import load_spec, map_county
    from ..state.tasks import county_store_dir
    from .state import draw_county

    spec = load_spec(Path(root))
    params = load_state_audit(Path(root))
    rounds = load_state_rounds(Path(root))
    done = {(r.ballot_id, r.contest_id) for r in load_records(county_records_path(root, county))}
    drawn_county = draw_county(cards, seed, index)
    path = Path(out) / f"{county}.csv"
    by_batch = county in params.batch_counties
    if by_batch:
        contests = record_contests(county, root, spec, params.contests)
        state_of = {m.county_contest: m.state_contest for m in map_county(
            spec, county, tuple(contests.values()))}
    else:
        from ..store import Store

        store = Store.open(county_store_dir(root, county))
        maps = map_county(spec, county, store.election.contests)
        contests = {m.county_contest: store.election.contest(m.county_contest) for m in maps
                    if m.state_contest in params.contests}
        state_of = {m.county_contest: m.state_contest for m in maps}
    wanted: dict[str, list[str]] = {cid: [] for cid in contests}
    for cid in contests:
        for d in rounds[-1].draws.get(state_of[cid], []):
            c, unit = split_ballot_id(d["id"])
            if c == county and (unit, cid) not in done and unit not in wanted[cid]:
                wanted[cid].append(unit)
    if not any(wanted.values()):
        return CountyBoards(0)
    if by_batch:
        from .state_batch import hand_tallies

        units = {u for us in wanted.values() for u in us}
        counted = hand_tallies(drawn_county, {cid: c.name for cid, c in contests.items()},
                               units)
        rows = []
        for cid, units_of in wanted.items():
            ids = {cand.name: cand.id for cand in contests[cid].candidates}
            rows += [(u, cid, {ids[n]: v for n, v in counted[u][cid].items()}, False)
                     for u in units_of]
        write_batch_records_csv(path, rows)
    else:
        from .pipeline import PaperBallots

        paper = PaperBallots(drawn_county, store)
        card_rows = []
        for cid, units_of in wanted.items():
            for u in units_of:
                marks = paper.marks(u, cid)
                card_rows.append((u, cid, "" if marks is None else
                                  format_marks(codes_to_marks(contests[cid], marks)),
                                  marks is None))
        write_records_csv(path, card_rows)
    return CountyBoards(len(record_county(Path(root), county, path)))


def run_state_audit(root: Path, ex: Any, builds: dict[str, tuple[int, int, int, tuple[str, ...]]],
                    seed: str, batch: bool) -> tuple[list[dict[str, Any]], list[str], Any]:
    """Start the audit, run rounds until every outcome is confirmed, a full hand count is
    needed or :data:`MAX_ROUNDS` passed; return the checks, notes and the last status.
    ``builds``: county -> (cards, seed, index, faults) as the county was drawn."""
    from ..audit.workflow import ANOTHER_ROUND, CONFIRMED
    from ..state.audit import next_state_round, start_state_audit
    from ..state.audit_status import discrepancies_by_county, state_audit_status
    from ..state.workflow import CountyFailures

    notes: list[str] = []
    kind = "stratified" if batch else "comparison"
    try:
        start_state_audit(root, ex, risk_limit=RISK_LIMIT, seed=seed, kind=kind,
                          now="2026-11-10T12:00:00Z")
    except TallyproofError as exc:
        return [{"name": "state.audit", "status": "not_run",
                 "summary": f"the statewide audit could not start: {exc}"}], notes, None
    status = None
    for n in range(1, MAX_ROUNDS + 1):
        try:
            rnd = next_state_round(root, ex)
            out = root.parent / "audit-boards" / f"round-{rnd.number}"
            out.mkdir(parents=True, exist_ok=True)
            counties = sorted(rnd.new_cards)
            outs = ex.map_each(boards_task, [(c, (str(root), *builds[c], str(out)))
                                             for c in counties])
            failed = [o for o in outs if not o.ok]
            if failed:
                raise CountyFailures("audit boards", failed)
            status = state_audit_status(root, ex)
        except TallyproofError as exc:
            notes.append(f"statewide audit round {n} could not be completed: {exc}")
            break
        if status.status != ANOTHER_ROUND:
            break
    if status is None:
        return [{"name": "state.audit", "status": "not_run",
                 "summary": "no statewide audit round could be completed"}], notes, None
    found = discrepancies_by_county(status)
    checks = []
    for county in sorted(builds):
        bad = found.get(county, {})
        checks.append({"name": f"{county}:audit", "status": "fail" if bad else "pass",
                       "summary": f"the audit's sample of {county}'s paper disagrees with what "
                                  "it reported in " + "; ".join(
                                      f"{c} ({', '.join(f'{n} {k}' for k, n in d.items() if n)})"
                                      for c, d in bad.items()) if bad else
                                  f"{county}'s sample of the paper matches what it reported",
                       "details": {"discrepancies": bad}})
    over = {c: [s.contest_id for s in status.contests if c in s.overstating_counties]
            for c in builds}
    risks = "; ".join(f"{s.contest_id}: risk {s.measured_risk:.4f}, {s.status}"
                      for s in status.contests)
    named = sorted(c for c, v in over.items() if v)
    checks.append({
        "name": "state.audit", "status": "pass" if status.status == CONFIRMED else "fail",
        "summary": (f"{kind} audit, risk limit {RISK_LIMIT:g}, {status.rounds} round(s): "
                    + ("every statewide outcome confirmed" if status.status == CONFIRMED else
                       f"escalated ({status.status.replace('_', ' ')})")
                    + (f"; overstatements in {', '.join(named)}" if named else "")
                    + f" ({risks})"),
        "details": status.to_json()})
    return checks, notes, status

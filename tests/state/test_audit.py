"""The statewide audit: one seed, a statewide sample split into county retrieval lists,
per-county records, risk measured statewide, escalation naming the county whose ballots were
switched, and a full hand count by batch."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tallyproof.audit.records import (
    codes_to_marks,
    format_marks,
    write_batch_records_csv,
    write_records_csv,
)
from tallyproof.audit.sampler import sample
from tallyproof.audit.frames import batch_keys, load_cards
from tallyproof.audit.workflow import ANOTHER_ROUND, CONFIRMED, FULL_HAND_COUNT
from tallyproof.audit.worksheets import RETRIEVAL_COLUMNS
from tallyproof.cvr_table import CvrBuilder
from tallyproof.errors import AuditError, InputError, UsageError
from tallyproof.model import Election, SourceFile
from tallyproof.state.audit import (
    load_state_rounds,
    next_state_round,
    record_county,
    start_state_audit,
)
from tallyproof.state.audit_status import hand_count_status, state_audit_status
from tallyproof.state.audit_tasks import split_ballot_id, state_ballot_id
from tallyproof.state.executor import InProcess
from tallyproof.ledger import new_keypair
from tallyproof.state.tasks import county_key_path, county_store_dir
from tallyproof.state.workflow import (
    add_contest,
    add_county,
    CountyFailures,
    commit_all,
    contest_from_options,
    init_state,
)
from tallyproof.store import Store

from ..ledger.conftest import CONTESTS, ELECTION
from .conftest import SOUTH

SEED = "12345678901234567890"
EX = InProcess()


def cast(root: Path, county: str, n: int, seed: int, election: Election,
         shares: tuple[float, ...] = (0.62, 0.30, 0.05, 0.03)) -> None:
    """``n`` cards for ``county``: every card votes in the mayor's race (candidate drawn with
    ``shares``); seven cards a batch on two tabulators."""
    rng = random.Random(seed)
    b = CvrBuilder(CONTESTS, chunk_rows=10_000)
    for i in range(n):
        mayor = rng.choices(range(4), weights=shares)[0]
        b.add(ballot_id=f"{county}-{i:05d}", tabulator=f"T{i % 2}", batch=f"{i // 14}",
              record=i // 2 % 7, precinct="P1", ballot_style="S1", vote_type="mail",
              source_file="export.csv", source_record=str(i), votes={"mayor": [[mayor]]})
    store = Store.create(county_store_dir(root, county), election)
    src = SourceFile(path="export.csv", name="export.csv", sha256=f"{seed:064x}", format="test",
                     cards=n)
    store.append(election, [b.finish()], [src])


def make_state(root: Path, north: int = 400, south: int = 300,
               more: Callable[[Path], None] | None = None) -> Path:
    """North and South; ``more(root)`` adds to the state before every county commits."""
    init_state(root, "Audit General", "2026-11-03", "TS")
    for cid, name in (("north", "North"), ("south", "South")):
        add_county(root, cid, name)
    add_contest(root, contest_from_options(
        "mayor", "Mayor", [f"c{i}=Candidate {i}" for i in range(4)],
        aliases={"south": {"contest": "Mayor of the City",
                           "candidates": {f"c{i}": f"CAND. {i}" for i in range(4)}}}))
    cast(root, "north", north, 1, ELECTION)
    cast(root, "south", south, 2, SOUTH)
    if more is not None:
        more(root)
    for cid in ("north", "south"):  # the audit starts after every county committed its CVRs
        new_keypair(county_key_path(root, cid))
    assert all(o.ok for o in commit_all(root, EX))
    return root


@pytest.fixture
def astate(tmp_path: Path) -> Path:
    return make_state(tmp_path / "state")


Paper = Callable[[str, str, list[list[int]] | None], list[list[int]] | None]


def boards(root: Path, county: str, paper: Paper | None = None) -> Path | None:
    """The records CSV a county's boards hand in for every drawn card not yet recorded: the
    paper reads as the CVR unless ``paper(county, ballot, cvr_marks)`` says otherwise."""
    store = Store.open(county_store_dir(root, county))
    contest = store.election.contest("mayor")
    cards = load_cards(store, [contest])
    col = cards.table.column(contest.column).to_pylist()
    done = set()
    rec = root / "audit" / "counties" / county / "records.jsonl"
    if rec.exists():
        done = {orjson.loads(x)["ballot_id"] for x in rec.read_bytes().splitlines()}
    rows = []
    for r in load_state_rounds(root):
        for d in r.draws["mayor"]:
            c, ballot = split_ballot_id(d["id"])
            if c != county or ballot in done:
                continue
            done.add(ballot)
            marks = col[cards.index[ballot]]
            if paper is not None:
                marks = paper(county, ballot, marks)
            rows.append((ballot, "mayor", format_marks(codes_to_marks(contest, marks)), False))
    if not rows:
        return None
    path = root / f"{county}-boards-{len(load_state_rounds(root))}.csv"
    write_records_csv(path, rows)
    return path


def record_all(root: Path, paper: Paper | None = None) -> None:
    for county in ("north", "south"):
        path = boards(root, county, paper)
        if path is not None:
            record_county(root, county, path)


def test_statewide_sample_is_the_sampler_over_the_statewide_frame(astate: Path) -> None:
    start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="polling")
    r1 = next_state_round(astate, EX)
    ids = [state_ballot_id(c, f"{c}-{i:05d}") for c, n in (("north", 400), ("south", 300))
           for i in range(n)]
    n = r1.targets["mayor"]
    assert 0 < n < len(ids)
    want = [{"id": d.id, "ticket": d.ticket} for d in sample(ids, SEED, n)]
    assert r1.draws["mayor"] == want
    # split into per-county retrieval lists, in the county audit's retrieval form
    for county in ("north", "south"):
        mine = {split_ballot_id(d["id"])[1] for d in want if d["id"].startswith(county + "/")}
        with open(r1.retrieval[county], newline="") as f:
            rows = list(csv.DictReader(f))
        assert tuple(rows[0]) == RETRIEVAL_COLUMNS
        assert {r["imprinted_id"] for r in rows} == mine and r1.new_cards[county] == len(mine)
        assert all(r["tabulator"] in ("T0", "T1") and r["batch"] for r in rows)


def test_polling_waits_for_counties_then_confirms(astate: Path) -> None:
    start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="polling")
    next_state_round(astate, EX)
    st = state_audit_status(astate, EX)
    assert st.status == ANOTHER_ROUND and set(st.waiting) == {"north", "south"}
    with pytest.raises(AuditError, match="in county north"):
        next_state_round(astate, EX)
    # South's boards write South's own ids; the CSV is the county audit's records form
    record_county(astate, "south", boards(astate, "south"))  # type: ignore[arg-type]
    st = state_audit_status(astate, EX)
    assert list(st.waiting) == ["north"]
    record_county(astate, "north", boards(astate, "north"))  # type: ignore[arg-type]
    st = state_audit_status(astate, EX)
    sizes = [load_state_rounds(astate)[-1].targets["mayor"]]
    while st.status == ANOTHER_ROUND and len(sizes) < 5:  # escalate statewide until confirmed
        sizes.append(next_state_round(astate, EX).targets["mayor"])
        record_all(astate)
        st = state_audit_status(astate, EX)
    assert sizes == sorted(set(sizes))
    assert st.status == CONFIRMED and not st.waiting
    (mayor,) = st.contests
    assert mayor.measured_risk <= 0.05 and mayor.frame_size == 700
    doc = orjson.loads((astate / "audit" / "status.json").read_bytes())
    assert doc["status"] == CONFIRMED
    with pytest.raises(AuditError, match="complete"):
        next_state_round(astate, EX)


def switch_south(county: str, ballot: str, marks: list[list[int]] | None
                 ) -> list[list[int]] | None:
    """South's tabulator credited every c1 ballot... the other way round: all of South's paper
    ballots for c0 are c1's (enough to change the statewide outcome)."""
    if county == "south" and marks == [[0]]:
        return [[1]]
    return marks


def switch_some(county: str, ballot: str, marks: list[list[int]] | None
                ) -> list[list[int]] | None:
    """One in three of South's c0 ballots is really c1's (the outcome still stands)."""
    if county == "south" and marks == [[0]] and int(ballot.rsplit("-", 1)[1]) % 3 == 0:
        return [[1]]
    return marks


def test_comparison_escalates_and_names_the_switched_county(astate: Path) -> None:
    params = start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="comparison")
    assert params.winners == {"mayor": ["c0"]}
    r1 = next_state_round(astate, EX)
    record_all(astate, switch_some)
    st = state_audit_status(astate, EX)
    (mayor,) = st.contests
    assert st.status == ANOTHER_ROUND and mayor.measured_risk > 0.05
    assert mayor.overstating_counties == ("south",)
    c0c1 = next(a for a in mayor.assertions if a.assertion_id == "mayor:pairwise:0>1")
    assert c0c1.by_county["south"].o2 > 0 and c0c1.by_county["north"].o2 == 0
    r2 = next_state_round(astate, EX)
    assert r2.targets["mayor"] > r1.targets["mayor"]
    assert r2.draws["mayor"][: len(r1.draws["mayor"])] == r1.draws["mayor"]


def test_comparison_sends_a_wrong_outcome_to_a_full_hand_count(astate: Path) -> None:
    start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="comparison")
    next_state_round(astate, EX)
    record_all(astate, switch_south)
    st = state_audit_status(astate, EX)
    assert st.status == FULL_HAND_COUNT
    assert st.contests[0].overstating_counties == ("south",)


def test_comparison_confirms_when_paper_matches(astate: Path) -> None:
    start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="comparison")
    next_state_round(astate, EX)
    record_all(astate)
    st = state_audit_status(astate, EX)
    assert st.status == CONFIRMED
    assert st.contests[0].overstating_counties == ()


def test_uncommitted_county_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "s"
    init_state(root, "Audit General", "2026-11-03", "TS")
    add_county(root, "north", "North")
    add_contest(root, contest_from_options("mayor", "Mayor",
                                           [f"c{i}=Candidate {i}" for i in range(4)]))
    cast(root, "north", 50, 1, ELECTION)
    with pytest.raises(CountyFailures, match="north.*not committed"):
        start_state_audit(root, EX, risk_limit=0.05, seed=SEED)


def test_changed_cvrs_after_start_are_refused(astate: Path) -> None:
    start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="comparison")
    next_state_round(astate, EX)
    store = Store.open(county_store_dir(astate, "north"))
    b = CvrBuilder(CONTESTS)
    b.add(ballot_id="north-late", tabulator="T9", batch="9", record=1,
          source_file="late.csv", source_record="1", votes={"mayor": [[1]]})
    store.append(ELECTION, [b.finish()], [SourceFile(path="late.csv", name="late.csv",
                                                      sha256="9" * 64, format="test", cards=1)])
    with pytest.raises(AuditError, match="county.*north"):
        state_audit_status(astate, EX)


def hand_rows(root: Path, county: str, alter: Callable[[str, dict[str, int]], dict[str, int]]
              | None = None, only: set[str] | None = None) -> Path:
    store = Store.open(county_store_dir(root, county))
    contest = store.election.contest("mayor")
    cards = load_cards(store, [contest])
    keys = batch_keys(cards)
    col = cards.table.column(contest.column).to_pylist()
    tallies: dict[str, dict[str, int]] = {}
    for k, marks in zip(keys, col, strict=True):
        t = tallies.setdefault(k, {c.id: 0 for c in contest.candidates})
        t[contest.candidates[marks[0][0]].id] += 1
    rows = [(k, "mayor", alter(k, t) if alter else t, False) for k, t in sorted(tallies.items())
            if only is None or k in only]
    path = root / f"{county}-hand-{len(load_state_rounds(root))}.csv"
    write_batch_records_csv(path, rows)
    return path


def test_full_hand_count_by_batch(astate: Path) -> None:
    start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="handcount")
    lists = next_state_round(astate, EX)  # every batch, one list per county
    for county in ("north", "south"):
        with open(lists.retrieval[county], newline="") as f:
            listed = {f"{r['tabulator']}/{r['batch']}" for r in csv.DictReader(f)}
        cards = load_cards(Store.open(county_store_dir(astate, county)), [])
        assert listed == set(batch_keys(cards).tolist())
        assert lists.new_cards[county] == len(listed) > 0
    with pytest.raises(AuditError, match="already"):
        next_state_round(astate, EX)
    record_county(astate, "north", hand_rows(astate, "north"))
    (mayor,) = hand_count_status(astate, EX)
    assert mayor.status == "waiting" and mayor.counted < mayor.batches

    def moved(key: str, t: dict[str, int]) -> dict[str, int]:
        # in one South batch the hand count finds 3 of c0's votes were c1's
        return dict(t, c0=t["c0"] - 3, c1=t["c1"] + 3) if key == "T0/0" else t

    record_county(astate, "south", hand_rows(astate, "south", moved))
    (mayor,) = hand_count_status(astate, EX)
    assert mayor.status == CONFIRMED and mayor.counted == mayor.batches
    assert mayor.by_county["north"]["differing_batches"] == []
    assert mayor.by_county["south"]["difference"] == {"c0": -3, "c1": 3, "c2": 0, "c3": 0}
    assert [d["batch"] for d in mayor.by_county["south"]["differing_batches"]] == ["T0/0"]
    assert mayor.hand_votes["c0"] == mayor.cvr_votes["c0"] - 3


def test_full_hand_count_that_overturns(tmp_path: Path) -> None:
    root = make_state(tmp_path / "s", 60, 60)
    start_state_audit(root, EX, risk_limit=0.05, seed=SEED, kind="handcount")
    record_county(root, "north", hand_rows(root, "north"))

    def swap(key: str, t: dict[str, int]) -> dict[str, int]:
        return dict(t, c0=t["c1"], c1=t["c0"])  # South's paper: c0 and c1 swapped everywhere

    record_county(root, "south", hand_rows(root, "south", swap))
    (mayor,) = hand_count_status(root, EX)
    cvr, hand = mayor.cvr_votes, mayor.hand_votes
    assert hand["c0"] + hand["c1"] == cvr["c0"] + cvr["c1"]
    want = CONFIRMED if hand["c0"] > hand["c1"] else "outcome_differs"
    assert mayor.status == want


@pytest.mark.parametrize("kind", ["comparison", "polling"])
def test_risk_limit_holds_when_the_reported_winner_lost(tmp_path: Path, kind: str) -> None:
    """Simulation: the CVRs report c0 ahead, but on South's paper just enough of c0's votes
    are c1's that c1 truly won by one vote, the hardest wrong outcome to catch. Over many
    public seeds, a comparison or polling audit (escalating statewide for up to three rounds;
    stopping earlier can only lower the chance of confirming) may confirm the wrong outcome
    at most about alpha of the time (alpha = 0.2 so that a violation would show in 60 trials,
    40 for the slower polling; the binomial bound allows 3 standard deviations)."""
    import shutil

    alpha, trials = 0.2, 60 if kind == "comparison" else 40
    root = make_state(tmp_path / "s", 80, 80)
    votes = {}
    for county in ("north", "south"):
        store = Store.open(county_store_dir(root, county))
        contest = store.election.contest("mayor")
        cards = load_cards(store, [contest])
        votes[county] = dict(zip(cards.ids.tolist(),
                                 (m[0][0] for m in cards.table.column(contest.column).to_pylist()),
                                 strict=True))
    reported = [sum(v == k for vs in votes.values() for v in vs.values()) for k in (0, 1)]
    k = (reported[0] - reported[1]) // 2 + 1  # moving k votes from c0 to c1 makes c1 win
    moved = set([b for b, v in votes["south"].items() if v == 0][:k])
    assert len(moved) == k and reported[1] + k > reported[0] - k

    def lost(county: str, ballot: str, marks: list[list[int]] | None
             ) -> list[list[int]] | None:
        return [[1]] if county == "south" and ballot in moved else marks

    wrong = 0
    for t in range(trials):
        shutil.rmtree(root / "audit", ignore_errors=True)
        start_state_audit(root, EX, risk_limit=alpha, seed=str(1000 + t), kind=kind)
        st = None
        rounds = 0
        while (st is None or st.status == ANOTHER_ROUND) and rounds < 3:
            next_state_round(root, EX)
            record_all(root, lost)
            st = state_audit_status(root, EX, write=False)
            rounds += 1
        wrong += st.status == CONFIRMED
    assert wrong <= alpha * trials + 3 * (alpha * (1 - alpha) * trials) ** 0.5


def count_drawn_batches(root: Path, alter: Callable[[str, dict[str, int]], dict[str, int]]
                        | None = None, south_only: bool = True) -> None:
    """Hand count the batches drawn and not yet counted (``alter`` changes South's counts)."""
    for county in ("north", "south"):
        rec = root / "audit" / "counties" / county / "records.jsonl"
        done = ({orjson.loads(x)["ballot_id"] for x in rec.read_bytes().splitlines()}
                if rec.exists() else set())
        drawn = {split_ballot_id(d["id"])[1] for r in load_state_rounds(root)
                 for d in r.draws["mayor"] if d["id"].startswith(county + "/")} - done
        if drawn:
            record_county(root, county, hand_rows(
                root, county, alter if county == "south" or not south_only else None, drawn))


def test_batch_comparison_confirms_or_names_the_county(astate: Path, tmp_path: Path) -> None:
    params = start_state_audit(astate, EX, risk_limit=0.1, seed=SEED, kind="batch")
    b_north = params.county_frames["mayor"]["north"]
    assert params.frame_sizes["mayor"] == b_north + params.county_frames["mayor"]["south"]
    r1 = next_state_round(astate, EX)
    assert all(d["id"].count("/") == 2 for d in r1.draws["mayor"])  # county/tabulator/batch
    with open(next(iter(r1.retrieval.values())), newline="") as f:
        assert all(r["position"] == "" for r in csv.DictReader(f))  # whole batches
    count_drawn_batches(astate)
    st = state_audit_status(astate, EX)
    while st.status == ANOTHER_ROUND:
        next_state_round(astate, EX)
        count_drawn_batches(astate)
        st = state_audit_status(astate, EX)
    assert st.status == CONFIRMED and st.contests[0].overstating_counties == ()

    other = make_state(tmp_path / "other")
    start_state_audit(other, EX, risk_limit=0.1, seed=SEED, kind="batch")
    next_state_round(other, EX)

    def switched(key: str, t: dict[str, int]) -> dict[str, int]:
        return dict(t, c0=0, c1=t["c1"] + t["c0"])  # South's c0 ballots were c1's

    count_drawn_batches(other, switched)
    st = state_audit_status(other, EX)
    assert st.status != CONFIRMED
    assert st.contests[0].overstating_counties == ("south",)


def test_stratified_mixed_state(astate: Path, tmp_path: Path) -> None:
    """South audited by polling, North by comparison: one sample, two strata."""
    with pytest.raises(UsageError):
        start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="stratified")
    params = start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="stratified",
                               polling_counties=["south"])
    assert params.polling_counties == ("south",)
    next_state_round(astate, EX)
    record_all(astate)
    st = state_audit_status(astate, EX)
    rounds = 1
    while st.status == ANOTHER_ROUND and rounds < 6:
        next_state_round(astate, EX)
        record_all(astate)
        st = state_audit_status(astate, EX)
        rounds += 1
    assert st.status == CONFIRMED and st.contests[0].measured_risk <= 0.05

    other = make_state(tmp_path / "other")
    start_state_audit(other, EX, risk_limit=0.05, seed=SEED, kind="stratified",
                      polling_counties=["south"])
    next_state_round(other, EX)

    def switch_north(county: str, ballot: str, marks: list[list[int]] | None
                     ) -> list[list[int]] | None:
        return [[1]] if county == "north" and marks == [[0]] else marks

    record_all(other, switch_north)
    (mayor,) = state_audit_status(other, EX).contests
    assert mayor.status != CONFIRMED and mayor.overstating_counties == ("north",)


def test_state_audit_commands(astate: Path, capsys) -> None:  # noqa: ANN001
    from tallyproof.cli import main

    d = str(astate)
    assert main(["state", "audit", "start", d, "--risk-limit", "0.05", "--seed", SEED,
                 "--kind", "comparison", "--in-process", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["audit"]["winners"] == {"mayor": ["c0"]}
    assert main(["state", "audit", "round", d, "--in-process", "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert set(doc["retrieval_lists"]) == {"north", "south"}
    assert main(["state", "audit", "status", d, "--in-process"]) == 0
    assert "waiting for" in capsys.readouterr().out
    for county in ("north", "south"):
        path = boards(astate, county, switch_south)
        assert main(["state", "audit", "record", d, county, str(path)]) == 0
    capsys.readouterr()
    # South's switched ballots overturn the outcome: exit 1, naming the county
    assert main(["state", "audit", "status", d, "--in-process"]) == 1
    captured = capsys.readouterr()
    assert "south" in captured.out and "full_hand_count" in captured.out


def test_a_county_records_only_its_own_draws(astate: Path) -> None:
    start_state_audit(astate, EX, risk_limit=0.05, seed=SEED, kind="comparison")
    next_state_round(astate, EX)
    north_csv = boards(astate, "north")
    with pytest.raises(InputError, match="not drawn") as info:
        record_county(astate, "south", north_csv)  # type: ignore[arg-type]
    assert info.value.record == 2
    assert not (astate / "audit" / "counties" / "south" / "records.jsonl").exists()


def test_hand_count_command_exits_1_when_the_outcome_differs(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from tallyproof.cli import main

    root = make_state(tmp_path / "s", 40, 120)
    d = str(root)
    assert main(["state", "audit", "start", d, "--risk-limit", "0.05", "--seed", SEED,
                 "--kind", "handcount", "--in-process"]) == 0
    assert main(["state", "audit", "round", d, "--in-process"]) == 0
    record_county(root, "north", hand_rows(root, "north"))

    def swap(key: str, t: dict[str, int]) -> dict[str, int]:
        return dict(t, c0=t["c1"], c1=t["c0"])

    record_county(root, "south", hand_rows(root, "south", swap))
    capsys.readouterr()
    (mayor,) = hand_count_status(root, EX, write=False)
    assert mayor.status == "outcome_differs"  # South holds 3/4 of the cards: c1 wins
    assert main(["state", "audit", "status", d, "--in-process"]) == 1
    assert "not the reported" in capsys.readouterr().err

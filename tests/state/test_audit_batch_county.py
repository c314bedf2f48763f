"""The statewide audit in a state with a county that reports batch tallies only ("east"):
comparison refused, a stratified audit (cards in the CVR counties, whole batches in east)
that confirms or escalates naming east, batch comparison and the full hand count."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from tallyproof.audit.records import load_records, write_batch_records_csv
from tallyproof.audit.workflow import ANOTHER_ROUND, CONFIRMED
from tallyproof.errors import UsageError
from tallyproof.ledger import new_keypair
from tallyproof.state.audit import load_state_rounds, next_state_round, record_county, \
    start_state_audit
from tallyproof.state.audit_status import hand_count_status, state_audit_status
from tallyproof.state.audit_tasks import county_records_path, split_ballot_id
from tallyproof.state.tasks import county_key_path, ingest_task
from tallyproof.state.workflow import add_county

from .batch_fixtures import EAST, write_east
from .test_audit import EX, SEED, make_state, record_all

Alter = Callable[[dict[str, int]], dict[str, int]]


@pytest.fixture
def mstate(tmp_path: Path) -> Path:
    """North and South (CVRs) and East, which reports batch tallies only."""
    def add_east(root: Path) -> None:
        add_county(root, "east", "East", kind="batch_tallies")
        manifest, tallies = write_east(tmp_path / "east")
        assert ingest_task("east", str(root), [str(tallies)], "auto", str(manifest))
        new_keypair(county_key_path(root, "east"))

    return make_state(tmp_path / "state", more=add_east)


def count_east(root: Path, alter: Alter | None = None, every: bool = False) -> None:
    """East's boards hand count its drawn batches (or all of them): the paper as its
    tallies report it, unless ``alter`` says otherwise."""
    reported = {f"{t}/{b}": dict(zip([f"candidate-{i}" for i in range(4)], v, strict=True))
                for t, b, _, v in EAST}
    drawn = set(reported) if every else {
        split_ballot_id(d["id"])[1] for r in load_state_rounds(root) for d in r.draws["mayor"]
        if d["id"].startswith("east/")}
    done = {r.ballot_id for r in load_records(county_records_path(root, "east"))}
    rows = [(k, "mayor", alter(t) if alter else t, False) for k, t in sorted(reported.items())
            if k in drawn and k not in done]
    if not rows:
        return
    path = root / f"east-hand-{len(load_state_rounds(root))}.csv"
    write_batch_records_csv(path, rows)
    record_county(root, "east", path)


def _run(root: Path, alter: Alter | None = None, rounds: int = 6) -> object:
    if not load_state_rounds(root):
        next_state_round(root, EX)
    record_all(root)
    count_east(root, alter)
    st = state_audit_status(root, EX)
    n = 1
    while st.status == ANOTHER_ROUND and n < rounds:
        next_state_round(root, EX)
        record_all(root)
        count_east(root, alter)
        st = state_audit_status(root, EX)
        n += 1
    return st


def test_card_audits_are_refused_naming_the_batch_county(mstate: Path) -> None:
    for kind in ("comparison", "polling"):
        with pytest.raises(UsageError, match="east"):
            start_state_audit(mstate, EX, risk_limit=0.05, seed=SEED, kind=kind)
    with pytest.raises(UsageError, match="two strata"):
        start_state_audit(mstate, EX, risk_limit=0.05, seed=SEED, kind="stratified",
                          polling_counties=["south"])


def test_stratified_cards_and_batches_confirm(mstate: Path) -> None:
    params = start_state_audit(mstate, EX, risk_limit=0.05, seed=SEED, kind="stratified")
    assert params.batch_counties == ("east",) and params.polling_counties == ()
    assert params.frame_sizes["mayor"] == 700  # the card stratum
    assert params.batch_frames["mayor"] == len(EAST)
    r1 = next_state_round(mstate, EX)
    ids = [d["id"] for d in r1.draws["mayor"]]
    east = [i for i in ids if i.startswith("east/")]
    assert len(east) == params.batch_target("mayor", r1.targets["mayor"]) >= 1
    assert len(ids) - len(east) == r1.targets["mayor"]
    with open(r1.retrieval["east"], newline="") as f:
        assert {f"{r['tabulator']}/{r['batch']}" for r in csv.DictReader(f)} == {
            split_ballot_id(i)[1] for i in east}
    st = _run(mstate)
    assert st.status == CONFIRMED
    (mayor,) = st.contests
    assert mayor.measured_risk <= 0.05 and mayor.overstating_counties == ()


def test_stratified_escalates_and_names_the_batch_county(mstate: Path) -> None:
    start_state_audit(mstate, EX, risk_limit=0.05, seed=SEED, kind="stratified")

    def switched(t: dict[str, int]) -> dict[str, int]:  # east's c0 votes were c1's on paper
        return dict(t, **{"candidate-0": 0,
                          "candidate-1": t["candidate-1"] + t["candidate-0"]})

    st = _run(mstate, switched, rounds=1)
    (mayor,) = st.contests
    assert mayor.status != CONFIRMED and mayor.overstating_counties == ("east",)


def test_batch_comparison_and_hand_count_include_the_batch_county(mstate: Path,
                                                                  tmp_path: Path) -> None:
    params = start_state_audit(mstate, EX, risk_limit=0.1, seed=SEED, kind="batch")
    assert params.county_frames["mayor"]["east"] == len(EAST)
    r1 = next_state_round(mstate, EX)
    assert all(d["id"].count("/") == 2 for d in r1.draws["mayor"])
    other = tmp_path / "hc"
    import shutil

    shutil.copytree(mstate, other)
    shutil.rmtree(other / "audit")
    start_state_audit(other, EX, risk_limit=0.05, seed=SEED, kind="handcount")
    lists = next_state_round(other, EX)
    assert lists.new_cards["east"] == len(EAST)
    count_east(other, lambda t: dict(t, **{"candidate-0": t["candidate-0"] - 1,
                                           "candidate-1": t["candidate-1"] + 1}), every=True)
    (mayor,) = hand_count_status(other, EX)
    assert mayor.status == "waiting"
    assert mayor.by_county["east"]["difference"]["c0"] == -len(EAST)
    assert mayor.by_county["east"]["counted"] == len(EAST)


def test_the_batch_stage_names_each_batch_once_per_read(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """One call of the batch stage (and of the county's draw) builds each batch id once per
    read of the county's tallies, however many batches it has. Counted, not timed: the ids
    were once rebuilt, all B of them, at every batch read (B² per contest), and the
    5,000,000-card state's batch stage grew 13× per call for 5× the cards."""
    from collections import Counter

    import tallyproof.audit.batch as batch_mod
    from tallyproof.audit.sampler import sample
    from tallyproof.state import audit_batch_county as abc
    from tallyproof.state.audit_tasks import batch_task, draw_task
    from tallyproof.state.spec import load_spec

    many = [(f"T{t}", str(b), 20, (10, 5, 3, 2)) for t in (1, 2, 3) for b in range(1, 21)]

    def add_east(root: Path) -> None:
        add_county(root, "east", "East", kind="batch_tallies")
        manifest, tallies = write_east(tmp_path / "east", many)
        assert ingest_task("east", str(root), [str(tallies)], "auto", str(manifest))
        new_keypair(county_key_path(root, "east"))

    root = make_state(tmp_path / "state", more=add_east)
    spec = load_spec(root).to_json()
    counted: Counter[str] = Counter()
    key, load = batch_mod.batch_key, abc.load_batch_county

    def counting_key(t: str | None, b: str | None) -> str:
        counted["ids"] += 1
        return key(t, b)

    def counting_load(folder: Path) -> object:
        counted["reads"] += 1
        return load(folder)

    monkeypatch.setattr(batch_mod, "batch_key", counting_key)
    monkeypatch.setattr(abc, "load_batch_county", counting_load)
    got = batch_task("east", str(root), spec, ["mayor"])
    assert counted["reads"] >= 1 and counted["ids"] <= len(many) * counted["reads"]
    (mayor,) = got.contests
    order = sorted(many, key=lambda r: (r[0], r[1]))
    assert mayor.keys == tuple(f"{t}/{b}" for t, b, _, _ in order)  # T1/1, T1/10, …, T3/9
    assert mayor.cards == (20,) * len(many) and mayor.cvr == ((10, 5, 3, 2),) * len(many)

    counted.clear()
    draws = draw_task("east", str(root), spec, SEED, {"mayor": 5}, "card", {"mayor": 7})
    assert counted["reads"] == 1 and counted["ids"] <= len(many)
    frame = [f"east/{k}" for k in mayor.keys]
    assert draws.draws["mayor"] == tuple((d.id, d.ticket) for d in sample(frame, SEED, 7))

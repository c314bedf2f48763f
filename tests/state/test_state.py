"""The state layer: name mapping, exact statewide merges, failures confined to their county,
the state log of county checkpoints and its proofs (checked by a verifier written from the
documentation)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tallyproof.errors import InputError
from tallyproof.ledger import new_keypair
from tallyproof.ledger.keys import load_verifier
from tallyproof.state.executor import InProcess
from tallyproof.state.spec import load_spec, map_county
from tallyproof.state.statelog import (
    prove_ballot,
    publish,
    verify_ballot_proof,
    verify_state_log,
)
from tallyproof.state.tasks import county_store_dir, ingest_task
from tallyproof.state.workflow import commit_all, tabulate_state
from tallyproof.store import Store
from tallyproof.tabulate.plurality import tally_store

from .conftest import SOUTH


def test_two_spellings_of_one_contest_merge_exactly(state: Path) -> None:
    results = {r.contest: r for r in tabulate_state(state, InProcess())}
    mayor = results["mayor"]
    want: dict[str, int] = {}
    cards = 0
    for county in ("north", "south"):
        t = tally_store(Store.open(county_store_dir(state, county)))["mayor"]
        assert mayor.by_county[county] == t.votes
        cards += t.cards
        for k, v in t.votes.items():
            want[k] = want.get(k, 0) + v
    assert mayor.votes == want
    assert mayor.cards == cards > 0
    assert len(mayor.winners) == 1 and mayor.winners[0] == max(want, key=lambda k: (want[k], -int(k[1:])))
    assert set(results["council"].by_county) == {"north", "south"}
    doc = orjson.loads((state / "results" / "statewide.json").read_bytes())
    assert doc["contests"][0]["votes"] == want


def test_unmatched_names_are_errors_naming_the_county(state: Path) -> None:
    spec = load_spec(state)
    bad = spec.contests[0]
    from dataclasses import replace

    no_alias = replace(spec, contests=(replace(bad, aliases={}),))
    # without its alias, South's "MAYOR OF THE CITY" matches no statewide contest: it is then
    # a county contest; but with a wrong alias, the error names the county
    assert map_county(no_alias, "south", SOUTH.contests) == []
    wrong = replace(spec, contests=(replace(bad, aliases={"south": replace(
        bad.aliases["south"], contest="Mayor Of Nowhere")}),))
    with pytest.raises(InputError, match="county south"):
        map_county(wrong, "south", SOUTH.contests)


def test_a_bad_export_fails_its_county_only(state: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,cvr\n1,2\n")
    before = {c: Store.open(county_store_dir(state, c)).cvr_count() for c in ("north", "south")}
    outs = InProcess().map(ingest_task, ["north"], str(state), [str(bad)])
    (o,) = outs
    assert not o.ok and o.exit_code == 2 and "bad.csv" in (o.error or "")
    after = {c: Store.open(county_store_dir(state, c)).cvr_count() for c in ("north", "south")}
    assert before == after


def test_state_log_proofs_and_tampering(state: Path, tmp_path: Path) -> None:
    key, pub = new_keypair(tmp_path / "state-key")
    commits = {o.county: o.value for o in commit_all(state, InProcess())}
    first = publish(state, key, commits)
    assert first.published and first.counties_added == ("north", "south")
    assert verify_state_log(state) == []
    assert publish(state, key, commits).published is False  # nothing new

    proof = prove_ballot(state, "south", "south-00007")
    assert verify_ballot_proof(proof, load_verifier(pub)) == []
    # a proof for another ballot's leaf, or through another state key, fails
    forged = dict(proof, county_proof=dict(proof["county_proof"], leaf_hash="00" * 32))
    assert verify_ballot_proof(forged, load_verifier(pub))
    _, other_pub = new_keypair(tmp_path / "other")
    assert verify_ballot_proof(proof, load_verifier(other_pub))

    # the county commits more cards and republishes: the state log grows consistently
    from tallyproof.model import SourceFile

    from ..ledger.conftest import ELECTION, card_batches

    store = Store.open(county_store_dir(state, "north"))
    store.append(ELECTION, card_batches(5, 9, prefix="north-late-"),
                 [SourceFile(path="late.csv", name="late.csv", sha256="9" * 64, format="test",
                             cards=5)])
    commits = {o.county: o.value for o in commit_all(state, InProcess())}
    second = publish(state, key, commits)
    assert second.counties_added == ("north",) and second.tree_size == 3
    assert verify_state_log(state) == []
    assert verify_ballot_proof(prove_ballot(state, "north", "north-late-00002"),
                               load_verifier(pub)) == []

    # a published county checkpoint altered in the state log is caught
    seg = state / "log" / "segments" / "000001.json"
    leaves = orjson.loads(seg.read_bytes())
    leaves[0]["checkpoint"] = leaves[1]["checkpoint"]  # north's leaf now holds south's note
    seg.write_bytes(orjson.dumps(leaves))
    failures = verify_state_log(state)
    assert any("does not match the leaves" in f for f in failures)
    assert any("not signed by its key" in f for f in failures)


def test_statewide_accounting_and_certified_results(state: Path, tmp_path: Path) -> None:
    from tallyproof.state.accounting import check_statewide_results, reconcile_state

    tabulate_state(state, InProcess())
    account = reconcile_state(state, InProcess())
    assert account.check.status == "not_run"  # no county gave a manifest or pollbooks
    assert account.cvrs == 65
    merged = orjson.loads((state / "results" / "statewide.json").read_bytes())
    votes = merged["contests"][0]["votes"]
    good = tmp_path / "certified.csv"
    good.write_text("contest,candidate,votes\n" + "".join(
        f"Mayor,Candidate {k[1:]},{v}\n" for k, v in votes.items()))
    assert check_statewide_results(state, good).status == "pass"
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text().replace(f"Candidate 0,{votes['c0']}", f"Candidate 0,{votes['c0'] + 3}"))
    check = check_statewide_results(state, bad)
    assert check.status == "fail" and check.details["differences"][0]["candidate"] == "c0"
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("contest,candidate,votes\nSheriff,Someone,3\n")
    with pytest.raises(InputError, match="no statewide contest 'Sheriff'"):
        check_statewide_results(state, unknown)


def test_statewide_irv_counts_every_countys_ballots_together(state: Path) -> None:
    """The ranked contest counted from all counties' ballots at once equals one IRV over the
    union of the counties' CVRs (here: one store holding both counties' cards)."""
    import pyarrow as pa

    from tallyproof.state.workflow import add_contest, contest_from_options
    from tallyproof.tabulate.ballots import from_table
    from tallyproof.tabulate.rcv import irv

    add_contest(state, contest_from_options("rcv", "Ranked", [f"c{i}=Candidate {i}"
                                                            for i in range(4)], kind="irv"))
    results = {r.contest: r for r in tabulate_state(state, InProcess())}
    rcv = results["rcv"]
    stores = [Store.open(county_store_dir(state, c)) for c in ("north", "south")]
    contest = stores[0].election.contest("rcv")
    both = pa.concat_tables([s.cvrs(columns=[contest.column]) for s in stores])
    direct = irv(from_table(both, contest.column, contest.max_rankings), contest)
    assert rcv.winners == direct.winners
    assert rcv.rcv is not None
    assert len(rcv.rcv["rounds"]) == len(direct.rounds)
    assert rcv.votes == {k: int(v) for k, v in direct.rounds[0].tally.items()}
    assert rcv.cards == sum(rcv.by_county[c]["ballots"] for c in ("north", "south")) > 0


def _both_counties_ballots(state: Path):  # noqa: ANN202
    import pyarrow as pa

    from tallyproof.tabulate.ballots import from_table

    stores = [Store.open(county_store_dir(state, c)) for c in ("north", "south")]
    contest = stores[0].election.contest("rcv")
    both = pa.concat_tables([s.cvrs(columns=[contest.column]) for s in stores])
    return from_table(both, contest.column, contest.max_rankings), contest


def test_statewide_stv_equals_one_stv_over_every_countys_ballots(state: Path) -> None:
    """A two-seat statewide STV contest, counted from the counties' ranking arrays, equals
    one STV count over the union of the counties' CVRs (one store holding both)."""
    from dataclasses import replace

    from tallyproof.model import ContestKind
    from tallyproof.state.workflow import add_contest, contest_from_options
    from tallyproof.tabulate.stv import stv

    add_contest(state, contest_from_options("rcv", "Ranked", [f"c{i}=Candidate {i}"
                                                            for i in range(4)], kind="stv",
                                            seats=2))
    res = {r.contest: r for r in tabulate_state(state, InProcess())}["rcv"]
    ballots, contest = _both_counties_ballots(state)
    direct = stv(ballots, replace(contest, kind=ContestKind.STV, seats=2))
    assert len(direct.winners) == 2
    assert res.kind == "stv" and res.winners == direct.winners
    assert res.rcv is not None and res.rcv == direct.to_json()
    assert res.cards == sum(res.by_county[c]["ballots"] for c in ("north", "south")) > 0


def test_verify_recounts_statewide_ranked_contests(state: Path, tmp_path: Path) -> None:
    """``verify`` counts a statewide IRV contest again from the bundled counties' ballots: the
    bundle verifies, and a ranked result altered in it (SHA256SUMS re-made) fails the
    recount, naming the contest."""
    import shutil

    from tallyproof.evidence.bundle import write_sums
    from tallyproof.state.evidence import build_state_bundle
    from tallyproof.state.workflow import add_contest, contest_from_options
    from tallyproof.verify import verify_bundle

    add_contest(state, contest_from_options("rcv", "Ranked", [f"c{i}=Candidate {i}"
                                                            for i in range(4)], kind="irv"))
    key, _ = new_keypair(tmp_path / "state-key")
    publish(state, key, {o.county: o.value for o in commit_all(state, InProcess())})
    tabulate_state(state, InProcess())
    bundle = build_state_bundle(state, tmp_path / "bundle")
    rep = verify_bundle(bundle)
    recount = next(c for c in rep.checks if c.name == "state.results")
    assert rep.ok and recount.status == "pass" and "3 contest(s)" in recount.summary
    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    p = bad / "state" / "results" / "statewide.json"
    doc = orjson.loads(p.read_bytes())
    ranked = next(c for c in doc["contests"] if c["contest"] == "rcv")
    ranked["winners"] = [next(k for k in ranked["votes"] if k not in ranked["winners"])]
    p.write_bytes(orjson.dumps(doc))
    write_sums(bad)
    rep = verify_bundle(bad)
    recount = next(c for c in rep.checks if c.name == "state.results")
    assert not rep.ok and recount.status == "fail" and "rcv" in recount.summary


def test_an_irv_contest_has_one_seat() -> None:
    """The statewide count runs IRV for one seat whatever ``seats`` says: a contest declared
    with two would be counted as one, so ``state add-contest`` (and the control room) refuse
    it; STV takes the seats."""
    from tallyproof.errors import UsageError
    from tallyproof.state.workflow import contest_from_options

    with pytest.raises(UsageError, match="an IRV contest elects one; for 2 seats choose stv"):
        contest_from_options("m", "Mayor", ["a=A", "b=B", "c=C"], kind="irv", seats=2)
    assert contest_from_options("m", "Mayor", ["a=A", "b=B", "c=C"], kind="stv",
                                seats=2).seats == 2

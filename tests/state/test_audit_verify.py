"""``state.audit``: verify re-draws the statewide audit from its seed and re-measures its risk
from the bundled records, so a forged status or a swapped sample in a state bundle fails
even when SHA256SUMS is re-made to match."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from tallyproof.audit.workflow import CONFIRMED
from tallyproof.evidence.bundle import write_sums
from tallyproof.ledger import new_keypair
from tallyproof.state.audit import next_state_round, start_state_audit
from tallyproof.state.audit_status import state_audit_status
from tallyproof.state.evidence import build_state_bundle
from tallyproof.state.statelog import publish
from tallyproof.state.workflow import commit_all, tabulate_state
from tallyproof.verify import verify_bundle

from .test_audit import EX, SEED, make_state, record_all, switch_some


def _bundle(root: Path, out: Path) -> Path:
    key, _ = new_keypair(out.parent / "state-key")
    publish(root, key, {o.county: o.value for o in commit_all(root, EX)})
    tabulate_state(root, EX)
    return build_state_bundle(root, out, EX)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _check(folder: Path, name: str = "state.audit"):  # noqa: ANN202
    rep = verify_bundle(folder)
    return rep, next(c for c in rep.checks if c.name == name)


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A comparison audit that escalated once (south's paper disagrees on some cards), then
    confirmed after the second round; bundled."""
    tmp = tmp_path_factory.mktemp("audited")
    root = make_state(tmp / "state")
    start_state_audit(root, EX, risk_limit=0.05, seed=SEED, kind="comparison")
    next_state_round(root, EX)
    record_all(root, switch_some)
    assert state_audit_status(root, EX).status != CONFIRMED
    next_state_round(root, EX)
    record_all(root)
    state_audit_status(root, EX)
    return _bundle(root, tmp / "bundle")


def test_a_bundled_statewide_audit_is_redrawn_and_remeasured(audited: Path) -> None:
    before = _files(audited)
    rep, check = _check(audited)
    assert rep.ok, [(c.name, c.summary) for c in rep.checks if c.status != "pass"]
    assert check.status == "pass"
    status = orjson.loads((audited / "state" / "audit" / "status.json").read_bytes())
    (mayor,) = status["contests"]
    assert check.details["rounds"] == status["rounds"] == 2
    assert "2 round(s)" in check.summary and "1 contest(s)" in check.summary
    assert f"mayor {mayor['status'].replace('_', ' ')}, risk {mayor['measured_risk']:.4g} " \
           "vs limit 0.05" in check.summary
    assert check.details["compared"] == ["history/round-002.json", "status.json"]
    assert _files(audited) == before  # nothing written into the bundle


def _forge(audited: Path, tmp: Path, name: str, edit) -> Path:  # noqa: ANN001
    bad = tmp / name
    shutil.copytree(audited, bad)
    edit(bad / "state" / "audit")
    write_sums(bad)
    return bad


@pytest.mark.parametrize("field", ["status", "risk"])
def test_a_forged_status_fails_state_audit(audited: Path, tmp_path: Path, field: str) -> None:
    def edit(audit: Path) -> None:
        for p in (audit / "status.json", audit / "history" / "round-002.json"):
            doc = orjson.loads(p.read_bytes())
            c = doc["contests"][0]
            if field == "status":  # claim confirmed with the real risk of round 1
                doc["rounds"], doc["status"], c["status"] = 2, CONFIRMED, CONFIRMED
                c["measured_risk"] = 0.001
            else:
                c["measured_risk"] = c["measured_risk"] / 10
            p.write_bytes(orjson.dumps(doc))

    rep, check = _check(_forge(audited, tmp_path, "bad", edit))
    assert not rep.ok and check.status == "fail"
    assert "state.audit" in {f.check for f in rep.failures}
    assert "contest mayor" in check.summary and "measured_risk" in check.summary
    assert "status.json" in check.summary and "history/round-002.json" in check.summary


def test_a_first_round_status_claimed_confirmed_fails(tmp_path: Path) -> None:
    """One round, south's paper disagreeing: another round is due; a status.json rewritten
    to "confirmed" (and the report rebuilt from it would agree) fails on state.audit."""
    root = make_state(tmp_path / "state")
    start_state_audit(root, EX, risk_limit=0.05, seed=SEED, kind="comparison")
    next_state_round(root, EX)
    record_all(root, switch_some)
    assert state_audit_status(root, EX).status != CONFIRMED
    bundle = _bundle(root, tmp_path / "bundle")
    _, ok = _check(bundle)
    assert ok.status == "pass" and "another round" in ok.summary

    def edit(audit: Path) -> None:
        for p in (audit / "status.json", audit / "history" / "round-001.json"):
            doc = orjson.loads(p.read_bytes())
            doc["status"] = doc["contests"][0]["status"] = CONFIRMED
            p.write_bytes(orjson.dumps(doc))

    rep, check = _check(_forge(bundle, tmp_path, "bad", edit))
    assert not rep.ok and check.status == "fail"
    assert "status 'confirmed', re-measured 'another_round'" in check.summary


def test_a_swapped_draw_fails_state_audit(audited: Path, tmp_path: Path) -> None:
    """One draw of round 2 replaced by a card the seed did not draw (a card of the same
    county; its record is left as it was): the re-draw names the round, contest and
    county."""
    r2 = orjson.loads((audited / "state" / "audit" / "rounds" / "round-2.json").read_bytes())
    drawn = {d["id"] for d in r2["draws"]["mayor"]}
    at = len(r2["draws"]["mayor"]) - 1
    county = r2["draws"]["mayor"][at]["id"].split("/")[0]
    other = next(f"{county}/{county}-{i:05d}" for i in range(300)
                 if f"{county}/{county}-{i:05d}" not in drawn)

    def edit(audit: Path) -> None:
        p = audit / "rounds" / "round-2.json"
        doc = orjson.loads(p.read_bytes())
        doc["draws"]["mayor"][at]["id"] = other
        p.write_bytes(orjson.dumps(doc))

    rep, check = _check(_forge(audited, tmp_path, "swapped", edit))
    assert not rep.ok and check.status == "fail"
    assert f"round 2, contest mayor: draw {at + 1} of {at + 1} is {other}" in check.summary
    assert f"county {county}" in check.summary


def test_a_state_bundle_without_an_audit_says_not_run(tmp_path: Path) -> None:
    bundle = _bundle(make_state(tmp_path / "state"), tmp_path / "bundle")
    rep, check = _check(bundle)
    assert rep.ok and check.status == "not_run"
    assert "no statewide audit" in check.summary


def test_a_batch_comparison_audit_is_redrawn_by_batch(tmp_path: Path) -> None:
    """Whole batches (``county/tabulator/batch``): the re-draw and the re-measure pass; the
    first round's targets raised (draws left as they were) fail."""
    from .test_audit import count_drawn_batches

    root = make_state(tmp_path / "state")
    start_state_audit(root, EX, risk_limit=0.1, seed=SEED, kind="batch")
    next_state_round(root, EX)
    count_drawn_batches(root)
    state_audit_status(root, EX)
    bundle = _bundle(root, tmp_path / "bundle")
    rep, check = _check(bundle)
    assert rep.ok and check.status == "pass" and "batch audit" in check.summary

    def edit(audit: Path) -> None:
        p = audit / "rounds" / "round-1.json"
        doc = orjson.loads(p.read_bytes())
        doc["targets"]["mayor"] += 1
        p.write_bytes(orjson.dumps(doc))

    rep, check = _check(_forge(bundle, tmp_path, "bad", edit))
    assert not rep.ok and check.status == "fail"
    assert "round 1: targets" in check.summary and "the plan gives" in check.summary


def test_a_full_hand_count_is_recompared(tmp_path: Path) -> None:
    """A full hand count: its batch comparison is recomputed from the bundled hand tallies;
    a status.json claiming the outcome confirmed while batches are uncounted fails."""
    from tallyproof.state.audit import record_county
    from tallyproof.state.audit_status import hand_count_status

    from .test_audit import hand_rows

    root = make_state(tmp_path / "state")
    start_state_audit(root, EX, risk_limit=0.05, seed=SEED, kind="handcount")
    next_state_round(root, EX)
    record_county(root, "north", hand_rows(root, "north"))
    (mayor,) = hand_count_status(root, EX)
    assert mayor.status == "waiting"
    bundle = _bundle(root, tmp_path / "bundle")
    rep, check = _check(bundle)
    assert check.status == "pass" and "handcount audit" in check.summary
    assert f"{mayor.counted} of {mayor.batches} batches counted" in check.summary

    def edit(audit: Path) -> None:
        p = audit / "status.json"
        doc = orjson.loads(p.read_bytes())
        doc["contests"][0]["status"] = CONFIRMED
        p.write_bytes(orjson.dumps(doc))

    rep, check = _check(_forge(bundle, tmp_path, "bad", edit))
    assert not rep.ok and check.status == "fail"
    assert "contest mayor: status 'confirmed', re-measured 'waiting'" in check.summary

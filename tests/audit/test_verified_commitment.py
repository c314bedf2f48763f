"""Starting an audit relies on a recorded full verification of the same files (log/verified.json)
instead of redoing it, and verifies in full, and fails, when anything changed after the record."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import orjson
import pytest

from tallyproof.audit.workflow import start_audit
from tallyproof.demo.faults import alter_committed_cvr
from tallyproof.errors import AuditError
from tallyproof.ledger.verified import record_path, verified_report
from tallyproof.store import Store

SEED = "31415926535897932384"
# the module (the package re-exports a function of the same name)
vs = importlib.import_module("tallyproof.ledger.verify_store")


@pytest.fixture
def full_checks(monkeypatch) -> list[int]:
    """Counts the full verifications run (the real one still runs)."""
    calls: list[int] = []
    real = vs._verify_store

    def spy(store, public_keys):
        calls.append(1)
        return real(store, public_keys)

    monkeypatch.setattr(vs, "_verify_store", spy)
    return calls


def test_start_relies_on_the_record_and_holds_the_same_commitment(
        store: Store, tmp_path: Path, full_checks: list[int]) -> None:
    other = Store.open(shutil.copytree(store.root, tmp_path / "other"))
    rep = vs.verify_store(store, record=True)
    assert rep.ok and record_path(store).is_file() and len(full_checks) == 1
    first = record_path(store).read_bytes()
    assert vs.verify_store(store, record=True).ok and record_path(store).read_bytes() == first
    recorded = verified_report(store)
    assert recorded is not None and (recorded.tree_size, recorded.root) == (rep.tree_size,
                                                                             rep.root)
    full_checks.clear()
    params = start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    assert full_checks == []  # the record stood: no second full verification
    # without a record the audit verifies in full, and holds the CVRs to the same commitment
    fresh = start_audit(other, risk_limit=0.05, seed=SEED, contests=["mayor"])
    assert full_checks == [1]
    assert params.commitment == fresh.commitment
    assert params.commitment["checkpoint"]["root"] == rep.root


def test_cvr_table_changed_after_the_record_is_verified_in_full_and_fails(
        store: Store, full_checks: list[int]) -> None:
    assert vs.verify_store(store, record=True).ok
    alter_committed_cvr(store.cvrs_path, "contest:mayor")
    assert verified_report(store) is None
    full_checks.clear()
    with pytest.raises(AuditError, match="does not match the CVRs"):
        start_audit(store, risk_limit=0.05, seed=SEED, contests=["mayor"])
    assert full_checks == [1]


def test_any_changed_added_or_removed_file_voids_the_record(store: Store) -> None:
    assert vs.verify_store(store, record=True).ok
    assert verified_report(store) is not None
    # same size, other bytes: only the hash can tell
    e = store.election_path
    text = e.read_bytes()
    e.write_bytes(text.replace(b"Mayor", b"Mayer", 1))
    assert len(e.read_bytes()) == len(text)
    assert verified_report(store) is None
    e.write_bytes(text)
    assert verified_report(store) is not None
    extra = store.log_dir / "cosigners" / "someone.vkey"
    extra.parent.mkdir(exist_ok=True)
    extra.write_text("x\n")
    assert verified_report(store) is None
    extra.unlink()
    assert verified_report(store) is not None
    doc = orjson.loads(record_path(store).read_bytes())
    doc["checks"] = doc["checks"][:-1]  # a record of fewer checks does not count
    record_path(store).write_bytes(orjson.dumps(doc))
    assert verified_report(store) is None


def test_only_a_passed_default_trust_verification_is_recorded(store: Store) -> None:
    key = (store.log_dir / "log.vkey").read_text().strip()
    assert vs.verify_store(store, [key], record=True).ok
    assert not record_path(store).exists()
    alter_committed_cvr(store.cvrs_path, "contest:mayor")
    assert not vs.verify_store(store, record=True).ok
    assert not record_path(store).exists()

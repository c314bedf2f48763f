"""``tallyproof audit start | round | record | status`` end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tallyproof.audit.workflow import simulate_audit_boards
from tallyproof.cli import main
from tallyproof.store import Store

from .workflow_helpers import build_store

SEED = "27182818284590452353"


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return orjson.loads(capsys.readouterr().out)


def test_cli_audit_confirms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(tmp_path / "store", batches=2)
    d = str(store.root)
    assert main(["audit", "start", "--store", d, "--risk-limit", "0.05", "--seed", SEED,
                 "--contest", "mayor", "--contest", "council", "--json"]) == 0
    started = _json(capsys)["audit"]
    assert started["contests"] == ["mayor", "council"] and started["seed"] == SEED
    assert main(["audit", "round", "--store", d, "--json"]) == 0
    rnd = _json(capsys)
    assert rnd["round"] == 1 and Path(rnd["retrieval_list"]).exists()
    assert main(["audit", "status", "--store", d, "--json"]) == 0
    assert _json(capsys)["unrecorded_ballots"] == len(rnd["new_ballots"])
    boards = simulate_audit_boards(Store.open(store.root), store.audit_dir / "rounds" / "round-1.json")
    assert main(["audit", "record", "--store", d, str(boards), "--json"]) == 0
    assert _json(capsys)["recorded"] > 0
    assert main(["audit", "status", "--store", d, "--json"]) == 0
    st = _json(capsys)
    assert st["status"] == "confirmed" and st["schema_version"] == 1
    a = st["contests"][0]["assertions"][0]
    assert {"ballots_examined", "discrepancies", "measured_risk", "status"} <= set(a)
    # recording the same file again is refused (exit 2) and changes nothing
    assert main(["audit", "record", "--store", d, str(boards)]) == 2
    assert "already recorded" in capsys.readouterr().err


def test_cli_full_hand_count_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(tmp_path / "store", batches=2)
    d = str(store.root)
    assert main(["audit", "start", "--store", d, "--risk-limit", "0.05", "--seed", SEED,
                 "--contest", "mayor"]) == 0
    assert main(["audit", "round", "--store", d]) == 0
    capsys.readouterr()
    # every card's paper shows Bob: the reported winner Alice is wrong
    boards = simulate_audit_boards(Store.open(store.root),
                                   store.audit_dir / "rounds" / "round-1.json",
                                   lambda _b: {"mayor": [[1]]})
    assert main(["audit", "record", "--store", d, str(boards)]) == 0
    assert main(["audit", "status", "--store", d]) == 1
    assert "full_hand_count" in capsys.readouterr().out


def test_cli_bad_seed_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(tmp_path / "store", tabulators=1, batches=1, per_batch=20)
    assert main(["audit", "start", "--store", str(store.root), "--risk-limit", "0.05",
                 "--seed", "dice"]) == 2
    assert "digits" in capsys.readouterr().err


def test_cli_explicit_winners(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(tmp_path / "store", tabulators=1, batches=2, per_batch=40)
    d = str(store.root)
    # Bob is not the winner by the CVRs: no assertion with a positive margin → refused
    assert main(["audit", "start", "--store", d, "--risk-limit", "0.05", "--seed", SEED,
                 "--contest", "mayor", "--winner", "mayor=BOB"]) == 2
    assert "positive margin" in capsys.readouterr().err
    assert main(["audit", "start", "--store", d, "--risk-limit", "0.05", "--seed", SEED,
                 "--contest", "mayor", "--winner", "mayor"]) == 2
    assert main(["audit", "start", "--store", d, "--risk-limit", "0.05", "--seed", SEED,
                 "--contest", "mayor", "--winner", "mayor=ALICE", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["audit"]["winners"] == {"mayor": ["ALICE"]}

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


@pytest.mark.slow
def test_cli_boards_run_an_audit_on_a_demo_store(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """demo → ingest → commit → audit with two boards filling in their worksheets by name."""
    import csv

    from tallyproof.audit.boards import fill_worksheet

    demo, store = tmp_path / "demo", tmp_path / "county"
    for cmd in (["demo", "--out", str(demo), "--cards", "400", "--seed", "3"],
                ["keys", "new", "--out", str(tmp_path / "keys" / "county")],
                ["ingest", str(demo / "export"), str(demo / "export-mail"), "--store",
                 str(store), "--manifest", str(demo / "ballot_manifest.csv")],
                ["commit", "--store", str(store), "--key", str(tmp_path / "keys" / "county")],
                ["audit", "start", "--store", str(store), "--risk-limit", "0.1", "--seed", SEED]):
        assert main(cmd) == 0, capsys.readouterr().err
    capsys.readouterr()
    d = str(store)
    status: dict = {}
    for number in range(1, 5):
        assert main(["audit", "round", "--store", d, "--boards", "2", "--json"]) == 0
        rnd = _json(capsys)
        sheets = [Path(p) for p in rnd["worksheets"] if p.endswith(".csv")]
        assert len(sheets) == 2 and len(rnd["worksheets"]) == 4
        assert main(["audit", "status", "--store", d]) == 0
        text = capsys.readouterr().out
        assert f"round {number} is waiting for {len(rnd['new_ballots'])} card(s)" in text
        assert "waiting for" in text and "another_round" not in text
        filled = [fill_worksheet(Store.open(store), p) for p in sheets]
        if number == 1:  # a name that is no choice: refused with the row, column and choices
            with filled[0].open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            col = next(k for k, v in rows[0].items() if v and k not in (
                "round", "board", "card", "container", "tabulator", "batch", "position",
                "ballot_id") and v != "-")
            rows[0][col] = "Nobody At All"
            bad = tmp_path / "bad.csv"
            with bad.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
                w.writeheader()
                w.writerows(rows)
            assert main(["audit", "record", "--store", d, str(bad)]) == 2
            err = capsys.readouterr().err
            assert "record line 2, card 1" in err and "'Nobody At All' is not a choice" in err
            assert "valid choices:" in err
        assert main(["audit", "record", "--store", d, str(filled[0])]) == 0
        assert "recorded" in capsys.readouterr().out
        assert main(["audit", "status", "--store", d, "--json"]) == 0
        half = _json(capsys)
        with sheets[1].open(newline="", encoding="utf-8") as f:
            on_two = {r["ballot_id"] for r in csv.DictReader(f)}
        assert half["status"] == "waiting" and half["unrecorded_ballots"] == len(on_two)
        assert all(c["status"] == "waiting" for c in half["contests"] if c["waiting_for"])
        assert main(["audit", "record", "--store", d, str(filled[1])]) == 0
        capsys.readouterr()
        main(["audit", "status", "--store", d, "--json"])
        status = _json(capsys)
        assert status["status"] != "waiting"
        assert all(c["waiting_for"] == 0 for c in status["contests"])
        if status["status"] != "another_round":
            break
    assert status["status"] == "confirmed"  # the demo's paper agrees with its CVRs

"""The ledger commands through ``tallyproof.cli.main``."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from tallyproof.cli import main
from tallyproof.ledger.merkle import verify_consistency, verify_inclusion

from .conftest import add_cards, make_store


def run_json(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:  # type: ignore[type-arg]
    assert main([*args, "--json"]) == 0
    return orjson.loads(capsys.readouterr().out)


def test_keys_commit_prove_consistency(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "clerk"
    made = run_json(capsys, ["keys", "new", "--out", str(key)])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert made["vkey"].startswith("clerk+")
    assert "PRIVATE" not in orjson.dumps(made).decode()
    store = make_store(tmp_path / "s", n=10)
    c1 = run_json(capsys, ["commit", "--store", str(store.root), "--key", str(key)])
    assert c1["committed"] and c1["cards_added"] == 10
    c2 = run_json(capsys, ["commit", "--store", str(store.root), "--key", str(key)])
    assert not c2["committed"] and c2["root"] == c1["root"]
    assert main(["commit", "--store", str(store.root), "--key", str(key)]) == 0
    assert "nothing new to commit" in capsys.readouterr().out
    add_cards(store, 4, seed=3, prefix="x", source="x.csv")
    c3 = run_json(capsys, ["commit", "--store", str(store.root), "--key", str(key)])

    p = run_json(capsys, ["prove", "--store", str(store.root), "b00007"])
    assert set(p) >= {"ballot_id", "leaf_index", "tree_size", "leaf_hash", "audit_path", "root",
                      "checkpoint"}
    assert p["tree_size"] == c3["tree_size"] and p["root"] == c3["root"]
    assert verify_inclusion(p["leaf_index"], p["tree_size"], bytes.fromhex(p["leaf_hash"]),
                            [bytes.fromhex(h) for h in p["audit_path"]], bytes.fromhex(p["root"]))

    c = run_json(capsys, ["consistency", "--store", str(store.root), "--old-size",
                          str(c1["tree_size"])])
    assert (c["old_size"], c["new_size"]) == (c1["tree_size"], c3["tree_size"])
    assert c["old_root"] == c1["root"] and c["new_root"] == c3["root"]
    assert verify_consistency(c["old_size"], c["new_size"], bytes.fromhex(c["old_root"]),
                              bytes.fromhex(c["new_root"]), [bytes.fromhex(h) for h in c["proof"]])


def test_cli_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k"
    assert main(["keys", "new", "--out", str(key)]) == 0
    assert main(["keys", "new", "--out", str(key)]) == 2  # refuses to overwrite
    store = make_store(tmp_path / "s", n=3)
    assert main(["prove", "--store", str(store.root), "b00000"]) == 2  # nothing committed
    assert main(["commit", "--store", str(store.root), "--key", str(key)]) == 0
    assert main(["prove", "--store", str(store.root), "nope"]) == 2
    assert main(["consistency", "--store", str(store.root), "--old-size", "999"]) == 2
    assert main(["commit", "--store", str(store.root), "--key", str(tmp_path / "missing")]) == 2
    assert main(["commit", "--store", str(store.root), "--key", str(key),
                 "--supersede", "b00000"]) == 2
    captured = capsys.readouterr()
    assert "PRIVATE+KEY" not in captured.out + captured.err


def test_cosign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tallyproof.ledger import verify_store

    key, observer = tmp_path / "clerk", tmp_path / "observer"
    main(["keys", "new", "--out", str(key)])
    main(["keys", "new", "--out", str(observer)])
    store = make_store(tmp_path / "s", n=4)
    main(["commit", "--store", str(store.root), "--key", str(key)])
    capsys.readouterr()
    text = run_json(capsys, ["cosign", "--store", str(store.root), "--key", str(observer)])
    assert "\u2014 observer " in text["checkpoint"] and "\u2014 clerk " in text["checkpoint"]
    rep = verify_store(store)
    assert rep.ok and len(rep.cosigners) == 1

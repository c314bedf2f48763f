"""A commit killed with SIGKILL at a random moment leaves a store that verifies at its previous
checkpoint (or, when the kill came after the journal was written, at the new one)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tallyproof.ledger import commit_store, load_checkpoints, verify_store
from tallyproof.store import Store

from .conftest import add_cards, make_store

CHILD = """
import sys
from pathlib import Path
from tallyproof.ledger import commit_store
from tallyproof.store import Store
store = Store.open(Path(sys.argv[1]))
print("ready", flush=True)
commit_store(store, Path(sys.argv[2]))
print("done", flush=True)
"""


def _prepared(root: Path, key: Path, seed: int) -> tuple[Store, str]:
    store = make_store(root, n=300)
    first = commit_store(store, key)
    add_cards(store, 3000, seed=seed, prefix="new", source="new.csv")
    return store, first.root


def _child(root: Path, key: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(key)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_kill_9_mid_commit_leaves_a_verifiable_store(tmp_path: Path,
                                                     key_pair: tuple[Path, Path]) -> None:
    key = key_pair[0]
    # how long the child's commit takes here, so that the kills land inside it
    _prepared(tmp_path / "timing", key, seed=1)
    proc = _child(tmp_path / "timing", key)
    start = time.perf_counter()
    assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
    duration = time.perf_counter() - start
    proc.wait(timeout=30)
    proc.stdout.close()
    rng = random.Random(7)
    for attempt in range(3):
        root = tmp_path / f"s{attempt}"
        _, first_root = _prepared(root, key, seed=attempt + 10)
        proc = _child(root, key)
        time.sleep(rng.uniform(0.05, 1.0) * duration)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
        reopened = Store.open(root)  # rolls an interrupted transaction forward or drops it
        checkpoints = load_checkpoints(reopened.log_dir)
        report = verify_store(reopened)
        if len(checkpoints) == 1:
            assert checkpoints[0].checkpoint.root.hex() == first_root
            # only the cards not yet committed are reported, nothing else
            assert [f.check for f in report.failures] == ["added"]
            assert len(report.failures[0].ballot_ids) == 3000
        else:
            assert len(checkpoints) == 2 and report.ok, report.failures
        commit_store(reopened, key)
        final = verify_store(reopened)
        assert final.ok and final.checkpoints_checked == 2

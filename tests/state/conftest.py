"""Two small counties that spell one statewide contest differently."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

import pytest

from tallyproof.demo.state import StateDemoResult
from tallyproof.ledger import new_keypair
from tallyproof.model import Candidate
from tallyproof.state.tasks import county_key_path, county_store_dir
from tallyproof.state.workflow import add_contest, add_county, contest_from_options, init_state
from tallyproof.store import Store

from ..ledger.conftest import ELECTION, card_batches
from tallyproof.model import SourceFile

# County "south" spells the mayor's contest and its candidates its own way.
SOUTH = replace(ELECTION, contests=tuple(
    replace(c, name="MAYOR OF THE CITY", candidates=tuple(
        Candidate(x.id, x.name.upper().replace("CANDIDATE", "CAND.")) for x in c.candidates))
    if c.id == "mayor" else c for c in ELECTION.contests))


def fill(root: Path, county: str, n: int, seed: int, election=ELECTION) -> None:  # noqa: ANN001
    store = Store.create(county_store_dir(root, county), election)
    src = SourceFile(path="export.csv", name="export.csv", sha256=f"{seed:064x}", format="test",
                     cards=n)
    store.append(election, card_batches(n, seed, prefix=f"{county}-"), [src])


@pytest.fixture
def state(tmp_path: Path) -> Path:
    root = tmp_path / "state"
    init_state(root, "Test General", "2026-11-03", "TS")
    for cid, name in (("north", "North"), ("south", "South")):
        add_county(root, cid, name)
        new_keypair(county_key_path(root, cid))
    add_contest(root, contest_from_options(
        "mayor", "Mayor", [f"c{i}=Candidate {i}" for i in range(4)],
        aliases={"south": {"contest": "Mayor of the City",
                           "candidates": {f"c{i}": f"CAND. {i}" for i in range(4)}}}))
    add_contest(root, contest_from_options(
        "council", "Council", [f"c{i}=Candidate {i}" for i in range(4)], kind="approval",
        seats=2, vote_for=4))
    fill(root, "north", 40, 1)
    fill(root, "south", 25, 2, SOUTH)
    return root


@dataclass
class CleanStateDemo(StateDemoResult):
    """The clean state demo as ``tallyproof demo --state --json`` made it: the summary's
    checks and bundle (what its users read), and ``cli``, the command's exit code and JSON."""

    cli: tuple[int, dict[str, Any]] = (0, {})


@pytest.fixture(scope="session")
def clean_state_demo(tmp_path_factory: pytest.TempPathFactory) -> CleanStateDemo:
    """The clean three-county state demo of 3,000 cards (report, bundle and its verification),
    built once per worker by the command line (``demo --state --in-process --json``, whose
    test reads ``cli``): a full run costs tens of seconds, and its users only read it (a test
    that alters the bundle alters a copy)."""
    from tallyproof.cli import main

    out = tmp_path_factory.mktemp("cleanstate") / "s"
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8")
    with contextlib.redirect_stdout(text):
        code = main(["demo", "--state", "--counties", "3", "--cards", "3000", "--in-process",
                     "--json", "--out", str(out)])
    text.flush()
    doc = orjson.loads(raw.getvalue())
    bundle = doc["bundle"]["folder"]
    return CleanStateDemo(out=Path(doc["out"]), checks=doc["checks"], seed=doc["seed"],
                          bundle=Path(bundle) if bundle else None, cli=(code, doc))

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tallyproof.cli import main
from tallyproof.model import ContestKind
from tallyproof.store import sha256_file
from tallyproof.tabulate import tabulate_store
from tallyproof.tabulate.store_results import tally_ranked_store

from .helpers import contest, store

MAYOR = contest("mayor", ["alice", "bob"])
RCV = contest("rcv", ["x", "y", "z"], kind=ContestKind.IRV)
CARDS = [
    {"mayor": [[0]], "rcv": [[0], [1]]},
    {"mayor": [[0]], "rcv": [[1]]},
    {"mayor": [[1]], "rcv": [[1], [0]]},
    {"mayor": [[0, 1]], "rcv": [[2], [0]]},
    {"rcv": [[0], [2]]},
]


def test_tabulate_store_every_contest(tmp_path: Path) -> None:
    st = store(tmp_path / "s", [MAYOR, RCV], CARDS)
    res = tabulate_store(st)
    mayor, rcv = res.contest("mayor"), res.contest("rcv")
    assert mayor.winners == ("alice",)
    assert mayor.tally is not None and mayor.tally.overvotes == 1
    assert rcv.rcv is not None
    # x 2, y 2, z 1 -> z out, its ballot goes to x: x 3 of 5
    assert rcv.winners == ("x",)
    assert res.cvr_table_sha256 == sha256_file(st.cvrs_path)
    assert res.cvr_count == 5
    assert not (st.results_dir / "tabulation.json").exists()
    assert tally_ranked_store(st, "rcv").winners == ("x",)


def test_cli_writes_results_atomically_and_deterministically(tmp_path: Path, capsys) -> None:
    st = store(tmp_path / "s", [MAYOR, RCV], CARDS)
    assert main(["tabulate", "--store", str(st.root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    written = (st.results_dir / "tabulation.json").read_bytes()
    assert json.loads(written) == {k: v for k, v in doc.items()}
    assert doc["cvr_table_sha256"] == sha256_file(st.cvrs_path)
    assert [c["winners"] for c in doc["contests"]] == [["alice"], ["x"]]
    assert main(["tabulate", "--store", str(st.root)]) == 0
    assert "alice" in capsys.readouterr().out
    assert (st.results_dir / "tabulation.json").read_bytes() == written
    assert tabulate_store(st).to_bytes() == written


def test_cli_usage_errors(tmp_path: Path) -> None:
    assert main(["tabulate"]) == 2
    assert main(["tabulate", "--rctab-config", str(tmp_path / "nope.json")]) == 2
    assert main(["tabulate", "--rctab-config", str(tmp_path / "nope.json"),
                 "--out", str(tmp_path / "o")]) == 2


def test_unknown_contest(tmp_path: Path) -> None:
    from tallyproof.errors import UsageError

    st = store(tmp_path / "s", [MAYOR, RCV], CARDS)
    with pytest.raises(UsageError):
        tally_ranked_store(st, "nope")


def test_stv_contest_in_store_and_empty_store(tmp_path: Path) -> None:
    council = contest("council", ["a", "b", "c"], kind=ContestKind.STV, seats=2)
    cards = [{"council": [[0], [1]]}] * 6 + [{"council": [[0], [2]]}] * 2 + \
        [{"council": [[1]]}] + [{"council": [[2]]}] * 3
    st = store(tmp_path / "s", [council], cards)
    res = tabulate_store(st).contest("council")
    assert res.winners == ("a", "c")
    assert res.rcv is not None and res.rcv.seats == 2
    from tallyproof.model import Election
    from tallyproof.store import Store

    empty = Store.create(tmp_path / "e", Election(contests=(MAYOR, RCV)))
    out = tabulate_store(empty)
    assert out.cvr_count == 0 and out.cvr_table_sha256 is None
    assert out.contest("mayor").tally is not None and out.contest("mayor").tied


def test_irv_and_stv_entry_points() -> None:
    from tallyproof.errors import UsageError
    from tallyproof.tabulate import RcvRules, irv, stv
    from tallyproof.tabulate.ballots import from_lists

    b = from_lists([[[0]], [[0]], [[1]]])
    assert irv(b, RCV).winners == ("x",)
    with pytest.raises(UsageError):
        irv(b, RCV, RcvRules(number_of_winners=2))
    two = contest("two", ["x", "y", "z"], kind=ContestKind.STV, seats=2)
    assert set(stv(b, two).winners) == {"x", "y"}

"""People read names: candidates, ballot-measure choices and contests by name, never by id."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tallyproof.cli import main
from tallyproof.cli.common import readable_names
from tallyproof.model import Candidate, Contest
from tests.audit.workflow_helpers import build_store
from tests.tabulate.helpers import store

MEASURE = Contest("prop-7", "Proposition 7", candidates=(Candidate("93", "Yes"),
                                                        Candidate("92", "No")))
# Two write-in lines with the same name: each is shown with its id so they stay apart.
SHERIFF = Contest("sheriff", "Sheriff", candidates=(
    Candidate("11", "Tara Kim"), Candidate("12", "Write-in", write_in=True),
    Candidate("13", "Write-in", write_in=True)))
CARDS = [{"prop-7": [[0]], "sheriff": [[0]]}, {"prop-7": [[0]], "sheriff": [[1]]},
         {"prop-7": [[1]], "sheriff": [[0]]}, {"prop-7": [[0]], "sheriff": [[2]]},
         {"prop-7": [[1]], "sheriff": [[0]]}]


def test_readable_names_disambiguates_shared_and_blank_names() -> None:
    assert readable_names([("93", "Yes"), ("92", "No")]) == {"93": "Yes", "92": "No"}
    assert readable_names([("12", "Write-in"), ("13", "Write-in "), ("14", " ")]) == {
        "12": "Write-in (12)", "13": "Write-in (13)", "14": "14"}


def test_tabulate_prints_choices_and_winners_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table row per contest
    st = store(tmp_path / "s", [MEASURE, SHERIFF], CARDS)
    assert main(["tabulate", "--store", str(st.root)]) == 0
    text = capsys.readouterr().out
    prop = next(line for line in text.splitlines() if "Proposition 7" in line)
    assert re.search(r"│ Yes\s+│ Yes 3, No 2;", prop), prop
    assert not re.search(r"\b9[23]\b", prop)
    sheriff = next(line for line in text.splitlines() if "Sheriff" in line)
    assert re.search(r"│ Tara Kim\s+│ Tara Kim 3, Write-in \(12\) 1", sheriff), sheriff
    # Machines keep the ids.
    assert main(["tabulate", "--store", str(st.root), "--json"]) == 0
    assert '"93"' in capsys.readouterr().out


def test_audit_commands_print_contest_names_and_assertions_in_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(build_store(tmp_path / "store", batches=2).root)
    assert main(["audit", "start", "--store", d, "--risk-limit", "0.05", "--seed",
                 "27182818284590452353", "--contest", "mayor"]) == 0
    started = capsys.readouterr().out
    assert "Mayor: margin" in started and "Alice has more votes than Bob" in started
    assert "mayor:" not in started and ">" not in started  # no "mayor:pairwise:0>1"
    assert main(["audit", "round", "--store", d]) == 0
    assert re.search(r"^  Mayor: \d+ card\(s\) in the sample", capsys.readouterr().out, re.M)
    assert main(["audit", "status", "--store", d]) == 0
    status = capsys.readouterr().out
    assert re.search(r"^  Mayor: waiting for \d+ card", status, re.M)
    assert "mayor" not in status

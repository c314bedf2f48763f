"""Every command in the README's ``console`` blocks runs, in order, and succeeds."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tallyproof.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands(tag: str = "") -> list[str]:
    """The ``$`` lines of the README's ``console`` blocks (``console TAG`` blocks with a tag)."""
    fence = r"```console" + (rf" {tag}" if tag else "") + r"\n(.*?)```"
    blocks = re.findall(fence, README.read_text(encoding="utf-8"), re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def run_commands(cmds: list[str], capsys):  # noqa: ANN001, ANN201
    """Run each command; every one must exit 0. Returns the last command's captured output."""
    captured = None
    for cmd in cmds:
        code = main(shlex.split(cmd)[1:])
        captured = capsys.readouterr()
        assert code == 0, f"{cmd!r} exited {code}:\n{captured.out[-2000:]}\n{captured.err[-2000:]}"
    return captured


def test_readme_has_a_walkthrough() -> None:
    cmds = readme_commands()
    assert len(cmds) >= 10 and all(c.startswith("tallyproof ") for c in cmds)


@pytest.mark.slow
def test_readme_walkthrough_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ids.txt").write_text("A-1\nA-2\nA-3\nB-1\nB-2\nB-3\n")
    captured = run_commands(readme_commands(), capsys)
    # The last command is the sampler example: the published draw order.
    assert [d["id"] for d in __import__("json").loads(captured.out)] == ["B-2", "B-3", "A-3", "A-2"]


@pytest.mark.slow
def test_readme_state_walkthrough_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys) -> None:  # noqa: ANN001
    cmds = readme_commands("state")
    assert len(cmds) >= 4 and all(c.startswith("tallyproof ") for c in cmds)
    monkeypatch.chdir(tmp_path)
    run_commands(cmds, capsys)
    assert (tmp_path / "demo-state" / "state" / "results" / "statewide.json").is_file()


@pytest.mark.realdata
def test_readme_georgia_walkthrough_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys) -> None:  # noqa: ANN001
    """Run from a project folder beside ``shared/``, as the README says."""
    from .conftest import require_shared_data

    data = require_shared_data("georgia-2020")
    cmds = readme_commands("georgia")
    assert cmds and all(c.startswith("tallyproof ") for c in cmds)
    (tmp_path / "shared").symlink_to(data.parents[1], target_is_directory=True)
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    run_commands(cmds, capsys)
    assert (tmp_path / "project" / "ga-evidence" / "report" / "report.pdf").is_file()

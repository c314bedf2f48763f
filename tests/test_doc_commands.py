"""Every ``tallyproof …`` command the documentation writes names a command the CLI has, and
only options that command takes (``docs/server.md`` once said ``state bundle --state STATE``
where the command is ``state bundle FOLDER --out``). The README's commands are run by
:mod:`tests.test_readme`; here every Markdown file under ``docs/`` is read."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from typer.main import get_command

from tallyproof.cli import app

ROOT = Path(__file__).resolve().parents[1]
#: ``tallyproof`` and what follows it on the line, up to the end of an inline code span or a
#: table cell
COMMAND = re.compile(r"tallyproof ([a-z][a-z-]*(?: [^`\n|]*)?)")


@functools.cache
def _root() -> Any:
    """The CLI's click command tree, built once (typer builds it anew on every call)."""
    return get_command(app)


def _resolve(words: list[str]) -> tuple[Any, list[str], int]:
    """The deepest command the words name, its path and how many words it took."""
    cmd, path = _root(), []
    while len(path) < len(words) and hasattr(cmd, "commands") and words[len(path)] in cmd.commands:
        cmd = cmd.commands[words[len(path)]]
        path.append(words[len(path)])
    return cmd, path, len(path)


def wrong_commands(text: str) -> list[str]:
    """The commands of ``text`` naming an option their command does not take."""
    wrong = []
    for m in COMMAND.finditer(text):
        words = m.group(1).split()
        cmd, path, used = _resolve(words)
        if not path or hasattr(cmd, "commands"):
            continue  # prose ("tallyproof searches …") or a group named on its own
        options = {o for p in cmd.params for o in [*getattr(p, "opts", []),
                                                    *getattr(p, "secondary_opts", [])]}
        for word in words[used:]:
            option = word.strip(".,;:)`").split("=", 1)[0]
            if option.startswith("--") and option not in options | {"--help"}:
                wrong.append(f"tallyproof {' '.join(path)}: no option {option} "
                             f"(in {m.group(0).strip()!r})")
    return wrong


def test_the_checker_finds_a_wrong_option() -> None:
    assert wrong_commands("`tallyproof state bundle --state STATE --out X`") == [
        "tallyproof state bundle: no option --state (in "
        "'tallyproof state bundle --state STATE --out X')"]
    assert wrong_commands("`tallyproof state bundle STATE --out X`") == []


def test_the_docs_name_only_real_commands_and_options() -> None:
    docs = sorted((ROOT / "docs").glob("*.md"))
    assert len(docs) >= 5
    found = {d.name: wrong_commands(d.read_text(encoding="utf-8")) for d in docs}
    assert {k: v for k, v in found.items() if v} == {}

"""The command-line shell: exit codes, --version, --help (its labels and its imports), a
closed pipe."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import tallyproof
from tallyproof.cli import main


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "ingest" in capsys.readouterr().out


def test_unknown_command_is_usage_error():
    assert main(["no-such-command"]) == 2


def test_typer_exit_code_is_returned():
    import typer

    from tallyproof.cli import app

    @app.command("_exit-test", hidden=True)
    def _exit_test() -> None:
        raise typer.Exit(1)

    try:
        assert main(["_exit-test"]) == 1
    finally:
        app.registered_commands = [c for c in app.registered_commands if c.name != "_exit-test"]


SRC = Path(tallyproof.__file__).resolve().parents[1]
HEAVY = ("pyarrow", "duckdb", "numpy", "scipy", "matplotlib", "jinja2", "fpdf")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}


def _command_paths() -> list[list[str]]:
    """Every command and group, as the words that name it (``[]`` is the root)."""
    from typer.core import TyperGroup
    from typer.main import get_command

    from tallyproof.cli import app

    paths: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:
        paths.append(path)
        if isinstance(cmd, TyperGroup):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(get_command(app), [])
    return paths


def test_version_prints_the_package_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tallyproof {tallyproof.__version__}\n"


def test_help_shows_conventional_metavars_not_python_types(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    paths = _command_paths()
    assert len(paths) > 15
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        text = capsys.readouterr().out
        # Typer's default labels: <bool>, <str>, <path>, <list[Path]>, <int>...
        assert not re.search(r"<[a-zA-Z_\[\], ]+>", text), (path, text)
        assert "Usage: tallyproof" in text
    main(["ingest", "--help"])
    text = capsys.readouterr().out
    assert re.search(r"SOURCES\s+PATH\.\.\.", text)
    assert re.search(r"--store\s+PATH\s", text) and re.search(r"--option\s+TEXT\s", text)
    assert re.search(r"--json\s+machine-readable", text)  # a flag has no type word


def test_help_and_version_load_no_heavy_library() -> None:
    """``--help`` of every command and ``--version`` import none of the numerical libraries
    (they are what made ``--help`` take seconds)."""
    code = (
        "import sys\n"
        "from tallyproof.cli import main\n"
        f"for path in {_command_paths()!r}:\n"
        "    assert main([*path, '--help']) == 0, path\n"
        "assert main(['--version']) == 0\n"
        f"loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stderr, proc.stderr[-2000:]


def test_root_help_import_time_lists_no_heavy_module() -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "tallyproof", "--help"],
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Commands" in proc.stdout
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "tallyproof" in imported and not imported & set(HEAVY)


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="no SIGPIPE on this platform")
@pytest.mark.parametrize("args", [
    ["--help"],  # Typer's own console
    ["--version"],
    ["sample", "--seed", "1", "--ids", "{ids}", "--size", "3"],  # our rich console
    ["sample", "--seed", "1", "--ids", "{ids}", "--size", "3", "--json"],  # raw bytes
])
def test_closed_pipe_exits_quietly_with_141(tmp_path: Path, args: list[str]) -> None:
    """``tallyproof ... | head``: the reader has gone away; exit 128 + SIGPIPE as ``cat``
    would, not 1 (which means the evidence contradicts the claim), and print nothing."""
    from tallyproof.cli import EXIT_CLOSED_PIPE

    assert EXIT_CLOSED_PIPE == 128 + signal.SIGPIPE
    ids = tmp_path / "ids.txt"
    ids.write_text("A-1\nA-2\nA-3\n")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte is written
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tallyproof", *(a.format(ids=ids) for a in args)],
            stdout=write_end, stderr=subprocess.PIPE, env=_env(), timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == EXIT_CLOSED_PIPE, proc.stderr.decode()
    assert proc.stderr == b""

"""The ``tallyproof`` command: a thin shell over the library (every command lives in a
``cli/*.py`` module that only parses arguments, calls library functions and prints).

Commands import the library inside their bodies, so ``tallyproof --help`` and ``--version``
load neither pyarrow, duckdb, numpy, scipy nor matplotlib and answer at once; a test keeps it so.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer._click.exceptions import ClickException  # typer vendors click
from typer.main import get_command

from .. import __version__
from ..errors import TallyproofError
from . import (
    audit,
    compare,
    demo,
    evidence,
    ingest,
    ledger,
    results,
    serve,
    state,
    tabulate,
    voters,
)
from .common import err
from .help import conventional_metavars

#: Exit status when the reader of the output went away (``tallyproof tabulate ... | head``):
#: 128 + SIGPIPE (13), what a shell reports for a program that signal ended, as ``cat`` or
#: ``grep`` would be. It is neither 1 (the evidence contradicts the claim) nor 2 (bad input).
EXIT_CLOSED_PIPE = 141

app = typer.Typer(
    name="tallyproof",
    help="Public, checkable evidence that an election's reported outcome is right.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"tallyproof {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", is_eager=True,
        callback=_print_version)] = False,
) -> None:
    """Public, checkable evidence that an election's reported outcome is right."""


# Each module defines ``register(app)``.
for _mod in (ingest, tabulate, ledger, audit, evidence, results, compare, state, voters, demo,
             serve):
    _mod.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning tallyproof errors into messages and exit codes
    (0 ok, 1 evidence contradicts the claim, 2 bad input/usage, 141 the output's reader
    went away); tracebacks only with ``--debug`` or ``TALLYPROOF_DEBUG=1``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("TALLYPROOF_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    try:
        command = get_command(app)
        conventional_metavars(command)
        # In non-standalone mode click returns a command's typer.Exit code instead of raising.
        code = command.main(args=args, prog_name="tallyproof", standalone_mode=False)
    except TallyproofError as exc:
        if debug:
            raise
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 2
    except ClickException as exc:  # usage errors found while parsing arguments
        exc.show()
        return 2
    except BrokenPipeError:
        return EXIT_CLOSED_PIPE
    except SystemExit as exc:
        # rich's consoles (ours and Typer's help) exit 1 when their reader has gone away.
        if isinstance(exc.__context__, BrokenPipeError):
            return EXIT_CLOSED_PIPE
        raise
    except Exception as exc:  # anything unexpected: a bug, reported without a traceback
        if debug:
            raise
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (re-run with --debug)")
        return 3
    return code if isinstance(code, int) else 0


def run() -> None:
    code = main()
    if code == EXIT_CLOSED_PIPE:
        # Nobody reads any more: send what is still buffered to /dev/null, so that Python's
        # final flush does not print "Exception ignored ... BrokenPipeError" and exit 120.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.dup2(devnull, sys.stderr.fileno())
    sys.exit(code)

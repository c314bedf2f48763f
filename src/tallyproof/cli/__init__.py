"""The ``tallyproof`` command: a thin shell over the library (every command lives in a
``cli/*.py`` module that only parses arguments, calls library functions and prints)."""

from __future__ import annotations

import os
import sys

import typer
from typer._click.exceptions import ClickException  # typer vendors click

from ..errors import TallyproofError
from . import audit, compare, demo, evidence, ingest, ledger, results, tabulate
from .common import err

app = typer.Typer(
    name="tallyproof",
    help="Public, checkable evidence that an election's reported outcome is right.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Public, checkable evidence that an election's reported outcome is right."""


# Each module defines ``register(app)``.
for _mod in (ingest, tabulate, ledger, audit, evidence, results, compare, demo):
    _mod.register(app)
from . import voters as _voters; _voters.register(app)  # noqa: E402,E702 (voter files)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning tallyproof errors into messages and exit codes
    (0 ok, 1 evidence contradicts the claim, 2 bad input/usage); tracebacks only with
    ``--debug`` or ``TALLYPROOF_DEBUG=1``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("TALLYPROOF_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    try:
        # In non-standalone mode click returns a command's typer.Exit code instead of raising.
        code = app(args=args, standalone_mode=False)
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
    except Exception as exc:  # anything unexpected: a bug, reported without a traceback
        if debug:
            raise
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (re-run with --debug)")
        return 3
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())

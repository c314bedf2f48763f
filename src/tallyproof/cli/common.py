"""Shared CLI plumbing: JSON output, rich console on stderr, errors → exit codes.

Data goes to stdout, progress and logs to stderr; ``--json`` output carries a
``schema_version`` and stable snake_case keys.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import Console

if TYPE_CHECKING:
    from ..model import Contest, Election
    from ..store import Store

JSON_SCHEMA_VERSION = 1

out = Console(soft_wrap=True)  # stdout: data for people
err = Console(stderr=True, soft_wrap=True)  # stderr: progress, messages (paths never wrapped)


def emit_json(obj: dict[str, Any] | list[Any]) -> None:
    """Write a JSON document to stdout (dicts get ``schema_version``)."""
    if isinstance(obj, dict) and "schema_version" not in obj:
        obj = {"schema_version": JSON_SCHEMA_VERSION, **obj}
    sys.stdout.buffer.write(
        orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
    )
    sys.stdout.flush()


def open_store(path: Path) -> Store:
    """Open an election store. The store module (pyarrow, duckdb) is imported here, when a
    command runs, so that ``--help`` and ``--version`` answer without loading it."""
    from ..store import Store

    return Store.open(path)


def readable_names(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Id → the name a person reads (candidates of a contest, or contests of an election).

    A blank name shows the id; a name that two ids share is followed by its id, e.g.
    ``Write-in (105)``, so that no two lines read alike. ``--json`` keeps the ids.
    """
    items = list(pairs)
    seen = Counter(name.strip() for _, name in items)
    return {i: (name.strip() if seen[name.strip()] == 1 else f"{name.strip()} ({i})")
            if name.strip() else i for i, name in items}


def candidate_names(contest: Contest) -> dict[str, str]:
    """Candidate id → readable name for one contest (see :func:`readable_names`)."""
    return readable_names((c.id, c.name) for c in contest.candidates)


def contest_names(election: Election) -> dict[str, str]:
    """Contest id → readable name for an election (see :func:`readable_names`)."""
    return readable_names((c.id, c.name) for c in election.contests)

"""Shared CLI plumbing: JSON output, rich console on stderr, errors → exit codes.

Data goes to stdout, progress and logs to stderr; ``--json`` output carries a
``schema_version`` and stable snake_case keys.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.console import Console

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

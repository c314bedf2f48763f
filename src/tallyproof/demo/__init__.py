"""The demo: a synthetic county election run through every stage of tallyproof.

``county`` draws the election (deterministic from a seed), ``dominion_writer`` writes it as a
Dominion Democracy Suite export, ``side_files`` writes the ballot manifest, pollbooks and
official results, ``faults`` injects the failures the evidence must catch and ``pipeline`` runs
the stages and records each check's verdict.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .county import County, build_county
    from .pipeline import DemoResult, run_demo

__all__ = ["County", "DemoResult", "build_county", "run_demo"]

# Loaded on first use (PEP 562), so that importing ``tallyproof.demo.choices`` (the CLI's
# ``demo --help``) does not load numpy and pyarrow through the pipeline.
_LAZY = {"County": "county", "build_county": "county", "DemoResult": "pipeline",
         "run_demo": "pipeline"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)

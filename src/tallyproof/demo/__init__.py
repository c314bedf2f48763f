"""The demo: a synthetic county election run through every stage of tallyproof.

``county`` draws the election (deterministic from a seed), ``dominion_writer`` writes it as a
Dominion Democracy Suite export, ``side_files`` writes the ballot manifest, pollbooks and
official results, ``faults`` injects the failures the evidence must catch and ``pipeline`` runs
the stages and records each check's verdict.
"""

from __future__ import annotations

from .county import County, build_county
from .pipeline import DemoResult, run_demo

__all__ = ["County", "DemoResult", "build_county", "run_demo"]

"""Readers of voting-system exports. Each module registers itself in :data:`base.REGISTRY`."""

from __future__ import annotations

import importlib

from .base import REGISTRY, FormatSpec, ParsedExport

_READER_MODULES = ("nist_cdf", "dominion", "dominion_csv", "ess", "hart", "clearballot", "csv")


def load_readers() -> dict[str, FormatSpec]:
    """Import every reader module (each registers itself, on first use only, so commands that
    read no exports do not pay for the spreadsheet and XML readers); return the registry."""
    for name in _READER_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return REGISTRY


__all__ = ["REGISTRY", "FormatSpec", "ParsedExport", "load_readers"]

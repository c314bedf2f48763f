"""Readers of voting-system exports. Each module registers itself in :data:`base.REGISTRY`."""

from __future__ import annotations

import importlib

from .base import REGISTRY, FormatSpec, ParsedExport

_READER_MODULES = ("nist_cdf", "dominion", "ess", "hart", "clearballot", "csv")


def load_readers() -> dict[str, FormatSpec]:
    """Import every reader module that exists so it registers itself; return the registry."""
    for name in _READER_MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    return REGISTRY


__all__ = ["REGISTRY", "FormatSpec", "ParsedExport", "load_readers"]

"""Modules of numba-compiled loops, loaded at most once per process and checked before use.

Why a class: each such module (the SHA-256 loops of the log, the Dominion scanner) is optional
— numba or the library it calls may be missing on a platform, and then the plain-Python path
gives the same result, slower — and must be checked on this machine before anything it computes
is used. Loading is guarded by a lock: the first use may come from a thread that imports ahead.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType


class CompiledLoops:
    """The module ``name`` (imported on first :meth:`get`, then passed to ``check``, which
    raises if the loops cannot be trusted here), or ``None`` where it cannot be imported."""

    def __init__(self, name: str, check: Callable[[ModuleType], None]) -> None:
        self._name, self._check = name, check
        self._lock = threading.Lock()
        self._module: ModuleType | None = None
        self.unavailable: str | None = None  # why it could not be imported

    def get(self) -> ModuleType | None:
        with self._lock:
            if self._module is None and self.unavailable is None:
                try:
                    module = importlib.import_module(self._name)
                except ImportError as exc:  # e.g. no numba on this platform
                    self.unavailable = str(exc)
                    return None
                self._check(module)
                self._module = module
        return self._module

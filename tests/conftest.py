"""Shared fixtures. Real data lives in ../shared/data (never copied into the project): tests
that need it skip with a message when it is absent, except under CI (CI=true), where a
missing folder is a failure because CI always has it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require_shared_data(sub: str = "") -> Path:
    """Path to ``../shared/data/<sub>``; skip (or fail under CI) when it is missing."""
    path = SHARED_DATA / sub if sub else SHARED_DATA
    if not path.exists():
        message = f"real election data not found at {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI always has ../shared/data)")
        pytest.skip(message)
    return path


@pytest.fixture
def shared_data() -> Path:
    return require_shared_data()


@pytest.fixture
def rctab_data() -> Path:
    return require_shared_data("rctab")


@pytest.fixture
def nist_data() -> Path:
    return require_shared_data("nist-cdf")

"""Fixtures of the audit-workflow tests: a small committed store, built once per module and
copied for each test (see workflow_helpers.build_store)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tallyproof.store import Store

from .workflow_helpers import build_store


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("src") / "store").root


@pytest.fixture
def store(built: Path, tmp_path: Path) -> Store:
    shutil.copytree(built, tmp_path / "store")
    return Store.open(tmp_path / "store")

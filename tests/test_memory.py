"""The pipeline's allocator choice and the release of freed memory between stages."""

from __future__ import annotations

import pyarrow as pa

from tallyproof.memory import lean_arrow_pool, release_memory


def test_lean_pool_becomes_the_default_and_release_keeps_live_data() -> None:
    before = pa.default_memory_pool()
    try:
        name = lean_arrow_pool()
        assert name in {"jemalloc", "system"}
        assert pa.default_memory_pool().backend_name == name
        data = pa.array(range(100_000))  # allocated in the new pool, alive across a release
        release_memory()
        assert data.sum().as_py() == sum(range(100_000))
    finally:
        pa.set_memory_pool(before)


def test_an_explicit_arrow_pool_choice_is_kept(monkeypatch) -> None:
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.system_memory_pool())
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
        assert lean_arrow_pool() == "system"
        assert pa.default_memory_pool().backend_name == "system"
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
        assert lean_arrow_pool() in {"jemalloc", "system"}
    finally:
        pa.set_memory_pool(before)


def test_verify_command_runs_on_the_lean_pool(tmp_path, monkeypatch) -> None:
    """``tallyproof verify`` chooses the lean pool before reading (then refuses the missing
    bundle: the choice comes first)."""
    from tallyproof.cli import main

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.mimalloc_memory_pool())
        assert main(["verify", str(tmp_path / "missing.zip")]) == 2
        assert pa.default_memory_pool().backend_name in {"jemalloc", "system"}
    finally:
        pa.set_memory_pool(before)


def test_peak_rss_is_reset_and_then_measures_what_follows() -> None:
    import sys

    import numpy as np
    import pytest

    from tallyproof.memory import peak_rss_mb, reset_peak_rss

    if not sys.platform.startswith("linux") or peak_rss_mb() is None:
        pytest.skip("VmHWM and clear_refs are Linux's")
    big = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
    high = peak_rss_mb()
    del big
    assert reset_peak_rss()
    after = peak_rss_mb()
    assert high is not None and after is not None
    assert after < high - 200  # the freed block no longer counts
    spike = np.ones(100 * 2**20 // 8)
    assert peak_rss_mb() >= after + 90  # type: ignore[operator]  # and new use does
    del spike

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

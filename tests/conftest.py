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


# ------------------------------------------------------------------ xdist work units
# ``make test`` runs ``pytest -n 2 --dist loadgroup``: tests go to the two workers one by one,
# as with ``--dist load``, except that the tests of a module with a module-scoped fixture go
# to one worker together, so that the fixture (a demo run, a built store, a browser) is built
# once per run rather than once on each worker the module's tests happened to land on. Tests
# marked ``xdist_group(name)`` by hand (several modules sharing one session fixture) also go
# together. Without xdist (``-p no:xdist``) the marks do nothing.
GROUPED_SCOPES = ("module", "class", "package")


def pytest_configure(config: pytest.Config) -> None:
    # registered here too, so that --strict-markers accepts it when xdist is not loaded
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks (it runs in each worker)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            info = getattr(item, "_fixtureinfo", None)
            if info is not None and any(d.scope in GROUPED_SCOPES
                                        for defs in info.name2fixturedefs.values()
                                        for d in defs[-1:]):
                item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
        if getattr(config.option, "loadgroup", False):
            _name_the_group(item)
    _long_units_first(items)


def _group_names(item: pytest.Item) -> list[str]:
    return sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                   for m in item.iter_markers("xdist_group")})


def _unit(item: pytest.Item) -> str:
    """The xdist work unit of ``item``: its group, else the test itself."""
    return "_".join(_group_names(item)) or item.nodeid


def _long_units_first(items: list[pytest.Item]) -> None:
    """Put the work units holding a test marked ``slow`` first, in collection order otherwise.

    xdist hands out work units in collection order, and a long unit handed out last keeps one
    worker busy while the other has nothing left (the longest tests sit near the end
    alphabetically: the benchmark smoke runs, the README walkthroughs, the stage orders).
    Longest first is the classic remedy (Graham's LPT rule). The order is the same in every
    worker, as xdist requires; each unit's tests keep their order among themselves."""
    slow = {_unit(i) for i in items if i.get_closest_marker("slow") is not None}
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda i: (_unit(i) not in slow, order[id(i)]))


def _name_the_group(item: pytest.Item) -> None:
    """Append ``@group`` to the test's node id, as xdist's loadgroup does to find a test's
    work unit. xdist 3.8 does it by setting ``item._nodeid``, which pytest 9 no longer reads
    (a node's id is its ``_id``): without this every test was its own unit, the groups split
    across the workers and each worker built the module-scoped fixtures again (seen as two
    setups of one module's fixture in the durations). Where ``_id`` does not exist (pytest
    before 9), xdist's own renaming works and this does nothing."""
    names = _group_names(item)
    if not names or not hasattr(item, "_id"):
        return
    from _pytest.nodeid import NodeId  # pytest 9's node id (no public setter)

    item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")

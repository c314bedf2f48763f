"""Packaging: compatible ranges in pyproject.toml, exact pins in requirements.lock, one version
string, a licence and the typing marker."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import tallyproof

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _declared() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [Requirement(r) for r in
            [*project["dependencies"], *project["optional-dependencies"]["test"]]]


def _locked() -> dict[str, Version]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$", text, re.M)
    return {canonicalize_name(name): Version(v) for name, v in pins}


def test_dependencies_are_ranges_not_pins() -> None:
    """Each dependency allows a range: from the tested series up to the next release that may
    break it (a pin ``==`` would make tallyproof impossible to install beside anything)."""
    for req in _declared():
        ops = {s.operator for s in req.specifier}
        assert ops == {">=", "<"}, f"{req}: declare >=TESTED,<NEXT-BREAKING (pins go in the lock)"


def test_every_dependency_is_locked_inside_its_range_with_hashes() -> None:
    locked = _locked()
    assert len(locked) > len(_declared())  # the closure, not only the direct dependencies
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is not pinned in requirements.lock (run make lock)"
        assert req.specifier.contains(locked[name]), f"lock has {name}=={locked[name]}, not {req}"
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert text.count("==") == len(locked)
    assert text.count("--hash=sha256:") >= len(locked)
    assert "tallyproof" not in locked


def test_version_is_written_once() -> None:
    assert PYPROJECT["project"]["dynamic"] == ["version"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "src/tallyproof/__init__.py"
    assert Version(tallyproof.__version__)


def test_licence_and_typing_marker_ship() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert (Path(tallyproof.__file__).parent / "py.typed").is_file()

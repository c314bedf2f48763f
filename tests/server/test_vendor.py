"""The vendored browser files are the pinned releases (SHA-256 as recorded), the pages load
exactly those, and htmx is configured for the strict CSP (no eval, no injected style, no
script tags in swapped HTML)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import tallyproof.server

SERVER = Path(tallyproof.server.__file__).parent
VENDORED = [SERVER / "static" / "vendor", Path(__file__).parent / "browser" / "vendor"]


def _sums(folder: Path) -> dict[str, str]:
    return {name: digest for digest, name in
            (line.split() for line in (folder / "SHA256SUMS").read_text().splitlines())}


def test_vendored_files_match_their_recorded_sha256() -> None:
    for folder in VENDORED:
        sums = _sums(folder)
        assert sorted(sums) == sorted(p.name for p in folder.glob("*.js"))
        for name, digest in sums.items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


def test_the_pages_load_the_vendored_htmx_configured_for_the_csp() -> None:
    head = (SERVER / "templates" / "_htmx.html").read_text()
    scripts = re.findall(r'<script src="/static/vendor/([^"]+)"', head)
    assert scripts == sorted(_sums(SERVER / "static" / "vendor"))
    htmx = re.fullmatch(r"htmx-(\d+\.\d+\.\d+)\.min\.js", scripts[0])
    assert htmx is not None  # the file says the version its name says
    assert f'version:"{htmx.group(1)}"'.encode() in (SERVER / "static" / "vendor"
                                                     / scripts[0]).read_bytes()
    config = json.loads(re.search(r"content='([^']+)'", head).group(1))
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False
    assert config["allowScriptTags"] is False and config["selfRequestsOnly"] is True

"""The public presentation pages show what the library wrote: each county's progress, the
statewide audit's measured risk (audit/status.json), the claims board of the latest published
bundle as the statewide report answers it, and downloads that are the published files byte
for byte; a name in a download URL never reaches another file."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from tallyproof.server.app import create_app
from tallyproof.server.config import Settings
from tallyproof.state.statelog import LOG_KEY, log_dir
from tallyproof.state.tasks import county_store_dir

from .conftest import CHEAP, Server, copy_of


@pytest.fixture(scope="module")
def root(audit_round_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of(audit_round_template, tmp_path_factory.mktemp("present"))


@pytest.fixture(scope="module")
def client(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("presentdb") / "db.sqlite"
    yield TestClient(create_app(Settings(root, f"sqlite:///{db}", password_cost=CHEAP)))


def test_the_state_page_shows_progress_risk_and_the_reports_claims(client: TestClient,
                                                                   root: Path) -> None:
    from tallyproof.evidence.report import source_date_epoch
    from tallyproof.model import Election
    from tallyproof.state.evidence import state_context
    from tallyproof.state.spec import load_spec

    page = html.unescape(client.get("/present").text)
    status = orjson.loads((root / "audit" / "status.json").read_bytes())
    spec = load_spec(root)
    names = {sc.id: sc.name for sc in spec.contests}
    for c in status["contests"]:
        name = names[c["contest_id"]]
        row = re.search(re.escape(name) + r"</td><td>([^<]*)</td>\s*<td class=\"num\">(\d+)</td>"
                        r"<td class=\"num\">([^<]*)</td>", page)
        assert row is not None, name
        assert row.groups() == (c["status"].replace("_", " "), str(c["ballots_examined"]),
                                f"{c['measured_risk']:.4g}")
    for county, n in status["waiting"].items():
        assert re.search(rf">{county.replace('-', ' ').title()}</a></td>.*?<td class=\"num\">"
                         rf"{n}</td></tr>", page, re.S)
    # the claims board is the statewide report's own, from the published bundle
    bundle = root / "published" / "demo-1"
    ctx = state_context(bundle / "state", {c: bundle / "counties" / c for c in
                                           ("county-01", "county-02")},
                        source_date_epoch(Election(date=spec.date)))
    assert ctx["claims"]
    for claim in ctx["claims"]:
        assert f"<h3>{claim['claim']}</h3>" in page
        assert f"{claim['verdict'].replace('_', ' ')}</span> {claim['finding']}" in page


def test_the_county_page_shows_its_bundles_claims_and_its_audit_share(client: TestClient,
                                                                      root: Path) -> None:
    page = html.unescape(client.get("/present/county-02").text)
    claims = orjson.loads((root / "published" / "demo-1" / "counties" / "county-02" / "evidence"
                           / "claims.json").read_bytes())["claims"]
    for claim in claims:
        assert f"{claim['verdict'].replace('_', ' ')}</span> {claim['finding']}" in page
    status = orjson.loads((root / "audit" / "status.json").read_bytes())
    assert (f"Cards drawn here and not recorded yet: {status['waiting']['county-02']}."
            in page)
    assert client.get("/present/elsewhere").status_code == 404


def test_downloads_are_the_published_files(client: TestClient, root: Path) -> None:
    page = client.get("/present/county-01").text
    links = re.findall(r'<a href="(/download/[^"]+)" download>', page)
    files = {"/download/published/demo-1.zip": root / "published" / "demo-1.zip",
             "/download/county/county-01/checkpoints/000001.txt":
                 county_store_dir(root, "county-01") / "log" / "checkpoints" / "000001.txt",
             "/download/county/county-01/log.vkey":
                 county_store_dir(root, "county-01") / "log" / LOG_KEY}
    assert sorted(links) == sorted(files)
    state = {"/download/state/checkpoints/000001.txt":
             log_dir(root) / "checkpoints" / "000001.txt",
             "/download/state/log.vkey": log_dir(root) / LOG_KEY}
    for url, path in {**files, **state}.items():
        r = client.get(url)
        assert r.status_code == 200 and r.content == path.read_bytes(), url
    for url in ("/download/published/nope.zip", "/download/published/..%2F..%2Fkeys%2Fcounty-01",
                "/download/state/checkpoints/..%2Flog.vkey",
                "/download/county/county-01/checkpoints/..%2F..%2F..%2F..%2Fkeys%2Fcounty-01",
                "/download/county/..%2Fkeys/log.vkey", "/download/county/elsewhere/log.vkey"):
        r = client.get(url)
        assert r.status_code == 404 and b"PRIVATE" not in r.content.upper(), url


def test_before_publication_the_board_says_so(server: Server) -> None:
    page = server.client().get("/present").text
    assert "No bundle is published yet" in page and "No risk-limiting audit has started" in page


def test_publishing_lists_the_bundle_once_and_refuses_its_name_again(root: Path,
                                                                     state_root: Path) -> None:
    from tallyproof.errors import UsageError
    from tallyproof.server.public_view import publish, published

    assert [p.name for p in published(root)] == ["demo-1"]
    listed = published(root)[0]
    assert listed.meta["kind"] == "state" and listed.zip.size == (
        state_root.parent / "bundle.zip").stat().st_size
    with pytest.raises(UsageError, match="already published"):
        publish(root, state_root.parent / "bundle", "demo-1")
    assert sorted(p.name for p in (root / "published").iterdir()) == ["demo-1", "demo-1.zip"]

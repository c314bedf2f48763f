"""Bundle round trip and tampering: every fault is named by the check that should catch it."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tallyproof.cli import main
from tallyproof.errors import InputError
from tallyproof.evidence.bundle import build_bundle, write_sums
from tallyproof.verify import safe_extract, verify_bundle

from .evidence.conftest import pipeline_store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundle")
    store = pipeline_store(tmp / "store", tmp)
    return build_bundle(store, tmp / "bundle")


@pytest.fixture
def bundle(built, tmp_path) -> Path:
    copy = tmp_path / "b"
    shutil.copytree(built.folder, copy)
    return copy


def failed(rep) -> set[str]:
    return {c.name for c in rep.checks if c.status == "fail"}


def test_round_trip_folder_and_zip(built):
    for path in (built.folder, built.zip):
        rep = verify_bundle(path)
        assert rep.ok, rep.to_json()["failures"]
        names = {c.name: c.status for c in rep.checks}
        for n in ("bundle.manifest", "ledger", "tabulation", "reconciliation", "audit.sample",
                  "audit.risk", "audit", "report", "reconciliation.log", "official_results"):
            assert names[n] == "pass", n


def test_zip_is_reproducible(built, tmp_path):
    from tallyproof.evidence.bundle import write_zip

    meta = orjson.loads((built.folder / "bundle.json").read_bytes())
    write_zip(built.folder, tmp_path / "again.zip", meta["source_date_epoch"])
    assert (tmp_path / "again.zip").read_bytes() == built.zip.read_bytes()


def test_missing_extra_and_altered_files_are_each_named(bundle):
    (bundle / "evidence" / "claims.json").unlink()
    (bundle / "store" / "notes.txt").write_text("hello")
    with open(bundle / "report" / "report.pdf", "ab") as f:
        f.write(b"%")
    rep = verify_bundle(bundle)
    m = next(c for c in rep.checks if c.name == "bundle.manifest")
    assert m.details["missing"] == ["evidence/claims.json"]
    assert m.details["extra"] == ["store/notes.txt"]
    assert m.details["altered"] == ["report/report.pdf"]
    assert not rep.ok and "evidence/claims.json" in m.summary


def test_altered_cvr_is_caught_even_with_a_fixed_manifest(bundle):
    path = bundle / "store" / "cvrs.parquet"
    t = pq.read_table(path)
    rows = t.column("contest:measure").to_pylist()
    rows[0] = [[1]] if rows[0] != [[1]] else [[0]]  # one vote switched on one card
    idx = t.schema.get_field_index("contest:measure")
    t = t.set_column(idx, "contest:measure", pa.array(rows, type=t.schema.field(idx).type))
    pq.write_table(t, path)
    write_sums(bundle)  # a forger re-hashes the files: the manifest passes, the evidence does not
    rep = verify_bundle(bundle)
    bad = failed(rep)
    assert "bundle.manifest" not in bad
    assert "ledger" in bad
    assert "tabulation" in bad or "audit.risk" in bad or "audit.sample" in bad


def test_deleted_cvrs_are_caught_by_ledger_and_accounting(bundle):
    path = bundle / "store" / "cvrs.parquet"
    t = pq.read_table(path)
    pq.write_table(t.filter(pc.not_equal(t.column("batch"), "B2")), path)
    write_sums(bundle)
    bad = failed(verify_bundle(bundle))
    assert {"ledger", "reconciliation.manifest", "reconciliation.pollbooks",
            "reconciliation.log"} <= bad


def test_cli_verify_exit_codes(built, bundle, capsys):
    assert main(["verify", str(built.zip), "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["ok"] is True
    (bundle / "bundle.json").write_text("{}")
    assert main(["verify", str(bundle)]) == 1  # the bundle's own description damaged: altered
    assert main(["verify"]) == 2
    assert main(["verify", str(bundle / "nope.zip")]) == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [("/etc/evil", "absolute"), ("../evil", ".."), ("a/../../evil", ".."), ("C:/evil", "absolute")],
)
def test_zip_slip_is_refused(tmp_path, name, message):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(name, b"x")
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(InputError, match=message):
        safe_extract(z, target)
    assert list(target.rglob("*")) == []
    assert not (tmp_path / "evil").exists()
    assert main(["verify", str(z)]) == 2


def test_symlink_in_zip_is_refused(tmp_path):
    z = tmp_path / "link.zip"
    info = zipfile.ZipInfo("store/cvrs.parquet")
    info.external_attr = (0o120777) << 16
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InputError, match="symbolic link"):
        safe_extract(z, tmp_path / "out")


def test_verify_writes_nothing_into_the_bundle(built):
    before = sorted(p.relative_to(built.folder) for p in built.folder.rglob("*"))
    assert verify_bundle(built.folder).ok
    assert sorted(p.relative_to(built.folder) for p in built.folder.rglob("*")) == before


def test_bundle_json_records_inputs_parameters_and_seed(built):
    meta = orjson.loads((built.folder / "bundle.json").read_bytes())
    assert meta["schema_version"] == 1 and meta["tool"] == "tallyproof"
    assert meta["parameters"] == {"risk_limit": 0.1, "seed": "31415926535897932384"}
    assert meta["inputs"]["pollbooks"]["file"] == "pollbooks.csv"
    assert len(meta["inputs"]["official_results"]["sha256"]) == 64
    assert meta["election"]["cards"] == 200 and meta["ledger"]["tree_size"] >= 200
    sums = (built.folder / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ", 1)[1] for line in sums] == sorted(
        line.split("  ", 1)[1] for line in sums)
    assert any(line.endswith("  store/cvrs.parquet") for line in sums)


def test_cli_bundle_and_verify_store(tmp_path, capsys):
    from .evidence.conftest import pipeline_store

    store = pipeline_store(tmp_path / "s", tmp_path, audit=False)
    assert main(["bundle", "--store", str(store.root), "--out", str(tmp_path / "b"),
                 "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert Path(doc["zip"]).is_file() and Path(doc["folder"]).is_dir()
    assert main(["verify", "--store", str(store.root), "--json"]) == 0
    checks = {c["name"]: c["status"] for c in orjson.loads(capsys.readouterr().out)["checks"]}
    assert checks["ledger"] == "pass" and checks["audit"] == "not_run"
    # refuse to overwrite a folder that is not a bundle
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    assert main(["bundle", "--store", str(store.root), "--out", str(other)]) == 2
    assert (other / "keep.txt").exists()


def test_missing_cvrs_stop_the_evidence_checks(bundle):
    (bundle / "store" / "cvrs.parquet").unlink()
    rep = verify_bundle(bundle)
    assert [(c.name, c.status) for c in rep.checks] == [("bundle.manifest", "fail"),
                                                        ("evidence", "not_run")]
    assert "store/cvrs.parquet" in rep.failures[0].message


def test_corrupt_cvr_file_is_a_named_failure_not_a_crash(bundle, capsys):
    (bundle / "store" / "cvrs.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    write_sums(bundle)
    rep = verify_bundle(bundle)
    bad = failed(rep)
    assert {"ledger", "tabulation"} <= bad
    assert main(["verify", str(bundle)]) == 1
    assert "ledger" in capsys.readouterr().err


def test_a_bundle_zipped_by_another_tool_verifies(built, tmp_path):
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:  # default modes, directory entries, other order
        for p in sorted(built.folder.rglob("*"), reverse=True):
            zf.write(p, p.relative_to(built.folder).as_posix())
    assert verify_bundle(z).ok


def test_verify_against_the_published_key(built, bundle, tmp_path, capsys):
    """With --key, only the key the verifier trusts counts, not the one inside the bundle."""
    from tallyproof.ledger import new_keypair

    official = built.folder.parent / "county.key.pub"
    assert main(["verify", str(built.folder), "--key", str(official)]) == 0
    _, other = new_keypair(tmp_path / "impostor.key", "impostor")
    capsys.readouterr()
    assert main(["verify", str(built.folder), "--key", str(other), "--json"]) == 1
    report = orjson.loads(capsys.readouterr().out)
    ledger = next(c for c in report["checks"] if c["name"] == "ledger")
    assert ledger["status"] == "fail" and "signature" in orjson.dumps(ledger).decode()
    assert main(["verify", "--store", str(bundle / "store"), "--key", str(other)]) == 1
    (tmp_path / "bad.pub").write_text("")
    assert main(["verify", str(built.folder), "--key", str(tmp_path / "bad.pub")]) == 2


# ------------------------------------------------------------------ what a pass means (#10.2)
def _zip_of(folder: Path, out: Path, extra: dict[str, bytes] | None = None,
            skip: tuple[str, ...] = ()) -> Path:
    from tallyproof.evidence.bundle import iter_files

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in iter_files(folder):
            if rel not in skip:
                zf.write(folder / rel, rel)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return out


def test_a_store_with_nothing_committed_never_passes(tmp_path, capsys):
    from tallyproof.store import Store

    Store.create(tmp_path / "empty")
    assert main(["verify", "--store", str(tmp_path / "empty"), "--json"]) == 1
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["ok"] is False and "nothing was verified" in doc["verdict"]


def test_verdict_names_what_was_not_checked_and_require_makes_it_fail(tmp_path, capsys):
    from tallyproof.demo.pipeline import run_demo

    run_demo(tmp_path / "d", cards=800, seed=4, evidence=False)
    store = tmp_path / "d" / "store"
    import shutil as _sh

    bare = tmp_path / "bare"
    _sh.copytree(store, bare)
    _sh.rmtree(bare / "audit")
    assert main(["verify", "--store", str(bare), "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert "ledger" in doc["verified"]
    assert [n["check"] for n in doc["not_checked"]] == ["audit"]
    assert "Not checked: the risk-limiting audit of the paper ballots" in doc["verdict"]
    assert main(["verify", "--store", str(bare), "--require", "audit"]) == 1
    assert main(["verify", "--store", str(store), "--require", "audit"]) == 0


# ------------------------------------------------------------------ zips (#10.3)
def test_zip_with_an_extra_member_is_refused_before_anything_is_extracted(built, tmp_path,
                                                                         monkeypatch):
    import tallyproof.bundle_zip as bz

    streamed: list[str] = []
    real = bz._stream
    monkeypatch.setattr(bz, "_stream", lambda z, zf, info, dest: streamed.append(
        info.filename) or real(z, zf, info, dest))
    z = _zip_of(built.folder, tmp_path / "extra.zip", extra={"evidence/huge.bin": b"0" * 10_000})
    rep = verify_bundle(z)
    assert not rep.ok and streamed == []
    assert rep.checks[0].details["extra"] == ["evidence/huge.bin"]
    z2 = _zip_of(built.folder, tmp_path / "missing.zip", skip=("evidence/claims.json",))
    rep2 = verify_bundle(z2)
    assert rep2.checks[0].details["missing"] == ["evidence/claims.json"]


def test_zip_bomb_and_lying_headers_are_refused(built, tmp_path, monkeypatch):
    import tallyproof.bundle_zip as bz

    monkeypatch.setattr(bz, "RATIO_FLOOR", 1_000)  # a small bomb stands for a large one
    from tallyproof.evidence.bundle import iter_files

    z = tmp_path / "bomb.zip"
    rels = iter_files(built.folder)
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in rels:
            data = (built.folder / rel).read_bytes()
            zf.writestr(rel, b"\0" * 2_000_000 if rel == "evidence/claims.json" else data)
    with pytest.raises(InputError, match="compression ratio"):
        verify_bundle(z)


def test_a_member_needing_an_unreadable_zip_version_is_an_input_error(built, tmp_path):
    # zipfile raises NotImplementedError for a header asking for zip 6.4 (as it reads the
    # central directory): damaged input, refused as such, naming the zip
    from .formats.vendor_fixtures import needs_zip_version

    z = tmp_path / "damaged.zip"
    shutil.copyfile(built.zip, z)
    needs_zip_version(z, "evidence/claims.json")
    with pytest.raises(InputError, match=r"zip file version 6\.4") as got:
        verify_bundle(z)
    assert got.value.file == str(z)
    assert main(["verify", str(z)]) == 2


def test_damaged_sha256sums_in_a_zip_is_an_input_error(built, tmp_path):
    # SHA256SUMS is read before anything is extracted: a damaged stream there was a crash
    z = tmp_path / "sums.zip"
    shutil.copyfile(built.zip, z)
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("SHA256SUMS")
    data = bytearray(z.read_bytes())
    name_len, extra_len = (int.from_bytes(data[info.header_offset + k:info.header_offset + k + 2],
                                          "little") for k in (26, 28))
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0xFF
    z.write_bytes(bytes(data))
    with pytest.raises(InputError, match="a damaged member") as got:
        verify_bundle(z)
    assert got.value.record == "SHA256SUMS"
    assert main(["verify", str(z)]) == 2


def test_messages_carry_no_temp_path_and_no_engine_text(built, tmp_path, capsys):
    folder = tmp_path / "b"
    shutil.copytree(built.folder, folder)
    (folder / "store" / "cvrs.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    write_sums(folder)
    from tallyproof.evidence.bundle import write_zip

    z = tmp_path / "b.zip"
    write_zip(folder, z, 0)
    assert main(["verify", str(z), "--json"]) == 1
    text = capsys.readouterr().out
    assert "tallyproof-verify-" not in text and "/tmp" not in text
    assert "Parquet magic" not in text and "duckdb" not in text.lower()


def test_a_member_whose_header_understates_its_size_is_refused(built, tmp_path):
    """Headers are the zip's own claims: the bytes actually decompressed are counted."""
    z = _zip_of(built.folder, tmp_path / "liar.zip")
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("evidence/claims.json")
    real = info.file_size.to_bytes(4, "little")
    small = (info.file_size // 2).to_bytes(4, "little")
    # uncompressed-size fields: local header (offset 22) and central directory (offset 24)
    data[info.header_offset + 22: info.header_offset + 26] = small
    cd = data.rfind(b"evidence/claims.json") - 46
    assert data[cd + 24: cd + 28] == real
    data[cd + 24: cd + 28] = small
    z.write_bytes(bytes(data))
    with pytest.raises(InputError, match="claims.json"):
        verify_bundle(z)

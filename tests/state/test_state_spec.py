"""The state log as docs/commitment.md §9 specifies it, checked by a verifier written from
that text alone (hashlib, and Ed25519 from ``cryptography``; nothing of tallyproof's for
hashing or parsing), and the consistency of each county's log across state publications: a
county that rewrote its records after publication is refused, and a tampered proof or a
swapped county checkpoint in the state folder fails verification, naming the county."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tallyproof.errors import VerificationError
from tallyproof.ledger import new_keypair
from tallyproof.ledger.checkpoint import Checkpoint, parse, sign
from tallyproof.ledger.keys import load_signer, load_verifier
from tallyproof.model import SourceFile
from tallyproof.state.executor import InProcess
from tallyproof.state.statelog import prove_ballot, publish, verify_state_log
from tallyproof.state.tasks import county_store_dir
from tallyproof.state.workflow import commit_all
from tallyproof.store import Store

from ..ledger.conftest import ELECTION, card_batches
from .conftest import fill


# ------------------------------------------------------------ the verifier, from §2, §6, §9
def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def node(a: bytes, b: bytes) -> bytes:
    return sha(b"\x01" + a + b)


def inclusion_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2, as §9.4 step 1 spells it."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
               proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, as §9.5 spells it."""
    if old_size > new_size or old_size == 0:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size & (old_size - 1) == 0:
        proof = [old_root, *proof]
    if not proof:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def read_note(text: str) -> tuple[str, int, bytes, str, list[tuple[str, bytes]]]:
    """§6: origin, size, root, the signed body (with any extension lines), and the (name,
    68 bytes) signature lines."""
    body, _, sigs = text.partition("\n\n")
    origin, size, root = body.split("\n")[:3]  # then any extension lines (§9.7)
    lines = []
    for line in sigs.split("\n")[:-1]:
        assert line.startswith("\u2014 ")
        _, name, sig = line.split(" ")
        lines.append((name, base64.b64decode(sig)))
    return origin, int(size), base64.b64decode(root), body + "\n", lines


def signed(text: str, vkey: str) -> bool:
    """§6 / §9.4 step 3: a line naming the key, with its id, and a valid Ed25519 signature."""
    name, key_id_hex, raw64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(raw64)
    assert raw[0] == 1 and len(raw) == 33
    key_id = sha(name.encode() + b"\n\x01" + raw[1:])[:4]
    assert key_id.hex() == key_id_hex
    *_, body, lines = read_note(text)
    for n, sig in lines:
        if n == name and sig[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], body.encode())
                return True
            except InvalidSignature:
                return False
    return False


def decode_state_leaf(data: bytes) -> tuple[str, str, str]:
    """§9.1."""
    assert data[:2] == b"\x10\x01"
    out, pos = [], 2
    for _ in range(3):
        n = int.from_bytes(data[pos:pos + 4], "big")
        out.append(data[pos + 4:pos + 4 + n].decode())
        pos += 4 + n
    assert pos == len(data), "trailing bytes"
    return out[0], out[1], out[2]


def check_ballot_proof(proof: dict[str, Any], state_vkey: str) -> list[str]:
    """§9.4 steps 1 to 5. Returns what fails."""
    bad = []
    cp = proof["county_proof"]
    _, size, root, _, _ = read_note(cp["checkpoint"])
    leaf = bytes.fromhex(cp["leaf_hash"])
    got = inclusion_root(cp["leaf_index"], cp["tree_size"], leaf,
                         [bytes.fromhex(p) for p in cp["audit_path"]])
    if size != cp["tree_size"] or root.hex() != cp["root"] or got != root:
        bad.append("1: county path")
    if "leaf_data" in cp and sha(b"\x00" + bytes.fromhex(cp["leaf_data"])) != leaf:
        bad.append("1: leaf data")
    data = bytes.fromhex(proof["state_leaf_data"])
    county, vkey, county_cp = decode_state_leaf(data)
    if county != proof["county"] or county_cp != cp["checkpoint"]:
        bad.append("2: state leaf")
    if not signed(county_cp, vkey):
        bad.append("3: county signature")
    _, ssize, sroot, _, _ = read_note(proof["state_checkpoint"])
    got = inclusion_root(proof["state_leaf_index"], proof["state_tree_size"],
                         sha(b"\x00" + data), [bytes.fromhex(p) for p in
                                               proof["state_audit_path"]])
    if ssize != proof["state_tree_size"] or sroot.hex() != proof["state_root"] or got != sroot:
        bad.append("4: state path")
    if not signed(proof["state_checkpoint"], state_vkey):
        bad.append("5: state signature")
    return bad


def check_county_histories(log: Path) -> list[str]:
    """§9.6 step 4, from the segment and consistency files. Returns the failing counties."""
    bad = []
    last: dict[str, tuple[int, int, bytes]] = {}
    n = len(list((log / "segments").glob("*.json")))
    for seq in range(1, n + 1):
        seg = orjson.loads((log / "segments" / f"{seq:06d}.json").read_bytes())
        cf = log / "consistency" / f"{seq:06d}.json"
        doc = orjson.loads(cf.read_bytes()) if cf.exists() else {"publication": seq,
                                                                  "counties": []}
        assert doc["publication"] == seq
        entries = {e["county"]: e for e in doc["counties"]}
        republished = set()
        for leaf in seg:
            _, size, root, _, _ = read_note(leaf["checkpoint"])
            prev = last.get(leaf["county"])
            last[leaf["county"]] = (seq, size, root)
            if prev is None:
                continue
            republished.add(leaf["county"])
            e = entries.get(leaf["county"])
            ok = e is not None and sorted(e) == sorted(
                ["county", "old_publication", "old_size", "old_root", "new_size", "new_root",
                 "proof"]) and (e["old_publication"], e["old_size"], e["old_root"],
                                e["new_size"], e["new_root"]) == (
                prev[0], prev[1], prev[2].hex(), size, root.hex()) and consistent(
                prev[1], size, prev[2], root, [bytes.fromhex(p) for p in e["proof"]])
            if not ok:
                bad.append(leaf["county"])
        bad += sorted(set(entries) - republished)
    return bad


# ------------------------------------------------------------ helpers
def commit_publish(root: Path, key: Path) -> Any:
    return publish(root, key, {o.county: o.value for o in commit_all(root, InProcess())})


def grow(root: Path, county: str, n: int, seed: int) -> None:
    Store.open(county_store_dir(root, county)).append(
        ELECTION, card_batches(n, seed, prefix=f"{county}-late{seed}-"),
        [SourceFile(path=f"late{seed}.csv", name=f"late{seed}.csv", sha256=f"{seed:064x}",
                    format="test", cards=n)])


def rewrite(root: Path, county: str, n: int, seed: int) -> None:
    """The review's reproduction: a new store with other CVRs, more cards, the same key."""
    shutil.rmtree(county_store_dir(root, county))
    fill(root, county, n, seed)


@pytest.fixture
def two_publications(state: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """``state`` published twice, north grown by 5 cards in between; the state key pair."""
    key, pub = new_keypair(tmp_path / "state-key")
    commit_publish(state, key)
    grow(state, "north", 5, 7)
    second = commit_publish(state, key)
    assert second.counties_added == ("north",)
    return state, key, pub


# ------------------------------------------------------------ tests
def test_the_spec_verifier_checks_a_ballot_and_a_county_consistency_proof(
        two_publications: tuple[Path, Path, Path]) -> None:
    state, _, pub = two_publications
    vkey = pub.read_text()
    log = state / "log"
    assert verify_state_log(state, load_verifier(pub)) == []
    # §9.5: publication 2 stores north's proof from 40 + its other leaves to the grown log
    doc = orjson.loads((log / "consistency" / "000002.json").read_bytes())
    (e,) = doc["counties"]
    assert e["county"] == "north" and e["old_publication"] == 1
    assert e["new_size"] > e["old_size"] and e["proof"]
    assert not (log / "consistency" / "000001.json").exists()
    assert check_county_histories(log) == []
    proof = [bytes.fromhex(p) for p in e["proof"]]
    old_root, new_root = bytes.fromhex(e["old_root"]), bytes.fromhex(e["new_root"])
    assert consistent(e["old_size"], e["new_size"], old_root, new_root, proof)
    # the spec verifier fails a proof that is wrong in any one hash, or for other roots
    for i in range(len(proof)):
        broken = [*proof[:i], sha(proof[i]), *proof[i + 1:]]
        assert not consistent(e["old_size"], e["new_size"], old_root, new_root, broken)
    assert not consistent(e["old_size"], e["new_size"], new_root, new_root, proof)
    # a ballot of the grown county, and one committed before, prove to the state root
    for ballot in ("north-late7-00003", "north-00011", "south-00004"):
        county = ballot.split("-")[0]
        p = prove_ballot(state, county, ballot, with_data=True)
        assert check_ballot_proof(p, vkey) == [], ballot
        data = bytes.fromhex(p["county_proof"]["leaf_data"])
        # §1.2 via §9.3: bytes 2..17 the salt, then has_record, record, 8 lengths, ballot id
        assert data[2:18].hex() == p["county_proof"]["salt"]
        n = int.from_bytes(data[27:31], "big")
        assert data[59:59 + n].decode() == ballot
    p = prove_ballot(state, "north", "north-late7-00003")
    assert "leaf_data" not in p["county_proof"] and check_ballot_proof(p, vkey) == []
    # each step fails when its part of the proof is wrong
    cp = p["county_proof"]
    assert check_ballot_proof(dict(p, county_proof=dict(cp, leaf_hash="00" * 32)), vkey) == [
        "1: county path"]
    data = bytes.fromhex(p["state_leaf_data"])
    county, ck, note = decode_state_leaf(data)
    other = (b"\x10\x01" + b"".join(len(x.encode()).to_bytes(4, "big") + x.encode()
                                    for x in ("south", ck, note)))
    assert "2: state leaf" in check_ballot_proof(dict(p, state_leaf_data=other.hex()), vkey)
    _, other_pub = new_keypair(state.parent / "other-key")
    assert check_ballot_proof(p, other_pub.read_text()) == ["5: state signature"]
    path = list(p["state_audit_path"])
    path[0] = "11" * 32
    assert check_ballot_proof(dict(p, state_audit_path=path), vkey) == ["4: state path"]


def test_a_county_rewritten_after_publication_is_refused(state: Path, tmp_path: Path) -> None:
    key, pub = new_keypair(tmp_path / "state-key")
    commit_publish(state, key)
    before = sorted(p.name for p in (state / "log").rglob("*"))
    rewrite(state, "north", 41, 99)
    with pytest.raises(VerificationError, match="county north") as e:
        commit_publish(state, key)
    assert "records changed after publication" in str(e.value)
    assert "south" not in str(e.value)
    assert sorted(p.name for p in (state / "log").rglob("*")) == before  # nothing written
    assert verify_state_log(state, load_verifier(pub)) == []
    # fewer cards than published is refused as well
    rewrite(state, "north", 30, 98)
    with pytest.raises(VerificationError, match="county north.*fewer leaves"):
        commit_publish(state, key)


def test_a_tampered_missing_or_stray_consistency_proof_fails_naming_the_county(
        two_publications: tuple[Path, Path, Path]) -> None:
    state, _, pub = two_publications
    ver = load_verifier(pub)
    cf = state / "log" / "consistency" / "000002.json"
    good = cf.read_bytes()
    doc = orjson.loads(good)
    doc["counties"][0]["proof"][0] = "ab" * 32
    cf.write_bytes(orjson.dumps(doc))
    (f,) = verify_state_log(state, ver)
    assert "county north: publications 1 and 2" in f and "records changed" in f
    assert check_county_histories(state / "log") == ["north"]
    doc = orjson.loads(good)
    doc["counties"][0]["old_size"] -= 1
    cf.write_bytes(orjson.dumps(doc))
    (f,) = verify_state_log(state, ver)
    assert "county north: publications 1 and 2" in f and "not between" in f
    doc = orjson.loads(good)
    doc["counties"].append(dict(doc["counties"][0], county="south"))
    cf.write_bytes(orjson.dumps(doc))
    (f,) = verify_state_log(state, ver)
    assert "county south: publication 2" in f and "does not re-publish" in f
    cf.unlink()
    (f,) = verify_state_log(state, ver)
    assert "county north: publications 1 and 2" in f and "no consistency proof" in f
    assert check_county_histories(state / "log") == ["north"]
    cf.write_bytes(good)
    assert verify_state_log(state, ver) == []


def test_a_swapped_county_checkpoint_fails_even_with_the_state_resigned(
        two_publications: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Whoever holds the state key can re-sign the state checkpoints after putting another
    north checkpoint (north rewritten, validly signed by north's key) in publication 2: the
    state log is then self-consistent, and only north's stored proof gives it away."""
    state, key, pub = two_publications
    forged = tmp_path / "forged"
    shutil.copytree(state, forged)
    rewrite(forged, "north", 45, 99)
    (o,) = [x for x in commit_all(forged, InProcess()) if x.county == "north"]
    seg = forged / "log" / "segments" / "000002.json"
    leaves = orjson.loads(seg.read_bytes())
    leaves[0]["checkpoint"] = o.value.checkpoint
    seg.write_bytes(orjson.dumps(leaves))
    # re-sign state checkpoint 2 over the new leaves, as the state key holder could
    from tallyproof.state.statelog import _tree, load_state_log, origin
    from tallyproof.state.spec import load_spec

    segments, _ = load_state_log(forged)
    tree = _tree(segments)
    (forged / "log" / "checkpoints" / "000002.txt").write_text(
        sign(Checkpoint(origin(load_spec(forged)), tree.size, tree.root()), load_signer(key)))
    (f,) = verify_state_log(forged, load_verifier(pub))
    assert "county north: publications 1 and 2" in f
    assert check_county_histories(forged / "log") == ["north"]
    # a county checkpoint swapped without re-signing also fails the state checkpoint
    shutil.copytree(state, tmp_path / "swapped")
    seg = tmp_path / "swapped" / "log" / "segments" / "000002.json"
    seg.write_bytes(orjson.dumps(leaves))
    failures = verify_state_log(tmp_path / "swapped", load_verifier(pub))
    assert any("county north: publications 1 and 2" in f for f in failures)
    assert any("state checkpoint 2: does not match the leaves" in f for f in failures)
    # the forged north has as many leaves as the real one (45 cards), other records
    real = parse(orjson.loads((state / "log" / "segments" / "000002.json").read_bytes())[0][
        "checkpoint"]).checkpoint
    fake = parse(o.value.checkpoint).checkpoint
    assert fake.size == real.size and fake.root != real.root


def test_state_bundle_carries_and_checks_the_county_proofs(
        two_publications: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from tallyproof.evidence.bundle import write_sums
    from tallyproof.state.evidence import build_state_bundle
    from tallyproof.state.workflow import tabulate_state
    from tallyproof.verify import verify_bundle

    state, _, pub = two_publications
    tabulate_state(state, InProcess())
    bundle = build_state_bundle(state, tmp_path / "bundle")
    cf = bundle / "state" / "log" / "consistency" / "000002.json"
    assert cf.read_bytes() == (state / "log" / "consistency" / "000002.json").read_bytes()
    rep = verify_bundle(bundle)
    assert rep.ok, [(c.name, c.summary) for c in rep.checks if c.status != "pass"]
    doc = orjson.loads(cf.read_bytes())
    doc["counties"][0]["proof"][-1] = "cd" * 32
    cf.write_bytes(orjson.dumps(doc))
    write_sums(bundle)
    rep = verify_bundle(bundle)
    check = next(c for c in rep.checks if c.name == "state.log")
    assert not rep.ok and check.status == "fail"
    assert "county north: publications 1 and 2" in check.summary


def test_an_unreadable_consistency_file_names_the_county(
        two_publications: tuple[Path, Path, Path]) -> None:
    state, _, pub = two_publications
    cf = state / "log" / "consistency" / "000002.json"
    cf.write_bytes(b'{"publication": 2, "counties": [{"county": "north"}]}')
    failures = verify_state_log(state, load_verifier(pub))
    assert any("000002.json is not a consistency file" in f for f in failures)
    assert any(f.startswith("county north: publications 1 and 2: its publication's "
                            "consistency file is unreadable") for f in failures)
    (state / "log" / "consistency" / "000009.json").write_bytes(b"{}")
    assert any("000009.json: names no publication" in f
               for f in verify_state_log(state, load_verifier(pub)))


def test_county_proofs_across_an_activity_only_publication(state: Path, tmp_path: Path) -> None:
    """With a control room, a publication may add activity entries only (an empty segment,
    an extension line on the state checkpoint); a county re-published after it proves its
    log from the checkpoint of publication 1, and the spec verifier reads the extended
    state checkpoint."""
    def entry(i: int) -> dict[str, object]:
        return {"id": i, "at": f"2026-11-03T20:{i:02d}:00.000000Z", "user": "sa",
                "action": "login", "county": None, "detail": ""}

    key, pub = new_keypair(tmp_path / "state-key")
    commits = {o.county: o.value for o in commit_all(state, InProcess())}
    publish(state, key, commits, [entry(1)])
    assert publish(state, key, commits, [entry(1), entry(2)]).counties_added == ()
    grow(state, "north", 3, 8)
    third = publish(state, key, {o.county: o.value for o in commit_all(state, InProcess())},
                    [entry(1), entry(2)])
    assert third.counties_added == ("north",)
    log = state / "log"
    assert orjson.loads((log / "segments" / "000002.json").read_bytes()) == []
    (e,) = orjson.loads((log / "consistency" / "000003.json").read_bytes())["counties"]
    assert (e["county"], e["old_publication"]) == ("north", 1)
    assert verify_state_log(state, load_verifier(pub)) == []
    assert check_county_histories(log) == []
    p = prove_ballot(state, "north", "north-late8-00001")
    assert len(p["state_checkpoint"].split("\n\n")[0].split("\n")) == 4  # an extension line
    assert check_ballot_proof(p, pub.read_text()) == []

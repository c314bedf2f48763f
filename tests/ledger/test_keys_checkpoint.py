"""Keys (C2SP signed-note encoding) and signed checkpoints."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from tallyproof.errors import InputError, UsageError
from tallyproof.ledger.checkpoint import Checkpoint, cosign, origin_for, parse, sign, slug
from tallyproof.ledger.keys import key_hash, load_signer, load_verifier, new_keypair, parse_vkey
from tallyproof.model import Election


def test_new_keypair_is_private_and_refuses_overwrite(tmp_path: Path) -> None:
    priv, pub = new_keypair(tmp_path / "clerk")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert pub.name == "clerk.pub"
    signer, verifier = load_signer(priv), load_verifier(pub)
    assert signer.verifier == verifier
    assert verifier.name == "clerk"
    assert "PRIVATE" not in repr(signer) and "clerk" in repr(signer)
    with pytest.raises(UsageError):
        new_keypair(tmp_path / "clerk")


def test_key_ids_follow_signed_note(tmp_path: Path) -> None:
    _, pub = new_keypair(tmp_path / "k", name="state-office")
    ver = load_verifier(pub)
    assert ver.key_id == key_hash("state-office", ver.public_key)
    name, hash_hex, raw = pub.read_text().strip().split("+", 2)
    assert (name, bytes.fromhex(hash_hex)) == ("state-office", ver.key_id)
    assert base64.b64decode(raw)[0] == 1 and len(base64.b64decode(raw)) == 33


def test_bad_keys_are_input_errors(tmp_path: Path) -> None:
    p = tmp_path / "bad"
    p.write_text("PRIVATE+KEY+x+00000000+AAAA\n")
    with pytest.raises(InputError):
        load_signer(p)
    with pytest.raises(InputError):
        parse_vkey("name+deadbeef+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode())
    with pytest.raises(UsageError):
        new_keypair(tmp_path / "x", name="has space")


def test_sign_parse_verify_and_cosign(tmp_path: Path) -> None:
    clerk, _ = new_keypair(tmp_path / "clerk")
    state, _ = new_keypair(tmp_path / "state")
    s1, s2 = load_signer(clerk), load_signer(state)
    cp = Checkpoint("tallyproof/x/y/v1", 42, bytes(range(32)))
    text = sign(cp, s1)
    lines = text.split("\n")
    assert lines[:4] == ["tallyproof/x/y/v1", "42", base64.b64encode(bytes(range(32))).decode(), ""]
    assert lines[4].startswith("\u2014 clerk ")
    parsed = parse(text)
    assert parsed.checkpoint == cp
    assert parsed.signed_by(s1.verifier) is True
    assert parsed.signed_by(s2.verifier) is None
    both = cosign(text, s2)
    assert cosign(both, s2) == both
    p2 = parse(both)
    assert p2.signed_by(s1.verifier) and p2.signed_by(s2.verifier)
    # a forged body (other size) no longer matches the signatures
    forged = parse(both.replace("\n42\n", "\n43\n", 1))
    assert forged.signed_by(s1.verifier) is False and forged.signed_by(s2.verifier) is False


def test_parse_rejects_malformed() -> None:
    for text in ("no blank line\n", "o\nx\nroot\n\n", "o\n1\nAAAA\n\n"):
        with pytest.raises(InputError):
            parse(text)


def test_origin_slugs() -> None:
    assert slug("Test County, NY") == "test-county-ny"
    assert origin_for(Election(name="General 2026", jurisdiction="Springfield")) == (
        "tallyproof/springfield/general-2026/v1"
    )

"""Ed25519 signing keys in the C2SP signed-note encoding.

A key has a *name* (the signer's identity, e.g. ``county-clerk``) and a 4-byte *key hash*
``SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`` that signature lines carry so a verifier can
pick the right key (C2SP signed-note, algorithm byte 0x01 = Ed25519). Files:

* ``KEY``      ``PRIVATE+KEY+<name>+<hash hex>+<base64(0x01 ‖ 32-byte seed)>`` — mode 0600
  from creation (the temp file is created 0600 and renamed), never printed or logged;
* ``KEY.pub``  the verifier key ``<name>+<hash hex>+<base64(0x01 ‖ 32-byte public key)>``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import InputError, UsageError
from ..fsutil import atomic_write_bytes

ALG_ED25519 = 0x01
_NAME = re.compile(r"^[^\s+]+$")


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of a signed-note Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signed-note signatures."""

    name: str
    key_id: bytes
    public_key: bytes

    @property
    def vkey(self) -> str:
        raw = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, repr=False)
class Signer:
    """A private key (its repr never shows the key)."""

    name: str
    _private: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r})"

    @property
    def verifier(self) -> Verifier:
        pub = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, key_hash(self.name, pub), pub)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def new_keypair(out: Path, name: str | None = None) -> tuple[Path, Path]:
    """Create ``out`` (private, 0600) and ``out.pub``; refuses to overwrite either."""
    out = Path(out)
    pub_path = out.with_name(out.name + ".pub")
    for p in (out, pub_path):
        if p.exists():
            raise UsageError(f"{p} already exists; refusing to overwrite a key")
    name = check_name(name or out.stem)
    private = Ed25519PrivateKey.generate()
    signer = Signer(name, private)
    seed = private.private_bytes_raw()
    ver = signer.verifier
    secret = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
    atomic_write_bytes(out, f"PRIVATE+KEY+{name}+{ver.key_id.hex()}+{secret}\n".encode(), mode=0o600)
    atomic_write_bytes(pub_path, (ver.vkey + "\n").encode(), mode=0o644)
    return out, pub_path


def load_signer(path: Path) -> Signer:
    """Read a private key file written by :func:`new_keypair`."""
    path = Path(path)
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise InputError(f"cannot read key: {exc.strerror}", file=path) from exc
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise InputError("not a tallyproof private key (PRIVATE+KEY+name+hash+key)", file=path)
    name, hash_hex, raw64 = parts[2], parts[3], parts[4]
    try:
        raw = base64.b64decode(raw64, validate=True)
    except ValueError as exc:
        raise InputError("private key is not valid base64", file=path) from exc
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise InputError("private key is not an Ed25519 seed", file=path)
    signer = Signer(check_name(name), Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.verifier.key_id.hex() != hash_hex:
        raise InputError("private key's key hash does not match its name and key", file=path)
    return signer


def parse_vkey(text: str, source: str | Path | None = None) -> Verifier:
    """Parse ``<name>+<hash hex>+<base64(0x01 ‖ public key)>``."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise InputError("not a verifier key (name+hash+key)", file=source)
    name, hash_hex, raw64 = parts
    try:
        raw = base64.b64decode(raw64, validate=True)
        key_id = bytes.fromhex(hash_hex)
    except ValueError as exc:
        raise InputError("verifier key is not valid hex/base64", file=source) from exc
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise InputError("verifier key is not an Ed25519 key", file=source)
    ver = Verifier(check_name(name), key_id, raw[1:])
    if key_hash(name, ver.public_key) != key_id:
        raise InputError("verifier key's hash does not match its name and key", file=source)
    return ver


def load_verifier(path: Path) -> Verifier:
    try:
        return parse_vkey(Path(path).read_text(), source=path)
    except OSError as exc:
        raise InputError(f"cannot read public key: {exc.strerror}", file=path) from exc

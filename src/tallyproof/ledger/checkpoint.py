"""Signed checkpoints: C2SP ``tlog-checkpoint`` bodies in C2SP ``signed-note`` envelopes.

::

    tallyproof/<jurisdiction slug>/<election slug>/v1     origin
    5000000                                               tree size (decimal)
    q1pG...=                                              root hash (base64, 32 bytes)
    tallyproof-activity/v1 42 3q2+7w...=                  extension line(s), optional
                                                          blank line
    — county-clerk AbCdEf...==                            signature line(s)

Each signature line is ``— <key name> <base64(key hash(4) ‖ Ed25519 signature(64))>`` over
the body (the first three lines and any extension lines, with their newlines). Extension lines
are C2SP ``tlog-checkpoint``'s optional lines after the root: signed with the body, ignored by
a verifier that does not know them. Only the state log writes one (the control room's activity
log, :mod:`tallyproof.state.activity_log`); a checkpoint without extensions is byte for byte
what it was before they existed. Other parties (a state office,
observers) co-sign by appending their own line over the same body; a verifier checks the
lines whose keys it knows and reports the others.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ..errors import InputError
from ..model import Election
from .keys import Signer, Verifier

SIG_PREFIX = "\u2014 "  # em dash and a space


def slug(text: str) -> str:
    """Lower-case, runs of anything but ``a-z 0-9 . _ -`` become one ``-``, trimmed."""
    s = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-")
    return s or "-"


def origin_for(election: Election) -> str:
    return f"tallyproof/{slug(election.jurisdiction)}/{slug(election.name)}/v1"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    #: extension lines after the root (no newlines inside; none is empty)
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        ext = "".join(f"{line}\n" for line in self.extensions)
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n{ext}"


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    body: str
    signatures: tuple[SignatureLine, ...]
    text: str

    def signed_by(self, verifier: Verifier) -> bool | None:
        """True/False when a line carries this key's name and id, None when none does."""
        found = None
        for sig in self.signatures:
            if sig.name == verifier.name and sig.key_id == verifier.key_id:
                if verifier.verify(self.body.encode(), sig.signature):
                    return True
                found = False
        return found


def sign(checkpoint: Checkpoint, signer: Signer) -> str:
    body = checkpoint.body()
    return body + "\n" + _sig_line(body, signer)


def cosign(text: str, signer: Signer) -> str:
    """Add ``signer``'s signature line to a signed checkpoint (idempotent per key)."""
    parsed = parse(text)
    if parsed.signed_by(signer.verifier):
        return text
    return text + _sig_line(parsed.body, signer)


def _sig_line(body: str, signer: Signer) -> str:
    ver = signer.verifier
    sig = base64.b64encode(ver.key_id + signer.sign(body.encode())).decode()
    return f"{SIG_PREFIX}{ver.name} {sig}\n"


def parse(text: str, source: str | None = None) -> SignedCheckpoint:
    """Split a signed note into body and signature lines and read the checkpoint body."""
    if "\n\n" not in text or not text.endswith("\n"):
        raise InputError("not a signed note (no blank line before signatures)", file=source)
    body, _, sigs = text.partition("\n\n")
    body += "\n"
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise InputError("checkpoint body needs origin, size and root lines", file=source)
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if not origin or not re.fullmatch(r"0|[1-9][0-9]*", size_s):
        raise InputError("checkpoint origin or tree size is malformed", file=source, record=2)
    try:
        root = base64.b64decode(root_s, validate=True)
    except ValueError as exc:
        raise InputError("checkpoint root is not base64", file=source, record=3) from exc
    if len(root) != 32:
        raise InputError("checkpoint root is not 32 bytes", file=source, record=3)
    signatures = []
    for i, line in enumerate(sigs.split("\n")[:-1]):
        if not line.startswith(SIG_PREFIX) or line.count(" ") != 2:
            raise InputError("malformed signature line", file=source, record=len(lines) + 2 + i)
        _, name, sig64 = line.split(" ")
        try:
            raw = base64.b64decode(sig64, validate=True)
        except ValueError as exc:
            raise InputError("signature is not base64", file=source, record=len(lines) + 2 + i) from exc
        if len(raw) != 68:
            raise InputError("signature is not 4 + 64 bytes", file=source, record=len(lines) + 2 + i)
        signatures.append(SignatureLine(name, raw[:4], raw[4:]))
    return SignedCheckpoint(Checkpoint(origin, int(size_s), root, tuple(lines[3:])), body,
                            tuple(signatures), text)

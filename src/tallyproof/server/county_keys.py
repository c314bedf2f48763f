"""A county's signing key (``STATE/keys/<id>``, what its commit job signs with), made from the
set-up page by the same library function as ``tallyproof keys new --out STATE/keys/<id>``
(:func:`tallyproof.ledger.keys.new_keypair`: the private key written 0600 from creation, by
temp file and rename, then ``<id>.pub``; it refuses to overwrite either).

The server never reads, shows or serves the private key: the page shows the public key
(``<id>.pub``) and its fingerprint only. Two administrators pressing the button at once must
not both pass the library's "already exists" check and write one key over the other, so the
check and the write are made under an exclusive lock on ``STATE/keys/.new-key.lock`` (a lock
between processes and between threads alike: each request opens the file itself)."""

from __future__ import annotations

import fcntl
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, UsageError
from ..ledger.keys import Verifier, load_verifier, new_keypair
from ..state.spec import load_spec
from ..state.tasks import county_key_path

LOCK_NAME = ".new-key.lock"


@dataclass(frozen=True)
class CountyKey:
    """What the set-up page says of a county's key: ``state`` is ``none`` (no key file),
    ``made`` (a key and its public half; ``verifier`` set), ``no public key`` (a private key
    put there by hand without its ``.pub``) or ``unreadable`` (``problem`` says why)."""

    county: str
    state: str
    verifier: Verifier | None = None
    problem: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.verifier) if self.verifier is not None else ""


def fingerprint(verifier: Verifier) -> str:
    """SHA-256 of the raw Ed25519 public key, in hex groups of four (to read aloud)."""
    h = hashlib.sha256(verifier.public_key).hexdigest()
    return " ".join(h[i:i + 4] for i in range(0, len(h), 4))


def public_path(private: Path) -> Path:
    return private.with_name(private.name + ".pub")


def county_key(root: Path, county: str) -> CountyKey:
    """The county's key as the page shows it (read from ``<id>.pub`` only)."""
    private = county_key_path(root, county)
    pub = public_path(private)
    if not pub.exists():
        return CountyKey(county, "no public key" if private.exists() else "none")
    try:
        return CountyKey(county, "made", load_verifier(pub))
    except InputError as exc:
        return CountyKey(county, "unreadable", problem=str(exc))


def make_county_key(root: Path, county: str) -> Verifier:
    """Make the county's key pair as ``keys new --out STATE/keys/<id>`` does (its name the
    county id). :class:`UsageError` for a county the state does not have, or when the key
    or its public half exists already (nothing is written then)."""
    load_spec(root).county(county)  # UsageError: no such county
    private = county_key_path(root, county)
    private.parent.mkdir(parents=True, exist_ok=True)
    with open(private.parent / LOCK_NAME, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        for p in (private, public_path(private)):
            if p.exists():
                raise UsageError(f"county {county} has a signing key already "
                                 f"(keys/{p.name}); a key is never replaced from the web")
        _, pub = new_keypair(private)
    return load_verifier(pub)

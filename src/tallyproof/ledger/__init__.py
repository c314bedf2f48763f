"""The tamper-evident commitment log (docs/commitment.md).

Public API: :func:`commit_store`, :func:`verify_store`, :func:`verify_log_dir`,
:func:`prove`, :func:`consistency`, :func:`load_checkpoints`, :func:`new_keypair`.
"""

from __future__ import annotations

from .keys import new_keypair
from .log import CommitResult, commit_store, consistency, cosign_latest, load_checkpoints, prove
from .verify_store import LedgerReport, verify_log_dir, verify_store

__all__ = [
    "CommitResult",
    "LedgerReport",
    "commit_store",
    "consistency",
    "cosign_latest",
    "load_checkpoints",
    "new_keypair",
    "prove",
    "verify_log_dir",
    "verify_store",
]

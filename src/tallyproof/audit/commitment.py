"""What an audit holds the CVRs to: the CVR table's hash and the commitment log's latest
checkpoint, fixed in ``audit.json`` when the audit starts and checked at every later step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import AuditError
from ..store import Store, sha256_file


def ledger_checkpoints(store: Store) -> list[Path]:
    """The commitment log's checkpoint files, oldest first (:mod:`tallyproof.ledger.log`)."""
    from ..ledger.log import checkpoint_paths

    return [Path(p) for p in checkpoint_paths(store)]


def held_commitment(store: Store, *, uses_cvrs: bool) -> dict[str, Any]:
    """What the audit holds the CVRs to: the CVR table's hash and the latest checkpoint.

    An audit that relies on CVRs must start after they are committed, and the log must verify
    against them (every CVR committed, none changed; a passed verification recorded in
    ``log/verified.json`` for the same files counts, :mod:`tallyproof.ledger.verified`): otherwise the sample could be drawn
    before the CVRs were fixed, and the audit would prove nothing about the published ones.
    """
    if not store.has_cvrs():
        if uses_cvrs:
            raise AuditError("a comparison audit needs CVRs; the store has none")
        return {"cvrs_sha256": None, "cvr_count": 0, "checkpoint": None}
    checkpoints = ledger_checkpoints(store)
    if uses_cvrs and not checkpoints:
        raise AuditError(
            "the CVRs are not committed: run `tallyproof commit --store DIR --key KEY` before "
            "starting an audit that relies on them (the sample must be drawn after the "
            "commitment)"
        )
    tree: dict[str, Any] = {}
    if checkpoints:
        from ..ledger.verified import verified_report
        from ..ledger.verify_store import verify_store

        # a full verification recorded for exactly these files (log/verified.json) stands;
        # anything changed since, or no record, and the log is verified in full here
        report = verified_report(store) or verify_store(store, record=True)
        if not report.ok:
            raise AuditError("the commitment log does not match the CVRs: " + "; ".join(
                f"{f.check}: {f.message}" for f in report.failures))
        tree = {"tree_size": report.tree_size, "root": report.root}
    latest = checkpoints[-1] if checkpoints else None
    return {
        "cvrs_sha256": sha256_file(store.cvrs_path),
        "cvr_count": store.cvr_count(),
        "checkpoint": None if latest is None else {
            "path": str(latest.relative_to(store.root)),
            "sha256": sha256_file(latest),
            **tree,
        },
    }


def check_commitment(store: Store, commitment: dict[str, Any]) -> None:
    """Refuse to go on when the CVR table is not the one the audit started on."""
    want = commitment.get("cvrs_sha256")
    if want is not None and sha256_file(store.cvrs_path) != want:
        raise AuditError("the CVR table changed after the audit started; the audit's sample "
                         "and assertions no longer describe it")

"""The result of one named check, shared by reconciliation, the results check and the verifier.

Every check has a stable ``name`` (``ledger``, ``tabulation``, ``official_results``,
``reconciliation.manifest``, ...) so that scripts (the demo's ``--json`` summary) can tell
which check caught which fault, and a ``status``: ``pass``, ``fail`` or ``not_run`` (the
input the check needs was not given; never used to hide an error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "not_run"]


@dataclass(frozen=True)
class Check:
    """One named check: what was compared, what was found (``details`` holds the numbers)."""

    name: str
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Check:
        status = d["status"]
        if status not in ("pass", "fail", "not_run"):
            raise ValueError(f"unknown check status {status!r}")
        return cls(
            name=str(d["name"]),
            status=status,
            summary=str(d["summary"]),
            details=dict(d.get("details") or {}),
        )


def status_of(failed: bool) -> Status:
    return "fail" if failed else "pass"

"""What ``tallyproof verify`` concludes from its checks: exactly what was verified, what was
not, and whether that is a pass.

The policy (also in docs/bundle.md, "What verify's exit status means"):

* **fail (exit 1)** when any check that ran failed: evidence that does not recompute, or a
  recomputed check that found a difference (the ledger, the recount, the accounting, the
  certified results, an audit that needs a full hand count);
* **fail** when the essential was not verified: the commitment log (``ledger``) must pass, so
  a bundle or store of nothing (no ballots, nothing committed) is never a pass (a bundle
  always carries its published results, so its recount always runs);
* **fail** when a check the verifier asked for (``--require audit``, ``--require
  reconciliation`` …) was not run or is unfinished;
* otherwise **pass (exit 0)**, and the verdict lists what was *not* checked, with the reason:
  no reconciliation (the ballot accounting was not checked), no audit (the paper ballots were
  not checked), an audit still in progress (the paper has not yet confirmed the outcome). A
  bundle that says less is not a false one; the verdict says how much less.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import Failure
from .evidence.checks import Check

ESSENTIAL = ("ledger",)
IN_PROGRESS = ("another_round", "waiting")
LABELS = {
    "bundle.manifest": "the bundle's file list",
    "ledger": "the commitment log",
    "tabulation": "the recount of the CVRs",
    "reconciliation": "the ballot accounting",
    "official_results": "the comparison with the certified results",
    "audit": "the risk-limiting audit of the paper ballots",
    "audit.sample": "the audit sample, re-drawn from the seed",
    "audit.risk": "the audit's risk, recomputed from the audit-board records",
    "report": "the report, rebuilt from the data",
    "voters": "the voter-check results, re-added from their counts",
    "results_history": "the published results over time",
    "hand_count": "the full hand count of the paper ballots",
    "hand_count.rebuild": "the hand-count comparison, rebuilt from the published files",
    "state.counties": "every county's bundle",
    "state.log": "the state log of county checkpoints",
    "state.results": "the statewide results, recounted from every county's CVRs",
    "state.audit": "the statewide audit, re-drawn from its seed and re-measured",
}
#: Names ``--require`` takes beyond check names: a group stands for its checks.
GROUPS = {"reconciliation": ("reconciliation",), "audit": ("audit",)}


def label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    if name.startswith("reconciliation."):
        return f"the {name.split('.', 1)[1]} comparison"
    return name


def audit_in_progress(check: Check) -> bool:
    return (check.name == "audit" and check.status == "fail"
            and check.details.get("status") in IN_PROGRESS)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str
    verified: tuple[str, ...]
    not_checked: tuple[tuple[str, str], ...]  # (check, reason)
    failures: list[Failure] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "verdict": self.text, "verified": list(self.verified),
                "not_checked": [{"check": c, "reason": r} for c, r in self.not_checked]}


def judge(checks: Sequence[Check], require: Iterable[str] = (),
          essential: Sequence[str] = ESSENTIAL) -> Verdict:
    """Apply the policy of the module docstring to ``checks`` (``essential``: the checks that
    must pass for anything to count as verified; a hand-count bundle's is its rebuild)."""
    by_name = {c.name: c for c in checks}
    failures = [Failure(check=c.name, message=c.summary) for c in checks
                if c.status == "fail" and not audit_in_progress(c)]
    verified = tuple(c.name for c in checks if c.status == "pass" and c.name != "reconciliation")
    not_checked: list[tuple[str, str]] = []
    for c in checks:
        if audit_in_progress(c):
            not_checked.append((c.name, f"in progress: {c.summary}; the paper ballots have not "
                                        "yet confirmed the outcome"))
        elif c.status == "not_run" and not (c.name.startswith("reconciliation.")
                                            and by_name.get("reconciliation") is not None
                                            and by_name["reconciliation"].status == "not_run"):
            not_checked.append((c.name, c.summary))
    for name in essential:
        c = by_name.get(name)
        if c is None or c.status == "not_run":
            failures.append(Failure(check=name, message=(
                f"nothing was verified: {label(name)} was not checked"
                + (f" ({c.summary})" if c else ""))))
    unchecked = {n for n, _ in not_checked}
    for req in require:
        names = GROUPS.get(req, (req,))
        for n in names:
            if n not in by_name:
                failures.append(Failure(check=n, message=f"required, but the bundle has no "
                                                         f"{label(n)}"))
            elif n in unchecked:
                failures.append(Failure(check=n, message=f"required, but not checked: "
                                                         f"{dict(not_checked)[n]}"))
    parts = []
    if verified:
        parts.append("Verified: " + ", ".join(label(n) for n in verified) + ".")
    if not_checked:
        parts.append("Not checked: " + "; ".join(f"{label(n)} ({r})" for n, r in not_checked)
                     + ".")
    if failures:
        parts.append("FAILED: " + "; ".join(f"{label(f.check)}: {f.message}"
                                            for f in failures) + ".")
    return Verdict(not failures, " ".join(parts), verified, tuple(not_checked), failures)

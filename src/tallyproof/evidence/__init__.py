"""Evidence: the official-results check, the claims, the report and the verification bundle.

Public entry points (imported lazily by callers so that this package stays light):

- :func:`tallyproof.evidence.results_check.check_official_results`
- :func:`tallyproof.evidence.claims.build_claims`
- :func:`tallyproof.evidence.report.build_report`
- :func:`tallyproof.evidence.bundle.build_bundle`
- :class:`tallyproof.evidence.checks.Check`
"""

from .checks import Check

__all__ = ["Check"]

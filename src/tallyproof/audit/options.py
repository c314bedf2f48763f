"""What a person chooses when setting up or planning an audit: the audit kinds, the planning
methods and Kaplan-Markov's default error inflation factor.

Plain data with no numerical imports, so that the command line's ``--help`` (and any form
that lists these choices) does not load numpy or scipy. The modules that implement the
choices (:mod:`.workflow`, :mod:`.plan`, :mod:`.kaplan_markov`) take them from here.
"""

from __future__ import annotations

#: Kinds of audit :func:`tallyproof.audit.workflow.start_audit` runs.
KINDS = ("polling", "comparison", "batch", "stratified")

#: Methods :func:`tallyproof.audit.plan.estimate_sample_size` plans with.
PLAN_METHODS = ("bravo", "kaplan-markov", "alpha", "betting", "agrapa", "kelly", "cobra")

#: Kaplan-Markov error inflation factor gamma (Stark 2009; the value of Stark's super-simple
#: calculator and of deployed tools).
DEFAULT_GAMMA = 1.03905

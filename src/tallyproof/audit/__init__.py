"""Risk-limiting audits: sampler, risk-measuring functions, planning, assorters, workflow.

Import the submodule you need (``tallyproof.audit.sampler``, ``.risk``, ``.plan``...); this
package deliberately re-exports nothing so that importing it stays cheap.
"""

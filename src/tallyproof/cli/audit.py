"""``tallyproof sample`` and the ``tallyproof audit ...`` group.

Planning and risk calculators live in ``audit_plan.py``; the audit workflow on a store in
``audit_workflow.py``. Both add commands to the same ``audit`` group.
"""

from __future__ import annotations


import typer

audit_app = typer.Typer(help="Risk-limiting audits: plan, sample, record, measure risk.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from . import audit_plan, audit_workflow

    audit_plan.register(app, audit_app)
    audit_workflow.register(app, audit_app)
    app.add_typer(audit_app, name="audit")

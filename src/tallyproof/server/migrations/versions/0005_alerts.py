"""Alerts: a finished or failed job is an alert for the state administrators until one of them
acknowledges it (who and when, on the job's row; the acknowledgment is in the activity log).

Revision ID: 0005_alerts
Revises: 0003_uploads
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_alerts"
down_revision = "0004_batch_entries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("acknowledged_by", sa.String(64), nullable=True))
    # the state page's list: the closed jobs not yet acknowledged, newest first
    op.create_index("jobs_unacknowledged", "jobs", ["acknowledged_at", "id"])


def downgrade() -> None:
    op.drop_index("jobs_unacknowledged", "jobs")
    with op.batch_alter_table("jobs") as b:
        b.drop_column("acknowledged_by")
        b.drop_column("acknowledged_at")

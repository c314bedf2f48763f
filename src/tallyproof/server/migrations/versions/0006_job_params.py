"""Job parameters: what a statewide audit job was asked (risk limit, seed, kind; the round it
draws), kept on its row so a job queued or running when the server stopped runs again with
the same parameters at the next start.

Revision ID: 0006_job_params
Revises: 0005_alerts
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_job_params"
down_revision = "0005_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("params", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as b:
        b.drop_column("params")

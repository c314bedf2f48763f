"""Audit boards that hand count whole batches: what a board works on (``audit_boards.unit``:
single cards or whole batches) and the batch counts a board typed before signing off.

Revision ID: 0004_batch_entries
Revises: 0003_uploads
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_batch_entries"
down_revision = "0003_uploads"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("audit_boards") as b:
        b.add_column(sa.Column("unit", sa.String(8), nullable=False, server_default="card"))
        b.create_check_constraint("audit_boards_unit", "unit IN ('card', 'batch')")
    op.create_table(
        "batch_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("board_id", sa.Integer, sa.ForeignKey("audit_boards.id"), nullable=False),
        sa.Column("entry_key", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(256), nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("board_id", "entry_key", name="batch_entries_key"),
    )
    op.create_index("batch_entries_batch", "batch_entries", ["board_id", "batch_id"])


def downgrade() -> None:
    op.drop_index("batch_entries_batch", "batch_entries")
    op.drop_table("batch_entries")
    with op.batch_alter_table("audit_boards") as b:
        b.drop_constraint("audit_boards_unit", type_="check")
        b.drop_column("unit")

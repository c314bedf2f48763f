"""County uploads, and what a job needs to show its progress and read its upload.

Revision ID: 0003_uploads
Revises: 0002_boards
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_uploads"
down_revision = "0002_boards"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("county", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("suffix", sa.String(8), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("declared_sha256", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.CheckConstraint("kind IN ('cvr_export', 'manifest', 'pollbooks', "
                           "'official_results')", name="uploads_kind"),
        sa.CheckConstraint("status IN ('receiving', 'verified', 'rejected', 'ingested', "
                           "'failed')", name="uploads_status"),
        sa.CheckConstraint("received >= 0 AND (size IS NULL OR received <= size)",
                           name="uploads_received"),
    )
    op.create_index("uploads_by_county", "uploads", ["county", "id"])
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("upload_id", sa.Integer, nullable=True))
        b.add_column(sa.Column("progress", sa.Text, nullable=False, server_default=""))
        b.add_column(sa.Column("started_at", TZ, nullable=True))
        b.create_foreign_key("jobs_upload", "uploads", ["upload_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as b:
        b.drop_constraint("jobs_upload", type_="foreignkey")
        b.drop_column("started_at")
        b.drop_column("progress")
        b.drop_column("upload_id")
    op.drop_index("uploads_by_county", "uploads")
    op.drop_table("uploads")

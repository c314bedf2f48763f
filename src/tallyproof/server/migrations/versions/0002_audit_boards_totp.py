"""Audit boards of the statewide audit (boards, their sessions, entries, sign-offs and
reopenings, closed rounds) and the administrators' TOTP second factor.

Revision ID: 0002_boards
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_boards"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_boards",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("county", sa.String(64), nullable=False),
        sa.Column("round_number", sa.Integer, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("of", sa.Integer, nullable=False),
        sa.Column("slug", sa.String(32), nullable=False, unique=True),
        sa.Column("passphrase_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("passphrase_issued_at", TZ, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("county", "round_number", "number", name="audit_boards_one_number"),
        sa.CheckConstraint("status IN ('open', 'signed_off')", name="audit_boards_status"),
        sa.CheckConstraint("number >= 1 AND number <= of", name="audit_boards_number"),
    )
    op.create_table(
        "board_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("board_id", sa.Integer, sa.ForeignKey("audit_boards.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
    )
    op.create_table(
        "board_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("board_id", sa.Integer, sa.ForeignKey("audit_boards.id"), nullable=False),
        sa.Column("entry_key", sa.String(64), nullable=False),
        sa.Column("ballot_id", sa.String(128), nullable=False),
        sa.Column("reading", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("board_id", "entry_key", name="board_entries_key"),
    )
    op.create_index("board_entries_ballot", "board_entries", ["board_id", "ballot_id"])
    op.create_table(
        "board_signoffs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("board_id", sa.Integer, sa.ForeignKey("audit_boards.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("members", sa.Text, nullable=False),
        sa.Column("last_entry_id", sa.Integer, nullable=False),
        sa.Column("records_file", sa.String(255), nullable=False),
        sa.Column("records_written", sa.Integer, nullable=False),
        sa.Column("signed_at", TZ, nullable=False),
        sa.UniqueConstraint("board_id", "number", name="board_signoffs_number"),
    )
    op.create_table(
        "board_reopenings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("board_id", sa.Integer, sa.ForeignKey("audit_boards.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_table(
        "audit_closed_rounds",
        sa.Column("round_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("closed_at", TZ, nullable=False),
    )
    op.create_table(
        "totp_factors",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("secret", sa.String(64), nullable=True),
        sa.Column("pending_secret", sa.String(64), nullable=True),
        sa.Column("enabled_at", TZ, nullable=True),
        sa.Column("last_step", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in ("totp_factors", "audit_closed_rounds", "board_reopenings", "board_signoffs",
                  "board_entries", "board_sessions", "audit_boards"):
        if table == "board_entries":
            op.drop_index("board_entries_ballot", "board_entries")
        op.drop_table(table)

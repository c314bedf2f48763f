"""The initial schema: users, sessions, the append-only activity log, jobs (county locks).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
OPEN = sa.text("status IN ('queued', 'running')")

_SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER activity_no_update BEFORE UPDATE ON activity "
    "BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END",
    "CREATE TRIGGER activity_no_delete BEFORE DELETE ON activity "
    "BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END",
]
_PG_APPEND_ONLY = [
    "CREATE FUNCTION activity_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the activity log is append-only'; END $$",
    "CREATE TRIGGER activity_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON activity "
    "FOR EACH STATEMENT EXECUTE FUNCTION activity_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("county", sa.String(64), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("disabled_at", TZ, nullable=True),
        sa.CheckConstraint("(role = 'state_admin' AND county IS NULL) OR "
                           "(role = 'county_admin' AND county IS NOT NULL)", name="users_role"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
    )
    op.create_table(
        "activity",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("county", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("county", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                           name="jobs_status"),
    )
    op.create_index("jobs_one_open_per_county", "jobs", ["county"], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    dialect = op.get_bind().dialect.name
    for sql in _SQLITE_APPEND_ONLY if dialect == "sqlite" else _PG_APPEND_ONLY:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER activity_append_only ON activity")
        op.execute("DROP FUNCTION activity_append_only()")
    op.drop_index("jobs_one_open_per_county", "jobs")
    for table in ("jobs", "activity", "sessions", "users"):
        op.drop_table(table)

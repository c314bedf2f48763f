"""A fifth kind of upload: the batch tallies CSV of a county that reports batch tallies only
(no CVRs), read by its ingest job with the county's ballot manifest.

On SQLite the table is rebuilt (copy, drop, rename) while ``jobs`` rows point at it:
:func:`tallyproof.server.migrate.upgrade` runs the migrations with SQLite's foreign keys off
and checks them all before the commit, as SQLite's own procedure for such a change asks.

Revision ID: 0007_batch_tallies_upload
Revises: 0006_job_params
"""

from alembic import op

revision = "0007_batch_tallies_upload"
down_revision = "0006_job_params"
branch_labels = None
depends_on = None

OLD = "kind IN ('cvr_export', 'manifest', 'pollbooks', 'official_results')"
NEW = "kind IN ('cvr_export', 'manifest', 'pollbooks', 'official_results', 'batch_tallies')"


def upgrade() -> None:
    with op.batch_alter_table("uploads") as b:
        b.drop_constraint("uploads_kind", type_="check")
        b.create_check_constraint("uploads_kind", NEW)


def downgrade() -> None:
    """Refused by the database while a batch tallies upload is recorded (its row would break
    the old rule): remove those rows first, knowingly."""
    with op.batch_alter_table("uploads") as b:
        b.drop_constraint("uploads_kind", type_="check")
        b.create_check_constraint("uploads_kind", OLD)

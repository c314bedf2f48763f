"""Alembic's environment: runs on the connection :func:`tallyproof.server.migrate.upgrade`
hands it (there is no alembic.ini; the server applies the migrations at start)."""

from alembic import context

from tallyproof.server.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()

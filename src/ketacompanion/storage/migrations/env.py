"""Alembic environment: runs on a connection handed in by ketacompanion.storage.migrate."""

from __future__ import annotations

from alembic import context

from ketacompanion.storage.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `ketacompanion db upgrade`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

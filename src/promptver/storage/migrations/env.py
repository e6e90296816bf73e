"""Alembic environment: runs on the connection promptver hands over in ``config.attributes``."""

from alembic import context
from sqlmodel import SQLModel

from promptver.storage import tables  # noqa: F401  (registers the tables on the metadata)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

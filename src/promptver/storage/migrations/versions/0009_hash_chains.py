"""Tamper-evident history (decision 10): every append-only table becomes a hash chain, and the
guards are re-made so that ``verify`` can check their definitions.

- ``chain_seq`` (1, 2, 3... per table; a unique index) and ``chain_hash`` (sha256 of the row's
  chained form: every column, and the previous row's hash; docs/content-hash.md) on every table
  but the response and score caches (not history: an eval result keeps what its call answered).
  Columns on the rows themselves rather than a separate ledger table: one INSERT per row, as
  before (an eval writes thousands), and a row cannot be deleted without its chain noticing.
- Existing rows are chained in the order they were written: by id, or for the tables keyed by
  text (pairings, eval runs, reports) by time, then id.
- SQLite: the ``_no_replace`` trigger also refuses a row whose chain position or natural key
  (the table's unique keys) exists: ``INSERT OR REPLACE`` with a new primary key used to delete
  the old row silently. PostgreSQL: the guard triggers are ``ENABLE ALWAYS`` (they fire under
  ``session_replication_role = replica``), and ``promptver_refuse_change()`` is re-made.

The guards are lifted table by table inside this migration's transaction only.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from promptver.core.chain import row_hash
from promptver.storage.chain import stored_values
from promptver.storage.guards import PG_FUNCTION_DDL, guard_statements, trigger_names
from promptver.storage.schema import APPEND_ONLY_TABLES, CHAINED_TABLES, COLUMNS, PRIMARY_KEYS

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 2000


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION_DDL)
    for table in APPEND_ONLY_TABLES:
        for name in trigger_names(table, dialect):
            op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if dialect == "sqlite" else f" ON {table}"))
        if table in CHAINED_TABLES:
            op.add_column(table, sa.Column("chain_seq", sa.Integer(), nullable=True))
            op.add_column(table, sa.Column("chain_hash", sa.String(length=64), nullable=True))
            _chain_existing_rows(bind.connection.dbapi_connection, dialect, table)
            op.create_index(f"uq_{table}_chain_seq", table, ["chain_seq"], unique=True)
        for statement in guard_statements(table, dialect):
            op.execute(statement)


def _chain_existing_rows(conn, dialect: str, table: str) -> None:
    columns = COLUMNS[table]
    pk = PRIMARY_KEYS.get(table, "id")
    order = pk if columns[0] == ("id", "int") else f"created_at, {pk}"
    names = ", ".join(name for name, _ in columns)
    mark = "?" if dialect == "sqlite" else "%s"
    update = f"UPDATE {table} SET chain_seq = {mark}, chain_hash = {mark} WHERE {pk} = {mark}"
    reader = conn.cursor() if dialect == "sqlite" else conn.cursor(name=f"pv_chain_{table}")
    writer = conn.cursor()
    reader.execute(f"SELECT {names} FROM {table} ORDER BY {order}")
    seq, prev = 0, None
    while True:
        page = reader.fetchmany(_BATCH)
        if not page:
            break
        updates = []
        for stored in page:
            seq += 1
            row = stored_values(dialect, table, stored)
            prev = row_hash(table, seq, prev, row)
            updates.append((seq, prev, row[0]))  # (the primary key is every table's first column)
        writer.executemany(update, updates)
    reader.close()
    writer.close()


def downgrade() -> None:
    raise NotImplementedError("promptver migrations are append-only")

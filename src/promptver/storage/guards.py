"""Database guards: triggers that make the append-only tables refuse UPDATE and DELETE.

SQLite: ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers that ``RAISE(ABORT)``, plus a
``BEFORE INSERT`` trigger refusing a row whose primary key already exists, because
``INSERT OR REPLACE`` deletes the old row without firing delete triggers (unless
``recursive_triggers`` is on, which other tools cannot be trusted to set).

PostgreSQL: one plpgsql function raising ``restrict_violation`` and, per table, a row trigger
``BEFORE UPDATE OR DELETE`` and a statement trigger ``BEFORE TRUNCATE``.

``missing_guards`` lists what is absent; the registry checks it every time it opens a database.
This module uses only DB-API cursors, so the fast read path can check without SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

GUARD_MESSAGE = "promptver: {table} is append-only"
PG_FUNCTION = "promptver_refuse_change"


def trigger_names(table: str, dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"{table}_no_update", f"{table}_no_delete", f"{table}_no_replace"]
    return [f"{table}_no_update_delete", f"{table}_no_truncate"]


def guard_ddl(table: str, dialect: str, pk: str = "id") -> list[str]:
    """The DDL statements that guard ``table`` on ``dialect`` ("sqlite" or "postgresql")."""
    msg = GUARD_MESSAGE.format(table=table)
    if dialect == "sqlite":
        upd, dele, rep = trigger_names(table, dialect)
        return [
            f"CREATE TRIGGER {upd} BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{msg}: UPDATE refused'); END",
            f"CREATE TRIGGER {dele} BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{msg}: DELETE refused'); END",
            f"CREATE TRIGGER {rep} BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {pk} = NEW.{pk}) "
            f"BEGIN SELECT RAISE(ABORT, '{msg}: replacing a row refused'); END",
        ]
    if dialect == "postgresql":
        row, trunc = trigger_names(table, dialect)
        return [
            f"CREATE TRIGGER {row} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
            f"CREATE TRIGGER {trunc} BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
        ]
    raise ValueError(f"unsupported database dialect {dialect!r}")


PG_FUNCTION_DDL = f"""
CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'promptver: % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql
"""


def missing_guards(cursor: Any, dialect: str, tables: tuple[str, ...]) -> list[str]:
    """Names of the guard triggers absent from the database behind a DB-API ``cursor``."""
    if dialect == "sqlite":
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    else:
        cursor.execute(
            "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace "
            "AND t.tgenabled <> 'D'"
        )
    present = {row[0] for row in cursor.fetchall()}
    wanted = [name for table in tables for name in trigger_names(table, dialect)]
    return [name for name in wanted if name not in present]

"""Database guards: triggers that make the append-only tables refuse UPDATE, DELETE and replacement,
and the check that they are still the ones promptver made.

SQLite: ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers that ``RAISE(ABORT)``, plus a
``BEFORE INSERT`` trigger refusing a row whose primary key, chain position or natural key (the
table's unique keys) already exists: ``INSERT OR REPLACE`` deletes the conflicting row without
firing delete triggers (unless ``recursive_triggers`` is on, which an attacker's connection does
not set), so the insert itself must be refused.

PostgreSQL: one plpgsql function raising ``restrict_violation`` and, per table, a row trigger
``BEFORE UPDATE OR DELETE`` and a statement trigger ``BEFORE TRUNCATE``, both ``ENABLE ALWAYS``
(they fire under ``session_replication_role = replica`` too).

``check`` compares the definitions, not only the names: SQLite's trigger SQL (white space
normalised); PostgreSQL's trigger type, WHEN clause, columns, enabled state (``tgenabled`` must be
``A``), the function each trigger runs and that function's body; triggers or rules nobody expects
on a guarded table are reported too. It uses only DB-API cursors, so opening a database checks it
without SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

from promptver.storage.schema import CHAINED_TABLES, NATURAL_KEYS, PRIMARY_KEYS

GUARD_MESSAGE = "promptver: {table} is append-only"
PG_FUNCTION = "promptver_refuse_change"
PG_FUNCTION_BODY = """
BEGIN
  RAISE EXCEPTION 'promptver: % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END
"""
PG_FUNCTION_DDL = f"""
CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger AS $${PG_FUNCTION_BODY}$$ LANGUAGE plpgsql
"""
# pg_trigger.tgtype bits: ROW 1, BEFORE 2, DELETE 8, UPDATE 16, TRUNCATE 32
_PG_TYPES = {"no_update_delete": 1 | 2 | 8 | 16, "no_truncate": 2 | 32}
_PG_ENABLED = {"D": "is disabled", "R": "fires only for replication (ENABLE REPLICA TRIGGER)",
               "O": "does not fire under session_replication_role = replica (ENABLE, not ENABLE ALWAYS)"}


def trigger_names(table: str, dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"{table}_no_update", f"{table}_no_delete", f"{table}_no_replace"]
    return [f"{table}_no_update_delete", f"{table}_no_truncate"]


def guard_ddl(table: str, dialect: str, pk: str = "id") -> list[str]:
    """The guards as migrations 0001-0008 created them (kept so those revisions never change);
    migration 0009 replaces them with :func:`guard_statements`."""
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


def _unique_keys(table: str) -> list[tuple[str, ...]]:
    chained = [("chain_seq",)] if table in CHAINED_TABLES else []
    return [(PRIMARY_KEYS.get(table, "id"),), *chained, *NATURAL_KEYS.get(table, [])]


def guard_statements(table: str, dialect: str) -> list[str]:
    """The DDL that guards ``table`` today (migration 0009 on); :func:`check` expects exactly this."""
    if dialect == "sqlite":
        upd, dele, _ = guard_ddl(table, dialect)
        exists = " OR ".join(
            f"EXISTS (SELECT 1 FROM {table} WHERE " + " AND ".join(f'"{c}" = NEW."{c}"' for c in key) + ")"
            for key in _unique_keys(table))
        msg = GUARD_MESSAGE.format(table=table)
        return [upd, dele, f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} WHEN {exists} "
                           f"BEGIN SELECT RAISE(ABORT, '{msg}: replacing a row refused'); END"]
    return guard_ddl(table, dialect) + [f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}"
                                        for name in trigger_names(table, dialect)]


def _normal(sql: str | None) -> str:
    return " ".join((sql or "").split())


def check(cursor: Any, dialect: str, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(guard name, what is wrong) for every guard that is missing, disabled or not as promptver
    made it, and every unexpected trigger or rule on a guarded table; [] when all is well."""
    if dialect == "sqlite":
        return _check_sqlite(cursor, tables)
    return _check_postgres(cursor, tables)


def missing_guards(cursor: Any, dialect: str, tables: tuple[str, ...]) -> list[str]:
    """The names from :func:`check` (what opening a database refuses on)."""
    return [name for name, _ in check(cursor, dialect, tables)]


def _check_sqlite(cursor: Any, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    cursor.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
    present = {name: (table, _normal(sql)) for name, table, sql in cursor.fetchall()}
    problems, expected = [], set()
    for table in tables:
        for name, ddl in zip(trigger_names(table, "sqlite"), guard_statements(table, "sqlite")):
            expected.add(name)
            if name not in present:
                problems.append((name, f"guard missing: trigger {name}"))
            elif present[name] != (table, _normal(ddl)):
                problems.append((name, f"guard altered: trigger {name} is not the one promptver made "
                                       "(its definition was changed)"))
    problems += [(name, f"unexpected trigger {name} on {table}") for name, (table, _) in sorted(present.items())
                 if table in tables and name not in expected]
    return problems


_PG_TRIGGERS = (
    "SELECT t.tgname, c.relname, t.tgenabled, t.tgtype, t.tgqual IS NULL, t.tgnargs, t.tgattr::text, "
    "t.tgconstraint, p.proname, p.pronamespace = current_schema()::regnamespace, p.prosrc, l.lanname "
    "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
    "JOIN pg_language l ON l.oid = p.prolang "
    "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")
_PG_FUNCTION = ("SELECT p.prosrc, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                f"WHERE p.proname = '{PG_FUNCTION}' AND p.pronamespace = current_schema()::regnamespace")
_PG_RULES = "SELECT rulename, tablename FROM pg_rules WHERE schemaname = current_schema()"


def _check_postgres(cursor: Any, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    body = _normal(PG_FUNCTION_BODY)
    problems: list[tuple[str, str]] = []
    cursor.execute(_PG_FUNCTION)
    functions = cursor.fetchall()
    if not functions:
        problems.append((f"{PG_FUNCTION}()", f"guard missing: function {PG_FUNCTION}()"))
    elif any((_normal(src), lang) != (body, "plpgsql") for src, lang in functions):
        problems.append((f"{PG_FUNCTION}()", f"guard altered: function {PG_FUNCTION}() was replaced "
                                             "(its body is not the one promptver made)"))
    cursor.execute(_PG_TRIGGERS)
    present = {r[0]: r[1:] for r in cursor.fetchall()}
    expected = set()
    for table in tables:
        for name in trigger_names(table, "postgresql"):
            expected.add(name)
            found = present.get(name)
            if found is None:
                problems.append((name, f"guard missing: trigger {name}"))
                continue
            on, enabled, kind, no_when, nargs, columns, constraint, proname, ours, src, lang = found
            if enabled != "A":
                problems.append((name, f"guard weakened: trigger {name} {_PG_ENABLED.get(enabled, 'is not enabled')}"))
            elif (on, kind, no_when, nargs, columns or "", constraint, proname, ours, _normal(src), lang) != (
                    table, _PG_TYPES[name[len(table) + 1:]], True, 0, "", 0, PG_FUNCTION, True, body, "plpgsql"):
                problems.append((name, f"guard altered: trigger {name} is not the one promptver made"))
    problems += [(name, f"unexpected trigger {name} on {found[0]}") for name, found in sorted(present.items())
                 if found[0] in tables and name not in expected]
    cursor.execute(_PG_RULES)
    problems += [(f"rule {rule}", f"unexpected rule {rule} on {table} (it can rewrite writes)")
                 for rule, table in cursor.fetchall() if table in tables]
    return problems

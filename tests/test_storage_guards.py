"""The database itself refuses to change history: raw SQL on both backends."""

import pytest
from conftest import prompt_spec

from promptver.errors import GuardMissing
from promptver.services import labels
from promptver.services.database import APPEND_ONLY_TABLES, Database


@pytest.fixture
def filled(reg):
    return _fill(reg)


def _fill(reg):
    reg.push_prompt(prompt_spec())
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06")
    pid = reg.pair("support-reply/1", "support-llm/1").pairing.id
    labels.move(reg, "support-reply", "production", pid)
    reg.annotate("prompt", "support-reply/1", "approved")
    from promptver.services import access

    access.add_user(reg, "alice", "editor")
    token_id = access.create_token(reg, "alice")[1]["id"]
    access.revoke_token(reg, token_id)
    access.set_label_policy(reg, "*", "staging", protected=True)
    return reg


def _raw(url):
    from promptver.storage.reader import connect

    conn, dialect = connect(url)
    return conn, dialect


def _refused(conn, dialect, sql):
    """Run ``sql``; return the database's error text (the statement must fail)."""
    cur = conn.cursor()
    try:
        cur.execute(sql)
    except Exception as exc:  # sqlite3.IntegrityError / psycopg.errors.RestrictViolation
        return str(exc)
    finally:
        cur.close()
    raise AssertionError(f"the database accepted: {sql}")


STATEMENTS = {
    "prompt_versions": ["UPDATE prompt_versions SET content_hash = 'x'", "DELETE FROM prompt_versions"],
    "model_versions": ["UPDATE model_versions SET params = '{}'", "DELETE FROM model_versions"],
    "pairings": ["UPDATE pairings SET message = 'x'", "DELETE FROM pairings"],
    "label_events": ["UPDATE label_events SET pairing_id = NULL", "DELETE FROM label_events"],
    "audit_events": ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"],
    "annotations": ["UPDATE annotations SET tag = 'x'", "DELETE FROM annotations"],
    "prompts": ["UPDATE prompts SET name = 'x'", "DELETE FROM prompts"],
    "models": ["UPDATE models SET owner = 'x'", "DELETE FROM models"],
    "users": ["UPDATE users SET name = 'x'", "DELETE FROM users"],
    "role_grants": ["UPDATE role_grants SET role = 'admin'", "DELETE FROM role_grants"],
    "api_tokens": ["UPDATE api_tokens SET role = 'admin'", "DELETE FROM api_tokens"],
    "token_revocations": ["UPDATE token_revocations SET reason = 'x'", "DELETE FROM token_revocations"],
    "label_policies": ["UPDATE label_policies SET protected = false", "DELETE FROM label_policies"],
}


@pytest.mark.parametrize("table", sorted(STATEMENTS))
def test_update_and_delete_are_refused(filled, registry_url, table):
    conn, dialect = _raw(registry_url)
    try:
        for sql in STATEMENTS[table]:
            assert f"{table} is append-only" in _refused(conn, dialect, sql)
        if dialect == "postgresql":
            assert "append-only" in _refused(conn, dialect, f"TRUNCATE {table} CASCADE")
    finally:
        conn.close()
    assert filled.reader.version("prompt", "support-reply").content_hash != "x"


def _open_filled(url):
    from promptver.services.registry import Registry

    return _fill(Registry.open(url, actor="tester"))


def test_sqlite_insert_or_replace_is_refused(sqlite_url):
    filled = _open_filled(sqlite_url)
    conn, dialect = _raw(sqlite_url)
    try:
        msg = _refused(conn, dialect, "INSERT OR REPLACE INTO audit_events (id, at, actor, action, target, details) "
                                      "SELECT id, at, 'mallory', action, target, details FROM audit_events LIMIT 1")
        assert "replacing a row refused" in msg
        conn.execute("PRAGMA recursive_triggers = ON")
        _refused(conn, dialect, "REPLACE INTO pairings SELECT id, prompt_id, prompt_version_id, model_version_id, "
                                "'forged', author, created_at FROM pairings")
    finally:
        conn.close()
    assert {e.actor for e in filled.reader.audit()} == {"tester"}
    filled.close()


def test_postgres_upsert_is_refused(pg_url):
    _open_filled(pg_url).close()
    conn, dialect = _raw(pg_url)
    try:
        msg = _refused(conn, dialect, "INSERT INTO pairings SELECT * FROM pairings ON CONFLICT (id) DO UPDATE SET message = 'x'")
        assert "append-only" in msg
    finally:
        conn.close()


def test_a_missing_guard_is_noticed_at_start(filled, registry_url):
    conn, dialect = _raw(registry_url)
    name = "prompt_versions_no_update" if dialect == "sqlite" else "prompt_versions_no_update_delete"
    cur = conn.cursor()
    cur.execute(f"DROP TRIGGER {name}" + ("" if dialect == "sqlite" else " ON prompt_versions"))
    if dialect == "postgresql":
        conn.commit() if not conn.autocommit else None
    conn.close()
    with pytest.raises(GuardMissing, match=name):
        Database.open(registry_url)
    db = Database.open(registry_url, check_guards=False)
    assert db.missing_guards == [name]
    db.close()


def test_every_append_only_table_is_guarded(reg):
    assert reg.db.missing_guards == []
    from promptver.storage.tables import APPEND_ONLY_TABLES as declared

    assert set(APPEND_ONLY_TABLES) == set(declared)


def test_every_table_in_the_schema_is_append_only():
    from sqlmodel import SQLModel

    import promptver.storage.tables  # noqa: F401
    from promptver.storage.schema import APPEND_ONLY_TABLES as listed

    assert set(SQLModel.metadata.tables) == set(listed)


def test_postgres_guards_fire_always(pg_url):
    """ENABLE ALWAYS (tgenabled 'A'): a session in replica mode, as logical replication or a
    `session_replication_role = replica` runs, does not skip them."""
    _open_filled(pg_url).close()
    conn, _ = _raw(pg_url)
    try:
        states = dict(conn.execute(
            "SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace").fetchall())
    finally:
        conn.close()
    assert len(states) == 2 * len(APPEND_ONLY_TABLES) and set(states.values()) == {"A"}


def test_sqlite_replace_guard_covers_every_unique_key(sqlite_url):
    """The BEFORE INSERT guard names the primary key, the chain position and every unique constraint
    of its table (INSERT OR REPLACE would silently delete the row holding any of them)."""
    from sqlmodel import SQLModel

    import promptver.storage.tables  # noqa: F401
    from promptver.storage.guards import guard_statements

    Database.open(sqlite_url).close()
    for table in APPEND_ONLY_TABLES:
        t = SQLModel.metadata.tables[table]
        keys = [[c.name for c in t.primary_key]]
        keys += [[c.name for c in con.columns] for con in t.constraints if type(con).__name__ == "UniqueConstraint"]
        keys += [[c.name for c in i.columns] for i in t.indexes if i.unique]
        keys += [[c.name] for c in t.columns if c.unique]
        trigger = guard_statements(table, "sqlite")[2]
        for key in keys:
            clause = " AND ".join(f'"{c}" = NEW."{c}"' for c in key)
            assert f"WHERE {clause})" in trigger, (table, key)

"""Issue 14 section 4, the attack corpus: tampering that `verify` used to miss. Each method below is
a reproducer run against a registry holding a row in every table (SQLite and PostgreSQL where it
applies); each asserts that the database refuses it, or that `verify` now reports it.

Guards are bypassed the way an attacker with the database file or a superuser would: SQLite drops
the triggers and re-creates them exactly; PostgreSQL disables them and enables them again.
"""

from __future__ import annotations

import json

import pytest
from conftest import prompt_spec

from promptver.errors import GuardMissing
from promptver.services.database import Database
from promptver.storage.guards import guard_statements, trigger_names
from promptver.storage.schema import NATURAL_KEYS


# -- a registry with rows in every table -----------------------------------------------------------
def fill(reg):
    from datetime import UTC, datetime

    from promptver.core.identity import content_hash
    from promptver.services import access, datasets, labels
    from promptver.storage import eval_writes

    reg.push_prompt(prompt_spec())
    reg.push_prompt(prompt_spec(system="You are a careful agent for {{ company }}."), message="v2")
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0})
    first = reg.pair("support-reply/1", "support-llm/1").pairing.id
    second = reg.pair("support-reply/2", "support-llm/1").pairing.id
    labels.move(reg, "support-reply", "production", first, reason="launch")
    labels.move(reg, "support-reply", "production", second, reason="better")
    reg.annotate("prompt", "support-reply/1", "approved")
    access.add_user(reg, "alice", "editor")
    token_id = access.create_token(reg, "alice")[1]["id"]
    access.revoke_token(reg, token_id, reason="rotated")
    access.set_label_policy(reg, "*", "staging", protected=True)
    cases = [{"id": "c1", "vars": {"q": "hi"}, "expected": "hello", "metadata": {}},
             {"id": "c2", "vars": {"q": "bye"}, "expected": "goodbye", "metadata": {}}]
    version, _ = datasets.push(reg, "greetings", cases, content_hash({"kind": "promptver.dataset/1", "cases": cases}))
    when = datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=UTC)

    def eval_rows(tx):
        eval_writes.insert_run(tx, id="r" * 16, suite="s", suite_hash="h" * 64, dataset_version_id=version.id,
                               plan={"calls": 2, "ratio": 0.5}, environment={"python": "3.11"}, actor="tester",
                               created_at=when)
        eval_writes.insert_run_event(tx, run_id="r" * 16, state="running", details={}, created_at=when)
        for case in ("c1", "c2"):
            rid = eval_writes.insert_result(
                tx, run_id="r" * 16, pairing_id=first, case_id=case, repeat=0, request_key="k" * 64, output="hello",
                latency_ms=12.5, prompt_tokens=3, completion_tokens=1, cost_usd=0.0, cached=False, error=None,
                error_kind=None, response_model="m", system_fingerprint=None, created_at=when)
            eval_writes.insert_scores(tx, [{"run_id": "r" * 16, "result_id": rid, "scorer": "contains",
                                            "scorer_version": "v1", "value": 1.0, "passed": True, "detail": ""}])
        eval_writes.cache_responses(tx, [{"key": "a" * 64, "response": {"output": "hello", "cost": 1.0},
                                          "created_at": when}])
        eval_writes.cache_scores(tx, [{"key": "b" * 64, "value": 1.0, "passed": True, "detail": "",
                                       "created_at": when}])
        eval_writes.insert_report(tx, id="x" * 16, kind="attribution", prompt="support-reply", before_pairing=first,
                                  after_pairing=second, suite="s", report={"run": "r" * 16}, actor="tester",
                                  created_at=when)

    reg.db.write_plain(eval_rows)
    return reg


@pytest.fixture
def full(reg):
    return fill(reg)


def filled(url):
    from promptver.services.registry import Registry

    with Registry.open(url, actor="tester") as reg:
        fill(reg)
    return url


def raw(url, *statements):
    """Run SQL as an attacker would: a plain connection, autocommit, no promptver in between."""
    from promptver.storage.reader import connect

    conn, dialect = connect(url)
    try:
        cur = conn.cursor()
        for statement in statements:
            cur.execute(statement)
        cur.close()
    finally:
        conn.close()


def dialect_of(url):
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def bypassing(url, table, *statements):
    """``statements`` with ``table``'s guards out of the way, then the guards back exactly as they were."""
    dialect = dialect_of(url)
    if dialect == "sqlite":
        raw(url, *[f"DROP TRIGGER {name}" for name in trigger_names(table, dialect)], *statements,
            *guard_statements(table, dialect))
    else:
        names = trigger_names(table, dialect)
        raw(url, *[f"ALTER TABLE {table} DISABLE TRIGGER {n}" for n in names], *statements,
            *[f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {n}" for n in names])


def report_of(url, expected=None):
    from promptver.services.verify import verify

    db = Database.open(url, check_guards=False)
    try:
        return verify(db, expected)
    finally:
        db.close()


def refused(url, statement):
    from promptver.storage.reader import connect

    conn, _ = connect(url)
    try:
        with pytest.raises(Exception, match="append-only") as caught:
            conn.cursor().execute(statement)
        return str(caught.value)
    finally:
        conn.close()


def test_a_full_registry_verifies_clean(full, registry_url):
    report = report_of(registry_url)
    assert report.ok, report.problems
    assert all(count > 0 for count, _ in report.chains.values()), report.chains  # every table has rows
    assert report.checked["dataset_versions"] == 1 and report.checked["label_events"] == 2


# -- 1. INSERT OR REPLACE with a new primary key and an existing natural key (SQLite) ---------------
def _replace_statement(table, *, new_pk=True, new_seq=True):
    from promptver.storage.schema import COLUMNS

    names = [name for name, _ in COLUMNS[table]] + ["chain_seq", "chain_hash"]
    pk, pk_kind = COLUMNS[table][0]
    values = list(names)
    if new_pk:
        values[0] = f"{pk} + 100000" if pk_kind == "int" else f"'forged' || {pk}"
    if new_seq:
        values[names.index("chain_seq")] = "chain_seq + 100000"
    return (f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} FROM {table} "
            "ORDER BY chain_seq LIMIT 1")


@pytest.mark.parametrize("table", sorted(NATURAL_KEYS))
def test_sqlite_replace_by_natural_key_is_refused(sqlite_url, table):
    filled(sqlite_url)
    before = report_of(sqlite_url).chains[table]
    assert "replacing a row refused" in refused(sqlite_url, _replace_statement(table))
    assert report_of(sqlite_url).chains[table] == before


def test_sqlite_replace_by_chain_position_is_refused(sqlite_url):
    filled(sqlite_url)
    # audit_events has no natural key: the chain position is what a replacement would hit
    assert "replacing a row refused" in refused(sqlite_url, _replace_statement("audit_events", new_seq=False))


def test_sqlite_replace_with_the_guard_bypassed_is_reported(sqlite_url):
    filled(sqlite_url)
    statement = _replace_statement("label_events", new_seq=False).replace(
        "SELECT id + 100000, prompt_id, label, seq, pairing_id, previous_pairing_id, actor, reason",
        "SELECT id + 100000, prompt_id, label, seq, pairing_id, previous_pairing_id, 'mallory', 'rewritten'")
    bypassing(sqlite_url, "label_events", statement)
    db = Database.open(sqlite_url)  # the guards are back exactly: opening works
    assert db.reader.scalar("SELECT actor FROM label_events WHERE seq = 1") == "mallory"
    db.close()
    problems = report_of(sqlite_url).problems
    assert problems == ["label_events row 100001 (chain position 1): its content or its predecessor changed after "
                        "it was written (the chain hash does not match)"]


# -- 2. guards that look present but do nothing ------------------------------------------------------
def test_sqlite_same_named_noop_trigger_is_reported(sqlite_url):
    filled(sqlite_url)
    raw(sqlite_url, "DROP TRIGGER label_events_no_update",
        "CREATE TRIGGER label_events_no_update BEFORE UPDATE ON label_events BEGIN SELECT 1; END",
        "UPDATE label_events SET actor = 'mallory'")
    with pytest.raises(GuardMissing, match="label_events_no_update"):
        Database.open(sqlite_url)
    problems = report_of(sqlite_url).problems
    assert ("guard altered: trigger label_events_no_update is not the one promptver made (its definition was "
            "changed)") in problems
    assert sum("label_events row" in p for p in problems) == 2


def test_an_unexpected_trigger_on_a_guarded_table_is_reported(full, registry_url):
    """A trigger that silently drops new label events (or rewrites them) passes a names-only check."""
    if dialect_of(registry_url) == "sqlite":
        raw(registry_url, "CREATE TRIGGER swallow BEFORE INSERT ON label_events BEGIN SELECT RAISE(IGNORE); END")
    else:
        raw(registry_url, "CREATE FUNCTION swallow() RETURNS trigger AS $$ BEGIN RETURN NULL; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER swallow BEFORE INSERT ON label_events FOR EACH ROW EXECUTE FUNCTION swallow()")
    assert "unexpected trigger swallow on label_events" in report_of(registry_url).problems
    with pytest.raises(GuardMissing, match="swallow"):
        Database.open(registry_url)


PG_WEAKENINGS = {
    "enable_replica": ("ALTER TABLE label_events ENABLE REPLICA TRIGGER label_events_no_update_delete",
                       "guard weakened: trigger label_events_no_update_delete fires only for replication "
                       "(ENABLE REPLICA TRIGGER)"),
    "enable_origin": ("ALTER TABLE label_events ENABLE TRIGGER label_events_no_update_delete",
                      "guard weakened: trigger label_events_no_update_delete does not fire under "
                      "session_replication_role = replica (ENABLE, not ENABLE ALWAYS)"),
    "disable": ("ALTER TABLE label_events DISABLE TRIGGER label_events_no_update_delete",
                "guard weakened: trigger label_events_no_update_delete is disabled"),
    "replace_function": ("CREATE OR REPLACE FUNCTION promptver_refuse_change() RETURNS trigger AS $$ BEGIN "
                         "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                         "guard altered: function promptver_refuse_change() was replaced (its body is not the one "
                         "promptver made)"),
    "when_false": ("DROP TRIGGER label_events_no_update_delete ON label_events; CREATE TRIGGER "
                   "label_events_no_update_delete BEFORE UPDATE OR DELETE ON label_events FOR EACH ROW WHEN (false) "
                   "EXECUTE FUNCTION promptver_refuse_change(); ALTER TABLE label_events ENABLE ALWAYS TRIGGER "
                   "label_events_no_update_delete",
                   "guard altered: trigger label_events_no_update_delete is not the one promptver made"),
    "rule": ("CREATE RULE swallow AS ON INSERT TO label_events DO INSTEAD NOTHING",
             "unexpected rule swallow on label_events (it can rewrite writes)"),
}


@pytest.mark.parametrize("method", sorted(PG_WEAKENINGS))
def test_postgres_weakened_guards_are_reported(pg_url, method):
    filled(pg_url)
    statement, message = PG_WEAKENINGS[method]
    raw(pg_url, statement)
    assert message in report_of(pg_url).problems
    with pytest.raises(GuardMissing):
        Database.open(pg_url)


def test_postgres_guards_fire_in_replica_mode(pg_url):
    """``session_replication_role = replica`` skips ordinary triggers; the guards are ENABLE ALWAYS."""
    filled(pg_url)
    from promptver.storage.reader import connect

    conn, _ = connect(pg_url)
    try:
        conn.execute("SET session_replication_role = replica")
        for statement in ("UPDATE label_events SET actor = 'mallory'", "DELETE FROM audit_events",
                          "TRUNCATE eval_scores CASCADE"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()
    assert report_of(pg_url).ok


# -- 3. metadata and content rewritten with the guards bypassed --------------------------------------
REWRITES = {  # table: the change; every one of these columns used to be covered by no hash
    "prompt_versions.author": ("prompt_versions", "UPDATE prompt_versions SET author = 'mallory' WHERE version = 1"),
    "prompt_versions.message": ("prompt_versions", "UPDATE prompt_versions SET message = 'nothing to see' "
                                                   "WHERE version = 2"),
    "model_versions.params": ("model_versions", "UPDATE model_versions SET params = '{\"temperature\": 1.5}'"),
    "pairings.author": ("pairings", "UPDATE pairings SET author = 'mallory'"),
    "label_events.actor": ("label_events", "UPDATE label_events SET actor = 'mallory' WHERE seq = 1"),
    "label_events.reason": ("label_events", "UPDATE label_events SET reason = 'approved by the CTO' WHERE seq = 2"),
    "label_events.created_at": ("label_events", "UPDATE label_events SET created_at = created_at - "
                                                "{interval} WHERE seq = 2"),
    "audit_events.actor": ("audit_events", "UPDATE audit_events SET actor = 'mallory' WHERE action = 'label.set'"),
    "api_tokens.role": ("api_tokens", "UPDATE api_tokens SET role = 'admin'"),
    "label_policies.protected": ("label_policies", "UPDATE label_policies SET protected = {false}"),
    "dataset_versions.message": ("dataset_versions", "UPDATE dataset_versions SET message = 'x', author = 'mallory'"),
    "eval_results.output": ("eval_results", "UPDATE eval_results SET output = 'goodbye' WHERE case_id = 'c2'"),
    "eval_scores.passed": ("eval_scores", "UPDATE eval_scores SET passed = {false}"),
    "eval_runs.kind": ("eval_runs", "UPDATE eval_runs SET kind = 'bisect'"),
}


@pytest.mark.parametrize("change", sorted(REWRITES))
def test_rewritten_rows_are_reported(full, registry_url, change):
    table, statement = REWRITES[change]
    sqlite = dialect_of(registry_url) == "sqlite"
    statement = statement.replace("{interval}", "0" if sqlite else "interval '1 hour'").replace(
        "{false}", "0" if sqlite else "false")
    if sqlite and change == "label_events.created_at":
        statement = "UPDATE label_events SET created_at = '2020-01-01 00:00:00.000000' WHERE seq = 2"
    bypassing(registry_url, table, statement)
    problems = report_of(registry_url).problems
    assert problems and all(p.startswith(f"{table} row ") or "content_hash" in p for p in problems), problems
    assert any(p.startswith(f"{table} row ") and p.endswith("(the chain hash does not match)") for p in problems)


def test_a_dataset_whose_cases_were_rewritten_is_reported(full, registry_url):
    bypassing(registry_url, "dataset_versions",
              "UPDATE dataset_versions SET cases = '[{\"id\": \"c1\", \"vars\": {\"q\": \"hi\"}, \"expected\": "
              "\"pwned\", \"metadata\": {}}]'")
    problems = report_of(registry_url).problems
    assert any(p.startswith("dataset greetings/1: stored content_hash") for p in problems)
    assert any(p.startswith("dataset_versions row 1 (chain position 1)") for p in problems)


def test_rows_written_around_promptver_are_reported(full, registry_url):
    raw(registry_url, "INSERT INTO audit_events (id, at, actor, action, target, details) VALUES "
                      "(9999, '2026-11-29 10:00:00', 'mallory', 'label.set', 'x', '{}')")
    problems = report_of(registry_url).problems
    assert problems == ["audit_events: 1 row(s) are outside its chain (inserted around promptver)"]


# -- 4. rows deleted; a chain re-hashed consistently ----------------------------------------------
def test_deleting_a_middle_row_is_reported(full, registry_url):
    bypassing(registry_url, "audit_events", "DELETE FROM audit_events WHERE chain_seq = 3")
    problems = report_of(registry_url).problems
    assert problems[0] == "audit_events: rows 3..3 of its chain are missing (deleted)"
    assert problems[1].startswith("audit_events row ") and "(chain position 4)" in problems[1]


def test_deleting_the_last_rows_shows_against_an_exported_head(full, registry_url):
    from promptver.services.verify import load_expected

    exported = report_of(registry_url).token
    count = report_of(registry_url).chains["label_events"][0]
    bypassing(registry_url, "label_events", f"DELETE FROM label_events WHERE chain_seq = {count}")
    assert report_of(registry_url).ok  # the rest of the chain is intact: only a head kept elsewhere can tell
    problems = report_of(registry_url, load_expected(exported)).problems
    assert f"label_events: the exported head counted {count} rows, the database has {count - 1} (rows were " \
           "deleted from the end of its chain)" in problems


def rehash_chain(url, table):
    """What a careful attacker does after a rewrite: recompute every chain hash of the table."""
    from promptver.core.chain import row_hash
    from promptver.storage.chain import stored_values
    from promptver.storage.reader import connect
    from promptver.storage.schema import COLUMNS

    conn, dialect = connect(url)
    columns = COLUMNS[table]
    cur = conn.cursor()
    cur.execute(f"SELECT chain_seq, {', '.join(n for n, _ in columns)} FROM {table} ORDER BY chain_seq")
    rows = cur.fetchall()
    conn.close()
    prev, updates = None, []
    for seq, *values in rows:
        prev = row_hash(table, seq, prev, stored_values(dialect, table, values))
        updates.append(f"UPDATE {table} SET chain_hash = '{prev}' WHERE chain_seq = {seq}")
    return updates


@pytest.mark.parametrize("table,statement", [
    ("label_events", "UPDATE label_events SET actor = 'mallory', reason = 'approved' WHERE seq = 1"),
    ("prompt_versions", "UPDATE prompt_versions SET author = 'mallory'"),
])
def test_a_consistently_rehashed_chain_shows_against_an_exported_head(full, registry_url, table, statement):
    from promptver.services.verify import load_expected

    before = report_of(registry_url)
    bypassing(registry_url, table, statement)
    bypassing(registry_url, table, *rehash_chain(registry_url, table))
    after = report_of(registry_url)
    assert after.ok and after.chains[table] != before.chains[table]  # consistent: the walk alone cannot tell
    problems = report_of(registry_url, load_expected(before.token)).problems
    assert problems == [f"the chains at the exported counts do not end in the exported head {before.head[:16]}… "
                        "(history was rewritten)"]
    # from a head file (verify --head --json), verify names the chain
    head_file = json.dumps({"head": before.head, "chains": {t: {"count": n, "head": h}
                                                            for t, (n, h) in before.chains.items()}})
    from promptver.services.verify import _from_json

    problems = report_of(registry_url, _from_json("head.json", head_file)).problems
    count = before.chains[table][0]
    assert f"{table}: its chain at row {count} no longer ends in the exported head (history up to there was " \
           "rewritten)" in problems


def test_a_chain_head_survives_growth(full, registry_url):
    """An exported head still holds after legitimate writes: only rewrites break it."""
    from promptver.services import labels
    from promptver.services.verify import load_expected

    exported = report_of(registry_url).token
    labels.rollback(full, "support-reply", "production", reason="oops")
    full.push_prompt(prompt_spec(system="v3 for {{ company }}"))
    report = report_of(registry_url, load_expected(exported))
    assert report.ok, report.problems
    assert report.token != exported

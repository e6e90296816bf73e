"""Migrations: a blank database reaches head on both backends, and the schema equals the models."""

import json

import pytest

from promptver.services.database import HEAD, KNOWN_REVISIONS, Database
from promptver.storage.schema import APPEND_ONLY_TABLES, CHAINED_TABLES, COLUMNS


def test_head_constant_matches_alembic():
    from promptver.storage.migrate import HEAD as MIGRATE_HEAD
    from promptver.storage.migrate import alembic_head

    assert HEAD == MIGRATE_HEAD == alembic_head() == KNOWN_REVISIONS[-1]


def test_blank_database_migrates_to_a_schema_matching_the_models(registry_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import promptver.storage.tables  # noqa: F401

    db = Database.open(registry_url)
    try:
        assert db.reader.scalar("SELECT version_num FROM alembic_version") == HEAD
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == []
    finally:
        db.close()


def test_opening_twice_does_not_migrate_again(registry_url):
    Database.open(registry_url).close()
    db = Database.open(registry_url)
    assert db._engine is None  # nothing needed SQLAlchemy: the schema was already at head
    db.close()


def test_a_database_at_an_older_revision_is_upgraded_in_place(registry_url):
    """Create the 0001 schema with data, then open it: promptver upgrades it and the data stays."""
    from alembic import command
    from conftest import prompt_spec

    from promptver.services.registry import Registry
    from promptver.storage.engine import make_engine
    from promptver.storage.migrate import alembic_config

    engine = make_engine(registry_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    engine.dispose()
    with Registry.open(registry_url, actor="tester") as reg:
        reg.push_prompt(prompt_spec())
        assert reg.reader.scalar("SELECT version_num FROM alembic_version") == HEAD
        assert reg.db.missing_guards == []
        assert reg.prompt_version("support-reply/1").version == 1


def test_0008_classifies_stored_replays_and_keeps_results_guarded(sqlite_url, tmp_path):
    """A 0007 database with a suite run, a bisect replay of chosen cases and an attribution replay
    named by its report: after the upgrade each has its kind, every result is attempt 0, and the
    rebuilt eval_results table is append-only again."""
    import sqlite3

    from alembic import command
    from conftest import prompt_spec

    from promptver.services import datasets
    from promptver.services.registry import Registry
    from promptver.storage.engine import make_engine
    from promptver.storage.migrate import alembic_config

    source = tmp_path / "source.db"  # versions, a pairing and a dataset, made by today's code
    with Registry.open(f"sqlite:///{source}", actor="tester") as reg:
        reg.push_prompt(prompt_spec())
        reg.add_model("m", "promptver/echo")
        pairing = reg.pair("support-reply/1", "m/1").pairing.id
        version, _ = datasets.push(reg, "d", [{"id": "c1", "vars": {}}], "0" * 64)
    _upgrade_to(sqlite_url, "0007")
    path = sqlite_url.split("///", 1)[1]
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("ATTACH DATABASE ? AS src", (str(source),))
    for table in ("prompts", "prompt_versions", "models", "model_versions", "pairings", "datasets",
                  "dataset_versions"):  # (the same columns at 0007 and 0008; the chain columns came in 0009)
        columns = ", ".join(name for name, _ in COLUMNS[table])
        raw.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table}")
    now = "2026-11-28 10:00:00"
    for run_id, fingerprint in (("suiterun", {"pairings": [pairing]}), ("bisectrun", {"cases": ["c1"]}),
                                ("attrrun", {"pairings": [pairing]})):
        raw.execute("INSERT INTO eval_runs (id, suite, suite_hash, dataset_version_id, plan, environment, actor, "
                    "created_at) VALUES (?, 's', 'h', ?, ?, '{}', 't', ?)",
                    (run_id, version.id, json.dumps({"fingerprint": fingerprint}), now))
        raw.execute("INSERT INTO eval_results (run_id, pairing_id, case_id, repeat, request_key, cached, created_at) "
                    "VALUES (?, ?, 'c1', 0, 'k', 0, ?)", (run_id, pairing, now))
    raw.execute("INSERT INTO attribution_reports (id, kind, prompt, before_pairing, after_pairing, suite, report, "
                "actor, created_at) VALUES ('r1', 'attribution', 'support-reply', ?, ?, 's', ?, 't', ?)",
                (pairing, pairing, json.dumps({"run": "attrrun"}), now))
    raw.close()
    _upgrade_to(sqlite_url, "0008")  # (0009 is tested below)
    with Registry.open(sqlite_url, actor="tester") as reg:
        assert reg.db.missing_guards == []
        kinds = {r["id"]: r["kind"] for r in reg.reader.rows("SELECT id, kind FROM eval_runs")}
        assert kinds == {"suiterun": "suite", "bisectrun": "bisect", "attrrun": "attribution"}
        assert [r["attempt"] for r in reg.reader.rows("SELECT attempt FROM eval_results")] == [0, 0, 0]
    with sqlite3.connect(path) as raw:
        for statement in ("UPDATE eval_results SET output = 'x'", "DELETE FROM eval_results",
                          "UPDATE eval_runs SET kind = 'suite'"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                raw.execute(statement)


def _upgrade_to(url, revision):
    from alembic import command

    from promptver.storage.engine import make_engine
    from promptver.storage.migrate import alembic_config

    engine = make_engine(url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def _copy_rows(source_path, url, extra_audit_rows):
    """Every row of a registry written by today's code, into a database at 0008 (no chain columns)."""
    import sqlite3

    from promptver.storage.reader import connect

    src = sqlite3.connect(source_path)
    conn, dialect = connect(url)
    cur = conn.cursor()
    mark = "?" if dialect == "sqlite" else "%s"
    for table in APPEND_ONLY_TABLES:
        columns = COLUMNS[table]
        names = ", ".join(name for name, _ in columns)
        rows = src.execute(f"SELECT {names} FROM {table} ORDER BY {columns[0][0]}").fetchall()
        if dialect == "postgresql":  # SQLite keeps booleans as 0/1
            rows = [tuple(bool(v) if kind == "bool" and v is not None else v for (_, kind), v in zip(columns, row))
                    for row in rows]
        if rows:
            cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join([mark] * len(columns))})", rows)
    if dialect == "postgresql":  # as if these rows had been written here: the id sequences moved on
        for table in APPEND_ONLY_TABLES:
            if COLUMNS[table][0] == ("id", "int"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                            f"FROM {table}")
    cur.executemany(f"INSERT INTO audit_events (at, actor, action, target, details) VALUES ({mark}, {mark}, {mark}, "
                    f"{mark}, {mark})", [("2026-11-28 10:00:00.000000", "old", "note", f"t{i}", "{}")
                                         for i in range(extra_audit_rows)])
    cur.close()
    conn.close()
    src.close()


def test_0009_chains_a_populated_0008_database(registry_url, tmp_path):
    """A 0008 database with rows in every table (and more audit rows than one batch of the backfill)
    is chained in place: verify passes, every row is on its chain in the order it was written, the
    guards are today's, and writing goes on from the chains' heads."""
    from conftest import prompt_spec
    from test_security_tamper import fill

    from promptver.services import labels
    from promptver.services.registry import Registry
    from promptver.services.verify import verify

    source = tmp_path / "source.db"
    with Registry.open(f"sqlite:///{source}", actor="tester") as reg:
        fill(reg)
    _upgrade_to(registry_url, "0008")
    _copy_rows(str(source), registry_url, extra_audit_rows=2500)
    with Registry.open(registry_url, actor="tester") as reg:  # migrates to 0009
        assert reg.reader.scalar("SELECT version_num FROM alembic_version") == "0009"
        assert reg.db.missing_guards == []
        report = verify(reg.db)
        assert report.ok, report.problems
        assert set(report.chains) == set(CHAINED_TABLES) == set(APPEND_ONLY_TABLES) - {"response_cache", "score_cache"}
        for table in CHAINED_TABLES:
            assert report.chains[table][0] == reg.reader.scalar(f"SELECT COUNT(*) FROM {table}") > 0, table
        seqs = [r["chain_seq"] for r in reg.reader.rows("SELECT chain_seq FROM label_events ORDER BY id")]
        assert seqs == [1, 2]
        audit = [r["chain_seq"] for r in reg.reader.rows("SELECT chain_seq FROM audit_events ORDER BY id")]
        assert audit == list(range(1, len(audit) + 1)) and len(audit) > 2500
        labels.rollback(reg, "support-reply", "production", reason="after the upgrade")
        reg.push_prompt(prompt_spec(system="v3 for {{ company }}"))
        after = verify(reg.db)
        assert after.ok, after.problems
        assert after.chains["label_events"][0] == 3 and after.chains["prompt_versions"][0] == 3

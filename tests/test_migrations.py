"""Migrations: a blank database reaches head on both backends, and the schema equals the models."""

import json

import pytest

from promptver.services.database import HEAD, KNOWN_REVISIONS, Database


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
    engine = make_engine(sqlite_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    engine.dispose()
    path = sqlite_url.split("///", 1)[1]
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("ATTACH DATABASE ? AS src", (str(source),))
    for table in ("prompts", "prompt_versions", "models", "model_versions", "pairings", "datasets",
                  "dataset_versions"):  # (the same columns at 0007 and 0008)
        raw.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table}")
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

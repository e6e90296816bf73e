"""Migrations: a blank database reaches head on both backends, and the schema equals the models."""

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

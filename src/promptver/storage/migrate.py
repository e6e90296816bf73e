"""Alembic migrations, run programmatically. ``HEAD`` is the newest revision this promptver knows;
a test checks it equals Alembic's head, so opening a database can compare without importing
Alembic (which costs more than the whole `promptver get` budget)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from promptver.storage.schema import HEAD  # noqa: F401  (re-exported)

_SCRIPTS = Path(__file__).with_name("migrations")


def alembic_config():  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database behind ``engine`` to HEAD (a blank database gets the whole schema)."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def alembic_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()

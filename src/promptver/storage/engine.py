"""SQLAlchemy engines for the registry.

SQLite: WAL, ``busy_timeout``, foreign keys on. Python's sqlite3 transaction handling is turned
off and promptver emits ``BEGIN`` itself, so a write unit of work can start with
``BEGIN IMMEDIATE`` and take the write lock up front (no lock upgrade, no instant SQLITE_BUSY).
PostgreSQL: psycopg 3 and a connect timeout.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event

from promptver.storage.location import normalise_url

BUSY_TIMEOUT_MS = int(os.environ.get("PROMPTVER_BUSY_TIMEOUT_MS", "15000"))
_BEGIN_OPTION = "promptver_begin"


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                               hide_parameters=True)  # errors never carry SQL parameters (into logs)
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql+psycopg"):
        connect_args["connect_timeout"] = 5
    # no pool_pre_ping (a round trip per transaction): a dropped connection is invalidated by
    # SQLAlchemy and Database.write retries the transaction on a fresh one
    return create_engine(url, connect_args=connect_args, hide_parameters=True)


def writer(engine: Engine) -> Engine:
    """An engine sharing ``engine``'s pool whose transactions take the write lock up front."""
    return engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        if cur.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
            cur.execute("PRAGMA journal_mode = WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))

"""Write transactions in plain SQL over a DB-API connection (sqlite3 or psycopg), no SQLAlchemy.

An eval run saves thousands of rows, and a fully cached run must finish in well under a second:
importing SQLAlchemy and the table models alone costs about 0.5 s on this project's machines. So
the eval tables are written here (``storage/eval_writes.py``); the registry's own writes keep the
prepared SQLAlchemy statements of ``storage/writes.py``. Both run inside
``services.database.Database``, which owns retries.

A ``PlainTx`` is one transaction: ``BEGIN IMMEDIATE`` on SQLite (the write lock up front, as
``storage/engine.py`` does), ``BEGIN`` on PostgreSQL; ``:name`` parameters (rewritten for psycopg);
JSON and times adapted to how the SQLAlchemy path stores them (JSON text; UTC times). A
``PlainTx`` also remembers the hash chains' heads it has locked (``storage/chain.py``), so a batch
appends thousands of rows after one head query.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from promptver.storage.reader import _PARAM, connect, db_time

T = TypeVar("T")


class PlainTx:
    """One write transaction on a DB-API connection."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn, self.dialect = conn, dialect
        self.chain_heads: dict[str, Any] = {}  # storage/chain.py: each chain's head, locked, for this transaction

    def sql(self, text: str) -> str:
        return text if self.dialect == "sqlite" else _PARAM.sub(r"%(\1)s", text.replace("%", "%%"))

    def json(self, value: Any) -> Any:
        if self.dialect == "sqlite":
            return json.dumps(value)
        from psycopg.types.json import Json

        return Json(value)

    def time(self, value: datetime) -> Any:
        """As the SQLAlchemy path stores it: SQLite, naive UTC text; PostgreSQL, a timestamptz."""
        return db_time(value, self.dialect)

    def execute(self, text: str, params: dict[str, Any]) -> Any:
        cur = self.conn.cursor()
        cur.execute(self.sql(text), params)
        return cur

    def executemany(self, text: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            cur = self.conn.cursor()
            cur.executemany(self.sql(text), rows)
            cur.close()

    def insert_id(self, text: str, params: dict[str, Any]) -> int:
        """Run an INSERT and return the new row's id."""
        if self.dialect == "sqlite":
            cur = self.execute(text, params)
            new_id = cur.lastrowid
        else:
            cur = self.execute(text + " RETURNING id", params)
            new_id = cur.fetchone()[0]
        cur.close()
        return int(new_id)

    def column(self, text: str, params: dict[str, Any]) -> list[Any]:
        cur = self.execute(text, params)
        values = [row[0] for row in cur.fetchall()]
        cur.close()
        return values


class PlainWriter:
    """A connection of its own for plain write transactions, opened on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None
        self.dialect = ""

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn, self.dialect = connect(self.url)
            if self.dialect == "sqlite":
                cur = self._conn.cursor()
                cur.execute("PRAGMA foreign_keys = ON")
                cur.execute("PRAGMA synchronous = NORMAL")
                cur.close()
        return self._conn

    def transaction(self, fn: Callable[[PlainTx], T]) -> T:
        """``fn(tx)`` in one transaction: committed if it returns, rolled back if it raises."""
        conn = self._connection()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        try:
            result = fn(PlainTx(conn, self.dialect))
            cur.execute("COMMIT")
            return result
        except BaseException:
            self._rollback(cur)
            raise
        finally:
            try:
                cur.close()
            except Exception:  # _rollback closed the connection: keep the error that got us here (disk full, ...)
                pass

    def _rollback(self, cur: Any) -> None:
        try:
            cur.execute("ROLLBACK")
        except Exception:  # the connection is gone (or no transaction is open): open a fresh one next time
            self.close()

    def lost(self) -> bool:
        """Whether the server closed the connection under us (PostgreSQL)."""
        return self._conn is not None and bool(getattr(self._conn, "closed", False))

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken
                pass
            self._conn = None

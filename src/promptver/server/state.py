"""Per-process server state: the database URL, a shared SQLAlchemy engine for writes, one read
connection per thread (DB-API connections are not shared between threads), the response body cache
(bounded by bytes, server/bodies.py) and the failed-authentication counts (server/auth_failures.py)."""

from __future__ import annotations

import threading
from typing import Any

from promptver.server.auth_failures import AuthFailures
from promptver.server.bodies import BodyCache
from promptver.services.database import Database


class ServerState:
    def __init__(self, url: str) -> None:
        self.url = url
        self.bodies = BodyCache()
        self.auth_failures = AuthFailures()
        self._local = threading.local()
        self._engine: Any = None
        self._lock = threading.Lock()
        Database.open(url).close()  # migrate and check guards once, at start-up

    def database(self) -> Database:
        """This thread's Database (reconnects after a failure was reported with ``discard``)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = Database(self.url, migrate=False, engine=self._shared_engine())
            self._local.db = db
        return db

    def discard(self) -> None:
        """Forget this thread's connection (it failed); the next request opens a new one."""
        db = getattr(self._local, "db", None)
        self._local.db = None
        if db is not None:
            try:
                db.reader.close()
            except Exception:  # already broken: nothing more to release
                pass

    def _shared_engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                from promptver.storage.engine import make_engine

                self._engine = make_engine(self.url)
            return self._engine

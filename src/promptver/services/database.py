"""Opening the registry database, checking it, and running write units of work.

Opening (cheap, no SQLAlchemy): connect with DB-API, compare the schema revision with
``migrate.HEAD`` (migrating a blank or older database), and check every immutability guard's
definition (``storage/guards.check``).

Writing: ``Database.write(fn)`` runs ``fn(connection)`` in one transaction that takes the write lock up
front on SQLite (``BEGIN IMMEDIATE``; WAL and a busy timeout let writers queue) and row locks on
PostgreSQL. A lock timeout, a serialization failure or a unique-constraint race rolls the transaction
back and retries with jittered backoff, a bounded number of times; then ``RegistryBusy``.
"""

from __future__ import annotations

import errno
import getpass
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from promptver.errors import GuardMissing, PromptverError, RegistryBusy, RegistryUnavailable, SchemaMismatch
from promptver.storage import guards
from promptver.storage.location import database_url, sqlite_path
from promptver.storage.reader import Reader, connect, data_error, sqlite_read_only
from promptver.storage.schema import APPEND_ONLY_TABLES, HEAD, KNOWN_REVISIONS

T = TypeVar("T")
MAX_ATTEMPTS = 8
MAX_LOCK_TIMEOUTS = 2


def current_actor() -> str:
    """Who is writing: ``PROMPTVER_ACTOR``, else the login name."""
    actor = os.environ.get("PROMPTVER_ACTOR", "").strip()
    if actor:
        return actor[:200]
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


class Database:
    """One registry database: a DB-API reader, and SQLAlchemy engines created on first write."""

    def __init__(self, url: str, *, check_guards: bool = True, migrate: bool = True, engine: Any = None) -> None:
        """``engine``: a SQLAlchemy engine to share (the server shares one across its threads)."""
        self.url = url
        path = sqlite_path(url)
        self.read_only = sqlite_read_only(path) if path else None  # why it can only be read, or None
        conn, self.dialect = connect(url)
        self.reader = Reader(conn, self.dialect)
        self._engine: Any = engine
        self._owns_engine = engine is None
        self._plain: Any = None  # storage.plain.PlainWriter, on first write_plain
        self._plain_lock = threading.Lock()
        try:
            self._check_schema(migrate)
            self.guard_problems = guards.check(conn.cursor(), self.dialect, APPEND_ONLY_TABLES)
            self.missing_guards = [name for name, _ in self.guard_problems]  # missing, disabled or altered
        except PromptverError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise RegistryUnavailable(f"cannot read the registry database: {exc}") from exc
        if check_guards and self.missing_guards:
            self.close()
            raise GuardMissing(
                "immutability guards are missing or altered in the registry database: "
                + ", ".join(self.missing_guards)
                + ". Someone removed or changed them, so stored rows may have been changed: run `promptver verify`."
            )

    @classmethod
    def open(cls, url: str | None = None, **kwargs: Any) -> Database:
        return cls(url or database_url(), **kwargs)

    def _check_schema(self, migrate: bool) -> None:
        revision = self._revision()
        if revision == HEAD:
            return
        if revision is not None and revision not in KNOWN_REVISIONS:
            raise SchemaMismatch(
                f"the registry database is at schema revision {revision}, newer than this promptver "
                f"knows ({HEAD}): upgrade promptver"
            )
        if not migrate:
            raise SchemaMismatch("the registry database needs migrating: run `promptver init`")
        if self.read_only:
            raise SchemaMismatch(f"the registry at {self.location} is read-only ({self.read_only}) and its schema "
                                 f"(revision {revision or 'none'}) is older than this promptver reads ({HEAD}): "
                                 "someone who can write it must run `promptver init` first")
        from promptver.storage.migrate import upgrade

        upgrade(self.engine)
        if self._revision() != HEAD:
            raise SchemaMismatch("migrating the registry database did not reach the expected revision")

    def _revision(self) -> str | None:
        try:
            return self.reader.scalar("SELECT version_num FROM alembic_version")
        except RegistryUnavailable as exc:
            cause = exc.__cause__
            if "no such table" in str(cause) or getattr(cause, "sqlstate", None) == "42P01":
                return None  # a blank database
            raise

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from promptver.storage.engine import make_engine

            self._engine = make_engine(self.url)
        return self._engine

    def write(self, fn: Callable[[Any], T], *, on_integrity: Callable[[Exception], Exception | None] | None = None) -> T:
        """Run ``fn(connection)`` (SQLAlchemy) in one write transaction, retrying lock and race failures."""
        self._refuse_read_only()
        from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

        from promptver.storage.engine import writer

        engine = writer(self.engine)

        def once() -> T:
            with engine.begin() as conn:
                return fn(conn)

        def classify(exc: Exception) -> str | None:
            bad = data_error(getattr(exc, "orig", None) or exc)
            if bad is not None:  # the caller's value (too long, NUL, out of range): 422, never the SQL parameters
                raise bad from None
            if isinstance(exc, IntegrityError):
                mapped = on_integrity(exc) if on_integrity else None
                if mapped is not None:
                    raise mapped from exc
                return "race" if _unique_violation(exc) else None
            if isinstance(exc, OperationalError):
                if not (_transient(exc) or exc.connection_invalidated):
                    raise _unavailable(exc.orig) from exc
                return "lock" if _lock_timeout(exc.orig) else "retry"
            if isinstance(exc, DBAPIError) and _transient(exc):
                return "retry"
            return None

        return _with_retries(once, classify)

    def write_plain(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(tx)`` in one plain DB-API write transaction (``storage/plain.py``: no SQLAlchemy),
        with the same retries as :meth:`write`. Safe to call from a worker thread."""
        from promptver.storage.plain import PlainWriter

        self._refuse_read_only()
        with self._plain_lock:
            if self._plain is None:
                self._plain = PlainWriter(self.url)
            writer = self._plain

            def classify(exc: Exception) -> str | None:
                bad = data_error(exc)
                if bad is not None:
                    raise bad from None
                module = type(exc).__module__.split(".")[0]
                if module not in ("sqlite3", "psycopg"):
                    return None
                if _unique_violation(exc):
                    return "race"
                if _transient(exc):
                    return "lock" if _lock_timeout(exc) else "retry"
                if writer.lost():
                    writer.close()  # the server dropped the connection: retry on a fresh one
                    return "retry"
                if "IntegrityError" in type(exc).__name__ or (getattr(exc, "sqlstate", None) or "")[:2] == "23":
                    return None  # a constraint other than a unique key: a bug, not the user's doing
                raise _unavailable(exc) from exc

            return _with_retries(lambda: writer.transaction(fn), classify)

    def _refuse_read_only(self) -> None:
        if self.read_only:
            raise RegistryUnavailable(f"the registry at {self.location} is read-only ({self.read_only}): it can be "
                                      "read, not written; nothing was changed")

    def close(self) -> None:
        try:
            self.reader.close()
            if self._plain is not None:
                self._plain.close()
        finally:
            if self._engine is not None and self._owns_engine:
                self._engine.dispose()

    @property
    def location(self) -> str:
        path = sqlite_path(self.url)
        if path:
            return path
        from promptver.storage.location import normalise_url

        head, _, tail = normalise_url(self.url).partition("@")
        return ("postgresql://…@" + tail) if tail else head  # never echo a password


def _with_retries(once: Callable[[], T], classify: Callable[[Exception], str | None]) -> T:
    """``once()``, retried with jittered backoff while ``classify`` calls its failure transient
    ("retry", "race", or "lock": a lock wait that already took the whole busy timeout, so only a few
    of those); ``classify`` returns None to re-raise, or raises a mapped error itself."""
    delay = 0.02
    lock_timeouts = 0
    for attempt in range(MAX_ATTEMPTS):
        try:
            return once()
        except Exception as exc:
            kind = classify(exc)
            if kind is None:
                raise
            retry = exc
        lock_timeouts += kind == "lock"
        if attempt == MAX_ATTEMPTS - 1 or lock_timeouts >= MAX_LOCK_TIMEOUTS:
            raise RegistryBusy(
                f"the registry database stayed busy through {attempt + 1} attempts "
                f"({_first_line(getattr(retry, 'orig', None) or retry)}); try again"
            ) from retry
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def _unavailable(orig: Any) -> RegistryUnavailable:
    """The database failed in a way retrying will not fix; a full disk is said plainly."""
    text = _first_line(orig)
    if disk_full(orig):
        return RegistryUnavailable(f"disk full: the registry database cannot grow ({text}); nothing was "
                                   "half-written: free disk space and try again")
    code = getattr(orig, "sqlite_errorname", None) or ""
    if "readonly database" in text or code.startswith("SQLITE_READONLY"):
        return RegistryUnavailable(f"the registry database is read-only ({text}): it can be read, not written; "
                                   "nothing was changed")
    return RegistryUnavailable(f"registry database error: {text}")


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an error it was raised from) says the disk is full: SQLite's "database or
    disk is full", PostgreSQL's disk_full (53100), ENOSPC/EDQUOT/EFBIG, or SQLite failing to write a
    page (SQLITE_IOERR_WRITE: what a file size limit or a full quota gives)."""
    seen = 0
    while exc is not None and seen < 8:
        text = str(exc)
        if ("database or disk is full" in text or getattr(exc, "sqlstate", None) == "53100"
                or getattr(exc, "sqlite_errorname", None) in ("SQLITE_FULL", "SQLITE_IOERR_WRITE")
                or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)):
            return True
        exc, seen = exc.__cause__ or getattr(exc, "orig", None), seen + 1
    return False


def _lock_timeout(orig: Any) -> bool:
    return "locked" in str(orig) or "busy" in str(orig)


def _transient(exc: Any) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return (
        "database is locked" in text or "database is busy" in text or "deadlock" in text
        or "could not serialize" in text or code in {"40001", "40P01", "55P03"}
    )


def _unique_violation(exc: Any) -> bool:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(orig)


def _first_line(exc: Any) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

"""Where a client fetches resolutions from: the local registry database (here) or a team server
(remote.py). Both answer ``fetch(ref, etag)``:

* a ``Resolved`` when the ref resolves (to something other than ``etag``),
* ``None`` when it still resolves to ``etag`` (not modified),
* ``UsageError`` (``NotFound``, ``InvalidRef``, ...) when the registry says the ref does not resolve,
* ``Unauthorized`` / ``Forbidden`` when it refuses the credentials,
* ``RegistryUnavailable`` for everything else: the registry is down, slow, locked or unreadable.

The local source reads through the plain-SQL reader (no SQLAlchemy); it never creates, migrates
or writes a registry, and opens the database again after a failure.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

from promptver.core.types import Resolved
from promptver.errors import InvalidValue, PromptverError, RegistryNotInitialized, RegistryUnavailable, UsageError
from promptver.services.database import Database
from promptver.services.resolve import resolve
from promptver.storage.location import database_url, sqlite_path


class Source(Protocol):
    location: str | None  # where the registry is, without credentials (None: no registry found)

    def fetch(self, ref: str, etag: str | None) -> Resolved | None: ...

    def close(self) -> None: ...


class LocalSource:
    """The registry database: ``url``, else ``PROMPTVER_DB``, else ``.promptver/registry.db`` upwards."""

    def __init__(self, url: str | None = None) -> None:
        from promptver.runtime.snapshot import redact

        if url is not None and "://" not in url:  # a plain path to a registry.db
            url = f"sqlite:///{Path(url).expanduser().resolve()}"
        if url is not None and not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise InvalidValue(f"db must be a registry database: sqlite:///PATH, a path, or postgresql://USER@HOST/DB "
                               f"(got {redact(url).split('://', 1)[0]}://...)")
        self._missing = ""
        try:
            self.url: str | None = url or database_url()
        except RegistryNotInitialized as exc:
            self.url = None
            self._missing = (f"no registry: {exc.message} (from {Path.cwd()}); "
                             "or give Client(url=...) / PROMPTVER_URL for a team server")
        self.location = None if self.url is None else redact(self.url)
        self._db: Database | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()  # one DB-API connection, shared by the app's threads and the refresher

    def fetch(self, ref: str, etag: str | None) -> Resolved | None:
        with self._lock:
            try:
                resolved = resolve(self._open().reader, ref)
            except UsageError:
                raise
            except PromptverError as exc:
                self._drop()
                raise RegistryUnavailable(exc.message) from exc
            except Exception as exc:  # a DB-API error mid-query: a locked, removed or broken database
                self._drop()
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise RegistryUnavailable(f"registry database error: {reason}") from exc
        return None if resolved.etag == etag else resolved

    def _open(self) -> Database:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        self._db, self._pid = None, os.getpid()  # never share a connection with a forked parent
        if self.url is None:
            raise RegistryUnavailable(self._missing)
        path = sqlite_path(self.url)
        if path is not None and path != ":memory:" and not Path(path).is_file():
            raise RegistryUnavailable(f"no registry database at {path}")
        try:
            self._db = Database.open(self.url, migrate=False)
        except UsageError as exc:  # an unsupported URL: not the app's ref at fault
            raise RegistryUnavailable(exc.message) from exc
        return self._db

    def _drop(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except Exception:  # closing a broken connection can fail too; it is dropped either way
                pass

    def close(self) -> None:
        with self._lock:
            self._drop()

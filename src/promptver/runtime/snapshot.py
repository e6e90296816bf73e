"""The on-disk snapshot of last-known-good pairs: a cold start while the registry is down.

One JSON file per registry, ``<dir>/<hash of the registry location>.json``; the location is
hashed without any password, and the token of a remote client is never part of it. ``<dir>`` is
``$PROMPTVER_SNAPSHOT_DIR``, else ``~/.cache/promptver/``. Format ``promptver.snapshot/1``: like a
lockfile, with the (password-free) registry location and a ``saved_at`` per entry::

    {"format": "promptver.snapshot/1", "registry": "https://registry.example.com",
     "entries": {"support-reply@production": {"saved_at": "...Z", <Resolved.to_json()>}}}

Entries are verified like lockfile entries when used. Changes are queued in memory and written by
``flush`` (the client's background thread): the file is read again first, so processes sharing it
keep each other's entries, then replaced atomically (temp file, fsync, ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from promptver.core.types import Resolved, iso
from promptver.errors import InvalidFile
from promptver.runtime.files import MAX_LOCKFILE_BYTES, atomic_write, read_regular
from promptver.runtime.lockfile import verify_entry

FORMAT = "promptver.snapshot/1"
log = logging.getLogger("promptver.runtime")


def default_dir() -> Path:
    env = os.environ.get("PROMPTVER_SNAPSHOT_DIR", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "promptver"


def redact(location: str) -> str:
    """``location`` without a password (``postgresql://user:secret@host/db`` -> ``postgresql://user@host/db``)."""
    parts = urlsplit(location)
    if parts.password is None:
        return location
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class Snapshot:
    """Last-known-good pairs of one registry, on disk."""

    def __init__(self, location: str, directory: str | os.PathLike[str] | None = None) -> None:
        self.registry = redact(location)
        name = hashlib.sha256(self.registry.encode("utf-8")).hexdigest()[:24]
        self.path = Path(directory).expanduser() if directory is not None else default_dir()
        self.path = self.path / f"{name}.json"
        self._lock = threading.Lock()
        self._disk: dict[str, Any] | None = None  # entries as last read or written
        self._pending: dict[str, Resolved | None] = {}  # changes not written yet (None: remove)

    def lookup(self, key: str) -> Resolved | None:
        """The last known good resolution of ``key``; ``InvalidFile`` if its entry fails verification."""
        with self._lock:
            if key in self._pending:
                return self._pending[key]
            if self._disk is None:
                self._disk = self._read()
            data = self._disk.get(key)
        return None if data is None else verify_entry(key, data, f"snapshot {self.path}")

    def put(self, key: str, resolved: Resolved) -> bool:
        """Queue ``resolved`` as the last known good of ``key``; False if the file already holds it."""
        with self._lock:
            held = (self._disk or {}).get(key)
            if key not in self._pending and isinstance(held, dict) and held.get("etag") == resolved.etag:
                return False
            self._pending[key] = resolved
            return True

    def remove(self, key: str) -> bool:
        """Queue the removal of ``key``; False if the file is known not to hold it."""
        with self._lock:
            if key not in self._pending and self._disk is not None and key not in self._disk:
                return False
            self._pending[key] = None
            return True

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        """Write queued changes (``OSError`` if the file cannot be written; they stay queued)."""
        with self._lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, {}
            try:
                entries = self._read()
                saved_at = iso(datetime.now(UTC))
                for key, resolved in pending.items():
                    if resolved is None:
                        entries.pop(key, None)
                    else:
                        entries[key] = {"saved_at": saved_at, **resolved.to_json()}
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                doc = {"format": FORMAT, "registry": self.registry, "entries": dict(sorted(entries.items()))}
                atomic_write(self.path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
                self._disk = entries
            except BaseException:
                self._pending = {**pending, **self._pending}
                raise

    def _read(self) -> dict[str, Any]:
        if not os.path.lexists(self.path):
            return {}
        try:  # a regular file of bounded size only: never a FIFO or a device that blocks or never ends
            doc = json.loads(read_regular(self.path, MAX_LOCKFILE_BYTES, "a snapshot").decode("utf-8"))
        except InvalidFile as exc:  # it names the file
            log.warning("ignoring the snapshot: %s", exc)
            return {}
        except (ValueError, RecursionError) as exc:
            log.warning("ignoring the unreadable snapshot %s: %s", self.path, exc)
            return {}
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("entries"), dict):
            log.warning("ignoring the snapshot %s: not in format %s", self.path, FORMAT)
            return {}
        return dict(doc["entries"])

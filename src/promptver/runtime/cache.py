"""The client's memory: the pairs it serves, how long, and the background worker that refreshes them.

``PairCache.hot`` maps a ref exactly as an app asked for it to ``(pair as served, expires at)``;
``Client.get`` reads it without a lock (a dict lookup and a clock read). Writes go through the
cache under its lock. An ``Entry`` is one canonical ref; every spelling of it is an alias in ``hot``.
Immutable refs (exact versions, pairing ids) never expire.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from promptver.runtime.pair import PinnedPair

NEVER = float("inf")
log = logging.getLogger("promptver.runtime")


class Entry:
    """One canonical ref: ``pair`` is the last known good (its source says where it came from)."""

    __slots__ = ("aliases", "immutable", "key", "pair")

    def __init__(self, key: str, immutable: bool, pair: PinnedPair) -> None:
        self.key, self.immutable, self.pair = key, immutable, pair
        self.aliases: set[str] = {key}


class PairCache:
    def __init__(self) -> None:
        self.hot: dict[str, tuple[PinnedPair, float]] = {}
        self._entries: dict[str, Entry] = {}
        self._by_alias: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def entry(self, key: str) -> Entry | None:
        return self._entries.get(key)

    def entry_of(self, alias: str) -> Entry | None:
        return self._by_alias.get(alias)

    def store(self, key: str, immutable: bool, pair: PinnedPair, served: PinnedPair, expires: float) -> Entry:
        """Remember ``pair`` for ``key`` (replacing what was there) and serve ``served`` until ``expires``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = Entry(key, immutable, pair)
                self._by_alias[key] = entry
            entry.pair = pair
            for alias in entry.aliases:
                self.hot[alias] = (served, expires)
            return entry

    def serve(self, entry: Entry, served: PinnedPair, expires: float) -> None:
        """Serve ``served`` for the entry until ``expires`` (its last known good unchanged)."""
        with self._lock:
            if self._entries.get(entry.key) is entry:
                for alias in entry.aliases:
                    self.hot[alias] = (served, expires)

    def alias(self, entry: Entry, alias: str) -> None:
        with self._lock:
            if self._entries.get(entry.key) is entry and alias not in entry.aliases:
                entry.aliases.add(alias)
                self._by_alias[alias] = entry
                self.hot[alias] = self.hot[entry.key]

    def evict(self, key: str) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            for alias in entry.aliases if entry else ():
                self.hot.pop(alias, None)
                self._by_alias.pop(alias, None)

    def clear(self) -> None:
        with self._lock:
            self.hot.clear()
            self._entries.clear()
            self._by_alias.clear()


class Refresher:
    """One daemon thread running background jobs one at a time. A job is queued at most once per key
    (single flight); ``rerun`` jobs may be queued again while running (their input grew meanwhile)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jobs: dict[Any, Callable[[], None]] = {}
        self._running: Any = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, key: Any, job: Callable[[], None], *, rerun: bool = False) -> bool:
        with self._cond:
            if self._closed or key in self._jobs or (key == self._running and not rerun):
                return False
            self._jobs[key] = job
            if self._thread is None or self._pid != os.getpid():  # a forked child has no worker thread
                self._pid, self._running = os.getpid(), None
                self._thread = threading.Thread(target=self._work, name="promptver-refresh", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return True

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                key = next(iter(self._jobs))
                job = self._jobs.pop(key)
                self._running = key
            try:
                job()
            except Exception:  # a bug in a job must not kill the worker
                log.exception("promptver background job %r failed", key)
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and self._running is None, timeout)

    def close(self, timeout: float | None = None) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout)

"""``Client``: what an app embeds to get pinned pairs, and keep answering when the registry is slow,
down, or was never reachable from its host (docs/runtime.md).

A ref in memory is served from memory: exact versions and pairing ids for the life of the process,
labels (and ``NAME``, the latest) for ``ttl`` seconds, then refreshed in the background while the
cached pair is still served. A ref not in memory is fetched from the registry (the local database
or a team server); when the registry is unavailable, from the on-disk snapshot of last-known-good
pairs; then from the ``fallback`` given in code. With ``lockfile=``, only the lockfile is used.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from promptver.core.refs import parse_ref
from promptver.core.types import Resolved
from promptver.errors import (
    Forbidden,
    InvalidRef,
    InvalidValue,
    NotFound,
    PromptverError,
    RegistryUnavailable,
    Unauthorized,
    UsageError,
)
from promptver.runtime import lockfile as lockfiles
from promptver.runtime.backups import Backups
from promptver.runtime.cache import NEVER, Entry, PairCache, Refresher
from promptver.runtime.health import Health
from promptver.runtime.pair import PinnedPair
from promptver.runtime.remote import DEFAULT_MAX_BYTES
from promptver.runtime.snapshot import Snapshot
from promptver.runtime.sources import LocalSource, Source

DEFAULT_TTL = 60.0
RETRY_SECONDS = 5.0  # after a failure: retry the registry (and serve backups meanwhile) this often at most
WARN_EVERY = 60.0  # the same warning about the same ref at most this often
log = logging.getLogger("promptver.runtime")


class Client:
    """Pinned pairs for an app. Thread-safe; see the module docstring and docs/runtime.md."""

    def __init__(self, url: str | None = None, token: str | None = None, *, db: str | None = None,
                 lockfile: str | os.PathLike[str] | None = None, fallback: Any = None, ttl: float = DEFAULT_TTL,
                 timeout: float = 2.0, snapshot: bool = True, snapshot_dir: str | os.PathLike[str] | None = None,
                 background: bool = True, clock: Callable[[], float] = time.monotonic,
                 max_response_bytes: int = DEFAULT_MAX_BYTES, public_key: str | bytes | os.PathLike[str] | None = None,
                 endpoints: Mapping[str, Any] | None = None) -> None:
        self._endpoints = _declared(endpoints)
        if not isinstance(ttl, (int, float)) or ttl <= 0:
            raise InvalidValue(f"ttl must be a positive number of seconds (got {ttl!r})")
        self._clock, self._ttl, self._retry = clock, float(ttl), min(float(ttl), RETRY_SECONDS)
        self._cache = PairCache()
        self._hot = self._cache.hot
        self._refresher, self._background = Refresher(), background
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._lockfile: dict[str, Resolved] | None = None
        self.source: Source | None = None
        key = None
        if public_key is not None:
            if lockfile is None and not isinstance(fallback, (str, os.PathLike)):
                raise InvalidValue("public_key= checks the signature of a lockfile: give lockfile= "
                                   "(or fallback= a lockfile path) with it")
            from promptver.runtime.signing import load_public_key

            key = load_public_key(public_key)
        if lockfile is not None:
            if url or db or token or fallback is not None:
                raise InvalidValue("Client(lockfile=...) serves the lockfile alone: give no url, token, db or fallback")
            self.location = str(lockfile)
            self._health = Health(clock, self._retry, WARN_EVERY, self.location)
            self._backups = Backups(None, {}, self._health, self._refresher, background)
            self._lockfile = lockfiles.load(lockfile, key)
            self.clear()
            return
        fallbacks = lockfiles.fallbacks(fallback, key)
        if url is None and db is None:
            url = os.environ.get("PROMPTVER_URL", "").strip() or None
        if url and db:
            raise InvalidValue("give url= (a team server) or db= (a registry database), not both")
        if url:
            from promptver.runtime.remote import RemoteSource

            token = token if token is not None else (os.environ.get("PROMPTVER_TOKEN", "").strip() or None)
            self.source = RemoteSource(url, token, timeout, max_response_bytes)
        elif token:
            raise InvalidValue("token= is for a team server: give url= too (or set PROMPTVER_URL)")
        else:
            self.source = LocalSource(db)
        self.location = self.source.location or "(no registry found)"
        self._health = Health(clock, self._retry, WARN_EVERY, self.location)
        kept = Snapshot(self.source.location, snapshot_dir) if snapshot and self.source.location else None
        self._backups = Backups(kept, fallbacks, self._health, self._refresher, background)

    def __repr__(self) -> str:
        return f"<promptver.Client {self.location}>"

    # -- get ------------------------------------------------------------------------------------
    def get(self, ref: str) -> PinnedPair:
        """The pinned pair ``ref`` resolves to: ``NAME@LABEL``, ``NAME/N``, ``NAME`` or a pairing id."""
        hit = self._hot.get(ref)
        pair = hit[0] if hit is not None and hit[1] > self._clock() else self._get(ref, hit)
        return pair if self._endpoints is None else pair.with_endpoints(self._endpoints)

    def _get(self, ref: str, hit: tuple[PinnedPair, float] | None) -> PinnedPair:
        if hit is not None and (entry := self._cache.entry_of(ref)) is not None:
            self._schedule(entry)  # serve what we hold while it is refreshed
            hit = self._hot.get(ref)
            if hit is not None:
                return hit[0]  # (else: an inline refresh found it gone; ask again below)
        if not isinstance(ref, str):
            raise InvalidRef(f"a ref is a string such as support-reply@production (got {type(ref).__name__})")
        key = lockfiles.canonical_ref(ref)
        if self._lockfile is not None:
            return self._held(key, ref) or self._from_lockfile(key, ref)
        with self._key_lock(key):  # one fetch per ref at a time: the others wait for its answer
            return self._held(key, ref) or self._first(key, ref)

    def _held(self, key: str, ref: str) -> PinnedPair | None:
        """What memory holds for ``key`` (``ref`` is another spelling of it), if anything."""
        entry = self._cache.entry(key)
        if entry is None:
            return None
        self._cache.alias(entry, ref)
        served, expires = self._hot.get(key, (entry.pair, NEVER))
        if expires <= self._clock():
            self._schedule(entry)
        return served

    def _first(self, key: str, ref: str) -> PinnedPair:
        immutable = _immutable(key)
        if self._health.down:  # it just failed: answer from the backups if they can
            backup = self._backup(key, ref, immutable, self._health.reason)
            if backup is not None:
                return backup
        try:
            resolved = self.source.fetch(key, None)  # type: ignore[union-attr]
        except (UsageError, Unauthorized, Forbidden) as exc:
            if isinstance(exc, NotFound):
                self._backups.forget(key)
            raise
        except PromptverError as exc:
            self._health.failed(exc.message)
            backup = self._backup(key, ref, immutable, exc.message)
            if backup is not None:
                return backup
            tried = "; ".join([f"the registry {self.location}: {exc.message}", *self._backups.tried()])
            raise RegistryUnavailable(f"cannot get {key}: {tried}") from exc
        self._health.answered()
        pair = PinnedPair.of(key, resolved, "fresh")  # type: ignore[arg-type]
        cached = pair.marked("cached")
        entry = self._cache.store(key, immutable, cached, cached, NEVER if immutable else self._clock() + self._ttl)
        self._cache.alias(entry, ref)
        self._backups.remember(key, resolved)  # type: ignore[arg-type]
        return pair

    def _backup(self, key: str, ref: str, immutable: bool, reason: str) -> PinnedPair | None:
        """The snapshot's last known good, else the fallback, held in memory; None if neither has it."""
        found = self._backups.find(key)
        if found is None:
            return None
        resolved, source = found
        pair = PinnedPair.of(key, resolved, source)
        expires = NEVER if immutable and source == "snapshot" else self._clock() + self._retry
        self._cache.alias(self._cache.store(key, immutable, pair, pair, expires), ref)
        self._health.warn(source, key, "%s: the registry is unavailable (%s); serving pairing %s from the %s",
                          key, reason, pair.pairing_id, source)
        return pair

    def _from_lockfile(self, key: str, ref: str) -> PinnedPair:
        assert self._lockfile is not None
        parsed = parse_ref(key)
        if parsed.pairing:  # a pairing id (prefix) held by any entry
            found = {r.pairing.id: r for r in self._lockfile.values() if r.pairing.id.startswith(parsed.pairing)}
            if len(found) == 1:
                pair = PinnedPair.of(key, Resolved(next(iter(found.values())).pairing), "lockfile")
                self._cache.alias(self._cache.store(key, True, pair, pair, NEVER), ref)
                return pair
        held = ", ".join(sorted(self._lockfile)[:10]) or "nothing"
        raise NotFound(f"{key} is not in the lockfile {self.location} (it holds {held}); "
                       f"add it with `promptver lock {key} ...`")

    # -- refresh --------------------------------------------------------------------------------
    def _schedule(self, entry: Entry) -> None:
        if self._background:
            self._refresher.submit(("refresh", entry.key), lambda: self._refresh(entry.key))
        else:
            self._refresh(entry.key)

    def _refresh(self, key: str) -> None:
        entry = self._cache.entry(key)
        if entry is None or self.source is None:
            return
        try:
            resolved = self.source.fetch(key, entry.pair.etag)
        except UsageError as exc:  # the registry says it is gone: never served again, not even stale
            self._cache.evict(key)
            self._backups.forget(key)
            log.warning("%s: %s; no longer served", key, exc.message)
            return
        except PromptverError as exc:
            if not isinstance(exc, (Unauthorized, Forbidden)):
                self._health.failed(exc.message)
            served = entry.pair.marked("stale") if entry.pair.source == "cached" else entry.pair
            self._cache.serve(entry, served, self._clock() + self._retry)
            self._health.warn("stale", key, "%s: refreshing failed (%s); serving the last known good pairing %s (%s)",
                              key, exc.message, entry.pair.pairing_id, served.source)
            return
        self._health.answered()
        expires = NEVER if entry.immutable else self._clock() + self._ttl
        if resolved is None or resolved.etag == entry.pair.etag:
            pair = entry.pair.marked("cached")
            self._cache.store(key, entry.immutable, pair, pair, expires)
            if entry.pair.source == "fallback":
                self._backups.remember(key, entry.pair.resolved)
            return
        was = entry.pair.pairing_id  # (store replaces the entry's pair)
        pair = PinnedPair.of(key, resolved, "cached")
        self._cache.store(key, entry.immutable, pair, pair, expires)
        self._backups.remember(key, resolved)
        log.info("%s now resolves to pairing %s (was %s)", key, pair.pairing_id, was)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    # -- life -----------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until the background refreshes and snapshot writes started so far are done."""
        return self._refresher.wait(timeout)

    def clear(self) -> None:
        """Forget every pair held in memory (the snapshot and the lockfile stay)."""
        self._cache.clear()
        for key, resolved in (self._lockfile or {}).items():
            pair = PinnedPair.of(key, resolved, "lockfile")
            self._cache.store(key, True, pair, pair, NEVER)

    def close(self, timeout: float | None = 5.0) -> None:
        """Finish background work (up to ``timeout``), write the snapshot, close connections."""
        self._refresher.close(timeout)
        self._backups.save()
        if self.source is not None:
            self.source.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _immutable(key: str) -> bool:
    ref = parse_ref(key)
    return ref.pairing is not None or ref.version is not None


def _declared(endpoints: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    """``Client(endpoints={"local-llama": "http://127.0.0.1:8080/v1", "team-gpu": {"url": ..., "key_env":
    "TEAM_GPU_KEY"}})``: endpoints the app declares in code, on top of its environment's (docs/endpoints.md)."""
    if endpoints is None:
        return None
    if not isinstance(endpoints, Mapping):
        raise InvalidValue("endpoints= maps endpoint names to a URL or to {'url': ..., 'key_env': ...}")
    from promptver.providers.declared import declared

    out = []
    for name, value in endpoints.items():
        spec = value if isinstance(value, Mapping) else {"url": value}
        if set(spec) - {"url", "key_env"}:
            raise InvalidValue(f"endpoints[{name!r}] takes url and key_env only")
        out.append(declared(name, spec.get("url"), spec.get("key_env"), "Client(endpoints=...)"))
    return tuple(out)

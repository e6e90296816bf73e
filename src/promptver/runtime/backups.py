"""What answers when the registry cannot: the on-disk snapshot of last-known-good pairs, then the
``fallback`` pinned in code. The snapshot is kept current here too: every change the registry
confirms is queued, and written on the background thread (inline when there is none)."""

from __future__ import annotations

from promptver.core.types import Resolved
from promptver.errors import PromptverError
from promptver.runtime.cache import Refresher
from promptver.runtime.health import Health
from promptver.runtime.snapshot import Snapshot


class Backups:
    def __init__(self, snapshot: Snapshot | None, fallback: dict[str, Resolved], health: Health,
                 refresher: Refresher, background: bool) -> None:
        self.snapshot, self.fallback = snapshot, fallback
        self._health, self._refresher, self._background = health, refresher, background

    def find(self, key: str) -> tuple[Resolved, str] | None:
        """The last known good of ``key`` and where it came from (``snapshot`` or ``fallback``)."""
        if self.snapshot is not None:
            try:
                found = self.snapshot.lookup(key)
            except PromptverError as exc:  # a corrupted or altered entry: never served
                self._health.warn("bad-snapshot", key, "%s", exc.message)
            else:
                if found is not None:
                    return found, "snapshot"
        if key in self.fallback:
            return self.fallback[key], "fallback"
        return None

    def tried(self) -> list[str]:
        """What ``find`` looked at, for the message when nothing had the ref."""
        return [f"no entry in the snapshot {self.snapshot.path}" if self.snapshot else "no snapshot (disabled)",
                "no fallback for it" if self.fallback else "no fallback given"]

    def remember(self, key: str, resolved: Resolved) -> None:
        """The registry confirmed ``resolved`` for ``key``: keep it as the last known good."""
        if self.snapshot is not None and self.snapshot.put(key, resolved):
            self._save_later()

    def forget(self, key: str) -> None:
        """The registry says ``key`` does not resolve: never answer it from the snapshot again."""
        if self.snapshot is not None and self.snapshot.remove(key):
            self._save_later()

    def _save_later(self) -> None:
        if not self._background or self._refresher.closed:
            self.save()
        else:
            self._refresher.submit("snapshot", self.save, rerun=True)

    def save(self) -> None:
        if self.snapshot is None or not self.snapshot.dirty:
            return
        try:
            self.snapshot.flush()
        except OSError as exc:
            self._health.warn("snapshot-write", "", "cannot write the snapshot %s: %s", self.snapshot.path, exc)

"""Whether the registry answers, and warnings that are logged once in a while, not on every get.

After a failure the registry counts as down for a short while: refs not in memory are answered from
the snapshot or the fallback without waiting on the registry again, and the background refresher
keeps probing it. Warnings go to the ``promptver.runtime`` logger, each (kind, ref) at most once
every ``every`` seconds; when the registry answers again they are re-armed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("promptver.runtime")


class Health:
    def __init__(self, clock: Callable[[], float], retry: float, every: float, location: str) -> None:
        self._clock, self.retry, self._every, self._location = clock, retry, every, location
        self._down_until: float | None = None
        self.reason = ""
        self._warned: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        """The registry failed less than ``retry`` seconds ago."""
        until = self._down_until
        return until is not None and self._clock() < until

    def failed(self, reason: str) -> None:
        self._down_until, self.reason = self._clock() + self.retry, reason

    def answered(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            with self._lock:
                self._warned.clear()  # the next outage is reported at once
            log.info("the registry %s answers again", self._location)

    def warn(self, kind: str, key: str, message: str, *args: Any) -> None:
        now = self._clock()
        with self._lock:
            last = self._warned.get((kind, key))
            if last is not None and now - last < self._every:
                return
            self._warned[(kind, key)] = now
        log.warning(message, *args)

"""Failed authentications: logged, counted, and rate-limited per client address.

Every 401 is logged as one line (the address, the route and why: no token, an unknown, revoked or
expired token, a disabled user; never the token, nor a part of it) and counted. An address that
presented ``limit`` tokens that failed within a minute (guessing needs a token: a request without
one is logged and counted, not held against the address) gets 429 on every authenticated route,
with ``Retry-After``, until the oldest of them is a minute old; the public routes stay open. ``limit`` comes from
``PROMPTVER_AUTH_FAILURES_PER_MINUTE`` (default 30; 0 turns the limit off, the logging stays). Counts
are kept per worker process, for at most ``max_addresses`` addresses (the least recent go first).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import OrderedDict, deque

log = logging.getLogger("promptver.server.auth")
DEFAULT_LIMIT = 30
WINDOW = 60.0


def _limit_from_env() -> int:
    raw = os.environ.get("PROMPTVER_AUTH_FAILURES_PER_MINUTE", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() else DEFAULT_LIMIT


def reason_of(token: str | None, message: str) -> str:
    """Why authentication failed, in words that never hold the token."""
    if not token:
        return "no token"
    for words, reason in (("revoked", "revoked token"), ("expired", "expired token"), ("disabled", "disabled user")):
        if words in message:
            return reason
    return "unknown token"


class AuthFailures:
    def __init__(self, limit: int | None = None, window: float = WINDOW, max_addresses: int = 10_000) -> None:
        self.limit = _limit_from_env() if limit is None else limit
        self.window, self.max_addresses = window, max_addresses
        self.total = 0
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None if it is not over the limit."""
        if self.limit <= 0:
            return None
        with self._lock:
            times = self._recent.get(address)
            if times is None or len(times) < self.limit:
                return None
            wait = times[0] + self.window - time.monotonic()
            return math.ceil(wait) if wait > 0 else None

    def failed(self, address: str, method: str, path: str, reason: str) -> None:
        """Count a 401 for ``address`` and log it (one line); a failed token counts towards the limit."""
        now = time.monotonic()
        with self._lock:
            self.total += 1
            if reason == "no token":
                log.info("authentication failed: no token from %s on %s %s (%d in all)", address, method,
                         printable(path), self.total)
                return
            times = self._recent.pop(address, None) or deque(maxlen=max(self.limit, 1))
            while times and times[0] <= now - self.window:
                times.popleft()
            times.append(now)
            self._recent[address] = times
            while len(self._recent) > self.max_addresses:
                self._recent.popitem(last=False)
            recent, total = len(times), self.total
        log.warning("authentication failed: %s from %s on %s %s (%d from this address in the last minute, %d in all)",
                    reason, address, method, printable(path), recent, total)
        if self.limit > 0 and recent == self.limit:
            log.warning("too many failed authentications from %s: answering 429 for up to %d s", address, self.window)


def printable(text: str, keep: int = 200) -> str:
    """``text`` with control characters escaped (no forged log lines), shortened."""
    clean = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return clean if len(clean) <= keep else clean[:keep] + "…"

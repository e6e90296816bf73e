"""Serialised response bodies kept between requests, bounded by bytes and shared fairly.

A key must name content that never changes (an immutable label event, a pairing), so an entry
never goes stale. The cache holds at most ``max_bytes`` in all and ``share`` of that per owner (the
token that caused an entry), so one token cannot make the server hold more than its share however
many distinct requests it sends; a body over ``max_entry`` bytes is served but not kept. The least
recently used entry goes first (the owner's own, when the owner is over its share).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

MAX_BYTES = 32_000_000
SHARE = 0.25


class BodyCache:
    def __init__(self, max_bytes: int = MAX_BYTES, share: float = SHARE, max_entry: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.owner_cap = int(max_bytes * share)
        self.max_entry = self.owner_cap if max_entry is None else min(max_entry, self.owner_cap)
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[Hashable, bytes]] = OrderedDict()
        self._by_owner: dict[Hashable, OrderedDict[Hashable, None]] = {}
        self._owner_bytes: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def owner_bytes(self, owner: Hashable) -> int:
        return self._owner_bytes.get(owner, 0)

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            self._by_owner[found[0]].move_to_end(key)
            return found[1]

    def put(self, key: Hashable, body: bytes, owner: Hashable = None) -> bytes:
        """Keep ``body`` under ``key`` (if it fits the bounds); return the body to serve."""
        size = len(body)
        if size > self.max_entry:
            return body
        with self._lock:
            if key in self._items:
                return self._items[key][1]
            while self._owner_bytes.get(owner, 0) + size > self.owner_cap:
                self._evict(next(iter(self._by_owner[owner])))
            while self.bytes + size > self.max_bytes:
                self._evict(next(iter(self._items)))
            self._items[key] = (owner, body)
            self._by_owner.setdefault(owner, OrderedDict())[key] = None
            self._owner_bytes[owner] = self._owner_bytes.get(owner, 0) + size
            self.bytes += size
        return body

    def _evict(self, key: Hashable) -> None:
        owner, body = self._items.pop(key)
        keys = self._by_owner[owner]
        del keys[key]
        self._owner_bytes[owner] -= len(body)
        self.bytes -= len(body)
        if not keys:
            del self._by_owner[owner], self._owner_bytes[owner]

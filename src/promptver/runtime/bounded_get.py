"""One HTTP GET with a deadline for the whole request and a cap on the size of the answer.

httpx's ``timeout`` bounds each network operation (connect, each read): a server that drips a byte
every second keeps such a request alive for ever. Here the request runs on a short-lived worker
thread and the caller waits for it until the deadline, no longer (DNS, connect, headers and body
alike); past it the caller gets ``Expired`` at once, and the worker's socket is shut down, which
ends the read the worker is blocked in. The socket is learnt from httpx's ``trace`` extension when
the connection is made, so the client keeps no connection alive between requests (remote.py):
every request makes its own, and the socket of every request is known.

The body is streamed (``iter_raw``): a ``Content-Length`` over the cap is refused before any of the
body is read, and reading stops as soon as the bytes, after gzip/deflate decoding (itself bounded,
so a compression bomb does not expand), pass the cap: ``TooLarge``. Error answers (not 200) are
read up to ``ERROR_BODY_BYTES`` and cut there. httpx's own exceptions reach the caller unchanged:
remote.py translates them, in one place.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ERROR_BODY_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"  # what _decoder can decode within the cap (httpx would add br, zstd)


class Expired(Exception):
    """The deadline passed before the whole answer was in."""


class TooLarge(Exception):
    """The answer is over the cap; ``seen`` is how many bytes were read (or declared)."""

    def __init__(self, limit: int, seen: int, declared: bool = False) -> None:
        super().__init__(f"over {limit} bytes ({'declared ' if declared else 'read '}{seen})")
        self.limit, self.seen, self.declared = limit, seen, declared


class BadEncoding(Exception):
    """A Content-Encoding that was not asked for."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


def bounded_get(http: Any, url: str, *, params: Mapping[str, str], headers: Mapping[str, str],
                timeout: float, max_bytes: int) -> Answer:
    """``GET url`` on the httpx client ``http``: the whole answer within ``timeout`` seconds and
    ``max_bytes`` bytes, else ``Expired`` / ``TooLarge`` (or httpx's errors, ``BadEncoding``)."""
    request = _Request(time.monotonic() + timeout)
    worker = threading.Thread(target=request.run, name="promptver-fetch", daemon=True,
                              args=(lambda: _get(request, http, url, params, headers, max_bytes),))
    worker.start()
    if not request.done.wait(timeout):
        request.abandon()
        if not request.done.is_set():
            raise Expired()
    if request.error is not None:
        raise request.error
    assert request.answer is not None
    return request.answer


class _Request:
    """One request's state, shared by the waiting caller and the worker."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.answer: Answer | None = None
        self.error: BaseException | None = None
        self.abandoned = False
        self._sockets: list[Any] = []
        self._lock = threading.Lock()

    def run(self, get: Callable[[], Answer]) -> None:
        try:
            self.answer = get()
        except BaseException as exc:  # handed to the caller, who maps it (or has gone)
            self.error = exc
        finally:
            self.done.set()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpx's trace extension: learn the socket of each new connection; stop once abandoned."""
        sock = None
        if name.endswith((".connect_tcp.complete", ".connect_unix_socket.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
        with self._lock:
            abandoned = self.abandoned
            if sock is not None and not abandoned:
                self._sockets.append(sock)
        if abandoned:
            if sock is not None:
                _shutdown(sock)
            if name.endswith(".started"):
                raise Expired()

    def expired(self) -> bool:
        return self.abandoned or time.monotonic() > self.deadline

    def abandon(self) -> None:
        with self._lock:
            self.abandoned = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: Any) -> None:
    """End any read or write blocked on ``sock`` (the plain socket call: also under TLS)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError, ValueError):  # already closed, or not a socket
        pass


def _get(request: _Request, http: Any, url: str, params: Mapping[str, str], headers: Mapping[str, str],
         max_bytes: int) -> Answer:
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **headers}
    with http.stream("GET", url, params=params, headers=headers, extensions={"trace": request.trace}) as response:
        ok = response.status_code == 200
        limit = max_bytes if ok else min(max_bytes, ERROR_BODY_BYTES)
        declared = response.headers.get("content-length", "").strip()
        if ok and declared.isdigit() and int(declared) > limit:
            raise TooLarge(limit, int(declared), declared=True)
        decode = _decoder(response.headers.get("content-encoding", ""))
        body = bytearray()
        for chunk in response.iter_raw(CHUNK_BYTES):
            if request.expired():
                raise Expired()
            body += decode(chunk, limit + 1 - len(body))
            if len(body) > limit:
                if ok:
                    raise TooLarge(limit, len(body))
                del body[limit:]  # an error answer: its start is enough for the message
                break
        return Answer(response.status_code, dict(response.headers), bytes(body))


def _decoder(encoding: str) -> Callable[[bytes, int], bytes]:
    """``decode(chunk, room)``: the decoded bytes of ``chunk``, never more than ``room`` of them."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return lambda chunk, room: chunk
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BadEncoding(f"Content-Encoding {encoding[:40]!r} (asked for {ACCEPT_ENCODING})")
    inflate = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected

    def decode(chunk: bytes, room: int) -> bytes:
        try:  # max_length: stop expanding at room; the rest waits in unconsumed_tail
            return inflate.decompress(inflate.unconsumed_tail + chunk, max(room, 1))
        except zlib.error as exc:
            raise BadEncoding(f"the {encoding} body does not decode: {exc}") from None

    return decode

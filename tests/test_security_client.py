"""Issue #14, section 5: the runtime client against a hostile registry server and hostile local files.

``timeout`` is a deadline for the whole request (a server dripping bytes, in its headers or its
body, cannot hold a ``get`` past it), the answer's size is capped (declared, streamed, or expanding
from gzip), and in every case the snapshot answers and the fallback is logged. Lockfiles and
snapshots that are not regular files (a FIFO, /dev/zero) or are too large are refused at once.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import threading
import time
import zlib

import pytest
from conftest import prompt_spec

from promptver import Client
from promptver.errors import InvalidFile, InvalidValue, RegistryUnavailable
from promptver.runtime.bounded_get import CHUNK_BYTES, TooLarge
from promptver.runtime.remote import DEFAULT_MAX_BYTES, RemoteSource
from promptver.services import labels
from promptver.services.registry import Registry

REF = "support-reply@production"
TIMEOUT = 1.0
SLACK = 0.6  # thread start, the snapshot read and verification, a loaded CI machine
MB = 1024 * 1024


class HostileServer:
    """A raw-socket HTTP server. ``mode``: ``ok`` (a real answer), ``drip-headers`` / ``drip-body``
    (one byte every ``drip`` seconds, for ``drip_for`` seconds at most), ``huge-declared`` (a
    Content-Length of 400 MB), ``huge-chunked`` (chunked, no length, up to 200 MB), ``gzip-bomb``
    (a small gzip body that expands to 64 MB). Counts the bytes it managed to send per request and
    when each connection ended."""

    def __init__(self, body: bytes) -> None:
        self.body, self.mode, self.drip, self.drip_for = body, "ok", 0.2, 8.0
        self.sent: list[int] = []
        self.ended: list[float] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        sent = 0

        def send(data: bytes) -> None:
            nonlocal sent
            conn.sendall(data)
            sent += len(data)

        try:
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            mode = self.mode
            if mode == "ok":
                send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % len(self.body) + self.body)
            elif mode in ("drip-headers", "drip-body"):
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                if mode == "drip-body":
                    send(head + b"Content-Length: %d\r\n\r\n" % len(self.body))
                    trickle = self.body
                else:
                    send(b"HTTP/1.1 200 OK\r\n")
                    trickle = b"X-Slow: " + b"a" * 10_000
                end = time.monotonic() + self.drip_for
                for byte in trickle:
                    if time.monotonic() > end:
                        break
                    send(bytes([byte]))
                    time.sleep(self.drip)
            elif mode in ("huge-declared", "huge-chunked"):
                block = b"x" * MB
                if mode == "huge-declared":
                    send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (400 * MB))
                    for _ in range(400):
                        send(block)
                else:
                    send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for _ in range(200):
                        send(b"%x\r\n" % len(block) + block + b"\r\n")
            elif mode == "gzip-bomb":
                bomb = _gzip_zeros(64 * MB)
                send(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb) + bomb)
        except OSError:
            pass  # the client went away: what we want in the hostile modes
        finally:
            self.sent.append(sent)
            self.ended.append(time.monotonic())
            conn.close()

    def stop(self) -> None:
        self._stop = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
        except OSError:
            pass
        self.listener.close()


def _gzip_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MB)
    return b"".join([*(packer.compress(block) for _ in range(size // MB)), packer.flush()])


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("PROMPTVER_URL", raising=False)
    monkeypatch.delenv("PROMPTVER_TOKEN", raising=False)


@pytest.fixture
def resolved(sqlite_url):
    with Registry.open(sqlite_url, actor="tester") as reg:
        reg.push_prompt(prompt_spec())
        reg.add_model("support-llm", "openai/gpt-4o-2024-08-06")
        labels.move(reg, "support-reply", "production", reg.pair("support-reply/1", "support-llm/1").pairing.id)
        return reg.resolve(REF)


@pytest.fixture
def hostile(resolved, tmp_path):
    """The server, after one good answer has been kept in the snapshot of ``tmp_path/snapshots``."""
    server = HostileServer(json.dumps({"ref": REF, "at": None, **resolved.to_json()}).encode())
    with Client(url=server.url, snapshot_dir=tmp_path / "snapshots", timeout=TIMEOUT) as pv:
        assert pv.get(REF).source == "fresh"
    server.sent.clear()
    server.ended.clear()
    yield server
    server.stop()


def _fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "promptver-fetch"]


def _wait_for(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("mode", ["drip-headers", "drip-body"])
def test_a_dripping_server_cannot_hold_get_past_the_deadline(hostile, resolved, tmp_path, mode, caplog):
    """Each byte comes well within httpx's per-read timeout; the deadline still ends the request."""
    hostile.mode = mode
    with Client(url=hostile.url, snapshot_dir=tmp_path / "snapshots", timeout=TIMEOUT) as pv:
        start = time.monotonic()
        pair = pv.get(REF)
        elapsed = time.monotonic() - start
        assert (pair.source, pair.pairing_id) == ("snapshot", resolved.pairing.id)
        assert TIMEOUT <= elapsed < TIMEOUT + SLACK, elapsed
    assert f"did not answer within {TIMEOUT:g} s" in caplog.text and "serving pairing" in caplog.text
    # the abandoned request is ended too (its socket shut down), not left dripping in the background
    assert _wait_for(lambda: hostile.ended, 2.5), "the server is still dripping into the abandoned request"
    assert hostile.ended[0] - start < TIMEOUT + 2.5
    assert _wait_for(lambda: not _fetch_threads(), 2.0)


def test_without_a_snapshot_the_deadline_is_an_error_in_time(hostile, tmp_path):
    hostile.mode = "drip-headers"
    with Client(url=hostile.url, snapshot=False, timeout=TIMEOUT) as pv:
        start = time.monotonic()
        with pytest.raises(RegistryUnavailable) as info:
            pv.get(REF)
        assert time.monotonic() - start < TIMEOUT + SLACK
    assert f"did not answer within {TIMEOUT:g} s (Expired)" in str(info.value)


def test_a_slow_but_steady_answer_within_the_deadline_is_served(hostile, resolved, tmp_path):
    """The deadline is not a per-chunk budget: a whole answer that arrives in time is used."""
    hostile.mode, hostile.drip = "drip-body", 0.0005
    with Client(url=hostile.url, snapshot=False, timeout=30) as pv:
        pair = pv.get(REF)
    assert (pair.source, pair.pairing_id) == ("fresh", resolved.pairing.id)


@pytest.mark.parametrize("mode", ["huge-declared", "huge-chunked", "gzip-bomb"])
def test_an_oversized_answer_is_a_registry_failure_and_the_snapshot_answers(hostile, resolved, tmp_path, mode,
                                                                             caplog):
    hostile.mode = mode
    with Client(url=hostile.url, snapshot_dir=tmp_path / "snapshots", timeout=30) as pv:
        pair = pv.get(REF)
    assert (pair.source, pair.pairing_id) == ("snapshot", resolved.pairing.id)
    assert f"sent an answer for {REF} over {DEFAULT_MAX_BYTES} bytes" in caplog.text
    assert "Client(max_response_bytes=...)" in caplog.text
    assert _wait_for(lambda: hostile.sent, 5.0)
    # the client stopped reading: the server got out at most the cap plus what socket buffers hold
    assert hostile.sent[0] < DEFAULT_MAX_BYTES + 24 * MB, hostile.sent


@pytest.mark.parametrize("mode, declared", [("huge-declared", True), ("huge-chunked", False), ("gzip-bomb", False)])
def test_the_bytes_read_stop_at_the_cap(hostile, mode, declared):
    """At the source: a declared length over the cap reads nothing; a stream stops within a chunk of
    the cap, and decoding one byte past it."""
    hostile.mode = mode
    cap = 100_000
    source = RemoteSource(hostile.url, timeout=30, max_bytes=cap)
    try:
        with pytest.raises(RegistryUnavailable) as info:
            source.fetch(REF, None)
    finally:
        source.close()
    cause = info.value.__cause__
    assert isinstance(cause, TooLarge) and cause.declared is declared and cause.limit == cap
    if declared:
        assert cause.seen == 400 * MB and str(info.value).endswith(
            f"over {cap} bytes (declared {400 * MB}) (the limit is Client(max_response_bytes=...))")
    elif mode == "gzip-bomb":
        assert cause.seen == cap + 1  # decoding stops right past the cap, however much it would expand
    else:
        assert cap < cause.seen <= cap + CHUNK_BYTES  # read a chunk at a time


def test_a_small_gzip_answer_is_decoded(hostile, resolved):
    hostile.body = gzip.compress(hostile.body)
    original = hostile._serve

    def serve_gzip(conn):  # the ok answer, gzip-encoded (as a compressing proxy would send it)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                     % len(hostile.body) + hostile.body)
        conn.close()

    hostile._serve = serve_gzip
    try:
        source = RemoteSource(hostile.url, timeout=5)
        assert source.fetch(REF, None).pairing.id == resolved.pairing.id
        source.close()
    finally:
        hostile._serve = original


def test_max_response_bytes_is_checked():
    for bad in (0, 100, -1, 1.5, True, "8MB"):
        with pytest.raises(InvalidValue, match="max_response_bytes must be a whole number of bytes"):
            Client(url="http://127.0.0.1:9", max_response_bytes=bad)
    for bad in (0, -1, float("nan"), 10**9, "2"):
        with pytest.raises(InvalidValue, match="timeout must be a positive number of seconds"):
            Client(url="http://127.0.0.1:9", timeout=bad)


# -- local files ----------------------------------------------------------------------------------
def _fifo(path):
    os.mkfifo(path)
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_lockfile_that_is_not_a_regular_file_is_refused_at_once(tmp_path):
    fifo = _fifo(tmp_path / "promptver.lock")  # no writer: reading it would block for ever
    start = time.monotonic()
    with pytest.raises(InvalidFile) as info:
        Client(lockfile=fifo)
    assert str(info.value) == f"{fifo}: cannot read: it is a FIFO (named pipe); promptver reads only regular files"
    with pytest.raises(InvalidFile, match="/dev/zero: cannot read: it is a device"):
        Client(lockfile="/dev/zero")  # would never end
    with pytest.raises(InvalidFile, match=".*: cannot read: it is a folder"):
        Client(lockfile=tmp_path)
    with pytest.raises(InvalidFile, match=r".*: cannot read: it is a FIFO \(named pipe\)"):
        Client(fallback=str(fifo))
    assert time.monotonic() - start < 2


def test_an_oversized_lockfile_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.lock"
    with open(path, "wb") as handle:
        handle.truncate(65 * MB)  # sparse: costs nothing to make
    with pytest.raises(InvalidFile) as info:
        Client(lockfile=path)
    assert str(info.value) == f"{path}: larger than {64 * MB:,} bytes, the limit of a lockfile"


def test_deeply_nested_lockfile_json_is_a_clear_error(tmp_path):
    path = tmp_path / "deep.lock"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidFile, match="is not valid JSON: nested too deeply"):
        Client(lockfile=path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_snapshot_that_is_a_fifo_is_ignored_not_waited_on(hostile, tmp_path, caplog):
    [snapshot] = (tmp_path / "snapshots").glob("*.json")
    snapshot.unlink()
    _fifo(snapshot)
    hostile.stop()  # the registry is down: the client looks at the snapshot
    caplog.set_level(logging.WARNING, logger="promptver.runtime")
    start = time.monotonic()
    with Client(url=hostile.url, snapshot_dir=tmp_path / "snapshots", timeout=TIMEOUT) as pv:
        with pytest.raises(RegistryUnavailable, match="no entry in the snapshot"):
            pv.get(REF)
    assert time.monotonic() - start < TIMEOUT + SLACK
    assert f"ignoring the snapshot: {snapshot}: cannot read: it is a FIFO (named pipe)" in caplog.text

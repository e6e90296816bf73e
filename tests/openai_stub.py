"""A local OpenAI-compatible server for tests and benchmarks: ``POST /v1/chat/completions``.

It runs uvicorn (httptools, a plain ASGI callable) in a thread of the test process, on 127.0.0.1 and
a free port, and answers like OpenAI's chat completions endpoint (non-streaming): ``model``,
``system_fingerprint``, ``usage`` (whitespace word counts) and one choice. Everything about it can
be changed while it runs:

- ``latency``: seconds before each answer, or a function of the request;
- ``plant(match, content, ...)``: planted answers, by a substring of the last user message and/or
  the model name (first match wins); ``answer``: a function for everything else;
- ``fail(status, ...)``: error injection for all, the Nth, a fraction, or matching requests, with
  ``Retry-After`` for 429; ``hang(...)``: requests that never answer (until ``stop()``);
- ``requests``: every request received (headers, parsed body, raw bytes), to assert what was sent.

Use it as the fixture ``openai_stub`` (``from openai_stub import openai_stub_fixture`` in a test
module; it sets a dummy ``OPENAI_API_KEY``) or
as ``with OpenAIStub(latency=0.05) as stub: ...``. As a script (``python tests/openai_stub.py
--latency 0.05``) it prints its base URL and serves until stdin closes: the benchmarks run it in a
separate process so that it does not compete with the client for the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import pytest

DUMMY_KEY = "sk-stub-0123456789abcdefghijklmn"  # shaped like a real key, so leak checks can find it
FINGERPRINT = "fp_stub_1"

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 429: "rate_limit_error", 500: "server_error", 503: "server_error"}


@dataclass(frozen=True)
class StubRequest:
    """One request the stub received. ``number`` counts from 1 in order of arrival."""

    number: int
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    body: Any  # the parsed JSON body (None if it was not JSON)

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages") or [] if isinstance(self.body, dict) else []

    @property
    def params(self) -> dict[str, Any]:
        """The body without ``model`` and ``messages``: temperature, max_tokens, tools, ..."""
        if not isinstance(self.body, dict):
            return {}
        return {k: v for k, v in self.body.items() if k not in ("model", "messages")}

    @property
    def last_user(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _text(message.get("content"))
        return ""


@dataclass
class Planted:
    match: str | None  # a substring of the last user message
    model: str | None  # the request's model, exactly
    content: str | None
    tool_calls: list[dict[str, Any]] | None
    response_model: str | None
    finish_reason: str | None
    usage: dict[str, Any] | None
    raw: bytes | None

    def applies(self, request: StubRequest) -> bool:
        return ((self.match is None or self.match in request.last_user)
                and (self.model is None or self.model == request.model))


@dataclass
class Fault:
    status: int | None  # None: hang
    nth: frozenset[int] | None
    fraction: float | None
    match: str | None
    model: str | None
    times: int | None
    retry_after: str | None
    message: str | None
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    hits: int = 0

    def fires(self, request: StubRequest) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.nth is not None and request.number not in self.nth:
            return False
        if self.match is not None and self.match not in request.last_user:
            return False
        if self.model is not None and self.model != request.model:
            return False
        if self.fraction is not None and self.rng.random() >= self.fraction:
            return False
        self.hits += 1
        return True


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


class OpenAIStub:
    """An OpenAI-compatible chat completions server on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, latency: float | Callable[[StubRequest], float] = 0.0,
                 answer: Callable[[StubRequest], str | None] | None = None, usage: bool = True,
                 fingerprint: str | None = FINGERPRINT, port: int = 0) -> None:
        self.latency = latency
        self.answer = answer
        self.usage = usage
        self.fingerprint = fingerprint
        self.requests: list[StubRequest] = []
        self._planted: list[Planted] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self.url = ""  # http://127.0.0.1:PORT/v1 once started

    # -- configuration ---------------------------------------------------------------------------
    def plant(self, match: str | None = None, content: str | None = None, *, model: str | None = None,
              tool_calls: list[dict[str, Any]] | None = None, response_model: str | None = None,
              finish_reason: str | None = None, usage: dict[str, Any] | None = None,
              raw: bytes | None = None) -> OpenAIStub:
        """Answer ``content`` (and/or ``tool_calls``) when the last user message contains ``match``
        and/or the request names ``model``; ``response_model`` replaces the model in the answer,
        ``usage`` the counted one; ``raw`` is a whole (malformed) body answered with status 200."""
        with self._lock:
            self._planted.append(Planted(match, model, content, tool_calls, response_model, finish_reason, usage,
                                         raw))
        return self

    def fail(self, status: int, *, nth: int | list[int] | None = None, fraction: float | None = None,
             match: str | None = None, model: str | None = None, times: int | None = None,
             retry_after: float | str | None = None, message: str | None = None, seed: int = 0) -> OpenAIStub:
        """Answer ``status`` with an OpenAI-style error body: every request, the ``nth`` (1-based, an
        int or a list), a ``fraction`` (drawn from a generator seeded with ``seed``), requests
        matching ``match`` / ``model``; at most ``times`` times. ``retry_after`` sets the header."""
        self._add_fault(status, nth, fraction, match, model, times, retry_after, message, seed)
        return self

    def hang(self, *, nth: int | list[int] | None = None, fraction: float | None = None,
             match: str | None = None, model: str | None = None, times: int | None = None,
             seed: int = 0) -> OpenAIStub:
        """Never answer the selected requests (they are released, unanswered, by ``stop()``)."""
        self._add_fault(None, nth, fraction, match, model, times, None, None, seed)
        return self

    def _add_fault(self, status: int | None, nth: int | list[int] | None, fraction: float | None,
                   match: str | None, model: str | None, times: int | None,
                   retry_after: float | str | None, message: str | None, seed: int) -> None:
        numbers = None if nth is None else frozenset([nth] if isinstance(nth, int) else nth)
        header = None if retry_after is None else str(retry_after)
        with self._lock:
            self._faults.append(Fault(status, numbers, fraction, match, model, times, header, message,
                                      random.Random(seed)))

    def reset(self) -> None:
        """Forget planted answers, faults and recorded requests (the numbering starts again)."""
        with self._lock:
            self._planted.clear()
            self._faults.clear()
            self.requests.clear()

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> Self:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        sock.listen(2048)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        config = uvicorn.Config(self._app, log_level="error", access_log=False, lifespan="off",
                                http="httptools", interface="asgi3", proxy_headers=False, timeout_keep_alive=60, timeout_graceful_shutdown=1,
                                backlog=2048)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="openai-stub", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the OpenAI stub did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        if self._thread is not None:
            self._thread.join(10)
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the ASGI app ----------------------------------------------------------------------------
    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self._release is None:
            self._loop = asyncio.get_running_loop()
            self._release = asyncio.Event()
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            request = StubRequest(len(self.requests) + 1, scope["method"], scope["path"], headers, raw, body)
            self.requests.append(request)
            fault = next((f for f in self._faults if f.fires(request)), None)
            planted = next((p for p in self._planted if p.applies(request)), None)
        status, payload, extra = self._answer(request, fault, planted)
        if status is None:  # hang until stop(), then answer 503
            assert self._release is not None
            await self._release.wait()
            status, payload, extra = 503, _error(503, "the stub stopped"), []
        else:
            delay = self.latency(request) if callable(self.latency) else self.latency
            if delay:
                await asyncio.sleep(delay)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
            (b"x-request-id", f"req_stub_{request.number}".encode()), *extra]})
        await send({"type": "http.response.body", "body": data})

    def _answer(self, request: StubRequest, fault: Fault | None,
                planted: Planted | None) -> tuple[int | None, Any, list[tuple[bytes, bytes]]]:
        if request.method != "POST" or not request.path.rstrip("/").endswith("/chat/completions"):
            return 404, _error(404, f"no route {request.method} {request.path}"), []
        if fault is not None:
            if fault.status is None:
                return None, None, []
            extra = [] if fault.retry_after is None else [(b"retry-after", fault.retry_after.encode())]
            return fault.status, _error(fault.status, fault.message or f"stub error {fault.status}"), extra
        if not isinstance(request.body, dict) or not request.model or not isinstance(request.body.get("messages"), list):
            return 400, _error(400, "a JSON body with model and messages is required"), []
        if request.body.get("stream"):
            return 400, _error(400, "the stub does not stream"), []
        content: str | None
        tool_calls = None
        if planted is not None and planted.raw is not None:
            return 200, planted.raw, []
        if planted is not None:
            content, tool_calls = planted.content, planted.tool_calls
        else:
            content = (self.answer(request) if self.answer else None) or f"stub reply to: {request.last_user}"
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        finish = (planted and planted.finish_reason) or ("tool_calls" if tool_calls else "stop")
        payload: dict[str, Any] = {
            "id": f"chatcmpl-stub-{request.number}", "object": "chat.completion", "created": 1700000000,
            "model": (planted and planted.response_model) or request.model,
            "system_fingerprint": self.fingerprint,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]}
        if planted is not None and planted.usage is not None:
            payload["usage"] = planted.usage
        elif self.usage:
            prompt = sum(_words(_text(m.get("content"))) for m in request.messages if isinstance(m, dict))
            completion = _words(content) + (_words(json.dumps(tool_calls)) if tool_calls else 0)
            payload["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                "total_tokens": prompt + completion}
        return 200, payload, []


def _error(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@pytest.fixture(name="openai_stub")
def openai_stub_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    """``openai_stub``: a running stub, with a dummy ``OPENAI_API_KEY`` (``DUMMY_KEY``) for the test.
    Use it in a test module with ``from openai_stub import openai_stub_fixture``."""
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with OpenAIStub() as stub:
        yield stub


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the OpenAI stub until stdin closes.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    args = parser.parse_args()
    with OpenAIStub(latency=args.latency, port=args.port) as stub:
        print(stub.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()

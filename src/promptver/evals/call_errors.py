"""The one place a failed model call becomes a record's ``error``, ``error_kind``, ``status`` and
``retry_after`` (evals/calls.py builds the record).

    rate_limited   429, 402, quota, budget                  (status, retry_after when sent)
    timeout        no answer within request.timeout (or an HTTP 408)
    unavailable    5xx, a response that is not a chat completion
    connection     no answer at all: connection refused/reset, DNS (the runner's circuit breaker counts these)
    request        400, 404, 409, 422: the provider refused the request; unknown promptver/ models
    auth           401, 403, no API key in the environment

The same failure gives the same description whichever path raised it: litellm's exceptions (and the
openai / httpx ones inside them, through runtime/calls.py's ``translate``), the fast path's
``HTTPFailure`` (a non-2xx answer, read by evals/calls_openai.py), promptver's own ``ModelCallError``
and plain transport errors (``OSError``, ``TimeoutError``, anything chained to one). Anything else is
a bug, not a failed call, and is raised again. Every text is one line, at most 300 characters, with
no API key in it (``redact``). Importing this module imports neither aiohttp, openai nor litellm.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from promptver.errors import (
    ModelAuthError,
    ModelCallError,
    ModelRateLimited,
    ModelRequestError,
    ModelTimeout,
    ModelUnavailable,
)

KINDS: dict[type[ModelCallError], str] = {ModelRateLimited: "rate_limited", ModelTimeout: "timeout",
                                          ModelUnavailable: "unavailable", ModelRequestError: "request",
                                          ModelAuthError: "auth"}
_TRANSPORT = {"APIConnectionError", "APITimeoutError", "Timeout", "TimeoutException", "TransportError",
              "ConnectError", "ClientConnectionError", "ServerDisconnectedError"}
_KEY_SHAPED = re.compile(r"(sk-[A-Za-z0-9_-]{6,}|Bearer\s+\S+|(?i:api[_-]?key)[\"']?\s*[:=]\s*[\"']?[^\s\"',}]+)")
_SECRET_ENV = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)


class HTTPFailure(Exception):
    """A non-2xx answer on the fast path: its status, headers (for Retry-After) and the provider's
    own message (``error.message`` of an OpenAI-style error body)."""

    def __init__(self, status_code: int, headers: Mapping[str, str], message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code, self.headers, self.message = status_code, headers, message


Description = tuple[str, str, int | None, float | None]  # error, error_kind, status, retry_after


def describe(exc: Exception, model: str, timeout: float) -> Description:
    """(error, error_kind, status, retry_after) of a failed call; raises ``exc`` again if it is a bug."""
    from promptver.runtime.calls import _by_status, translate

    if isinstance(exc, ModelCallError):
        mapped: ModelCallError | None = exc
    elif isinstance(exc, HTTPFailure):
        mapped = (_by_status(exc.status_code) or ModelUnavailable)()
    elif isinstance(exc, TimeoutError):  # asyncio.timeout around the whole call
        mapped = ModelTimeout()
    else:
        mapped = translate(exc, model)
        if mapped is None and isinstance(exc, OSError):
            mapped = ModelUnavailable()
        if mapped is None:
            raise exc  # a bug, not a failed call
    kind = next((k for cls, k in KINDS.items() if isinstance(mapped, cls)), "unavailable")
    if kind == "timeout" and refused(exc):  # openai's aiohttp transport calls a refused connection a timeout
        kind = "unavailable"
    transport = kind == "timeout" or transport_failure(exc)
    if kind == "unavailable" and transport and refused(exc):  # no answer at all: the endpoint cannot be reached
        kind = "connection"
    status = None if transport else _int(getattr(exc, "status_code", None))
    if kind == "timeout":
        text = f"timed out after {timeout:g} s"
    elif transport:
        text = f"connection failed: {deepest(exc)}"
    elif status is not None:
        text = f"HTTP {status}: {provider_message(exc)}"
    else:
        text = str(exc) or type(exc).__name__
    return redact(text), kind, status, retry_after_of(exc)


def chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def transport_failure(exc: BaseException) -> bool:
    """No HTTP answer arrived: a connection or timeout error somewhere in the chain."""
    for item in chain(exc):
        if isinstance(item, (OSError, TimeoutError)) or any(c.__name__ in _TRANSPORT for c in type(item).__mro__):
            return True
    return False


def refused(exc: BaseException) -> bool:
    """The connection failed (refused, reset, no such host): an OSError that is not a timeout."""
    return any(isinstance(item, OSError) and not isinstance(item, TimeoutError) for item in chain(exc))


def deepest(exc: BaseException) -> str:
    last = chain(exc)[-1]
    return f"{type(last).__name__}: {last}" if str(last) else type(last).__name__


def provider_message(exc: BaseException) -> str:
    if isinstance(exc, HTTPFailure):
        return exc.message
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    response = getattr(exc, "response", None)
    try:
        error = response.json().get("error")  # type: ignore[union-attr]
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    except (AttributeError, TypeError, ValueError, RuntimeError):  # no response, or not JSON
        pass
    return str(getattr(exc, "message", "") or exc) or type(exc).__name__


def message_of_body(status: int, raw: bytes) -> str:
    """The provider's message in a non-2xx body, as litellm's path finds it (``provider_message``):
    ``error.message``, else a string ``error``, else the body's text, else ``Error code: N``."""
    text = raw[:4000].decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text or f"Error code: {status}"
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(error, str):
        return error
    return text or f"Error code: {status}"


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds from the failure's Retry-After headers: the fast path's, or those of litellm's
    exception (its httpx response, or ``litellm_response_headers``)."""
    headers: Any = getattr(exc, "headers", None) if isinstance(exc, HTTPFailure) else (
        getattr(getattr(exc, "response", None), "headers", None) or getattr(exc, "litellm_response_headers", None))
    return retry_after(headers) if headers else None


def retry_after(headers: Any) -> float | None:
    """``retry-after-ms`` (milliseconds) if sent, else ``retry-after`` (seconds or an HTTP date);
    never negative. ``headers`` is any mapping with case-insensitive ``get`` (aiohttp's, httpx's)."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000.0)
        value = headers.get("retry-after")
    except (AttributeError, TypeError, ValueError):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # 14 ms to import: only for an HTTP-date Retry-After

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(text: str) -> str:
    """One line, at most 300 characters, with no API key in it."""
    flat = " ".join(text.split())
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_ENV.search(name) and value in flat:
            flat = flat.replace(value, "***")
    flat = _KEY_SHAPED.sub("***", flat)
    return flat[:300]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

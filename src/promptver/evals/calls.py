"""The async call layer of evals: one request in, one ``CallResult`` record out.

``await call(request)`` never raises for a provider or network failure: the failure is recorded in
the result (``error``, ``error_kind``, ``status``, ``retry_after``), one line, with no API key in
it. It does not retry; the runner does (``retry_after`` says when). Three paths, chosen by
``route(request)``:

``echo``     ``promptver/echo``: the built-in offline model (providers/echo.py), in-process.
``openai``   ``openai/...`` requests the ``openai`` package can send as they are: the body is the
             model name, the messages, tools, response_format and the params, POSTed to
             ``{api_base}/chat/completions`` by one shared ``AsyncOpenAI`` client per (event loop,
             api_base, key), on the aiohttp transport with a large connection pool. The response is
             read as plain JSON (no pydantic models). Requests litellm would rewrite go to litellm:
             reasoning models (``o1``..., ``gpt-5``..., where litellm renames ``max_tokens``), params
             outside ``FAST_PARAMS``, a ``response_format`` that is not a dict.
``litellm``  everything else, through ``litellm.acompletion`` (imported on first use, with
             ``LITELLM_LOCAL_MODEL_COST_MAP=True``; ``num_retries=0``, ``max_retries=0``).

The openai and litellm paths give identical records for the same answer (the latency aside):
``output`` is the message content, or the JSON of its tool calls; tokens come from ``usage``; the
cost is litellm's (on the fast path computed from litellm's own bundled price table by
providers/prices.py, because importing litellm takes seconds); both are rounded to 1e-12 USD.
Known differences, both at the edges: an answer without ``usage`` gives None tokens and cost on the
fast path, 0 through litellm; a 200 whose body is not a chat completion is ``unavailable`` on both,
but litellm words it as an HTTP 500.
Importing this module imports neither openai nor litellm: a fully cached run loads neither.

API keys come from the environment (``OPENAI_API_KEY``, ...); ``params`` holding a credential are
refused (``SecretRefused``), as is anything else that is a bug rather than a failed call.

Errors become ``error_kind`` in one place, ``_failure``:

    rate_limited   429, quota, budget                       (status, retry_after when sent)
    timeout        no answer within request.timeout
    unavailable    5xx, connection refused/reset, DNS, a response that is not a chat completion
    request        400, 404, 422: the provider refused the request; unknown promptver/ models
    auth           401, 403, no API key in the environment
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from promptver.core.params import refuse_secrets
from promptver.errors import (
    ModelAuthError,
    ModelCallError,
    ModelRateLimited,
    ModelRequestError,
    ModelTimeout,
    ModelUnavailable,
)
from promptver.providers import echo, prices


@dataclass(frozen=True)
class CallRequest:
    model: str  # litellm model id, e.g. "openai/gpt-4o-2024-08-06", "promptver/echo"
    messages: list[dict[str, Any]]
    params: dict[str, Any]  # temperature, max_tokens, seed, api_base, ... (never an api key)
    tools: list[Any] | None = None
    response_format: Any = None
    timeout: float = 60.0


@dataclass(frozen=True)
class CallResult:
    output: str | None  # the assistant message content (tool calls: their JSON)
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    response_model: str | None  # the model that actually answered
    system_fingerprint: str | None
    error: str | None = None  # one line; never contains an API key
    error_kind: str | None = None  # "rate_limited" | "timeout" | "unavailable" | "request" | "auth"
    status: int | None = None  # the HTTP status of a failed call
    retry_after: float | None = None  # seconds, from a Retry-After (or retry-after-ms) header


ERROR_KINDS = ("rate_limited", "timeout", "unavailable", "request", "auth")
PATHS = ("echo", "openai", "litellm")
# params the fast path sends as they are (litellm passes these through unchanged for openai/ models)
FAST_PARAMS = frozenset({"temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
                         "presence_penalty", "frequency_penalty", "logit_bias", "seed", "tool_choice",
                         "logprobs", "top_logprobs", "parallel_tool_calls"})
# params that are options of the call, never sent to the provider
OPTIONS = frozenset({"api_base", "metadata", "timeout", "num_retries", "max_retries"})
POOL_SIZE = 512  # connections per shared client
_REWRITTEN = re.compile(r"^o\d|gpt-5|gpt-6")  # litellm rewrites their params: they go through it
_KINDS: dict[type[ModelCallError], str] = {ModelRateLimited: "rate_limited", ModelTimeout: "timeout",
                                           ModelUnavailable: "unavailable", ModelRequestError: "request",
                                           ModelAuthError: "auth"}
_TRANSPORT = {"APIConnectionError", "APITimeoutError", "Timeout", "TimeoutException", "TransportError",
              "ConnectError", "ClientConnectionError", "ServerDisconnectedError"}
_KEY_SHAPED = re.compile(r"(sk-[A-Za-z0-9_-]{6,}|Bearer\s+\S+|(?i:api[_-]?key)[\"']?\s*[:=]\s*[\"']?[^\s\"',}]+)")
_SECRET_ENV = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)


def route(request: CallRequest) -> str:
    """``"echo"``, ``"openai"`` (the fast path) or ``"litellm"``: how ``call`` sends ``request``."""
    if request.model.startswith(echo.PROVIDER + "/"):
        return "echo"
    if not request.model.startswith("openai/"):
        return "litellm"
    name = request.model.split("/", 1)[1]
    if _REWRITTEN.search(name) or not (request.response_format is None or isinstance(request.response_format, dict)):
        return "litellm"
    if any(key not in FAST_PARAMS and key not in OPTIONS for key in request.params):
        return "litellm"
    return "openai"


async def call(request: CallRequest, *, via: str | None = None) -> CallResult:
    """Make one model call. ``via`` forces a path (``"openai"`` or ``"litellm"``, for tests and
    benchmarks); by default ``route(request)`` decides."""
    refuse_secrets(request.params, "params")
    path = via or route(request)
    if path not in PATHS:
        raise ValueError(f"via must be one of {PATHS}, not {via!r}")
    _load(path)  # imports are not latency
    started = time.perf_counter()
    try:
        async with asyncio.timeout(request.timeout):
            if path == "echo":
                return _echo(request, started)
            if path == "openai":
                return await _openai(request, started)
            return await _litellm(request, started)
    except Exception as exc:  # noqa: BLE001  (_failure re-raises what is not a failed call)
        return _failure(exc, request, started)


async def aclose() -> None:
    """Close the shared clients of the running event loop (``asyncio.run`` also closes them when
    it shuts the loop down)."""
    clients = _LOOP_CLIENTS.pop(asyncio.get_running_loop(), None)
    if clients is not None and clients.closer is not None:
        await clients.closer.aclose()  # type: ignore[attr-defined]  # its finally closes the clients


def price_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token from litellm's cost map; ``promptver/echo``: (0, 0); None if unknown."""
    return prices.price_per_token(model)


# -- the three paths -----------------------------------------------------------------------------
def _load(path: str) -> None:
    if path == "openai" and "openai" not in sys.modules:
        import openai  # noqa: F401
    elif path == "litellm" and "litellm" not in sys.modules:
        from promptver.runtime.calls import litellm_module

        litellm_module()


def _echo(request: CallRequest, started: float) -> CallResult:
    if not echo.is_echo(request.model):
        raise ModelRequestError(f"unknown built-in model {request.model}: the only one is {echo.MODEL}")
    params = {k: v for k, v in request.params.items() if k not in OPTIONS}
    answer = echo.reply(request.messages, params, request.response_format)
    return CallResult(answer.content, _ms(started), answer.prompt_tokens, answer.completion_tokens, 0.0,
                      echo.MODEL, echo.FINGERPRINT)


async def _openai(request: CallRequest, started: float) -> CallResult:
    name = request.model.split("/", 1)[1]
    api_base = (request.params.get("api_base") or os.environ.get("OPENAI_BASE_URL")
                or os.environ.get("OPENAI_API_BASE") or "https://api.openai.com/v1")
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ModelAuthError(f"no API key for {request.model}: set OPENAI_API_KEY")
    body: dict[str, Any] = {"model": name, "messages": request.messages}
    body.update((k, v) for k, v in request.params.items() if k not in OPTIONS and v is not None)
    if request.tools is not None:
        body["tools"] = request.tools
    if request.response_format is not None:
        body["response_format"] = request.response_format
    client, raw_type = await _shared_client(api_base, key)
    response = await client.post("/chat/completions", cast_to=raw_type, body=body,
                                 options={"timeout": request.timeout})
    try:
        data = response.json()
    except ValueError as exc:
        raise ModelUnavailable(f"{api_base} answered {response.status_code} with a body that is not JSON") from exc
    usage = data.get("usage") if isinstance(data, dict) else None
    answered = _str(data.get("model")) if isinstance(data, dict) else None
    return _record(data, started, prices.cost_usd(request.model, usage, answered or name), name)


async def _litellm(request: CallRequest, started: float) -> CallResult:
    from promptver.runtime.calls import litellm_module

    litellm = litellm_module()
    litellm.suppress_debug_info = True  # its "Give Feedback / Get Help" banner on every error
    kwargs: dict[str, Any] = {k: v for k, v in request.params.items() if k not in OPTIONS and v is not None}
    if request.params.get("api_base"):
        kwargs["api_base"] = request.params["api_base"]
    if request.tools is not None:
        kwargs["tools"] = request.tools
    if request.response_format is not None:
        kwargs["response_format"] = request.response_format
    response = await litellm.acompletion(model=request.model, messages=request.messages, timeout=request.timeout,
                                         num_retries=0, max_retries=0, **kwargs)
    hidden = getattr(response, "_hidden_params", None) or {}
    return _record(response.model_dump(), started, hidden.get("response_cost"), request.model.split("/", 1)[-1])


def _record(data: Any, started: float, cost: Any, name: str) -> CallResult:
    """The result of a chat completion (a plain dict, from either path)."""
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ModelUnavailable("the answer is not a chat completion (no choices[0].message)") from None
    if not isinstance(message, Mapping):
        raise ModelUnavailable("the answer is not a chat completion (choices[0].message is not an object)")
    usage = data.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    return CallResult(
        output=_output(message), latency_ms=_ms(started),
        prompt_tokens=_int(usage.get("prompt_tokens")), completion_tokens=_int(usage.get("completion_tokens")),
        cost_usd=None if not isinstance(cost, (int, float)) else round(float(cost), 12),
        response_model=_str(data.get("model")) or name, system_fingerprint=_str(data.get("system_fingerprint")))


def _output(message: Mapping[str, Any]) -> str | None:
    calls = message.get("tool_calls")
    if calls and isinstance(calls, list):
        return json.dumps([_tool_call(c) for c in calls], ensure_ascii=False)
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False)


def _tool_call(item: Any) -> dict[str, Any]:
    item = item if isinstance(item, Mapping) else {}
    function = item.get("function") if isinstance(item.get("function"), Mapping) else {}
    return {"id": item.get("id"), "type": item.get("type") or "function",
            "function": {"name": function.get("name"), "arguments": function.get("arguments")}}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


# -- shared clients ------------------------------------------------------------------------------
class _Clients:
    """The AsyncOpenAI clients of one event loop, by (api_base, key digest)."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Any] = {}
        self.closer: AsyncIterator[None] | None = None

    async def close(self) -> None:
        clients, self.by_key = list(self.by_key.values()), {}
        for client in clients:
            await client.close()


_LOOP_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clients] = weakref.WeakKeyDictionary()


async def _closing(clients: _Clients) -> AsyncIterator[None]:
    # an async generator left suspended: asyncio.run's loop.shutdown_asyncgens() finalises it,
    # which closes this loop's clients before the loop closes (no "Unclosed client session")
    try:
        yield
    finally:
        await clients.close()


async def _shared_client(api_base: str, key: str) -> tuple[Any, type]:
    loop = asyncio.get_running_loop()
    clients = _LOOP_CLIENTS.get(loop)
    if clients is None:
        clients = _LOOP_CLIENTS[loop] = _Clients()
        clients.closer = _closing(clients)
        await clients.closer.__anext__()
    ident = (api_base.rstrip("/"), hashlib.sha256(key.encode()).hexdigest())
    client = clients.by_key.get(ident)
    if client is None:
        client = clients.by_key[ident] = _new_client(api_base, key)
    return client, _raw_response_type()


def _new_client(api_base: str, key: str) -> Any:
    import openai

    limits = _http_module().Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE)
    try:
        http_client = openai.DefaultAioHttpClient(limits=limits)
    except RuntimeError:  # openai without its aiohttp extra
        http_client = openai.DefaultAsyncHttpxClient(limits=limits)
    return openai.AsyncOpenAI(api_key=key, base_url=api_base, max_retries=0, http_client=http_client)


def _http_module() -> Any:
    """The HTTP library the installed openai package is built on (httpx2, or httpx before it)."""
    base = sys.modules["openai._base_client"]
    return getattr(base, "httpx2", None) or base.httpx


def _raw_response_type() -> type:
    return _http_module().Response


# -- failures: the one place exceptions become error kinds ----------------------------------------
def _failure(exc: Exception, request: CallRequest, started: float) -> CallResult:
    from promptver.runtime.calls import translate

    if isinstance(exc, ModelCallError):
        mapped: ModelCallError | None = exc
    elif isinstance(exc, TimeoutError):  # asyncio.timeout around the whole call
        mapped = ModelTimeout()
    else:
        mapped = translate(exc, request.model)
        if mapped is None and isinstance(exc, OSError):
            mapped = ModelUnavailable()
        if mapped is None:
            raise exc  # a bug, not a failed call
    kind = next((k for cls, k in _KINDS.items() if isinstance(mapped, cls)), "unavailable")
    if kind == "timeout" and _refused(exc):  # openai's aiohttp transport calls a refused connection a timeout
        kind = "unavailable"
    transport = kind == "timeout" or _transport_failure(exc)
    status = None if transport else _int(getattr(exc, "status_code", None))
    if kind == "timeout":
        text = f"timed out after {request.timeout:g} s"
    elif transport:
        text = f"connection failed: {_deepest(exc)}"
    elif status is not None:
        text = f"HTTP {status}: {_provider_message(exc)}"
    else:
        text = str(exc) or type(exc).__name__
    return CallResult(None, _ms(started), None, None, None, None, None, error=_redact(text), error_kind=kind,
                      status=status, retry_after=_retry_after(exc))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _transport_failure(exc: BaseException) -> bool:
    """No HTTP answer arrived: a connection or timeout error somewhere in the chain."""
    for item in _chain(exc):
        if isinstance(item, (OSError, TimeoutError)) or any(c.__name__ in _TRANSPORT for c in type(item).__mro__):
            return True
    return False


def _refused(exc: BaseException) -> bool:
    """The connection failed (refused, reset, no such host): an OSError that is not a timeout."""
    return any(isinstance(item, OSError) and not isinstance(item, TimeoutError) for item in _chain(exc))


def _deepest(exc: BaseException) -> str:
    last = _chain(exc)[-1]
    return f"{type(last).__name__}: {last}" if str(last) else type(last).__name__


def _provider_message(exc: BaseException) -> str:
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


def _retry_after(exc: BaseException) -> float | None:
    headers: Any = getattr(getattr(exc, "response", None), "headers", None) or getattr(
        exc, "litellm_response_headers", None)
    if not headers:
        return None
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


def _redact(text: str) -> str:
    """One line, at most 300 characters, with no API key in it."""
    flat = " ".join(text.split())
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_ENV.search(name) and value in flat:
            flat = flat.replace(value, "***")
    flat = _KEY_SHAPED.sub("***", flat)
    return flat[:300]

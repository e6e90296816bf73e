"""The async call layer of evals: one request in, one ``CallResult`` record out.

``await call(request)`` never raises for a provider or network failure: the failure is recorded in
the result (``error``, ``error_kind``, ``status``, ``retry_after``), one line, with no API key in
it (evals/call_errors.py words it). It does not retry; the runner does (``retry_after`` says when).
Three paths, chosen by ``route(request)``:

``echo``     ``promptver/echo``: the built-in offline model (providers/echo.py), in-process.
``openai``   ``openai/...`` requests that litellm would send unchanged: POSTed by aiohttp directly
             to ``{api_base}/chat/completions``, exactly as the openai client would send them, over
             one shared session per (event loop, api_base) (evals/calls_openai.py). Requests
             litellm would rewrite go to litellm: reasoning models (``o1``..., ``gpt-5``..., where
             litellm renames ``max_tokens``), params outside ``FAST_PARAMS``, a ``response_format``
             that is not a dict.
``litellm``  everything else, through ``litellm.acompletion`` (imported on first use, with
             ``LITELLM_LOCAL_MODEL_COST_MAP=True``; ``num_retries=0``, ``max_retries=0``).

The openai and litellm paths give identical records for the same answer (the latency aside):
``output`` is the message content, or the JSON of its tool calls; tokens come from ``usage``; the
cost is litellm's (on the fast path computed from litellm's own bundled price table by
providers/prices.py, because importing litellm takes seconds); both are rounded to 1e-12 USD.
An answer without ``usage`` (or with zero tokens both ways, which is what litellm makes of a missing
one) has None tokens and cost on both: unknown, not free. Known difference, at the edge: a 200 whose
body is not a chat completion is ``unavailable`` on both, but litellm words it as an HTTP 500.
Importing this module imports neither aiohttp, openai nor litellm: a fully cached run loads none of
them; the fast path loads aiohttp only.

API keys come from the environment (``OPENAI_API_KEY``, ...), and go only where they are bound
(providers/endpoints.py: the provider's own endpoint, or a declared one); ``params`` holding a credential are
refused (``SecretRefused``), as is anything else that is a bug rather than a failed call.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptver.core.params import refuse_secrets
from promptver.errors import ModelRequestError, ModelUnavailable
from promptver.evals import call_errors
from promptver.providers import echo, prices


@dataclass(frozen=True)
class CallRequest:
    model: str  # litellm model id, e.g. "openai/gpt-4o-2024-08-06", "promptver/echo"
    messages: list[dict[str, Any]]
    params: dict[str, Any]  # temperature, max_tokens, seed, api_base, ... (never an api key)
    tools: list[Any] | None = None
    response_format: Any = None
    timeout: float = 60.0
    endpoint: Any = None  # the effective endpoint (providers/endpoints.Endpoint), resolved once by the plan
    vetted: bool = False  # the plan has already refused secrets in these params (once per cell, not per call)

    def where(self) -> Any:
        """The effective endpoint: the plan's, else resolved here from the environment and the
        declared endpoints (credentials are bound to it, providers/endpoints.py)."""
        if self.endpoint is not None:
            return self.endpoint
        from promptver.providers.endpoints import effective_endpoint

        return effective_endpoint(self.model, self.params)

    @property
    def base_url(self) -> str | None:
        where = self.where()
        return None if where.url is None or where.source == "builtin" else where.url


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
    error_kind: str | None = None  # one of ERROR_KINDS
    status: int | None = None  # the HTTP status of a failed call
    retry_after: float | None = None  # seconds, from a Retry-After (or retry-after-ms) header


ERROR_KINDS = ("rate_limited", "timeout", "unavailable", "connection", "request", "auth")
PATHS = ("echo", "openai", "litellm")
# params the fast path sends as they are (litellm passes these through unchanged for openai/ models)
FAST_PARAMS = frozenset({"temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
                         "presence_penalty", "frequency_penalty", "logit_bias", "seed", "tool_choice",
                         "logprobs", "top_logprobs", "parallel_tool_calls"})
# params that are options of the call, never sent to the provider
OPTIONS = frozenset({"api_base", "endpoint", "metadata", "timeout", "num_retries", "max_retries"})
_REWRITTEN = re.compile(r"^o\d|gpt-5|gpt-6")  # litellm rewrites their params: they go through it
_FAST = "promptver.evals.calls_openai"


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
    if not request.vetted:
        refuse_secrets(request.params, "params", library=False)  # the stored ones were checked in full
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
                data, cost, name = await sys.modules[_FAST].complete(request)
                return _record(data, started, cost, name)
            return await _litellm(request, started)
    except Exception as exc:  # noqa: BLE001  (describe re-raises what is not a failed call)
        error, kind, status, retry_after = call_errors.describe(exc, request.model, request.timeout)
        return CallResult(None, _ms(started), None, None, None, None, None, error=error, error_kind=kind,
                          status=status, retry_after=retry_after)


async def aclose() -> None:
    """Close the fast path's shared sessions of the running event loop (``asyncio.run`` also closes
    them when it shuts the loop down)."""
    fast = sys.modules.get(_FAST)
    if fast is not None:
        await fast.aclose()


def price_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token from litellm's cost map; ``promptver/echo``: (0, 0); None if unknown."""
    return prices.price_per_token(model)


# -- the three paths -----------------------------------------------------------------------------
def _load(path: str) -> None:
    if path == "openai" and _FAST not in sys.modules:
        import promptver.evals.calls_openai  # noqa: F401  (aiohttp)

        prices.cost_map()  # litellm's price table (about 50 ms to read): not the first call's latency
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


async def _litellm(request: CallRequest, started: float) -> CallResult:
    from promptver.runtime.calls import litellm_module

    litellm = litellm_module()
    kwargs: dict[str, Any] = {k: v for k, v in request.params.items() if k not in OPTIONS and v is not None}
    where = request.where()
    if where.url is not None and where.source not in ("default", "builtin"):
        kwargs["api_base"] = where.url  # the endpoint the plan resolved (and recorded) is the one called
    if where.credential != "provider":  # a declared or a stored URL: its own key, or none (never the provider's)
        kwargs["api_key"] = where.api_key()
    else:
        where.require_key(request.model)  # the same "auth" error as the fast path, before any call
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
    prompt_tokens, completion_tokens = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    if not prompt_tokens and not completion_tokens:  # no usage (litellm makes it all zeros): unknown, not free
        prompt_tokens = completion_tokens = cost = None
    return CallResult(
        output=_output(message), latency_ms=_ms(started), prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
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

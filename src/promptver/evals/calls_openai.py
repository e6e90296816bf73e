"""The fast path of evals/calls.py: an ``openai/...`` chat completion POSTed with aiohttp.

No openai and no litellm import (together about 4 s of imports and 1.5 ms of CPU per call here):
the request is what the openai client would send for ``chat.completions.create``, sent directly.

- URL: ``{api_base}/chat/completions``, where ``api_base`` is the request's effective endpoint
  (providers/endpoints.py: the call's param, else ``OPENAI_BASE_URL``, else ``OPENAI_API_BASE``, else
  ``https://api.openai.com/v1``, litellm's order), resolved once by the plan.
- Headers: ``Authorization: Bearer $OPENAI_API_KEY`` (the key litellm would use for ``openai/``;
  no key: an ``auth`` failure before any request) when the endpoint is OpenAI's own or named by the
  environment; a declared endpoint's own key; no ``Authorization`` at all to a URL that only a stored
  version names (providers/endpoints.py), ``Content-Type`` and ``Accept: application/json``, ``User-Agent: promptver/VERSION``.
- Body: the model name (without ``openai/``), the messages, the params that are not call options and
  not None, ``tools`` and ``response_format`` when given; serialised as the openai client does
  (``json.dumps(..., ensure_ascii=False, separators=(",", ":"), allow_nan=False)``, UTF-8).
- Transport: one ``aiohttp.ClientSession`` per (event loop, api_base), with a ``TCPConnector`` of
  ``POOL_SIZE`` connections kept alive; no per-request timeout of its own (``call`` wraps the whole
  call in ``asyncio.timeout(request.timeout)``); proxies from the environment (``HTTPS_PROXY``,
  ``NO_PROXY``, ...) as httpx would use them, read once per session; TLS verified against
  ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` if set, else certifi's bundle (as httpx), else the system's.
  A loop's sessions are closed by ``aclose()``, or when ``asyncio.run`` shuts the loop down.
- Answer: a 2xx JSON body is returned as a plain dict (calls.py turns it into the record); any other
  status raises ``HTTPFailure`` with its Retry-After headers and the provider's message; aiohttp's
  connection errors become ``ModelUnavailable`` chained to them (call_errors.py words them).
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from promptver import __version__
from promptver.errors import ModelAuthError, ModelRequestError, ModelUnavailable
from promptver.evals.call_errors import HTTPFailure, message_of_body
from promptver.evals.calls import OPTIONS  # (calls.py imports this module only on first use)
from promptver.providers import prices

if TYPE_CHECKING:
    from promptver.evals.calls import CallRequest

POOL_SIZE = 512  # connections per session: well above any -j a run uses (the runner bounds the calls)
KEY_ENV = "OPENAI_API_KEY"
BASE_ENVS = ("OPENAI_BASE_URL", "OPENAI_API_BASE")
DEFAULT_BASE = "https://api.openai.com/v1"
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_ACCEPT = "application/json"
_USER_AGENT = "promptver/" + __version__


@dataclass(frozen=True)
class Endpoint:
    """One api_base's session, its chat completions URL and the proxy the environment names for it."""

    session: aiohttp.ClientSession
    url: URL
    proxy: URL | None
    proxy_auth: aiohttp.BasicAuth | None


def body_of(request: CallRequest) -> dict[str, Any]:
    """The JSON body the openai client would send for this request."""
    body: dict[str, Any] = {"model": request.model.split("/", 1)[1], "messages": request.messages}
    body.update((k, v) for k, v in request.params.items() if k not in OPTIONS and v is not None)
    if request.tools is not None:
        body["tools"] = request.tools
    if request.response_format is not None:
        body["response_format"] = request.response_format
    return body


def encode(body: dict[str, Any]) -> bytes:
    return _ENCODER.encode(body).encode("utf-8")


def api_base_of(request: CallRequest) -> str:
    """The request's effective endpoint (the plan resolves it once per model version; else here)."""
    return request.base_url or DEFAULT_BASE


def key_of(request: CallRequest) -> str | None:
    """The key this call carries: ``OPENAI_API_KEY`` to OpenAI's own endpoint (or one the environment
    names), a declared endpoint's own key, or none to a URL only stored data names."""
    where = request.where()
    if where.credential == "provider":
        key = os.environ.get(KEY_ENV)
        if not key:
            raise ModelAuthError(f"no API key for {request.model}: set {KEY_ENV}")
        return key
    if where.credential == "none":
        return None
    return where.api_key()


async def complete(request: CallRequest) -> tuple[Any, float | None, str]:
    """POST the request; (the answer's JSON, its cost in USD, the model name asked for)."""
    name = request.model.split("/", 1)[1]
    key = key_of(request)
    api_base = api_base_of(request)
    data = encode(body_of(request))
    endpoint = await shared_endpoint(api_base)
    headers = {"Content-Type": _ACCEPT, "Accept": _ACCEPT, "User-Agent": _USER_AGENT}
    if key is not None:
        headers["Authorization"] = "Bearer " + key
    try:
        async with endpoint.session.post(endpoint.url, data=data, headers=headers, proxy=endpoint.proxy,
                                         proxy_auth=endpoint.proxy_auth) as response:
            raw = await response.read()
            status, answer_headers = response.status, response.headers
    except aiohttp.ClientError as exc:  # connection refused/reset, DNS, a truncated answer, a bad URL (as litellm)
        raise ModelUnavailable(f"connection failed: {type(exc).__name__}: {exc}") from exc
    if not 200 <= status < 300:
        raise HTTPFailure(status, answer_headers, message_of_body(status, raw))
    try:
        answer = json.loads(raw)
    except ValueError as exc:  # (UnicodeDecodeError is a ValueError)
        raise ModelUnavailable(f"{_safe(api_base)} answered {status} with a body that is not JSON") from exc
    usage = answered = None
    if isinstance(answer, dict):
        usage, answered = answer.get("usage"), answer.get("model")
    answered = answered if isinstance(answered, str) and answered else None
    return answer, prices.cost_usd(request.model, usage, answered or name), name


def _safe(api_base: str) -> str:
    """The api_base without any user:password in it."""
    try:
        return str(URL(api_base).with_user(None))
    except (ValueError, TypeError):
        return "the api_base"


# -- shared sessions -----------------------------------------------------------------------------
class _Sessions:
    """The endpoints of one event loop, by api_base."""

    def __init__(self) -> None:
        self.by_base: dict[str, Endpoint] = {}
        self.closer: AsyncIterator[None] | None = None

    async def close(self) -> None:
        endpoints, self.by_base = list(self.by_base.values()), {}
        for endpoint in endpoints:
            await endpoint.session.close()


_LOOP_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sessions] = weakref.WeakKeyDictionary()


async def _closing(sessions: _Sessions) -> AsyncIterator[None]:
    # an async generator left suspended: asyncio.run's loop.shutdown_asyncgens() finalises it,
    # which closes this loop's sessions before the loop closes (no "Unclosed client session")
    try:
        yield
    finally:
        await sessions.close()


async def shared_endpoint(api_base: str) -> Endpoint:
    """The running loop's endpoint for ``api_base`` (made on first use)."""
    loop = asyncio.get_running_loop()
    sessions = _LOOP_SESSIONS.get(loop)
    if sessions is None:
        sessions = _LOOP_SESSIONS[loop] = _Sessions()
        sessions.closer = _closing(sessions)
        await sessions.closer.__anext__()
    base = api_base.rstrip("/")
    endpoint = sessions.by_base.get(base)
    if endpoint is None:
        endpoint = sessions.by_base[base] = _new_endpoint(base)
    return endpoint


async def aclose() -> None:
    """Close the running loop's sessions."""
    sessions = _LOOP_SESSIONS.pop(asyncio.get_running_loop(), None)
    if sessions is not None and sessions.closer is not None:
        await sessions.closer.aclose()  # type: ignore[attr-defined]  # its finally closes the sessions


def _new_endpoint(base: str) -> Endpoint:
    try:
        url = URL(base + "/chat/completions")
    except (ValueError, TypeError) as exc:
        raise ModelRequestError(f"api_base {_safe(base)} is not a valid URL") from exc
    if url.user or url.password:
        raise ModelRequestError(f"api_base {_safe(base)} holds credentials: the key comes from {KEY_ENV}")
    try:
        proxy, proxy_auth = aiohttp.helpers.get_env_proxy_for_url(url)
    except (LookupError, ValueError):
        proxy, proxy_auth = None, None
    connector = aiohttp.TCPConnector(limit=POOL_SIZE, limit_per_host=0, ttl_dns_cache=300,
                                     ssl=_ssl_context() if url.scheme == "https" else True)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                                    trust_env=False)
    return Endpoint(session, url, proxy, proxy_auth)


def _ssl_context() -> Any:
    import ssl

    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if not (cafile or capath):
        try:
            import certifi
        except ImportError:
            return True  # aiohttp's own default: the system's certificates
        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile or None, capath=capath or None)

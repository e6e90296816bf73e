"""Model calls through litellm, and the one place litellm's exceptions become promptver errors.

litellm is imported here only, inside the call: ``import promptver`` and ``Client.get`` never pay
for it. Before the import, ``LITELLM_LOCAL_MODEL_COST_MAP`` defaults to ``True``, otherwise litellm
fetches its price map from the internet while importing.

Mapping: the exception's class hierarchy is walked from the most specific class; the first class
of litellm (or of the openai / httpx libraries it wraps) named in ``MAPPING`` decides the
promptver error, except that for litellm's generic classes (``APIError``, ...) the HTTP status they
carry decides when there is one (litellm raises ``APIError`` for a provider's 403, for instance). A test checks that every exception class of ``litellm.exceptions`` is named.
Anything else (a bug, a ``KeyboardInterrupt``, a promptver error) propagates unchanged.

The built-in offline model ``promptver/echo`` (providers/echo.py) is answered here directly, without
importing litellm; with ``stream=True`` it goes through litellm, where ``litellm_module()`` has
registered it as a custom provider.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from promptver.errors import (
    InvalidValue,
    ModelAuthError,
    ModelCallError,
    ModelRateLimited,
    ModelRequestError,
    ModelTimeout,
    ModelUnavailable,
)
from promptver.providers import echo

ALWAYS_PINNED = ("model", "messages", "tools", "response_format")
WHERE_IT_RUNS = ("api_base", "api_key")  # an app's own choice: a model version says what the model is, not where
_LIBRARIES = ("litellm", "openai", "httpx")
_MISSING_KEY = "Missing credentials. Please pass an `api_key`"
_GENERIC = {"APIError", "APIStatusError", "OpenAIError", "HTTPError", "MockException"}

MAPPING: dict[str, type[ModelCallError]] = {
    # credentials and permissions
    "AuthenticationError": ModelAuthError,
    "CallerCredentialAuthenticationError": ModelAuthError,
    "PermissionDeniedError": ModelAuthError,
    # the request itself: parameters, model id, context window, content policy, guardrails
    "BadRequestError": ModelRequestError,
    "InvalidRequestError": ModelRequestError,
    "ContextWindowExceededError": ModelRequestError,
    "ContentPolicyViolationError": ModelRequestError,
    "RejectedRequestError": ModelRequestError,
    "UnsupportedParamsError": ModelRequestError,
    "UnsupportedEndpointError": ModelRequestError,
    "EndpointNotSupportedByModelError": ModelRequestError,
    "MalformedRequestFieldError": ModelRequestError,
    "ImageFetchError": ModelRequestError,
    "LiteLLMUnknownProvider": ModelRequestError,
    "ModelNotMappedError": ModelRequestError,
    "NotFoundError": ModelRequestError,
    "UnprocessableEntityError": ModelRequestError,
    "VectorStoreSearchError": ModelRequestError,
    "BlockedPiiEntityError": ModelRequestError,
    "GuardrailRaisedException": ModelRequestError,
    "SensitiveDataRouteException": ModelRequestError,
    "ModifyResponseException": ModelRequestError,
    # limits
    "RateLimitError": ModelRateLimited,
    "CallerCredentialRateLimitError": ModelRateLimited,
    "BudgetExceededError": ModelRateLimited,
    "PaymentRequiredError": ModelRateLimited,
    # time
    "Timeout": ModelTimeout,
    "APITimeoutError": ModelTimeout,
    "TimeoutException": ModelTimeout,
    # the provider is down, unreachable or failed
    "APIConnectionError": ModelUnavailable,
    "ServiceUnavailableError": ModelUnavailable,
    "InternalServerError": ModelUnavailable,
    "BadGatewayError": ModelUnavailable,
    "MidStreamFallbackError": ModelUnavailable,
    "TransportError": ModelUnavailable,
    "APIError": ModelUnavailable,
    # anything else litellm raises: its output failed validation, a mock, the bases
    "APIResponseValidationError": ModelCallError,
    "JSONSchemaValidationError": ModelCallError,
    "MockException": ModelCallError,
    "APIStatusError": ModelCallError,
    "OpenAIError": ModelCallError,
    "HTTPError": ModelCallError,
}


def litellm_module() -> Any:
    """litellm, imported on first use (never fetching its price map from the internet), with
    ``promptver/echo`` registered as a custom provider."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    from promptver.providers import echo_litellm

    echo_litellm.register()
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on stderr with every error
    return litellm


def _by_status(status: Any) -> type[ModelCallError] | None:
    """For litellm's generic errors (``APIError`` carries a provider's 403 too): the HTTP status decides."""
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    if status in (401, 403):
        return ModelAuthError
    if status == 408:
        return ModelTimeout
    if status in (402, 429):
        return ModelRateLimited
    if 400 <= status < 500:
        return ModelRequestError
    return ModelUnavailable if status >= 500 else None


def translate(exc: BaseException, where: str) -> ModelCallError | None:
    """The promptver error for a litellm (openai, httpx) exception, or None if it is none of theirs."""
    for cls in type(exc).__mro__:
        if cls.__module__.split(".")[0] in _LIBRARIES and cls.__name__ in MAPPING:
            mapped = MAPPING[cls.__name__]
            if cls.__name__ in _GENERIC:
                mapped = _by_status(getattr(exc, "status_code", None)) or mapped
            try:
                text = " ".join(str(exc).split())[:500] or type(exc).__name__
            except Exception:  # a half-built exception: its class still says what happened
                text = type(exc).__name__
            if _MISSING_KEY in text:  # litellm wraps the openai client's missing key as a server error
                mapped = ModelAuthError
            return mapped(f"model call failed for {where}: {type(exc).__name__}: {text}")
    return None


def _offline(kwargs: dict[str, Any], where: str) -> Any:
    """``promptver/echo``'s answer, shaped like litellm's response (no litellm import)."""
    try:
        return echo.completion_from_kwargs(kwargs)
    except ModelRequestError as exc:
        raise ModelRequestError(f"model call failed for {where}: {exc}") from exc


def _is_offline(kwargs: dict[str, Any]) -> bool:
    return echo.is_echo(kwargs.get("model", "")) and not kwargs.get("stream")


def complete(kwargs: dict[str, Any], where: str) -> Any:
    """``litellm.completion(**kwargs)`` with its exceptions translated (``promptver/echo``: offline)."""
    if _is_offline(kwargs):
        return _offline(kwargs, where)
    completion = litellm_module().completion
    try:
        return completion(**kwargs)
    except Exception as exc:
        mapped = translate(exc, where)
        if mapped is None:
            raise
        raise mapped from exc


async def acomplete(kwargs: dict[str, Any], where: str) -> Any:
    """``await litellm.acompletion(**kwargs)`` with its exceptions translated (``promptver/echo``: offline)."""
    if _is_offline(kwargs):
        return _offline(kwargs, where)
    acompletion = litellm_module().acompletion
    try:
        return await acompletion(**kwargs)
    except Exception as exc:
        mapped = translate(exc, where)
        if mapped is None:
            raise
        raise mapped from exc


def with_options(call: dict[str, Any], options: Mapping[str, Any] | None, pairing_id: str) -> dict[str, Any]:
    """``call`` plus the caller's litellm options. Options may add keys (timeout, stream, ...) and
    metadata, and set where the call goes (``api_base``, ``api_key``: the app's own choice), but
    never replace what the pairing pins: the model id, the messages, tools, response_format and the
    model version's params."""
    if not options:
        return call
    if not isinstance(options, Mapping):
        raise InvalidValue("litellm_kwargs must be a mapping of litellm keyword arguments")
    merged = dict(call)
    for key, value in options.items():
        if key == "metadata":
            if not isinstance(value, Mapping):
                raise InvalidValue("litellm_kwargs['metadata'] must be a mapping")
            merged["metadata"] = {**value, **call["metadata"]}
        elif key in WHERE_IT_RUNS:  # the app decides where it runs (and then which key goes there)
            merged[key] = value
        elif key in ALWAYS_PINNED or key in call:
            raise InvalidValue(f"litellm_kwargs[{key!r}] would replace what pairing {pairing_id} pins; "
                               "push a new model or prompt version (and pair it) to change it")
        else:
            merged[key] = value
    return merged

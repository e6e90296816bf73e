"""``promptver/echo`` as a litellm custom provider, so that ``litellm.completion(model="promptver/echo",
...)`` and ``acompletion`` (streaming too: one chunk) answer offline.

This module imports litellm: import it only where litellm is wanted anyway (``runtime/calls.py``
does, right after importing litellm). ``register()`` adds the provider ``promptver`` to
``litellm.custom_provider_map`` and a zero price for ``promptver/echo`` to litellm's cost map; it is
idempotent.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

import litellm
from litellm.llms.custom_llm import CustomLLM, CustomLLMError

from promptver.errors import ModelRequestError
from promptver.providers import echo

_PRICE = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "cache_read_input_token_cost": 0.0,
          "cache_creation_input_token_cost": 0.0, "litellm_provider": echo.PROVIDER, "mode": "chat"}


class EchoLLM(CustomLLM):
    """litellm's handler for the models ``promptver/...``: only ``promptver/echo`` exists."""

    def completion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,  # type: ignore[override]
                   model_response: Any, print_verbose: Any, encoding: Any, api_key: Any, logging_obj: Any,
                   optional_params: dict, *args: Any, **kwargs: Any) -> Any:
        answer = _answer(model, messages, optional_params)
        model_response.choices[0].message.content = answer.content
        model_response.choices[0].finish_reason = answer.finish_reason
        model_response.model = echo.MODEL
        model_response.system_fingerprint = echo.FINGERPRINT
        model_response.usage = litellm.Usage(prompt_tokens=answer.prompt_tokens,
                                             completion_tokens=answer.completion_tokens,
                                             total_tokens=answer.prompt_tokens + answer.completion_tokens)
        return model_response

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.completion(*args, **kwargs)

    def streaming(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,  # type: ignore[override]
                  model_response: Any, print_verbose: Any, encoding: Any, api_key: Any, logging_obj: Any,
                  optional_params: dict, *args: Any, **kwargs: Any) -> Iterator[Any]:
        yield _chunk(_answer(model, messages, optional_params))

    async def astreaming(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,  # type: ignore[override]
                         model_response: Any, print_verbose: Any, encoding: Any, api_key: Any, logging_obj: Any,
                         optional_params: dict, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        yield _chunk(_answer(model, messages, optional_params))


def _answer(model: str, messages: list, optional_params: dict) -> echo.EchoReply:
    if f"{echo.PROVIDER}/{model}" != echo.MODEL:
        raise CustomLLMError(status_code=400, message=f"unknown built-in model {echo.PROVIDER}/{model}: "
                                                      f"the only one is {echo.MODEL}")
    params = dict(optional_params)
    response_format = params.pop("response_format", None)
    try:
        return echo.reply(messages, params, response_format)
    except ModelRequestError as exc:
        raise CustomLLMError(status_code=400, message=str(exc)) from exc


def _chunk(answer: echo.EchoReply) -> dict[str, Any]:
    return {"text": answer.content, "is_finished": True, "finish_reason": answer.finish_reason, "index": 0,
            "tool_use": None, "usage": {"prompt_tokens": answer.prompt_tokens,
                                        "completion_tokens": answer.completion_tokens,
                                        "total_tokens": answer.prompt_tokens + answer.completion_tokens}}


_HANDLER = EchoLLM()


def register() -> None:
    """Make litellm answer ``promptver/echo`` (idempotent)."""
    if not any(item.get("provider") == echo.PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map,
                                       {"provider": echo.PROVIDER, "custom_handler": _HANDLER}]
    if echo.MODEL not in litellm.model_cost:
        litellm.register_model({echo.MODEL: dict(_PRICE)})

"""``promptver/echo``: the built-in offline model. Deterministic, no network, no API key.

The worked example and most tests run on it. What it answers (docs/runtime.md has the table):

1. The **text** is the first sentence of the first system message (up to the first ``.``, ``!``
   or ``?`` followed by a space or the end; the whole message if it has none), then the content
   of the last user message. Whitespace is collapsed to single spaces. Changing the prompt's
   system sentence or the user's input changes the answer.
2. ``temperature`` > 0 rotates the words by 1 to n-1 places, chosen by a hash of the seed, the
   temperature and the text: a "sampled" variant, the same every time for the same inputs. A
   ``seed`` changes nothing at temperature 0 (greedy decoding is deterministic).
3. ``stop`` (a string or a list) cuts the text before the first stop sequence.
4. ``max_tokens`` (or ``max_completion_tokens``) keeps that many words; ``finish_reason`` is then
   ``"length"``.
5. ``response_format`` ``json_object`` answers ``{"reply": TEXT}``; ``json_schema`` answers an
   object with the schema's properties: strings get TEXT (an ``enum`` gets the first value that
   occurs in TEXT, else its first value), booleans ``false``, numbers ``0``, arrays ``[]``, nested
   objects recursively.

Tokens are whitespace-separated words: ``prompt_tokens`` over every message's text,
``completion_tokens`` over the answer. Cost is 0. The response names model ``promptver/echo`` and
``system_fingerprint`` ``promptver-echo-1``. Tools and every other parameter are accepted and
ignored; a malformed ``temperature``, ``max_tokens``, ``seed`` or ``stop`` is refused with
``ModelRequestError``, as a provider would answer 400.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptver.errors import ModelRequestError

MODEL = "promptver/echo"
PROVIDER = "promptver"
FINGERPRINT = "promptver-echo-1"

_SENTENCE = re.compile(r"^.*?[.!?](?=\s|$)")
_ROLES_SYSTEM = ("system", "developer")


@dataclass(frozen=True)
class EchoReply:
    """What the echo model answers to one request."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"


def is_echo(model: str) -> bool:
    return model == MODEL


def reply(messages: list[Mapping[str, Any]], params: Mapping[str, Any] | None = None,
          response_format: Any = None) -> EchoReply:
    """The echo model's answer to ``messages`` with ``params`` (see the module docstring)."""
    params = params or {}
    temperature, seed, stop, limit = _checked(params)
    system = next((_text(m.get("content")) for m in messages if m.get("role") in _ROLES_SYSTEM), "")
    user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    words = (first_sentence(system) + " " + user).split()
    if temperature and len(words) > 1:
        digest = hashlib.sha256(json.dumps([seed, temperature, words]).encode()).digest()
        shift = 1 + int.from_bytes(digest[:8], "big") % (len(words) - 1)
        words = words[shift:] + words[:shift]
    text = " ".join(words)
    for sequence in stop:
        if sequence and sequence in text:
            text = text[:text.index(sequence)]
    words = text.split()
    finish = "stop"
    if limit is not None and len(words) > limit:
        words, finish = words[:limit], "length"
    content = _formatted(" ".join(words), response_format)
    prompt_tokens = sum(len(_text(m.get("content")).split()) for m in messages)
    return EchoReply(content, prompt_tokens, len(content.split()), finish)


def first_sentence(text: str) -> str:
    """``text`` with whitespace collapsed, up to its first sentence end (all of it if none)."""
    flat = " ".join(text.split())
    found = _SENTENCE.match(flat)
    return found.group(0) if found else flat


def completion(messages: list[Mapping[str, Any]], params: Mapping[str, Any] | None = None,
               response_format: Any = None) -> EchoResponse:
    """The answer as an OpenAI ``chat.completion`` object (attribute and key access, like
    litellm's ``ModelResponse``: ``r.choices[0].message.content``, ``r["usage"]["prompt_tokens"]``)."""
    answer = reply(messages, params, response_format)
    ident = hashlib.sha256(json.dumps([messages, dict(params or {}), response_format], sort_keys=True,
                                      default=str).encode()).hexdigest()[:24]
    return EchoResponse._wrap({
        "id": f"chatcmpl-echo-{ident}", "object": "chat.completion", "created": int(time.time()),
        "model": MODEL, "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "finish_reason": answer.finish_reason, "logprobs": None,
                     "message": {"role": "assistant", "content": answer.content, "tool_calls": None}}],
        "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                  "total_tokens": answer.prompt_tokens + answer.completion_tokens},
    })


def completion_from_kwargs(kwargs: Mapping[str, Any]) -> EchoResponse:
    """``completion`` for the keyword arguments of ``litellm.completion`` (model, messages,
    response_format, params; call options such as metadata, api_base or timeout are ignored)."""
    params = {k: v for k, v in kwargs.items() if k not in ("model", "messages", "response_format")}
    return completion(list(kwargs.get("messages") or []), params, kwargs.get("response_format"))


class EchoResponse(dict):  # type: ignore[type-arg]
    """A ``chat.completion`` dict whose keys are attributes too."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def model_dump(self) -> dict[str, Any]:
        """A plain-dict copy (as pydantic models and litellm responses offer)."""
        return json.loads(json.dumps(self))

    @classmethod
    def _wrap(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return cls({k: cls._wrap(v) for k, v in value.items()})
        if isinstance(value, list):
            return [cls._wrap(v) for v in value]
        return value


# -- internals ----------------------------------------------------------------------------------
def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: the text ones
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked(params: Mapping[str, Any]) -> tuple[float, Any, list[str], int | None]:
    temperature = params.get("temperature")
    if temperature is not None and not (_number(temperature) and 0 <= temperature <= 2):
        raise ModelRequestError(f"{MODEL}: temperature must be a number from 0 to 2, not {temperature!r}")
    seed = params.get("seed")
    if seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool)):
        raise ModelRequestError(f"{MODEL}: seed must be an integer, not {seed!r}")
    stop = params.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if stop is not None else []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise ModelRequestError(f"{MODEL}: stop must be a string or a list of strings")
    limit = params.get("max_completion_tokens", params.get("max_tokens"))
    if limit is not None and not (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1):
        raise ModelRequestError(f"{MODEL}: max_tokens must be a positive integer, not {limit!r}")
    return float(temperature or 0), seed, stops, limit


def _formatted(text: str, response_format: Any) -> str:
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "json_object":
        return json.dumps({"reply": text}, ensure_ascii=False)
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return json.dumps(_filled(schema if isinstance(schema, Mapping) else {"type": "object"}, text, 0),
                          ensure_ascii=False)
    return text


def _filled(schema: Mapping[str, Any], text: str, depth: int) -> Any:
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        lowered = text.lower()
        return next((v for v in enum if isinstance(v, str) and v.lower() in lowered), enum[0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    properties = schema.get("properties")
    if kind == "object" or (kind is None and isinstance(properties, Mapping)):
        if depth >= 8 or not isinstance(properties, Mapping):
            return {}
        return {name: _filled(sub if isinstance(sub, Mapping) else {}, text, depth + 1)
                for name, sub in properties.items()}
    return {"array": [], "boolean": False, "integer": 0, "number": 0, "null": None}.get(str(kind), text)

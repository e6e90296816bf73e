"""Identity of stored records: canonical JSON and the content hash.

The contract (documented in docs/content-hash.md, tested in tests/test_identity.py):

* A record's *behavioural content* is a JSON object with a ``"kind"`` member naming the record
  type and its format version (``"promptver.prompt/1"``, ``"promptver.model/1"``).
* Canonical JSON: object keys sorted, no insignificant white space (``","`` and ``":"``),
  UTF-8, non-ASCII characters written as themselves; floats that hold an integral value are
  written as integers (``1.0`` -> ``1``), so ``temperature: 1`` and ``temperature: 1.0`` hash
  alike; NaN and infinities are refused; tuples are lists.
* ``content_hash`` is the lowercase hex sha256 of those bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from promptver.errors import InvalidValue

PROMPT_KIND = "promptver.prompt/1"
MODEL_KIND = "promptver.model/1"


MAX_NODES = 100_000  # YAML aliases can make a small file expand enormously: refuse past this


class _Counter:
    def __init__(self) -> None:
        self.left = MAX_NODES

    def take(self, path: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise InvalidValue(f"{path}: the value is too large (more than {MAX_NODES} JSON values)")


def _normalise(value: Any, path: str = "$", counter: _Counter | None = None) -> Any:
    counter = counter or _Counter()
    counter.take(path)
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(f"{path}: {value!r} is not a finite number")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(f"{path}: keys must be strings, not {key!r}")
            out[key] = _normalise(item, f"{path}.{key}", counter)
        return out
    if isinstance(value, (list, tuple)):
        return [_normalise(item, f"{path}[{i}]", counter) for i, item in enumerate(value)]
    raise InvalidValue(f"{path}: {type(value).__name__} values cannot be stored (use JSON types)")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (see module docstring)."""
    return json.dumps(
        _normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def content_hash(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def prompt_identity(
    messages: list[dict[str, Any]],
    variables: dict[str, Any],
    tools: list[Any] | None,
    response_format: Any,
) -> dict[str, Any]:
    """The behavioural content of a prompt version: what is hashed."""
    return {
        "kind": PROMPT_KIND,
        "messages": messages,
        "variables": variables,
        "tools": tools,
        "response_format": response_format,
    }


def model_identity(model: str, params: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
    """The behavioural content of a model version: what is hashed."""
    return {"kind": MODEL_KIND, "model": model, "params": params, "lineage": lineage}


def pairing_id(prompt_version_hash: str, model_version_hash: str, prompt_name: str, prompt_version: int,
               model_name: str, model_version: int) -> str:
    """A pairing's id: sha256 over the two versions it links, first 12 hex characters.

    The id is deterministic, so pairing the same two versions twice yields the same id.
    """
    ident = canonical_json(
        {
            "kind": "promptver.pairing/1",
            "prompt": [prompt_name, prompt_version, prompt_version_hash],
            "model": [model_name, model_version, model_version_hash],
        }
    )
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()[:12]

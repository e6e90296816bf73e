"""Rules for model versions: no secrets in parameters or lineage, and floating model ids.

Secrets: a key whose name looks like a credential (``api_key``, ``token``, ``password``,
``Authorization``, ...) anywhere in params or lineage, or a value shaped like a known API key,
is refused: keys come from the environment at call time and are never stored.

Floating ids: a provider alias (``openai/gpt-4o``) can be repointed by the provider to a new
snapshot; a dated snapshot (``openai/gpt-4o-2024-08-06``, ``claude-3-5-sonnet-20241022``,
``gpt-4-0613``), a fine-tune (``ft:...``), an id with a pinned revision (``...@sha``) or a model
with recorded weights is pinned. Floating ids are accepted with a warning.
"""

from __future__ import annotations

import re
from typing import Any

from promptver.errors import SecretRefused

_SECRET_KEY = re.compile(
    r"(^|_|-)(api_?key|apikey|secret|password|passwd|token|auth|authorization|credentials?|"
    r"access_?key|private_?key|session_?token|bearer)($|_|-)",
    re.IGNORECASE,
)
_ALLOWED_KEYS = {"max_tokens", "max_completion_tokens", "max_new_tokens", "top_logprobs", "tokens",
                 "max_output_tokens", "stop_token", "stop_tokens", "token_limit", "tokenizer",
                 "tokenizer_ref", "tokenizer_hash", "max_input_tokens"}
_SECRET_VALUE = re.compile(
    r"\b(sk-[A-Za-z0-9_-]{16,}|sk-ant-[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{30,}|"
    r"xox[baprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,}|hf_[A-Za-z0-9]{30,}|"
    r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.|Bearer\s+\S{12,})"
)


def refuse_secrets(value: Any, where: str) -> None:
    """Raise SecretRefused if ``value`` holds anything that looks like a credential."""
    _walk(value, where)


def _walk(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            key_s = str(key)
            if key_s.lower() not in _ALLOWED_KEYS and _SECRET_KEY.search(key_s):
                raise SecretRefused(
                    f"{path}.{key_s}: secrets are never stored in the registry; API keys and "
                    "credentials come from the environment (e.g. OPENAI_API_KEY) at call time"
                )
            _walk(item, f"{path}.{key_s}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]")
    elif isinstance(value, str) and _SECRET_VALUE.search(value):
        raise SecretRefused(
            f"{path}: this value looks like an API key or token; secrets are never stored in the "
            "registry, they come from the environment at call time"
        )


_DATED = re.compile(r"(19|20)\d{2}-?\d{2}-?\d{2}|-\d{4}$|-\d{4}[-@:]|@[0-9a-f]{7,}|:[0-9a-f]{7,}$")
_FLOATING_WORDS = re.compile(r"(latest|preview|-exp\b|chatgpt-4o|-beta\b)", re.IGNORECASE)


def floating_model_warning(model: str, lineage: dict[str, Any] | None = None) -> str | None:
    """A warning text if ``model`` is an alias that can change underneath, else None."""
    name = model.rsplit("/", 1)[-1]
    if model.startswith("promptver/") or name.startswith("ft:") or ":ft-" in name:
        return None
    if lineage and (lineage.get("weights_sha256") or lineage.get("weights_hash")):
        return None
    if _DATED.search(name) and not _FLOATING_WORDS.search(name):
        return None
    return (
        f"model id {model!r} looks like a floating alias: the provider can point it at a new "
        "snapshot at any time, changing behaviour under this version. Prefer a dated snapshot "
        "(e.g. openai/gpt-4o-2024-08-06)."
    )

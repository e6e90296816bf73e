"""Rules for model versions: no secrets in parameters or lineage, and floating model ids.

Secrets: ``refuse_secrets`` (from ``core/secrets.py``, kept importable here) refuses a
credential-named key anywhere in params or lineage (``api_key``, ``X-Api-Key``, ``authToken``,
``password``, ...), a value shaped like a known key or token, and a URL carrying a password or a
credential query parameter: keys come from the environment at call time and are never stored.

Floating ids: a provider alias (``openai/gpt-4o``) can be repointed by the provider to a new
snapshot; a dated snapshot (``openai/gpt-4o-2024-08-06``, ``claude-3-5-sonnet-20241022``,
``gpt-4-0613``), a fine-tune (``ft:...``), an id with a pinned revision (``...@sha``) or a model
with recorded weights is pinned. Floating ids are accepted with a warning.
"""

from __future__ import annotations

import re
from typing import Any

from promptver.core.secrets import refuse_secrets

__all__ = ["floating_model_warning", "refuse_secrets"]

_DATED = re.compile(r"(19|20)\d{2}-?\d{2}-?\d{2}|-\d{4}$|-\d{4}[-@:]|@[0-9a-f]{7,}|:[0-9a-f]{7,}$")
_FLOATING_WORDS = re.compile(r"(latest|preview|-exp\b|chatgpt-4o|-beta\b)", re.IGNORECASE)


# providers that serve weights someone runs themselves: a dated provider snapshot does not apply
_SELF_SERVED = ("ollama/", "ollama_chat/", "hosted_vllm/", "vllm/", "lm_studio/", "llamafile/", "openai_like/",
                "huggingface/", "xinference/", "triton/")


def floating_model_warning(model: str, lineage: dict[str, Any] | None = None,
                           params: dict[str, Any] | None = None) -> str | None:
    """A warning text if ``model`` is an alias that can change underneath, else None."""
    name = model.rsplit("/", 1)[-1]
    if model.startswith("promptver/") or name.startswith("ft:") or ":ft-" in name:
        return None
    if lineage and (lineage.get("weights_sha256") or lineage.get("weights_hash")):
        return None
    if _DATED.search(name) and not _FLOATING_WORDS.search(name):
        return None
    if model.startswith(_SELF_SERVED) or (params and (params.get("api_base") or params.get("endpoint"))):
        return (f"model id {model!r} does not pin weights: the server it runs on can load other weights under "
                "the same name, changing behaviour under this version. Record the weights it serves "
                "(--lineage weights_sha256=<sha256 of the weights file>) to pin it.")
    return (
        f"model id {model!r} looks like a floating alias: the provider can point it at a new "
        "snapshot at any time, changing behaviour under this version. Prefer a dated snapshot "
        "(e.g. openai/gpt-4o-2024-08-06), or record the weights (--lineage weights_sha256=...) "
        "if you serve the model yourself."
    )

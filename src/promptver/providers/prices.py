"""Per-token prices, from litellm's cost map, without importing litellm.

Importing litellm costs seconds, and an eval run's fast path (OpenAI-compatible endpoints over
aiohttp, evals/calls_openai.py) must not pay that just to price its answers. The prices are the ones litellm
itself uses with ``LITELLM_LOCAL_MODEL_COST_MAP=True``: the JSON file bundled in the installed
litellm package, read once (about 40 ms). If litellm is already imported, its live ``model_cost``
is used instead (it includes models registered at run time).

The model is looked up as litellm does for a response: the model that answered (the response's
``model``) if the map knows it, else the model asked for; each as given and with the request's
provider prefix. The formula covers text tokens: uncached prompt tokens at ``input_cost_per_token``,
cached ones (``prompt_tokens_details.cached_tokens``) at ``cache_read_input_token_cost``, completion
tokens at ``output_cost_per_token``, and the ``..._above_Nk_tokens`` rates once the prompt exceeds
that size. Audio, image and service-tier prices are not modelled (litellm's own cost has them).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_BUNDLED = "model_prices_and_context_window_backup.json"
_TIER = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")
_lock = threading.Lock()
_loaded: dict[str, Any] | None = None


def cost_map() -> Mapping[str, Any]:
    """litellm's model cost map: its live one if litellm is imported, else its bundled file."""
    litellm = sys.modules.get("litellm")
    live = getattr(litellm, "model_cost", None) if litellm is not None else None
    if isinstance(live, dict) and live:
        return live
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _read_bundled()
        return _loaded


def _read_bundled() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return {}
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _BUNDLED
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
    return {}


def model_info(model: str, response_model: str | None = None) -> dict[str, Any] | None:
    """The cost map's entry for the model that answered (``response_model``), else for ``model``."""
    table = cost_map()
    provider = model.split("/", 1)[0] if "/" in model else None
    for name in (response_model, model):
        if not name:
            continue
        keys = [name]
        if provider and not name.startswith(provider + "/"):
            keys.append(f"{provider}/{name}")
        if provider and name.startswith(provider + "/"):
            keys.append(name[len(provider) + 1:])
        for key in keys:
            info = table.get(key)
            if isinstance(info, dict) and ("input_cost_per_token" in info or "output_cost_per_token" in info):
                return info
    return None


def price_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token for ``model``, or None when the cost map does not know it."""
    if model.startswith("promptver/"):
        return (0.0, 0.0)
    info = model_info(model)
    if info is None:
        return None
    return float(info.get("input_cost_per_token") or 0.0), float(info.get("output_cost_per_token") or 0.0)


def cost_usd(model: str, usage: Mapping[str, Any] | None, response_model: str | None = None) -> float | None:
    """The cost of one call in USD (see the module docstring), or None when the model or the
    token counts are unknown."""
    if model.startswith("promptver/"):
        return 0.0
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    info = model_info(model, response_model)
    if info is None:
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    cached = cached if isinstance(cached, int) and 0 < cached <= prompt else 0
    suffix = _tier(info, prompt)
    input_rate = _rate(info, "input_cost_per_token", suffix)
    output_rate = _rate(info, "output_cost_per_token", suffix)
    cache_rate = info.get(f"cache_read_input_token_cost{suffix}", info.get("cache_read_input_token_cost"))
    cache_rate = input_rate if cache_rate is None else float(cache_rate)
    prompt_cost = float(prompt - cached) * input_rate + float(cached) * cache_rate
    return prompt_cost + float(completion) * output_rate


def _tier(info: Mapping[str, Any], prompt_tokens: int) -> str:
    """The suffix of the highest ``_above_Nk_tokens`` tier the prompt exceeds ("" for none)."""
    best = 0
    for key in info:
        found = _TIER.match(key)
        if found and prompt_tokens > int(found.group(1)) * 1000:
            best = max(best, int(found.group(1)))
    return f"_above_{best}k_tokens" if best else ""


def _rate(info: Mapping[str, Any], key: str, suffix: str) -> float:
    value = info.get(key + suffix, info.get(key))
    return float(value or 0.0)

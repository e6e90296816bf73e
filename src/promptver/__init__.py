"""promptver: version prompts and models independently, release pinned pairs through labels, and
find out which one changed your LLM app's behaviour.

The public API is small and loaded lazily: ``import promptver`` imports neither SQLAlchemy,
litellm, httpx nor Textual; neither does ``promptver.Client().get(...)`` on a local registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Client", "PinnedPair", "PromptverError", "Registry", "__version__", "capture_environment"]

if TYPE_CHECKING:  # pragma: no cover
    from promptver.errors import PromptverError
    from promptver.runtime.client import Client
    from promptver.runtime.pair import PinnedPair
    from promptver.services.environment import capture_environment
    from promptver.services.registry import Registry

_LAZY = {
    "Client": "promptver.runtime.client",
    "PinnedPair": "promptver.runtime.pair",
    "Registry": "promptver.services.registry",
    "PromptverError": "promptver.errors",
    "capture_environment": "promptver.services.environment",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'promptver' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

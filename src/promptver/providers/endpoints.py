"""Where a call goes: the effective endpoint of a model call, after every environment default.

A model version says what the model is (model id, parameters); where it runs can also come from
the environment of the command that calls it: ``OPENAI_BASE_URL`` / ``OPENAI_API_BASE`` for
``openai/...``, ``HOSTED_VLLM_API_BASE`` for ``hosted_vllm/...``, and so on (litellm's settings).
Two calls with the same model version but different endpoints are different calls: the endpoint is
part of the response cache key and is recorded with every run (docs/evals.md).

``effective_endpoint(model, params)`` returns an :class:`Endpoint`:

- ``provider``: the model id's prefix (``openai``, ``hosted_vllm``, ``promptver``, ...);
- ``url``: the base URL calls go to, when promptver can know it: ``params["api_base"]``, else the
  provider's environment variables in litellm's order, else the provider's documented default
  (``https://api.openai.com/v1``, ``http://localhost:11434`` for Ollama); None when litellm picks it
  from settings promptver does not interpret (cloud regions, ...);
- ``source``: where the URL came from (``params.api_base``, ``env:OPENAI_BASE_URL``, ``default``,
  ``builtin``, or ``unknown``);
- ``settings``: every environment variable of that provider that can move its endpoint
  (``*_API_BASE``, ``*_BASE_URL``, ``*_ENDPOINT``, region and API version variables), by name, with
  its value. Never a key: variables named like credentials are not read.

``Endpoint.identity()`` is what goes into the cache key: provider, URL and settings. When the URL is
unknown the settings still separate two environments that differ.

Credentials are bound to endpoints (docs/security.md), never sent because stored data names a URL.
``Endpoint.credential`` says which key a call may carry:

- ``provider``: the provider's own key from the environment, as litellm reads it (``OPENAI_API_KEY``
  for ``openai/...``), because the URL is the provider's own: its default, or one the person running
  the command set in the environment (``OPENAI_BASE_URL``);
- ``env:NAME``: the key in environment variable ``NAME``, for an endpoint declared where the command
  runs with ``key_env = "NAME"`` (providers/declared.py), named by the version (``endpoint: NAME``)
  or matching the version's literal ``api_base``;
- ``none``: no credential. A literal ``api_base`` stored in a version that nobody declared is for a
  keyless local server: calls carry a placeholder key (``KEYLESS``), never the provider's key. For
  providers whose credentials are not one key (``CLOUD_AUTH``: AWS, Google, Azure AD), such a URL is
  refused instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptver.errors import InvalidValue, ModelAuthError
from promptver.providers import declared as declared_mod
from promptver.providers.declared import Declared

BUILTIN = "promptver"
KEYLESS = "promptver-keyless"  # the api key sent to an undeclared endpoint: litellm needs one, it is no secret
# providers whose credentials are not one API key litellm could be told to replace: a stored URL is refused
CLOUD_AUTH = frozenset({"bedrock", "bedrock_converse", "sagemaker", "sagemaker_chat", "vertex_ai", "vertex_ai_beta",
                        "azure", "azure_ai", "azure_text", "watsonx", "watsonx_text", "snowflake", "oci"})
# provider -> (environment variables naming its base URL, in the order litellm reads them; default URL)
KNOWN: dict[str, tuple[tuple[str, ...], str | None]] = {
    "openai": (("OPENAI_BASE_URL", "OPENAI_API_BASE"), "https://api.openai.com/v1"),
    "text-completion-openai": (("OPENAI_BASE_URL", "OPENAI_API_BASE"), "https://api.openai.com/v1"),
    "anthropic": (("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"), "https://api.anthropic.com"),
    "hosted_vllm": (("HOSTED_VLLM_API_BASE",), None),
    "vllm": (("VLLM_API_BASE",), None),
    "ollama": (("OLLAMA_API_BASE",), "http://localhost:11434"),
    "ollama_chat": (("OLLAMA_API_BASE",), "http://localhost:11434"),
    "lm_studio": (("LM_STUDIO_API_BASE",), None),
    "azure": (("AZURE_API_BASE",), None),
    "azure_ai": (("AZURE_AI_API_BASE",), None),
    "groq": (("GROQ_API_BASE",), "https://api.groq.com/openai/v1"),
    "mistral": (("MISTRAL_API_BASE",), "https://api.mistral.ai/v1"),
    "deepseek": (("DEEPSEEK_API_BASE",), "https://api.deepseek.com"),
    "together_ai": (("TOGETHER_AI_API_BASE", "TOGETHERAI_API_BASE"), "https://api.together.xyz/v1"),
    "openrouter": (("OPENROUTER_API_BASE",), "https://openrouter.ai/api/v1"),
    "gemini": (("GEMINI_API_BASE",), "https://generativelanguage.googleapis.com"),
    "xai": (("XAI_API_BASE",), "https://api.x.ai/v1"),
    "fireworks_ai": (("FIREWORKS_API_BASE", "FIREWORKS_AI_API_BASE"), "https://api.fireworks.ai/inference/v1"),
    "perplexity": (("PERPLEXITY_API_BASE",), "https://api.perplexity.ai"),
    "cohere": (("COHERE_API_BASE",), "https://api.cohere.ai"),
    "deepinfra": (("DEEPINFRA_API_BASE",), "https://api.deepinfra.com/v1/openai"),
    "nvidia_nim": (("NVIDIA_NIM_API_BASE",), "https://integrate.api.nvidia.com/v1"),
    "litellm_proxy": (("LITELLM_PROXY_API_BASE",), None),
    "openai_like": (("OPENAI_LIKE_API_BASE",), None),
}
# the environment variable litellm reads a provider's key from (where there is exactly one)
PROVIDER_KEYS: dict[str, str] = {"openai": "OPENAI_API_KEY", "text-completion-openai": "OPENAI_API_KEY",
                                 "anthropic": "ANTHROPIC_API_KEY", "groq": "GROQ_API_KEY",
                                 "mistral": "MISTRAL_API_KEY", "deepseek": "DEEPSEEK_API_KEY", "xai": "XAI_API_KEY"}
# extra settings that move a provider's endpoint without being a URL
EXTRA: dict[str, tuple[str, ...]] = {
    "azure": ("AZURE_API_VERSION",),
    "bedrock": ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEDROCK_RUNTIME_ENDPOINT",
                "BEDROCK_API_BASE"),
    "vertex_ai": ("VERTEXAI_LOCATION", "VERTEX_LOCATION", "VERTEXAI_PROJECT", "VERTEX_PROJECT", "VERTEXAI_API_BASE",
                  "VERTEX_API_BASE"),
    "sagemaker": ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "watsonx": ("WATSONX_API_BASE", "WATSONX_URL", "WATSONX_REGION"),
}
_URLISH = re.compile(r"_(API_BASE|BASE_URL|API_URL|ENDPOINT|URL|REGION|REGION_NAME|LOCATION|API_VERSION)$")
_SECRETISH = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.I)


@dataclass(frozen=True)
class Endpoint:
    provider: str
    url: str | None
    source: str
    settings: dict[str, str] = field(default_factory=dict)
    credential: str = "provider"  # "provider", "env:NAME" or "none" (module docstring); "" not recorded
    name: str | None = None       # the declared endpoint's name, when it is one

    def require_key(self, model: str, environ: Mapping[str, str] | None = None) -> None:
        """Raise ModelAuthError before any call when the key this endpoint needs is not set (the same
        error in evals and at runtime; litellm would say "InternalServerError: Missing credentials")."""
        env = os.environ if environ is None else environ
        if self.credential == "provider":
            var = PROVIDER_KEYS.get(self.provider)
            if var and not env.get(var):
                raise ModelAuthError(f"no API key for {model}: set {var}")
        elif self.credential.startswith("env:"):
            self.api_key(env)

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The key this endpoint's calls carry: None for the provider's own (litellm reads it from the
        environment), the declared variable's value, or ``KEYLESS``. Read at call time, never stored."""
        if self.credential == "provider":
            return None
        if self.credential == "none":
            return KEYLESS
        var = self.credential.removeprefix("env:")
        value = (os.environ if environ is None else environ).get(var)
        if not value:
            raise ModelAuthError(f"no API key for endpoint {self.name or self.url}: set {var} (its declared key_env)")
        return value

    def identity(self) -> dict[str, Any]:
        return {"provider": self.provider, "url": self.url, "settings": dict(sorted(self.settings.items()))}

    def describe(self) -> str:
        """``http://127.0.0.1:8080/v1 (env:OPENAI_BASE_URL)``; the unknown case says so."""
        if self.url is None:
            extra = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.items()))
            return f"chosen by litellm for {self.provider}" + (f" ({extra})" if extra else " (its default)")
        # no key part for the built-in model, nor for runs recorded before keys were bound (unknown)
        key = f"; key: {self.credential}" if self.credential and self.source != "builtin" else ""
        return f"{self.url} ({self.source}{key})"

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "url": self.url, "source": self.source, "settings": dict(self.settings),
                "credential": self.credential, "name": self.name}


def provider_of(model: str) -> str:
    return model.split("/", 1)[0] if "/" in model else "openai"  # litellm treats a bare id as OpenAI's


def effective_endpoint(model: str, params: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                       declarations: Mapping[str, Declared] | None = None) -> Endpoint:
    """Where a call of this model version goes and which credential it may carry. ``declarations``
    defaults to those of ``environ`` (providers/declared.py); raises InvalidValue for an endpoint
    name nobody declared here, or a stored URL for a provider in ``CLOUD_AUTH``."""
    env = os.environ if environ is None else environ
    provider = provider_of(model)
    if provider == BUILTIN:
        return Endpoint(provider, "builtin:" + model, "builtin", credential="none")
    names, default = KNOWN.get(provider, ((), None))
    settings = _settings(provider, names, env)
    name = params.get("endpoint")
    base = params.get("api_base")
    if name is not None or (isinstance(base, str) and base.strip()):
        found = declared_mod.load(env) if declarations is None else declarations
        if name is not None:
            item = declared_mod.named(found, declared_mod.check_endpoint_name(name, "params.endpoint"))
            if item is None:
                raise InvalidValue(
                    f"endpoint {name!r} is not declared where this runs: add [endpoints.{name}] with its url (and "
                    f"key_env if it needs a key) to {declared_mod.config_path(env)}, or set "
                    f"{declared_mod.env_name(name)}=URL (docs/endpoints.md)")
            return _bound(provider, item, f"endpoint:{item.name} ({item.source})", settings)
        url = _norm(base)
        item = declared_mod.by_url(found, url)
        if item is not None:
            return _bound(provider, item, f"params.api_base, declared as {item.name} ({item.source})", settings)
        if provider in CLOUD_AUTH:
            raise InvalidValue(
                f"{model}: the version stores api_base {url}, and {provider} credentials are never sent to a URL "
                "that stored data names: declare it where this runs (docs/endpoints.md), or name a declared "
                "endpoint in the version (endpoint: NAME)")
        return Endpoint(provider, url, "params.api_base", settings, credential="none")
    for name in names:
        value = env.get(name)
        if value and value.strip():
            return Endpoint(provider, _norm(value), "env:" + name, settings)
    if default is not None:
        return Endpoint(provider, default, "default", settings)
    return Endpoint(provider, None, "unknown", settings)


def _bound(provider: str, item: Declared, source: str, settings: dict[str, str]) -> Endpoint:
    credential = f"env:{item.key_env}" if item.key_env else "none"
    return Endpoint(provider, item.url, source, settings, credential=credential, name=item.name)


def _settings(provider: str, names: tuple[str, ...], env: Mapping[str, str]) -> dict[str, str]:
    prefixes = {provider.upper() + "_", provider.upper().replace("_", "") + "_"}
    wanted = set(names) | set(EXTRA.get(provider, ()))
    found = {}
    for name, value in env.items():
        if not value or _SECRETISH.search(name):
            continue
        if name in wanted or (any(name.startswith(p) for p in prefixes) and _URLISH.search(name)):
            found[name] = value.strip()
    return found


def _norm(url: str) -> str:
    return url.strip().rstrip("/")

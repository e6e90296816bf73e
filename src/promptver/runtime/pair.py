"""``PinnedPair``: one prompt version with one model version, as an app uses it.

A pinned pair is frozen. It renders its prompt's messages, builds the keyword arguments of
``litellm.completion`` (with ``metadata`` naming the pairing and both content hashes, so every call in
an app's logs and traces is tied to its versions) and makes the call (runtime/calls.py).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from promptver.core.types import ModelVersion, PromptVersion, Resolved

# how a pair was obtained: fetched by this get; from the in-process cache; the last known good
# after a failed refresh; from the on-disk snapshot; from a lockfile; from the fallback given in code
SOURCES = ("fresh", "cached", "stale", "snapshot", "lockfile", "fallback")


@dataclass(frozen=True, repr=False)
class PinnedPair:
    """The pairing a ref resolved to, and how it was obtained (``source``, one of ``SOURCES``)."""

    ref: str
    prompt: PromptVersion
    model: ModelVersion
    pairing_id: str
    label: str | None
    source: str
    resolved: Resolved = field(repr=False, compare=False)
    # endpoints the app declared in code (Client(endpoints=...)), on top of its environment's and config file's
    declarations: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, ref: str, resolved: Resolved, source: str) -> PinnedPair:
        pairing = resolved.pairing
        return cls(ref, pairing.prompt, pairing.model, pairing.id, resolved.label, source, resolved)

    def __repr__(self) -> str:
        label = f" label={self.label!r}" if self.label else ""
        return (f"<PinnedPair {self.ref} -> {self.pairing_id}: {self.prompt.ref} + {self.model.ref} "
                f"({self.model.model}){label} source={self.source!r}>")

    def marked(self, source: str) -> PinnedPair:
        """This pair, obtained through ``source``."""
        return self if source == self.source else replace(self, source=source)

    @property
    def prompt_hash(self) -> str:
        return self.prompt.content_hash

    @property
    def model_hash(self) -> str:
        return self.model.content_hash

    @property
    def etag(self) -> str:
        """Changes exactly when what the ref resolves to changes (see ``Resolved.etag``)."""
        return self.resolved.etag

    @property
    def label_seq(self) -> int | None:
        """The label event that pointed at this pairing (None when not obtained through a label)."""
        return None if self.resolved.event is None else self.resolved.event.seq

    def to_json(self) -> dict[str, Any]:
        """The lockfile entry of this pair: ``Resolved.to_json()`` (prompt, model, pairing, etag, label)."""
        return self.resolved.to_json()

    @property
    def metadata(self) -> dict[str, Any]:
        """What ties a model call to its versions (passed as litellm's ``metadata``)."""
        return {
            "promptver_ref": self.ref,
            "promptver_pairing_id": self.pairing_id,
            "promptver_prompt": self.prompt.ref,
            "promptver_prompt_hash": self.prompt.content_hash,
            "promptver_model": self.model.ref,
            "promptver_model_hash": self.model.content_hash,
            "promptver_label": self.label,
        }

    # -- use ------------------------------------------------------------------------------------
    def render(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> list[dict[str, Any]]:
        """The prompt's messages rendered with ``variables`` (a mapping and/or keywords); declared
        variables that are not given take their JSON-schema ``default``."""
        from promptver.templates import render_messages
        from promptver.templates.specs import with_defaults

        given = {**(variables or {}), **kwargs}
        return render_messages(self.prompt.messages, with_defaults(self.prompt.variables, given))

    def completion_kwargs(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any]:
        """The keyword arguments of ``litellm.completion``: the model id, the rendered messages, the
        model version's params, the prompt's tools and response_format (when set), and ``metadata``.
        The pinned model id and messages win over a param of the same name. ``api_base`` and
        ``api_key`` are set when the endpoint is not the provider's own (``endpoint()``): the declared
        endpoint's URL and key, or the stored URL with a placeholder key (``KEYLESS``)."""
        return self._bound(self._unbound(variables, kwargs), self.endpoint())

    def _unbound(self, variables: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        call: dict[str, Any] = {"model": self.model.model, "messages": self.render(variables, **kwargs)}
        for key, value in self.model.params.items():
            if key not in call:
                call[key] = copy.deepcopy(value)
        if self.prompt.tools is not None:
            call["tools"] = copy.deepcopy(self.prompt.tools)
        if self.prompt.response_format is not None:
            call["response_format"] = copy.deepcopy(self.prompt.response_format)
        extra = call.get("metadata")
        call["metadata"] = {**(extra if isinstance(extra, dict) else {}), **self.metadata}
        return call

    def endpoint(self) -> Any:
        """Where this pair's calls go and which key they carry (providers/endpoints.py): the
        provider's own endpoint with its key, a declared endpoint with its own key, or a URL that
        only the stored version names, with no key. Raises InvalidValue for an undeclared ``endpoint``."""
        from promptver.providers import declared
        from promptver.providers.endpoints import effective_endpoint

        found = declared.load(extra=self.declarations) if self.declarations else None
        return effective_endpoint(self.model.model, self.model.params, declarations=found)

    def with_endpoints(self, declarations: tuple[Any, ...]) -> PinnedPair:
        """This pair, with endpoints its app declared in code."""
        return self if declarations == self.declarations else replace(self, declarations=declarations)

    @staticmethod
    def _bound(call: dict[str, Any], where: Any) -> dict[str, Any]:
        """The call with its endpoint's URL and key: never the environment's provider key for a URL
        that stored data names (litellm would send ``OPENAI_API_KEY`` to any ``api_base``)."""
        call.pop("endpoint", None)
        if where.credential != "provider" and where.source != "builtin":
            call["api_base"] = where.url
            call["api_key"] = where.api_key()
        return call

    def complete(self, variables: Mapping[str, Any] | None = None, /, *,
                 litellm_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Render and call ``litellm.completion``; returns litellm's response. ``litellm_kwargs`` adds
        call options that are not pinned (``api_base``, ``api_key``, ``timeout``, ``stream``, more
        ``metadata``, ...). Provider failures raise ``ModelCallError`` subclasses."""
        from promptver.runtime import calls

        return calls.complete(self._call(variables, litellm_kwargs, kwargs), self._where())

    async def acomplete(self, variables: Mapping[str, Any] | None = None, /, *,
                        litellm_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """``complete`` through ``litellm.acompletion``."""
        from promptver.runtime import calls

        return await calls.acomplete(self._call(variables, litellm_kwargs, kwargs), self._where())

    def _call(self, variables: Mapping[str, Any] | None, options: Mapping[str, Any] | None,
              kwargs: dict[str, Any]) -> dict[str, Any]:
        from promptver.runtime import calls

        where = self.endpoint()  # once per call: declarations are read once
        call = calls.with_options(self._bound(self._unbound(variables, kwargs), where), options, self.pairing_id)
        if "api_key" not in call:  # the provider's own key: say so if it is missing, before any call
            where.require_key(self.model.model)
        return call

    def _where(self) -> str:
        return f"{self.ref} (pairing {self.pairing_id}, {self.model.model})"

"""What a user asks to store: prompt and model specs, validated and normalised (pure).

A spec is the input side of a version: ``PromptSpec`` -> ``PromptVersion``,
``ModelSpec`` -> ``ModelVersion``. Validation raises one clear ``UsageError`` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptver.core.identity import canonical_json, content_hash, model_identity, prompt_identity
from promptver.core.limits import check_stored
from promptver.core.params import floating_model_warning, refuse_secrets
from promptver.core.refs import check_name
from promptver.core.types import LINEAGE_FIELDS
from promptver.errors import InvalidValue

ROLES = ("system", "developer", "user", "assistant", "tool")
_TEXT_LINEAGE = {f for f in LINEAGE_FIELDS if f not in ("hyperparameters", "environment", "metrics")}


def _json_able(identity: dict[str, Any], where: str) -> None:
    try:
        canonical_json(identity)
    except InvalidValue as exc:
        raise InvalidValue(f"{where}: {exc}") from None


def _tags(tags: Any, where: str) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, (list, tuple)):
        raise InvalidValue(f"{where}: tags must be a list of names")
    return sorted({check_name(str(t), "tag") for t in tags})


@dataclass(frozen=True)
class PromptSpec:
    name: str
    messages: list[dict[str, Any]]
    variables: dict[str, Any] = field(default_factory=dict)
    tools: list[Any] | None = None
    response_format: Any = None
    description: str = ""
    tags: list[str] = field(default_factory=list)

    def validated(self, where: str = "prompt") -> tuple[PromptSpec, list[str]]:
        """A normalised copy and the variable names its templates use; raise UsageError if invalid."""
        from promptver.templates import check_template

        check_name(self.name, "prompt name")
        check_stored(vars(self), where)  # depth, size, storable text (core/limits.py)
        if not isinstance(self.messages, list) or not self.messages:
            raise InvalidValue(f"{where}: messages must be a non-empty list of {{role, content}}")
        messages: list[dict[str, Any]] = []
        used: set[str] = set()
        for i, msg in enumerate(self.messages, 1):
            at = f"{where}: message {i}"
            if not isinstance(msg, dict):
                raise InvalidValue(f"{at} must be a mapping with role and content")
            role, content = msg.get("role"), msg.get("content")
            if role not in ROLES:
                raise InvalidValue(f"{at}: role must be one of {', '.join(ROLES)} (got {role!r})")
            if not isinstance(content, str):
                raise InvalidValue(f"{at} ({role}): content must be text")
            unknown = set(msg) - {"role", "content", "name"}
            if unknown:
                raise InvalidValue(f"{at} ({role}): unknown field(s) {', '.join(sorted(unknown))}")
            used |= check_template(content, where=f"{at} ({role})")
            messages.append({k: msg[k] for k in ("role", "content", "name") if k in msg})
        variables = self.variables or {}
        if not isinstance(variables, dict):
            raise InvalidValue(f"{where}: variables must map each variable name to a JSON schema")
        for name, schema in variables.items():
            check_name(str(name), "variable name")
            if not isinstance(schema, dict):
                raise InvalidValue(f"{where}: variables.{name} must be a JSON schema object, e.g. {{type: string}}")
        if variables:
            undeclared = sorted(used - set(variables))
            if undeclared:
                raise InvalidValue(
                    f"{where}: the templates use undeclared variable(s) {', '.join(undeclared)}; "
                    "declare them under variables (or leave variables out entirely)")
        if self.tools is not None and not isinstance(self.tools, list):
            raise InvalidValue(f"{where}: tools must be a list of tool definitions")
        if self.response_format is not None and not isinstance(self.response_format, (dict, str)):
            raise InvalidValue(f"{where}: response_format must be a mapping (or a string such as json_object)")
        if not isinstance(self.description or "", str):
            raise InvalidValue(f"{where}: description must be text")
        _json_able(prompt_identity(messages, variables, self.tools, self.response_format), where)
        # shapes only (core/secrets.py): a tool may well take an argument called "password"
        refuse_secrets({"messages": messages, "variables": variables, "tools": self.tools,
                        "response_format": self.response_format, "description": self.description,
                        "tags": self.tags}, "" if where == "prompt" else f"{where}: ", names=False)
        spec = PromptSpec(self.name, messages, dict(variables), self.tools, self.response_format,
                          (self.description or "").strip(), _tags(self.tags, where))
        return spec, sorted(used)

    @property
    def content_hash(self) -> str:
        return content_hash(prompt_identity(self.messages, self.variables, self.tools, self.response_format))


def _check_endpoint(params: dict[str, Any], where: str) -> None:
    """``endpoint: NAME`` names an endpoint declared where the version runs (docs/endpoints.md);
    with it, a literal ``api_base`` would be a second answer to the same question."""
    if "endpoint" not in params:
        return
    check_name(params["endpoint"], f"{where}: endpoint name")
    if params.get("api_base") is not None:
        raise InvalidValue(f"{where}: give either endpoint (a name declared where it runs) or api_base (a URL), not both")


def with_defaults(schemas: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` plus the JSON-schema ``default`` of each declared variable not given."""
    merged = {name: schema["default"] for name, schema in schemas.items()
              if isinstance(schema, dict) and "default" in schema and name not in given}
    merged.update(given)
    return merged


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    tags: list[str] = field(default_factory=list)

    def validated(self, where: str = "model") -> tuple[ModelSpec, list[str]]:
        """A normalised copy and warnings (floating model ids); raise UsageError if invalid."""
        check_name(self.name, "model name")
        check_stored(vars(self), where)  # depth, size, storable text, column widths (core/limits.py)
        if not isinstance(self.model, str) or not self.model.strip() or any(c.isspace() for c in self.model.strip()):
            raise InvalidValue(f"{where}: model must be a litellm model id such as openai/gpt-4o-2024-08-06")
        params = self.params or {}
        if not isinstance(params, dict):
            raise InvalidValue(f"{where}: params must be a mapping of call parameters")
        _check_endpoint(params, where)
        lineage_in = self.lineage or {}
        if not isinstance(lineage_in, dict):
            raise InvalidValue(f"{where}: lineage must be a mapping")
        unknown = set(lineage_in) - set(LINEAGE_FIELDS)
        if unknown:
            raise InvalidValue(f"{where}: unknown lineage field(s) {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(LINEAGE_FIELDS)}")
        lineage: dict[str, Any] = {}
        for key in LINEAGE_FIELDS:
            value = lineage_in.get(key)
            if value is not None and key in _TEXT_LINEAGE and not isinstance(value, str):
                value = str(value)
            if value is not None and key not in _TEXT_LINEAGE and not isinstance(value, dict):
                raise InvalidValue(f"{where}: lineage.{key} must be a mapping")
            lineage[key] = value
        if not isinstance(self.description or "", str):
            raise InvalidValue(f"{where}: description must be text")
        prefix = "" if where == "model" else f"{where}: "
        refuse_secrets(params, f"{prefix}params")
        refuse_secrets(lineage, f"{prefix}lineage")
        refuse_secrets({"model": self.model, "description": self.description, "tags": self.tags}, prefix, names=False)
        _json_able(model_identity(self.model, params, lineage), where)
        spec = ModelSpec(self.name, self.model.strip(), dict(params), lineage,
                         (self.description or "").strip(), _tags(self.tags, where))
        warning = floating_model_warning(spec.model, lineage, spec.params)
        return spec, [warning] if warning else []

    @property
    def content_hash(self) -> str:
        return content_hash(model_identity(self.model, self.params, self.lineage))

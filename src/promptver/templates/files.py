"""Prompt and model files (YAML): the reviewable text form of specs. Pure: text in, spec out.

Prompt file (``prompts/NAME.yaml``)::

    name: support-reply
    description: Answers customer questions
    messages:
      - role: system
        content: You are a support agent for {{ company }}.
      - role: user
        content: "{{ question }}"
    variables:                    # optional: a JSON schema per variable
      company: {type: string}
      question: {type: string, maxLength: 2000}
    tools: [...]                  # optional: OpenAI-style tool definitions
    response_format: {...}        # optional
    tags: [support]               # optional

Model file (``models/NAME.yaml``)::

    name: support-llm
    model: openai/gpt-4o-2024-08-06
    params: {temperature: 0.2, max_tokens: 400, seed: 7}
    description: ...
    tags: [...]
    lineage:                      # optional, for fine-tunes
      base_model: ...
      weights_uri: ...
      weights_sha256: ...
      training_data_ref: ...
      training_data_hash: ...
      training_code_repo: ...
      training_code_commit: ...
      hyperparameters: {...}
      environment: {...}
      metrics: {...}
"""

from __future__ import annotations

from typing import Any

from promptver.errors import InvalidFile
from promptver.templates.specs import ModelSpec, PromptSpec

PROMPT_FIELDS = ("name", "description", "messages", "variables", "tools", "response_format", "tags")
MODEL_FIELDS = ("name", "model", "params", "lineage", "description", "tags")


def load_yaml(text: str, filename: str) -> dict[str, Any]:
    """The top-level mapping of a promptver YAML file (bounded: templates/reading.py)."""
    from promptver.templates.reading import MAX_FILE_BYTES, parse_yaml

    if len(text) > MAX_FILE_BYTES:
        raise InvalidFile(f"{filename}: the file is larger than {MAX_FILE_BYTES:,} characters")
    data = parse_yaml(text, filename)
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {_yaml_kind(data)}"
        raise InvalidFile(f"{filename}: expected a mapping with name, messages, ... at the top level, found {found}")
    return data


def _yaml_kind(value: Any) -> str:
    return ("list" if isinstance(value, list) else "mapping" if isinstance(value, dict) else "text"
            if isinstance(value, str) else "true/false" if isinstance(value, bool) else "number"
            if isinstance(value, (int, float)) else type(value).__name__)


def _check_fields(data: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...], filename: str) -> None:
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        raise InvalidFile(f"{filename}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    for key in required:
        if data.get(key) in (None, "", []):
            raise InvalidFile(f"{filename}: missing required field {key!r}")
        if key in ("name", "model") and (isinstance(data[key], bool) or not isinstance(data[key], (str, int, float))):
            raise InvalidFile(f"{filename}: {key} must be text, not a {_yaml_kind(data[key])}")


def parse_prompt_file(text: str, filename: str) -> PromptSpec:
    data = load_yaml(text, filename)
    _check_fields(data, PROMPT_FIELDS, ("name", "messages"), filename)
    return PromptSpec(
        name=str(data["name"]), messages=data["messages"], variables=data.get("variables") or {},
        tools=data.get("tools"), response_format=data.get("response_format"),
        description=data.get("description") or "", tags=data.get("tags") or [])


def parse_model_file(text: str, filename: str) -> ModelSpec:
    data = load_yaml(text, filename)
    _check_fields(data, MODEL_FIELDS, ("name", "model"), filename)
    return ModelSpec(
        name=str(data["name"]), model=str(data["model"]), params=data.get("params") or {},
        lineage=data.get("lineage") or {}, description=data.get("description") or "",
        tags=data.get("tags") or [])


def is_model_file(text: str) -> bool:
    """Model files have a top-level ``model:`` key; prompt files have ``messages:``."""
    from promptver.templates.reading import parse_yaml

    try:
        data = parse_yaml(text, "")
    except InvalidFile:
        return False
    return isinstance(data, dict) and "model" in data and "messages" not in data


# -- writing: spec (or version) -> file text; parsing the text back gives the same content hash ----------
def prompt_file_text(prompt: Any) -> str:
    """The YAML file for a prompt spec or version (anything with the PromptSpec fields)."""
    data: dict[str, Any] = {"name": prompt.name}
    if prompt.description:
        data["description"] = prompt.description
    data["messages"] = [dict(m) for m in prompt.messages]
    if prompt.variables:
        data["variables"] = prompt.variables
    if prompt.tools is not None:  # an empty list is content too: [] and "no tools" hash differently
        data["tools"] = prompt.tools
    if prompt.response_format is not None:
        data["response_format"] = prompt.response_format
    if prompt.tags:
        data["tags"] = list(prompt.tags)
    return dump_yaml(data)


def model_file_text(model: Any) -> str:
    """The YAML file for a model spec or version (anything with the ModelSpec fields)."""
    data: dict[str, Any] = {"name": model.name}
    if model.description:
        data["description"] = model.description
    data["model"] = model.model
    if model.params:
        data["params"] = model.params
    lineage = {k: v for k, v in (model.lineage or {}).items() if v is not None}
    if lineage:
        data["lineage"] = lineage
    if model.tags:
        data["tags"] = list(model.tags)
    return dump_yaml(data)


def dump_yaml(data: dict[str, Any]) -> str:
    """Block-style YAML in the given key order; multi-line text as ``|`` blocks where YAML allows it
    (PyYAML falls back to a quoted scalar when a block cannot hold the text exactly)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
            return super().increase_indent(flow, False)  # list items indented under their key

    def _text(dumper: Any, value: str) -> Any:
        block = "\n" in value and value.strip()
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if block else None)

    _Dumper.add_representer(str, _text)
    return str(yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                         width=100))

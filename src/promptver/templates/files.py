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

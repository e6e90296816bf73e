"""Request bodies. Unknown fields are refused (422 naming the field), as the CLI refuses them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptIn(Strict):
    name: str
    messages: list[dict[str, Any]]
    description: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)
    tools: list[Any] | None = None
    response_format: Any = None
    tags: list[str] = Field(default_factory=list)
    message: str = ""
    parent: str | None = None


class ModelIn(Strict):
    name: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    lineage: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    message: str = ""
    parent: str | None = None


class PairIn(Strict):
    prompt: str
    model: str
    message: str = ""


class AnnotationIn(Strict):
    kind: Literal["prompt", "model"]
    ref: str
    tag: str
    note: str = ""


class LabelIn(Strict):
    pairing: str
    reason: str = ""
    expected_seq: int | None = None
    force: bool = False  # admins, with a reason: past a refusing release gate (the refusal is kept)


class LabelRemoveIn(Strict):
    reason: str = ""
    expected_seq: int | None = None


class RollbackIn(Strict):
    reason: str = ""
    to: int | None = None
    expected_seq: int | None = None  # the head event the caller saw: 409 if the label moved since


class UserIn(Strict):
    name: str
    role: str


class RoleIn(Strict):
    role: str | None


class TokenIn(Strict):
    user: str | None = None
    role: str | None = None
    fetch_only: bool = False
    name: str = ""
    expires_at: datetime | None = None


class RevokeIn(Strict):
    reason: str = ""


class PolicyIn(Strict):
    protected: bool
    distinct_author: bool = False
    require_suite: str | None = None
    require_suite_hash: str | None = None  # the suite content the gate pins, computed by the client from the file

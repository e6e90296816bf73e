"""Request bodies. Unknown fields are refused (422 naming the field), as the CLI refuses them.

Before a body's fields are looked at, the whole body is held to what may be stored
(core/limits.py: nesting depth, storable text); numbers are held to the database's integer, times
need a time zone and a year from 1 to 9999 (as ``--at`` on the command line: core/refs.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from promptver.core.limits import MAX_INT, MAX_SHORT_TEXT, stored_problem
from promptver.errors import InvalidValue

Seq = Annotated[int, Field(ge=0, le=MAX_INT)]


def _utc(value: datetime) -> datetime:
    from promptver.core.refs import utc_time

    try:
        return utc_time(value)
    except InvalidValue as exc:
        raise ValueError(exc.message) from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problem = stored_problem(data, lengths={}) if isinstance(data, dict) else None
        if problem:
            raise ValueError(problem)
        return data


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
    expected_seq: Seq | None = None
    force: bool = False  # admins, with a reason: past a refusing release gate (the refusal is kept)


class LabelRemoveIn(Strict):
    reason: str = ""
    expected_seq: Seq | None = None


class RollbackIn(Strict):
    reason: str = ""
    to: Seq | None = None
    expected_seq: Seq | None = None  # the head event the caller saw: 409 if the label moved since


class UserIn(Strict):
    name: str
    role: str


class RoleIn(Strict):
    role: str | None


class TokenIn(Strict):
    user: str | None = None
    role: str | None = None
    fetch_only: bool = False
    name: str = Field("", max_length=MAX_SHORT_TEXT)
    expires_at: Annotated[AwareDatetime, AfterValidator(_utc)] | None = None  # no time zone: refused, never guessed


class RevokeIn(Strict):
    reason: str = ""


class PolicyIn(Strict):
    protected: bool
    distinct_author: bool = False
    require_suite: str | None = None
    require_suite_hash: str | None = None  # the suite content the gate pins, computed by the client from the file

"""Domain values: frozen records as the registry hands them out. Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promptver.core.identity import content_hash, model_identity, prompt_identity

LINEAGE_FIELDS = (
    "base_model", "weights_uri", "weights_sha256", "training_data_ref", "training_data_hash",
    "training_code_repo", "training_code_commit", "hyperparameters", "environment", "metrics",
)


def parse_iso(value: str | None) -> datetime | None:
    """The inverse of ``iso``."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _annotations(data: dict[str, Any]) -> tuple[Annotation, ...]:
    return tuple(Annotation(a["tag"], a.get("note", ""), a["actor"], parse_iso(a["created_at"]))  # type: ignore[arg-type]
                 for a in data.get("annotations") or [])


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as every JSON output writes times."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Annotation:
    tag: str
    note: str
    actor: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "note": self.note, "actor": self.actor, "created_at": iso(self.created_at)}


@dataclass(frozen=True)
class PromptVersion:
    id: int
    name: str
    version: int
    parent: int | None
    content_hash: str
    messages: list[dict[str, Any]]
    variables: dict[str, Any]
    variable_names: list[str]
    tools: list[Any] | None
    response_format: Any
    description: str
    message: str
    tags: list[str]
    author: str
    created_at: datetime
    annotations: tuple[Annotation, ...] = field(default=(), compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    def identity(self) -> dict[str, Any]:
        return prompt_identity(self.messages, self.variables, self.tools, self.response_format)

    def all_tags(self) -> list[str]:
        return sorted({*self.tags, *(a.tag for a in self.annotations)})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromptVersion:
        """Rebuild from ``to_json`` output (the HTTP API, lockfiles, snapshots)."""
        return cls(
            id=data.get("id", 0), name=data["name"], version=data["version"], parent=data.get("parent"),
            content_hash=data["content_hash"], messages=data["messages"], variables=data.get("variables") or {},
            variable_names=data.get("variable_names") or [], tools=data.get("tools"),
            response_format=data.get("response_format"), description=data.get("description", ""),
            message=data.get("message", ""), tags=data.get("tags") or [], author=data.get("author", ""),
            created_at=parse_iso(data["created_at"]), annotations=_annotations(data))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "ref": self.ref, "parent": self.parent,
            "content_hash": self.content_hash, "messages": self.messages, "variables": self.variables,
            "variable_names": self.variable_names, "tools": self.tools,
            "response_format": self.response_format, "description": self.description,
            "message": self.message, "tags": self.tags, "author": self.author,
            "created_at": iso(self.created_at), "annotations": [a.to_json() for a in self.annotations],
        }


@dataclass(frozen=True)
class ModelVersion:
    id: int
    name: str
    version: int
    parent: int | None
    content_hash: str
    model: str
    params: dict[str, Any]
    lineage: dict[str, Any]
    description: str
    message: str
    tags: list[str]
    author: str
    created_at: datetime
    annotations: tuple[Annotation, ...] = field(default=(), compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    def identity(self) -> dict[str, Any]:
        return model_identity(self.model, self.params, self.lineage)

    def all_tags(self) -> list[str]:
        return sorted({*self.tags, *(a.tag for a in self.annotations)})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelVersion:
        """Rebuild from ``to_json`` output (the HTTP API, lockfiles, snapshots)."""
        lineage = {key: (data.get("lineage") or {}).get(key) for key in LINEAGE_FIELDS}
        return cls(
            id=data.get("id", 0), name=data["name"], version=data["version"], parent=data.get("parent"),
            content_hash=data["content_hash"], model=data["model"], params=data.get("params") or {},
            lineage=lineage, description=data.get("description", ""), message=data.get("message", ""),
            tags=data.get("tags") or [], author=data.get("author", ""), created_at=parse_iso(data["created_at"]),
            annotations=_annotations(data))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "ref": self.ref, "parent": self.parent,
            "content_hash": self.content_hash, "model": self.model, "params": self.params,
            "lineage": {k: v for k, v in self.lineage.items() if v is not None},
            "description": self.description, "message": self.message, "tags": self.tags,
            "author": self.author, "created_at": iso(self.created_at),
            "annotations": [a.to_json() for a in self.annotations],
        }


@dataclass(frozen=True)
class Pairing:
    id: str
    prompt: PromptVersion
    model: ModelVersion
    message: str
    author: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt.ref, "model": self.model.ref, "message": self.message,
                "author": self.author, "created_at": iso(self.created_at)}


@dataclass(frozen=True)
class LabelEvent:
    prompt: str
    label: str
    seq: int
    pairing_id: str | None
    previous_pairing_id: str | None
    actor: str
    reason: str
    created_at: datetime
    gate_override: str | None = None  # a release forced past the gate (--force): the refusal it overrode

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "label": self.label, "seq": self.seq, "pairing": self.pairing_id,
                "previous": self.previous_pairing_id, "actor": self.actor, "reason": self.reason,
                "created_at": iso(self.created_at), "gate_override": self.gate_override}


@dataclass(frozen=True)
class Resolved:
    """What a ref resolved to: a pairing, and the label event that pointed at it (if via a label)."""

    pairing: Pairing
    label: str | None = None
    event: LabelEvent | None = None

    @property
    def etag(self) -> str:
        """Changes exactly when what the ref resolves to changes (HTTP ETag, cache validation)."""
        p = self.pairing
        return content_hash([p.id, p.prompt.content_hash, p.model.content_hash,
                             self.event.seq if self.event else None])[:32]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resolved:
        """Rebuild from ``to_json`` output."""
        prompt, model = PromptVersion.from_json(data["prompt"]), ModelVersion.from_json(data["model"])
        p = data["pairing"]
        pairing = Pairing(p["id"], prompt, model, p.get("message", ""), p.get("author", ""),
                          parse_iso(p["created_at"]))  # type: ignore[arg-type]
        label = data.get("label")
        if not label:
            return cls(pairing)
        event = LabelEvent(prompt.name, label["name"], label["seq"], pairing.id, None, label.get("set_by", ""),
                           label.get("reason", ""), parse_iso(label["set_at"]))  # type: ignore[arg-type]
        return cls(pairing, label["name"], event)

    def to_json(self) -> dict[str, Any]:
        pairing = self.pairing
        return {
            "prompt": pairing.prompt.to_json(),
            "model": pairing.model.to_json(),
            "pairing": pairing.to_json(),
            "etag": self.etag,
            "label": None if self.event is None else {
                "name": self.label, "seq": self.event.seq, "set_by": self.event.actor,
                "set_at": iso(self.event.created_at), "reason": self.event.reason},
        }


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": iso(self.at), "actor": self.actor, "action": self.action,
                "target": self.target, "details": self.details}

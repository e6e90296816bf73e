"""What changed between two versions: a unified diff of template text per message, and deepdiff
for the structured fields (variables, tools, response format, model id, parameters, lineage).
deepdiff stays inside; callers get ``VersionDiff``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    path: str          # e.g. "params.temperature", "lineage.weights_sha256", "tools[0].function.name"
    change: str        # "added" | "removed" | "changed"
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class VersionDiff:
    old: str
    new: str
    text: list[str] = field(default_factory=list)          # unified diff lines of the template text
    fields: list[FieldChange] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.text and not self.fields

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "identical": self.identical,
                "text_diff": "\n".join(self.text), "fields": [f.to_json() for f in self.fields]}


def _messages_text(messages: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for i, msg in enumerate(messages, 1):
        lines.append(f"### message {i}: {msg.get('role')}" + (f" ({msg['name']})" if msg.get("name") else ""))
        lines.extend(str(msg.get("content") or "").splitlines() or [""])
    return lines


def text_diff(old: list[dict[str, Any]], new: list[dict[str, Any]], old_name: str, new_name: str) -> list[str]:
    return [line.rstrip("\n") for line in difflib.unified_diff(
        _messages_text(old), _messages_text(new), fromfile=old_name, tofile=new_name, lineterm="")]


def _path(deep_path: str) -> str:
    # deepdiff paths look like root['params']['temperature'] or root['tools'][0]
    out = deep_path.replace("root", "", 1).replace("']['", ".").replace("['", ".").replace("']", "")
    return out.lstrip(".")


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    from deepdiff import DeepDiff

    changes: list[FieldChange] = []
    diff = DeepDiff(old, new, ignore_order=False, verbose_level=2, threshold_to_diff_deeper=0)
    for key, kind in (("dictionary_item_added", "added"), ("iterable_item_added", "added"),
                      ("dictionary_item_removed", "removed"), ("iterable_item_removed", "removed")):
        for path, value in diff.get(key, {}).items():
            changes.append(FieldChange(_path(path), kind, None if kind == "added" else value,
                                       value if kind == "added" else None))
    for key in ("values_changed", "type_changes"):
        for path, detail in diff.get(key, {}).items():
            changes.append(FieldChange(_path(path), "changed", detail.get("old_value"), detail.get("new_value")))
    return sorted(changes, key=lambda c: c.path)


def diff_prompts(old: Any, new: Any) -> VersionDiff:
    """Diff two PromptVersions: template text (unified) and structured fields (deepdiff)."""
    def structured(v: Any) -> dict[str, Any]:
        return {"roles": [m.get("role") for m in v.messages], "variables": v.variables,
                "tools": v.tools, "response_format": v.response_format}

    return VersionDiff(old.ref, new.ref, text_diff(old.messages, new.messages, old.ref, new.ref),
                       field_changes(structured(old), structured(new)))


def diff_models(old: Any, new: Any) -> VersionDiff:
    """Diff two ModelVersions: model id, parameters and lineage (deepdiff)."""
    def structured(v: Any) -> dict[str, Any]:
        return {"model": v.model, "params": v.params,
                "lineage": {k: val for k, val in v.lineage.items() if val is not None}}

    return VersionDiff(old.ref, new.ref, [], field_changes(structured(old), structured(new)))


def field_line(change: FieldChange) -> str:
    """``~ params.temperature: 0 -> 1``, ``+ path: new``, ``- path: old`` (values as JSON)."""
    import json

    def show(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    if change.change == "changed":
        return f"~ {change.path}: {show(change.old)} -> {show(change.new)}"
    if change.change == "added":
        return f"+ {change.path}: {show(change.new)}"
    return f"- {change.path}: {show(change.old)}"


@dataclass(frozen=True)
class PairingDiff:
    """Both halves of a change between two pairings: the prompt versions' diff (template text and
    fields) and the model versions' diff (model id, parameters, lineage)."""

    old: str                # pairing ids
    new: str
    prompt: VersionDiff
    model: VersionDiff
    prompt_same: bool       # the same prompt version on both sides
    model_same: bool

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new,
                "prompt": {**self.prompt.to_json(), "same_version": self.prompt_same},
                "model": {**self.model.to_json(), "same_version": self.model_same}}

    def lines(self) -> list[str]:
        """The diff as plain lines (the caller makes user text safe to print)."""
        return [f"pairing {self.old} -> {self.new}", *half_lines("prompt", self.to_json()["prompt"]),
                *half_lines("model", self.to_json()["model"])]


def half_lines(kind: str, half: dict[str, Any] | None, indent: str = "  ") -> list[str]:
    """One half of a pairing diff (its JSON) as lines; also reads reports stored before halves had
    ``same_version`` (then None means the side did not change)."""
    if half is None:
        return [f"{kind}: the same version on both sides"]
    if half.get("same_version") or half["old"] == half["new"]:
        return [f"{kind} {half['old']}: the same version on both sides"]
    if half.get("identical"):
        return [f"{kind} {half['old']} -> {half['new']}: no differences in content"]
    out = [f"{kind} {half['old']} -> {half['new']}:"]
    out += [f"{indent}{line}" for line in half.get("text_diff", "").splitlines()]
    out += [indent + field_line(FieldChange(f["path"], f["change"], f.get("old"), f.get("new"))) for f in half["fields"]]
    return out


def diff_pairings(old: Any, new: Any) -> PairingDiff:
    """Diff two pairings: both the prompt half and the model half."""
    return PairingDiff(old.id, new.id, diff_prompts(old.prompt, new.prompt), diff_models(old.model, new.model),
                       old.prompt.id == new.prompt.id, old.model.id == new.model.id)

"""Turning refs into records (read-only, plain SQL: no SQLAlchemy on this path)."""

from __future__ import annotations

from datetime import datetime

from promptver.core.refs import Ref, parse_ref
from promptver.core.types import ModelVersion, Pairing, PromptVersion, Resolved, iso
from promptver.errors import InvalidRef, NotFound
from promptver.storage.reader import Reader


def prompt_version(reader: Reader, ref: str | Ref, at: datetime | None = None) -> PromptVersion:
    """``name`` (latest), ``name/3``, ``name@label`` or a pairing id -> a prompt version."""
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    if ref.label or ref.pairing:
        return resolve(reader, ref, at).pairing.prompt
    return _series_version(reader, "prompt", ref)  # type: ignore[return-value]


def model_version(reader: Reader, ref: str | Ref) -> ModelVersion:
    """``name`` (latest) or ``name/3`` -> a model version."""
    ref = parse_ref(ref, allow_pairing=False) if isinstance(ref, str) else ref
    if ref.label:
        raise InvalidRef(f"labels belong to prompts, not models: use {ref.name}/N or {ref.name} for a model")
    return _series_version(reader, "model", ref)  # type: ignore[return-value]


def _series_version(reader: Reader, kind: str, ref: Ref) -> PromptVersion | ModelVersion:
    assert ref.name is not None
    found = reader.version(kind, ref.name, ref.version)
    if found is not None:
        return reader.with_annotations(kind, found)
    if reader.series_id(kind, ref.name) is None:
        known = reader.series_names(kind)
        hint = f" (known: {', '.join(known[:10])})" if known else f" (no {kind}s yet)"
        raise NotFound(f"no {kind} named {ref.name!r}{hint}")
    latest = reader.version(kind, ref.name)
    raise NotFound(f"{kind} {ref.name!r} has no version {ref.version} (latest is {latest.version if latest else 0})")


def pairing(reader: Reader, pairing_id: str) -> Pairing:
    """A pairing by id or unique id prefix (at least 4 hex characters)."""
    found = reader.pairing(pairing_id)
    if found is not None:
        return found
    matches = reader.pairings_by_prefix(pairing_id)
    if len(matches) == 1:
        return reader.pairing(matches[0])  # type: ignore[return-value]
    if matches:
        raise InvalidRef(f"pairing id {pairing_id!r} is ambiguous: {', '.join(matches)}")
    raise NotFound(f"no pairing with id {pairing_id!r}")


def resolve(reader: Reader, ref: str | Ref, at: datetime | None = None) -> Resolved:
    """A ref -> the pinned pairing: ``name@label`` (its target now, or at ``at``), a pairing id,
    or ``name/N`` / ``name`` when exactly one pairing holds that prompt version."""
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    if at is not None and not ref.label:
        raise InvalidRef("--at applies to a label ref such as support-reply@production")
    if ref.pairing:
        return Resolved(pairing(reader, ref.pairing))
    if ref.label:
        assert ref.name is not None
        event = reader.label_event(ref.name, ref.label, at)
        if event is None or event.pairing_id is None:
            raise NotFound(_no_target(reader, ref, at, event is not None))
        found = reader.pairing(event.pairing_id)
        assert found is not None, "label event points at a missing pairing"
        return Resolved(found, ref.label, event)
    version = _series_version(reader, "prompt", ref)
    candidates = [p for p in reader.pairings_for(version.name) if p.prompt.id == version.id]
    if len(candidates) == 1:
        return Resolved(candidates[0])
    if not candidates:
        raise NotFound(f"{version.ref} is not paired with a model yet: run `promptver pair {version.ref} MODEL/N`")
    ids = ", ".join(f"{p.id} ({p.model.ref})" for p in candidates)
    raise InvalidRef(f"{version.ref} is paired with several models: {ids}; give a pairing id or a label")


def _no_target(reader: Reader, ref: Ref, at: datetime | None, removed: bool) -> str:
    assert ref.name is not None and ref.label is not None
    if reader.series_id("prompt", ref.name) is None:
        return f"no prompt named {ref.name!r}"
    if removed:
        return f"label {ref.label!r} of {ref.name} was removed" + (f" as of {iso(at)}" if at else "")
    history = reader.label_history(ref.name, ref.label)
    if history and at is not None:
        return (f"label {ref.label!r} of {ref.name} was not set yet at {iso(at)}; "
                f"it was first set at {iso(history[0].created_at)}")
    labels = sorted(e for e, v in reader.current_labels(ref.name).items() if v.pairing_id)
    hint = f" (its labels: {', '.join(labels)})" if labels else " (it has no labels yet)"
    return f"{ref.name} has no label {ref.label!r}{hint}"

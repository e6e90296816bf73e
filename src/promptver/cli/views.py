"""Human renderings shared by the prompt and model commands."""

from __future__ import annotations

from typing import Any

from promptver.cli.output import emit_json, out, safe, short, warn, when


def pushed(result: Any, as_json: bool) -> None:
    for text in result.warnings:
        warn(text)
    version = result.version
    if as_json:
        emit_json({"status": "created" if result.created else "unchanged", **version.to_json()})
    elif result.created:
        parent = f" from {version.name}/{version.parent}" if version.parent else ""
        out(f"created {version.ref} ({short(version.content_hash)}){parent}")
    else:
        out(f"unchanged: {version.ref} ({short(version.content_hash)}) already holds this content")


def labels_by_version(reg: Any, prompt: str) -> dict[int, list[str]]:
    """prompt version number -> ["production->support-llm/2", ...] for labels pointing at it."""
    drawn: dict[int, list[str]] = {}
    for label, event in sorted(reg.current_labels(prompt).items()):
        pairing = reg.pairing(event.pairing_id)
        drawn.setdefault(pairing.prompt.version, []).append(f"{label}->{pairing.model.ref}")
    return drawn


def log(versions: list[Any], labels: dict[int, list[str]], as_json: bool) -> None:
    from promptver.core.tree import graph

    if as_json:
        emit_json([{**v.to_json(), "labels": labels.get(v.version, [])} for v in versions])
        return
    prefixes = graph([(v.version, v.parent) for v in versions])
    width = max((len(p) for p in prefixes), default=1)
    for prefix, v in zip(prefixes, versions):
        parts = [prefix.ljust(width), f"v{v.version}", short(v.content_hash), when(v.created_at), v.author]
        if v.parent is not None and v.parent != v.version - 1:
            parts.append(f"(from v{v.parent})")
        if labels.get(v.version):
            parts.append("[" + ", ".join(labels[v.version]) + "]")
        tags = v.all_tags()
        if tags:
            parts.append(" ".join(f"#{t}" for t in tags))
        if v.message:
            parts.append(safe(v.message.splitlines()[0]))
        out("  ".join(parts))


def _header(v: Any) -> None:
    out(f"{v.ref}  {v.content_hash}")
    out(f"created  {when(v.created_at)} by {v.author}" + (f", from v{v.parent}" if v.parent else ""))
    if v.message:
        out(f"message  {safe(v.message)}")
    if v.description:
        out(f"about    {safe(v.description)}")
    if v.all_tags():
        out(f"tags     {' '.join(v.all_tags())}")
    for note in v.annotations:
        out(f"note     #{note.tag} by {note.actor} at {when(note.created_at)}" + (f": {safe(note.note)}" if note.note else ""))


def show_prompt(v: Any) -> None:
    _header(v)
    out(f"uses     {', '.join(v.variable_names) or '(no variables)'}")
    if v.variables:
        import json

        out(f"schema   {json.dumps(v.variables, sort_keys=True)}")
    if v.tools:
        out(f"tools    {', '.join(str((t.get('function') or t).get('name', '?')) for t in v.tools if isinstance(t, dict))}")
    if v.response_format is not None:
        out("response_format  set")
    for i, msg in enumerate(v.messages, 1):
        out("")
        out(f"--- message {i}: {msg['role']}")
        for line in str(msg.get("content") or "").splitlines():
            out(safe(line))


def show_model(v: Any) -> None:
    import json

    _header(v)
    out(f"model    {v.model}")
    out(f"params   {json.dumps(v.params, sort_keys=True)}")
    lineage = {k: val for k, val in v.lineage.items() if val is not None}
    if lineage:
        out("lineage")
        for key, value in lineage.items():
            if key == "environment" and isinstance(value, dict) and "packages" in value:
                value = {**value, "packages": f"{len(value['packages'])} packages"}
            out(f"  {key}: {value if isinstance(value, str) else json.dumps(value, sort_keys=True)}")


def diff(result: Any, as_json: bool) -> None:
    import json

    if as_json:
        emit_json(result.to_json())
        return
    if result.identical:
        out(f"{result.old} and {result.new} are identical")
        return
    for line in result.text:
        out(safe(line))
    for change in result.fields:
        if change.change == "changed":
            out(f"~ {change.path}: {json.dumps(change.old)} -> {json.dumps(change.new)}")
        elif change.change == "added":
            out(f"+ {change.path}: {json.dumps(change.new)}")
        else:
            out(f"- {change.path}: {json.dumps(change.old)}")

"""`promptver pull`: write registry versions to prompt/model files, the other direction of sync.

Each version goes to the file that holds its name already (rewritten in place), else the path its
recorded base names, else where sync looks for it (``prompts/NAME.yaml``, ``models/NAME.yaml``). A
file whose content is not in the registry (changed since its base, or unreadable) is local work:
nothing is written while any target file holds some, unless ``force``. A file whose content already
equals the version is left as it is (comments and layout kept). The base of every file written or
found equal is recorded in the state file (services/sync_state.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptver.errors import NotFound, UsageError
from promptver.services.sync import FOLDERS, scan
from promptver.services.sync_state import Base, SyncState
from promptver.templates.files import model_file_text, prompt_file_text


@dataclass
class Pulled:
    path: str
    kind: str
    ref: str
    status: str  # written (an existing file rewritten) | created (a new file) | unchanged

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "ref": self.ref, "status": self.status}


def _targets(reg: Any, names: list[str], label: str | None, tracked: set[tuple[str, str]]) -> list[Any]:
    """The versions to write: for each name its latest prompt and/or model version, or with ``label``
    the prompt and model versions of the pairing the label points at."""
    found: list[Any] = []
    if label is not None:
        prompts = names or sorted(n for k, n in tracked if k == "prompt")
        for name in prompts:
            if names and reg.latest("prompt", name) is None:
                raise NotFound(f"no prompt named {name!r} (labels belong to prompts)")
            try:
                pairing = reg.resolve(f"{name}@{label}").pairing
            except NotFound:
                if names:
                    raise
                continue  # a tracked prompt without this label: nothing to pull for it
            found += [pairing.prompt, pairing.model]
    else:
        wanted = [(k, n) for n in names for k in ("prompt", "model")] if names else sorted(tracked)
        for name in names:
            if reg.latest("prompt", name) is None and reg.latest("model", name) is None:
                raise NotFound(f"no prompt or model named {name!r} in the registry")
        found = [v for v in (reg.latest(k, n) for k, n in wanted) if v is not None]
    chosen: dict[tuple[str, str], Any] = {}
    for v in found:
        kind = "prompt" if hasattr(v, "messages") else "model"
        other = chosen.setdefault((kind, v.name), v)
        if other.version != v.version:
            raise UsageError(f"{kind} {v.name}: the label {label} pairs both {other.ref} and {v.ref} with "
                             "prompts pulled together; pull those prompts one at a time")
    return list(chosen.values())


def pull(reg: Any, root: Path, names: list[str] | None = None, *, label: str | None = None,
         force: bool = False, everything: bool = False) -> list[Pulled]:
    """Write the versions asked for (all tracked names when none are given; ``everything``: every
    name in the registry) to files; refuse to overwrite local work unless ``force``."""
    specs, _ = scan(root)
    state = SyncState.load(root)
    by_name = {(kind, spec.name): (rel, spec) for kind, rel, spec in specs}
    tracked = set(by_name) | {(b.kind, b.name) for b in state.bases.values()}
    if everything and not names:
        tracked |= {(kind, row["name"]) for kind in FOLDERS for row in reg.series(kind)}
    if not names and not tracked:
        raise UsageError("no prompt or model files here to pull into: name what to pull (promptver pull NAME), "
                         "or use --all for every prompt and model in the registry")
    held = {rel: (kind, spec) for (kind, _), (rel, spec) in by_name.items()}
    plan: list[tuple[str, str, Any, bool]] = []  # (path, kind, version, whether the file exists)
    local: list[str] = []
    for v in _targets(reg, list(names or []), label, tracked):
        kind = "prompt" if hasattr(v, "messages") else "model"
        base = state.base(kind, v.name)
        if (kind, v.name) in by_name:
            rel, spec = by_name[(kind, v.name)]
        else:
            spec = None
            rel = base.path if base is not None and base.path not in held else f"{FOLDERS[kind]}/{v.name}.yaml"
            if rel in held:
                other_kind, other = held[rel]
                raise UsageError(f"{rel} holds {other_kind} {other.name!r}, not {kind} {v.name!r}; "
                                 f"move it, then pull {v.name} again")
        exists = (root / rel).exists()
        if exists and not force:
            latest = reg.latest(kind, v.name)
            stored = {v.content_hash} | ({base.content_hash} if base else set()) | (
                {latest.content_hash} if latest is not None else set())
            if spec is None or spec.content_hash not in stored:
                local.append(rel)
        plan.append((rel, kind, v, exists))
    if local:
        raise UsageError(f"nothing was pulled: {', '.join(sorted(local))} "
                         f"{'has' if len(local) == 1 else 'have'} local changes not synced; "
                         "sync them first, or pull with --force to overwrite them")
    done: list[Pulled] = []
    try:
        for rel, kind, v, exists in plan:
            current = by_name.get((kind, v.name))
            if current is not None and current[1].content_hash == v.content_hash:
                status = "unchanged"
            else:
                _write(root / rel, prompt_file_text(v) if kind == "prompt" else model_file_text(v))
                status = "written" if exists else "created"
            state.record(Base(rel, kind, v.name, v.version, v.content_hash))
            done.append(Pulled(rel, kind, v.ref, status))
    finally:
        state.save()
    return done


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.promptver-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

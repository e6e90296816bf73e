"""`promptver sync`: push every changed prompt/model file as a new version.

Files: ``prompts/**/*.yaml|yml`` and ``models/**/*.yaml|yml`` under the project root. Every file is
read and validated before anything is written, so one bad file means nothing is pushed. Files whose
content equals the latest version are reported unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptver.errors import InvalidFile, UsageError
from promptver.services.registry import Registry
from promptver.templates.files import parse_model_file, parse_prompt_file
from promptver.templates.reading import read_text


@dataclass
class SyncEntry:
    path: str
    kind: str
    ref: str
    created: bool
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "ref": self.ref,
                "status": "created" if self.created else "unchanged", "warnings": self.warnings}


def _files(root: Path, folder: str) -> list[Path]:
    base = root / folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_specs(root: Path) -> list[tuple[str, str, Any]]:
    """(kind, relative path, validated spec) for every file; raise one error listing every bad file."""
    specs: list[tuple[str, str, Any]] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for kind, folder, parse in (("model", "models", parse_model_file), ("prompt", "prompts", parse_prompt_file)):
        for path in _files(root, folder):
            rel = path.relative_to(root).as_posix()
            try:
                text = read_text(path, name=rel)  # bounded: a regular file of at most 1 MB (templates/reading.py)
                spec, _ = parse(text, rel).validated(rel)
            except UsageError as exc:
                errors.append(str(exc))
                continue
            key = (kind, spec.name)
            if key in seen:
                errors.append(f"{rel}: {kind} {spec.name!r} is also defined in {seen[key]}")
                continue
            seen[key] = rel
            specs.append((kind, rel, spec))
    if errors:
        raise InvalidFile("nothing was synced; fix these files first:\n  " + "\n  ".join(errors))
    return specs


def sync(reg: Registry, root: Path, *, message: str = "", dry_run: bool = False) -> list[SyncEntry]:
    entries: list[SyncEntry] = []
    for kind, rel, spec in load_specs(root):
        msg = message or f"sync {rel}"
        if dry_run:
            latest = reg.latest(kind, spec.name)
            changed = latest is None or latest.content_hash != spec.content_hash
            entries.append(SyncEntry(rel, kind, f"{spec.name}/{(latest.version if latest else 0) + changed}", changed))
            continue
        pushed = (reg.push_prompt(spec, message=msg, where=rel) if kind == "prompt"
                  else reg.push_model(spec, message=msg, where=rel))
        entries.append(SyncEntry(rel, kind, pushed.version.ref, pushed.created, pushed.warnings))
    return entries

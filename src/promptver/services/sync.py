"""`promptver sync`: files and registry as two replicas (DESIGN.md decision 11).

Files: ``prompts/**/*.yaml|yml`` and ``models/**/*.yaml|yml`` under the project root. Every file is
read and validated before anything is written, so one bad file means nothing is pushed. The state
file (services/sync_state.py) holds each file's *base*: the version it was last synced from or
pulled from. Comparing content hashes of file, base and the registry's latest version:

    file = base, latest = base      unchanged (in step)
    file != base, latest = base     ahead: pushed as a new version
    file = base, latest != base     behind: never pushed ("run promptver pull NAME")
    file != base, latest != base    conflict (unless file = latest): nothing at all is pushed
                                    without --force
    no base recorded                as before bases existed: pushed if it differs from the latest

A file whose base is recorded but which is gone (and not moved: bases are found by kind and name)
is reported deleted; sync forgets its base. ``check`` is the same comparison with no writes at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptver.errors import InvalidFile, UsageError
from promptver.services.sync_state import Base, SyncState
from promptver.templates.files import parse_model_file, parse_prompt_file
from promptver.templates.reading import read_text

FOLDERS = {"prompt": "prompts", "model": "models"}
DISAGREE = ("created", "behind", "conflict", "deleted")  # what `sync --check` fails on ("created": ahead)


@dataclass
class SyncEntry:
    path: str
    kind: str
    name: str
    status: str                 # created (ahead: pushed, or would be) | unchanged | behind | conflict | deleted
    ref: str                    # the version the file is now (created: the new one)
    base: str | None = None     # the recorded base, NAME/N
    latest: str | None = None   # the registry's latest version, NAME/N, before this sync
    warnings: list[str] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.status == "created"

    def note(self) -> str:
        """What a status other than created/unchanged means, and the way on."""
        if self.status == "behind":
            return f"registry has {self.latest}; run `promptver pull {self.name}`"
        if self.status == "conflict":
            return f"changed here since {self.base}, and the registry moved on to {self.latest}"
        if self.status == "deleted":
            return (f"synced from {self.base} but the file is gone; `promptver pull {self.name}` restores it, "
                    "`promptver sync` forgets it")
        return ""

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "name": self.name, "ref": self.ref, "status": self.status,
                "base": self.base, "latest": self.latest, "warnings": self.warnings}


def _files(root: Path, folder: str) -> list[Path]:
    base = root / folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_specs(root: Path) -> list[tuple[str, str, Any]]:
    """(kind, relative path, validated spec) for every file; raise one error listing every bad file."""
    specs, errors = scan(root)
    if errors:
        raise InvalidFile("nothing was synced; fix these files first:\n  " + "\n  ".join(errors))
    return specs


def scan(root: Path) -> tuple[list[tuple[str, str, Any]], list[str]]:
    """(kind, relative path, validated spec) for every good file, and one message per bad file."""
    specs: list[tuple[str, str, Any]] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for kind, parse in (("model", parse_model_file), ("prompt", parse_prompt_file)):
        for path in _files(root, FOLDERS[kind]):
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
    return specs, errors


@dataclass
class _Planned:
    entry: SyncEntry
    spec: Any = None
    latest: Any = None


def _classify(kind: str, rel: str, spec: Any, base: Base | None, latest: Any) -> SyncEntry:
    latest_ref = latest.ref if latest is not None else None
    base_ref = base.ref if base is not None else None

    def entry(status: str, ref: str) -> SyncEntry:
        return SyncEntry(rel, kind, spec.name, status, ref, base_ref, latest_ref)

    new_ref = f"{spec.name}/{latest.version + 1 if latest is not None else 1}"
    if latest is not None and latest.content_hash == spec.content_hash:
        return entry("unchanged", latest.ref)
    if latest is None or base is None:  # nothing to undo, or no base: as before bases existed
        return entry("created", new_ref)
    file_changed = spec.content_hash != base.content_hash
    registry_changed = latest.content_hash != base.content_hash
    if file_changed and registry_changed:
        return entry("conflict", base.ref)
    if registry_changed:
        return entry("behind", base.ref)
    return entry("created", new_ref)


def plan(reg: Any, root: Path, state: SyncState | None = None) -> list[_Planned]:
    """Each file compared with its base and the registry (reads only), then each base whose file is gone."""
    state = state if state is not None else SyncState.load(root)
    planned: list[_Planned] = []
    names = set()
    for kind, rel, spec in load_specs(root):
        names.add((kind, spec.name))
        latest = reg.latest(kind, spec.name)
        planned.append(_Planned(_classify(kind, rel, spec, state.base(kind, spec.name, rel), latest), spec, latest))
    for rel, base in sorted(state.bases.items()):
        if (base.kind, base.name) not in names and not (root / rel).exists():
            latest = reg.latest(base.kind, base.name)
            planned.append(_Planned(SyncEntry(rel, base.kind, base.name, "deleted", base.ref, base.ref,
                                              latest.ref if latest is not None else None)))
    return planned


def check(reg: Any, root: Path) -> list[SyncEntry]:
    """How files and registry compare; writes nothing (no versions, no state file)."""
    return [p.entry for p in plan(reg, root)]


def sync(reg: Any, root: Path, *, message: str = "", dry_run: bool = False, force: bool = False) -> list[SyncEntry]:
    """Push every file ahead of its base; refuse everything if any file conflicts (unless ``force``)."""
    state = SyncState.load(root)
    planned = plan(reg, root, state)
    if dry_run:
        return [p.entry for p in planned]
    conflicts = [p.entry for p in planned if p.entry.status == "conflict"]
    if conflicts and not force:
        lines = [f"{e.path}: {e.note()}" for e in conflicts]
        names = " ".join(sorted({e.name for e in conflicts}))
        raise UsageError(
            "nothing was synced: these files changed here while the registry moved on:\n  " + "\n  ".join(lines)
            + f"\nway out: `promptver sync --force` pushes your files as new versions anyway; "
            f"`promptver pull {names} --force` replaces them with the registry's (then redo your edit)")
    entries: list[SyncEntry] = []
    try:
        for p in planned:
            e = p.entry
            if e.status == "deleted":
                state.forget(e.path)
            elif e.status == "unchanged":
                state.record(Base(e.path, e.kind, e.name, p.latest.version, p.latest.content_hash))
            elif e.status in ("created", "conflict"):
                msg = message or f"sync {e.path}"
                pushed = (reg.push_prompt(p.spec, message=msg, where=e.path) if e.kind == "prompt"
                          else reg.push_model(p.spec, message=msg, where=e.path))
                v = pushed.version
                e.status = "created" if pushed.created else "unchanged"
                e.ref, e.warnings = v.ref, list(pushed.warnings)
                state.record(Base(e.path, e.kind, e.name, v.version, v.content_hash))
            entries.append(e)
    finally:
        state.save()  # the bases of what was pushed, even if a later push failed
    return entries

"""Files and registry: sync (files -> registry), pull (registry -> files), sync --check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from promptver.cli.common import registry
from promptver.cli.output import emit_json, err, out, warn
from promptver.errors import UsageError

if TYPE_CHECKING:
    from promptver.services.sync import SyncEntry

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _root() -> Path:
    """The project folder: where the local registry lives; through a server (PROMPTVER_URL), the
    nearest folder upward holding the sync state file, else the working directory (a registry of a
    parent folder is not this project's)."""
    from promptver.cli.common import through_server

    if through_server():
        from promptver.services.sync_state import STATE_FILE

        here = Path.cwd()
        return next((d for d in (here, *here.parents) if (d / STATE_FILE).is_file()), here)
    from promptver.storage.location import project_root

    return project_root() or Path.cwd()


def _require_files(root: Path) -> None:
    """Nothing to sync is a mistake of where the command ran, not an empty success."""
    from promptver.services.sync import FOLDERS

    if not any((root / folder).is_dir() for folder in FOLDERS.values()):
        raise UsageError(f"no prompts/ or models/ folder in {root}: run sync in the project folder")


def register(root: typer.Typer) -> None:
    """sync, pull."""

    @root.command("sync")
    def sync(
        message: Annotated[str, typer.Option("-m", "--message", help="Changelog message for new versions.")] = "",
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
        check: Annotated[bool, typer.Option(
            "--check", help="Write nothing; exit 1 if any file is ahead of, behind, in conflict with the registry, "
            "or deleted since it was synced (for CI and pre-commit).")] = False,
        force: Annotated[bool, typer.Option(
            "--force",
            help="Push files in conflict (changed here while the registry moved on) as new versions.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Push every file changed since it was last synced or pulled as a new version.

        A file unchanged since then is never pushed, whatever the registry did meanwhile (it is
        reported behind); a file changed while the registry also moved on is a conflict, and then
        nothing is pushed. Bases are kept in .promptver-sync.json (commit it with the files)."""
        from promptver.services import sync as sync_service

        if check and (force or dry_run or message):
            raise UsageError("sync --check writes nothing: it takes no --force, --dry-run or --message")
        root = _root()
        _require_files(root)
        with registry() as reg:
            if check:
                entries = sync_service.check(reg, root)
            else:
                entries = sync_service.sync(reg, root, message=message, dry_run=dry_run, force=force)
        for entry in entries:
            for text in entry.warnings:
                warn(f"{entry.path}: {text}")
        if as_json:
            emit_json([e.to_json() for e in entries])
        elif check:
            for e in entries:
                label = {"created": "ahead", "unchanged": "in step"}.get(e.status, e.status)
                detail = e.note() or (f"changed since {e.base or 'never synced'}; `promptver sync` pushes it"
                                      if e.status == "created" else e.ref)
                out(f"{label:<9} {e.path}: {detail}")
        else:
            _report(entries, root, dry_run)
        if check and any(e.status in sync_service.DISAGREE for e in entries):
            raise typer.Exit(1)

    @root.command("pull")
    def pull(
        names: Annotated[Optional[list[str]], typer.Argument(
            help="Prompt or model names (default: every name with a file or a recorded base here).")] = None,
        label: Annotated[Optional[str], typer.Option(
            "--label", help="Write the prompt and model versions of the pairing this label points at, "
            "instead of the latest versions.")] = None,
        everything: Annotated[bool, typer.Option(
            "--all", help="Every prompt and model in the registry, not only those with files here.")] = False,
        force: Annotated[bool, typer.Option(
            "--force", help="Overwrite files with local changes not yet synced.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Write the registry's latest (or a label's) versions to prompt and model files.

        An existing file for a name is rewritten in place; a new one goes to prompts/NAME.yaml or
        models/NAME.yaml. Files with changes not yet synced are not overwritten without --force."""
        from promptver.services.pull import pull as pull_service

        root = _root()
        with registry() as reg:
            done = pull_service(reg, root, list(names or []), label=label, force=force, everything=everything)
        if as_json:
            emit_json([p.to_json() for p in done])
            return
        for p in done:
            out(f"{p.status:<10} {p.ref:<28} {p.path}")
        if not done:
            err("nothing to pull")


def _report(entries: list[SyncEntry], root: Path, dry_run: bool) -> None:
    if not entries:
        err(f"no prompt or model files under {root}/prompts or {root}/models")
    verbs = {"created": "would create" if dry_run else "created", "deleted": "would forget" if dry_run else "forgot"}
    for e in entries:
        out(f"{verbs.get(e.status, e.status):<12} {e.ref:<28} {e.path}")
        if e.status in ("behind", "conflict") or (e.status == "deleted" and dry_run):
            out(f"{'':<12} {e.note()}")
    created = sum(e.created for e in entries)
    unchanged = sum(e.status == "unchanged" for e in entries)
    counts = [f"{created} {'to create' if dry_run else 'created'}", f"{unchanged} unchanged"]
    counts += [f"{n} {s}" for s in ("behind", "conflict") if (n := sum(e.status == s for e in entries))]
    out(", ".join(counts))

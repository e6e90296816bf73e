"""`promptver prompt ...`: push, list, log, show, diff, annotate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promptver.cli import views
from promptver.cli.common import registry
from promptver.cli.output import emit_json, out, table, when

app = typer.Typer(help="Prompt versions: push, list, log, show, diff, annotate.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("push")
def push(
    file: Annotated[Path, typer.Argument(help="A prompt file (YAML).")],
    message: Annotated[str, typer.Option("-m", "--message", help="Changelog message.")] = "",
    from_: Annotated[Optional[str], typer.Option("--from", help="Derive from this version (NAME/N) instead of the latest.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Tag the new version (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store a prompt file as the next version (identical content: nothing new)."""
    from dataclasses import replace

    from promptver.errors import InvalidFile
    from promptver.templates.files import parse_prompt_file

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFile(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    spec = parse_prompt_file(text, str(file))
    if tag:
        spec = replace(spec, tags=[*spec.tags, *tag])
    with registry() as reg:
        pushed = reg.push_prompt(spec, message=message, parent=from_, where=str(file))
    views.pushed(pushed, as_json)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List prompts with their latest version and labels."""
    with registry() as reg:
        rows = []
        for name in reg.reader.series_names("prompt"):
            latest = reg.reader.version("prompt", name)
            labels = {k: v.pairing_id for k, v in reg.reader.current_labels(name).items() if v.pairing_id}
            rows.append((name, latest, labels))
    if as_json:
        emit_json([{"name": n, "latest": v.version if v else None, "labels": labels} for n, v, labels in rows])
        return
    table(["prompt", "latest", "updated", "labels"],
          [[n, f"v{v.version}" if v else "-", when(v.created_at if v else None),
            ", ".join(f"{k}->{p}" for k, p in sorted(labels.items()))] for n, v, labels in rows])


@app.command("log")
def log(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    tag: Annotated[Optional[str], typer.Option("--tag", help="Only versions carrying this tag or annotation.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The version history of a prompt as a tree, newest first, with labels and tags."""
    with registry() as reg:
        versions = reg.log("prompt", name, tag)
        labels = views.labels_by_version(reg, name)
    views.log(versions, labels, as_json)


@app.command("show")
def show(ref: Annotated[str, typer.Argument(help="NAME, NAME/N, NAME@LABEL or a pairing id.")],
         as_json: JsonOpt = False) -> None:
    """One prompt version in full."""
    with registry() as reg:
        version = reg.prompt_version(ref)
    if as_json:
        emit_json(version.to_json())
    else:
        views.show_prompt(version)


@app.command("diff")
def diff(old: Annotated[str, typer.Argument(help="Old version ref.")],
         new: Annotated[str, typer.Argument(help="New version ref.")],
         as_json: JsonOpt = False) -> None:
    """What changed between two prompt versions (template text and structured fields)."""
    from promptver.core.diff import diff_prompts

    with registry() as reg:
        result = diff_prompts(reg.prompt_version(old), reg.prompt_version(new))
    views.diff(result, as_json)


@app.command("annotate")
def annotate(ref: Annotated[str, typer.Argument(help="Version ref, e.g. support-reply/3.")],
             tag: Annotated[str, typer.Argument(help="Annotation tag, e.g. approved or incident-4711.")],
             note: Annotated[str, typer.Option("--note", help="Free text.")] = "") -> None:
    """Add an annotation to an existing version (append-only; shown in logs, searchable with --tag)."""
    with registry() as reg:
        version = reg.annotate("prompt", ref, tag, note)
    out(f"annotated {version.ref} with {tag}")

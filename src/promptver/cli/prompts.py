"""`promptver prompt ...`: push, list, log, show, diff, annotate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promptver.cli import views
from promptver.cli.common import read_text, registry
from promptver.cli.output import emit_json, table, when
from promptver.cli.series import add_version_commands

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

    from promptver.templates.files import parse_prompt_file

    text = read_text(file)
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
        rows = reg.series("prompt")
    if as_json:
        emit_json([{k: r[k] for k in ("name", "owner", "latest", "labels")} for r in rows])
        return
    table(["prompt", "owner", "latest", "updated", "labels"],
          [[r["name"], r["owner"] or "-", f"v{r['latest']}", when(r["updated"]),
            ", ".join(f"{k}->{p}" for k, p in r["labels"].items())] for r in rows])


add_version_commands(app, "prompt", "support-reply/3")

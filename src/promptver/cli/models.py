"""`promptver model ...`: add, push, list, log, show, diff, annotate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from promptver.cli import views
from promptver.cli.common import parse_pairs, read_text, registry
from promptver.cli.output import emit_json, table, when
from promptver.cli.series import add_version_commands

app = typer.Typer(help="Model versions: add, push, list, log, show, diff, annotate.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Logical model name, e.g. support-llm.")],
    model: Annotated[str, typer.Option("--model", help="litellm model id, e.g. openai/gpt-4o-2024-08-06.")],
    param: Annotated[Optional[list[str]], typer.Option("--param", help="Call parameter KEY=VALUE (JSON values), repeatable.")] = None,
    lineage: Annotated[Optional[list[str]], typer.Option("--lineage", help="Lineage KEY=VALUE, e.g. weights_sha256=..., repeatable.")] = None,
    message: Annotated[str, typer.Option("-m", "--message", help="Changelog message.")] = "",
    description: Annotated[str, typer.Option("--description", help="What this model is.")] = "",
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Tag the new version (repeatable).")] = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="Derive from this version (NAME/N).")] = None,
    capture_env: Annotated[bool, typer.Option("--capture-env", help="Record this machine's environment as lineage.environment.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Store a model version: a provider model id with parameters, and lineage for fine-tunes."""
    params = parse_pairs(param, "--param")
    lineage_values = parse_pairs(lineage, "--lineage")
    with registry() as reg:
        pushed = reg.add_model(name, model, params=params, lineage=lineage_values, message=message,
                               description=description, tags=tag or [], parent=from_, capture_env=capture_env)
    views.pushed(pushed, as_json)


@app.command("push")
def push(
    file: Annotated[Path, typer.Argument(help="A model file (YAML).")],
    message: Annotated[str, typer.Option("-m", "--message", help="Changelog message.")] = "",
    from_: Annotated[Optional[str], typer.Option("--from", help="Derive from this version (NAME/N).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store a model file as the next version (identical content: nothing new)."""
    from promptver.templates.files import parse_model_file

    text = read_text(file)
    spec = parse_model_file(text, str(file))
    with registry() as reg:
        pushed = reg.push_model(spec, message=message, parent=from_, where=str(file))
    views.pushed(pushed, as_json)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List models with their latest version."""
    with registry() as reg:
        rows = reg.series("model")
    if as_json:
        emit_json([{k: r[k] for k in ("name", "owner", "latest", "model")} for r in rows])
        return
    table(["model", "owner", "latest", "id", "updated"],
          [[r["name"], r["owner"] or "-", f"v{r['latest']}", r["model"] or "-", when(r["updated"])] for r in rows])


add_version_commands(app, "model", "support-llm/2")

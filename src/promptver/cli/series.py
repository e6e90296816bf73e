"""The commands prompts and models share: log, show, diff and annotate, registered per kind.

No `from __future__ import annotations` here: Typer reads the parameter annotations, which use
the closure variables `kind` and `refs`, so they must be evaluated when each command is defined.
"""


from typing import Annotated, Optional

import typer

from promptver.cli import views
from promptver.cli.common import registry
from promptver.cli.output import emit_json, out

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def add_version_commands(app: typer.Typer, kind: str, example: str) -> None:
    """Register ``log``, ``show``, ``diff`` and ``annotate`` for ``kind`` ("prompt" or "model")."""
    refs = "NAME, NAME/N, NAME@LABEL or a pairing id" if kind == "prompt" else "NAME or NAME/N"

    @app.command("log")
    def log(
        name: Annotated[str, typer.Argument(help=f"{kind.capitalize()} name.")],
        tag: Annotated[Optional[str], typer.Option("--tag", help="Only versions carrying this tag or annotation.")] = None,
        limit: Annotated[Optional[int], typer.Option("-n", "--limit", min=1, help="Only the N newest versions.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The version history as a tree, newest first, with labels, tags and annotations."""
        with registry() as reg:
            versions = reg.log(kind, name, tag, limit)
            labels = views.labels_by_version(reg, name) if kind == "prompt" else {}
        views.log(versions, labels, as_json)

    @app.command("show")
    def show(ref: Annotated[str, typer.Argument(help=f"{refs}.")], as_json: JsonOpt = False) -> None:
        """One version in full."""
        with registry() as reg:
            version = reg.prompt_version(ref) if kind == "prompt" else reg.model_version(ref)
        if as_json:
            emit_json(version.to_json())
        else:
            (views.show_prompt if kind == "prompt" else views.show_model)(version)

    @app.command("diff")
    def diff(old: Annotated[str, typer.Argument(help="Old version ref.")],
             new: Annotated[str, typer.Argument(help="New version ref.")],
             as_json: JsonOpt = False) -> None:
        """What changed between two versions (template text, parameters, structured fields, lineage)."""
        from promptver.core.diff import diff_models, diff_prompts

        with registry() as reg:
            if kind == "prompt":
                result = diff_prompts(reg.prompt_version(old), reg.prompt_version(new))
            else:
                result = diff_models(reg.model_version(old), reg.model_version(new))
        views.diff(result, as_json)

    @app.command("annotate")
    def annotate(ref: Annotated[str, typer.Argument(help=f"Version ref, e.g. {example}.")],
                 tag: Annotated[str, typer.Argument(help="Annotation tag, e.g. approved or incident-4711.")],
                 note: Annotated[str, typer.Option("--note", help="Free text.")] = "") -> None:
        """Add an annotation to an existing version (append-only; shown in logs, searchable with --tag)."""
        with registry() as reg:
            version = reg.annotate(kind, ref, tag, note)
        out(f"annotated {version.ref} with {tag}")

"""`promptver get` and `promptver render`: what a ref resolves to, and its rendered messages.
This path must stay cheap: it imports neither SQLAlchemy, litellm nor Textual."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from promptver.cli.common import parse_at, parse_json, parse_pairs, registry
from promptver.cli.output import emit_json, out, safe, short, when

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(root: typer.Typer) -> None:
    @root.command("get")
    def get(
        ref: Annotated[str, typer.Argument(help="NAME@LABEL, a pairing id, or NAME/N with a single pairing.")],
        at: Annotated[Optional[str], typer.Option("--at", help="Resolve a label as it was at this time: ISO 8601, a UTC time, 1h ago, yesterday 14:00.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The pinned prompt version + model version a ref resolves to."""
        when_at = parse_at(at)
        with registry() as reg:
            resolved = reg.resolve(ref, when_at)
        if as_json:
            emit_json({"ref": ref, "at": at, **resolved.to_json()})
            return
        p = resolved.pairing
        out(f"{ref}{' at ' + at if at else ''} -> pairing {p.id}")
        out(f"prompt   {p.prompt.ref}  {short(p.prompt.content_hash)}  vars: {', '.join(p.prompt.variable_names) or '-'}")
        out(f"model    {p.model.ref}  {short(p.model.content_hash)}  {p.model.model}  {json.dumps(p.model.params, sort_keys=True)}")
        if resolved.event is not None:
            e = resolved.event
            reason = f" ({safe(e.reason)})" if e.reason else ""
            out(f"label    {resolved.label} set by {e.actor} at {when(e.created_at)} [event {e.seq}]{reason}")

    @root.command("render")
    def render(
        ref: Annotated[str, typer.Argument(help="A prompt version (NAME/N, NAME) or NAME@LABEL / pairing id.")],
        var: Annotated[Optional[list[str]], typer.Option("--var", help="Variable KEY=VALUE (text), repeatable.")] = None,
        vars_json: Annotated[Optional[str], typer.Option("--vars-json", help="Variables as a JSON object (for non-text values).")] = None,
        at: Annotated[Optional[str], typer.Option("--at", help="Resolve a label as it was at this time: ISO 8601, a UTC time, 1h ago, yesterday 14:00.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Render a prompt version's messages with the given variables."""
        from promptver.errors import InvalidValue
        from promptver.templates import render_messages

        variables = {}
        if vars_json:
            variables = parse_json(vars_json, "--vars-json")
            if not isinstance(variables, dict):
                raise InvalidValue("--vars-json must be a JSON object")
        variables.update(parse_pairs(var, "--var", typed=False))
        with registry() as reg:
            version = reg.prompt_version(ref, parse_at(at))
        from promptver.templates.specs import with_defaults

        messages = render_messages(version.messages, with_defaults(version.variables, variables))
        if as_json:
            emit_json({"prompt": version.ref, "content_hash": version.content_hash, "messages": messages})
            return
        for i, msg in enumerate(messages):
            if i:
                out("")
            out(f"[{msg['role']}]")
            out(safe(msg.get("content") or ""))

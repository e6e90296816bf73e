"""`promptver endpoints`: the endpoints declared where this command runs, and which key each gets."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from promptver.cli.output import emit_json, table


def register(app: typer.Typer) -> None:
    app.command("endpoints")(endpoints)


def endpoints(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the endpoints declared here (config file and PROMPTVER_ENDPOINT_* variables): a model
    version naming one (endpoint: NAME) runs there; only a declared key_env's key is sent to it."""
    from promptver.providers import declared

    found = declared.load()
    rows = [{"name": d.name, "url": d.url, "key_env": d.key_env,
             "key_set": bool(d.key_env and os.environ.get(d.key_env)), "declared_in": d.source}
            for d in sorted(found.values(), key=lambda d: d.name)]
    if as_json:
        emit_json({"config": str(declared.config_path(os.environ)), "endpoints": rows})
        return
    if not rows:
        typer.echo(f"no endpoints declared (config: {declared.config_path(os.environ)}; docs/endpoints.md)", err=True)
        return
    table(["name", "url", "key", "declared in"],
          [[r["name"], r["url"], "none" if not r["key_env"] else f"{r['key_env']} ({'set' if r['key_set'] else 'NOT SET'})",
            r["declared_in"]] for r in rows])

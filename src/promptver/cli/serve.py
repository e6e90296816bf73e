"""`promptver serve`: the HTTP API over the registry (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
from typing import Annotated

import typer


def register(root: typer.Typer) -> None:
    @root.command("serve")
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8765,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes (PostgreSQL for more than one).")] = 1,
        log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve the HTTP API: reads for apps, writes behind tokens (OpenAPI at /docs)."""
        from promptver.cli.common import local_only

        local_only("serve")
        import uvicorn

        from promptver.services.database import Database
        from promptver.storage.location import database_url

        url = database_url()
        Database.open(url).close()  # fail here, clearly, if the registry cannot be opened
        os.environ["PROMPTVER_DB"] = url  # the workers open the same registry
        uvicorn.run("promptver.server.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=False)

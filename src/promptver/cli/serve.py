"""`promptver serve`: the HTTP API over the registry (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
MAX_WORKERS = 256


def register(root: typer.Typer) -> None:
    @root.command("serve")
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8765,
        workers: Annotated[int, typer.Option("--workers", min=1, max=MAX_WORKERS, help="Worker processes (PostgreSQL for more than one).")] = 1,
        log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve the HTTP API: reads for apps, writes behind tokens (OpenAPI at /docs)."""
        from promptver.cli.common import local_only
        from promptver.errors import InvalidValue

        local_only("serve")
        if log_level.lower() not in LOG_LEVELS:
            raise InvalidValue(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
        import uvicorn

        from promptver.services.database import Database
        from promptver.storage.location import database_url

        url = database_url()
        Database.open(url).close()  # fail here, clearly, if the registry cannot be opened
        os.environ["PROMPTVER_DB"] = url  # the workers open the same registry
        uvicorn.run("promptver.server.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level.lower(), access_log=False)

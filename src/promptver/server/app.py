"""The FastAPI application: ``create_app(url)``; run by `promptver serve` (uvicorn)."""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI

from promptver.server import errors, routes_admin, routes_datasets, routes_evals, routes_read, routes_write
from promptver.server.limits import BodyLimit
from promptver.server.state import ServerState
from promptver.storage.location import database_url


def create_app(url: str | None = None) -> FastAPI:
    """The app over the registry at ``url`` (default: PROMPTVER_DB, else the local registry)."""
    from promptver import __version__

    app = FastAPI(title="promptver", version=__version__,
                  description="Versioned prompts and models, pinned pairings and labels.")
    app.state.promptver = ServerState(url or os.environ.get("PROMPTVER_DB") or database_url())
    errors.install(app)
    for module in (routes_read, routes_write, routes_admin, routes_datasets, routes_evals):
        app.include_router(module.router)
    app.add_middleware(BodyLimit)
    app.add_middleware(errors.LastResort)  # outside the body limit: it sees every failure
    _log_to_stderr()
    return app


def _log_to_stderr() -> None:
    """The server's own log lines (failed authentications, internal errors) go to stderr, one line each."""
    logger = logging.getLogger("promptver.server")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

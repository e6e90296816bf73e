"""Where the registry is: ``PROMPTVER_DB`` (any SQLAlchemy URL) or ``.promptver/registry.db``
found by walking up from the working directory, the way git finds ``.git``."""

from __future__ import annotations

import os
from pathlib import Path

from promptver.errors import RegistryNotInitialized

REGISTRY_DIR = ".promptver"
REGISTRY_FILE = "registry.db"


def find_registry(start: Path | None = None) -> Path | None:
    """The nearest ``.promptver/registry.db`` at or above ``start`` (default: the cwd)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / REGISTRY_DIR / REGISTRY_FILE
        if candidate.is_file():
            return candidate
    return None


def project_root(start: Path | None = None) -> Path | None:
    """The folder holding ``.promptver/`` (where ``prompts/`` and ``models/`` live), if any."""
    found = find_registry(start)
    return found.parent.parent if found else None


def normalise_url(url: str) -> str:
    """Default PostgreSQL URLs to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def database_url(start: Path | None = None) -> str:
    """The URL of the registry to use; raise RegistryNotInitialized if there is none."""
    env = os.environ.get("PROMPTVER_DB", "").strip()
    if env:
        return normalise_url(env)
    found = find_registry(start)
    if found is None:
        raise RegistryNotInitialized()
    return f"sqlite:///{found}"


def sqlite_path(url: str) -> str | None:
    """The file path of a ``sqlite:///`` URL (``:memory:`` for in-memory), or None."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[1]
    return rest[1:] if rest.startswith("/") else (rest or ":memory:")

"""Endpoints declared where a command or an app runs (never by stored data).

A model version says what the model is; where it runs, and which credential goes there, is decided
by whoever runs it (DESIGN.md decision 9, docs/endpoints.md). They declare endpoints by name:

- a TOML file: ``$PROMPTVER_ENDPOINTS`` (a path), else ``$XDG_CONFIG_HOME/promptver/endpoints.toml``
  (``~/.config/promptver/endpoints.toml``)::

      [endpoints.local-llama]
      url = "http://127.0.0.1:8080/v1"

      [endpoints.azure-prod]
      url = "https://myco.openai.azure.com/openai/v1"
      key_env = "AZURE_PROD_KEY"      # the environment variable holding its key (never the key)

- environment variables, which win over the file: ``PROMPTVER_ENDPOINT_LOCAL_LLAMA=URL`` and,
  optionally, ``PROMPTVER_ENDPOINT_LOCAL_LLAMA_KEY_ENV=VAR`` (the name upper-cased, ``-`` and ``.``
  as ``_``);
- in Python, ``Declared`` values given by the app (``Client(endpoints=...)``).

Never from the working tree: a file in a repository could be changed by the pull request whose
eval CI runs, and would then send CI's keys wherever the pull request says.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptver.core.refs import check_name
from promptver.errors import InvalidValue

ENV_FILE = "PROMPTVER_ENDPOINTS"
ENV_PREFIX = "PROMPTVER_ENDPOINT_"
MAX_FILE_BYTES = 1 << 20
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_FIELDS = {"url", "key_env"}


@dataclass(frozen=True)
class Declared:
    """One declared endpoint: its name, base URL, the environment variable holding its key (None:
    no credential is sent there) and where it was declared (shown in run records and errors)."""

    name: str
    url: str
    key_env: str | None = None
    source: str = "code"


def check_endpoint_name(name: Any, where: str = "endpoint") -> str:
    """Endpoint names follow the rule of prompt and model names (core/refs.py)."""
    return check_name(name, f"{where} name")


def env_name(name: str) -> str:
    """``local-llama`` -> ``PROMPTVER_ENDPOINT_LOCAL_LLAMA``."""
    return ENV_PREFIX + re.sub(r"[-.]", "_", name).upper()


def declared(name: str, url: Any, key_env: Any = None, source: str = "code") -> Declared:
    """A validated declaration (raises InvalidValue naming ``source``)."""
    check_endpoint_name(name, f"{source}: endpoint")
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/?#@]+(/[^\s?#]*)?$", url.strip()):
        raise InvalidValue(f"{source}: endpoint {name!r}: url must be an http(s) base URL without credentials, "
                           f"query or fragment (got {url!r})")
    if key_env is not None and (not isinstance(key_env, str) or not _ENV_NAME.match(key_env)):
        raise InvalidValue(f"{source}: endpoint {name!r}: key_env names the environment variable that holds the "
                           "key (e.g. LLAMA_API_KEY), never the key itself")
    return Declared(name, url.strip().rstrip("/"), key_env, source)


def config_path(environ: Mapping[str, str]) -> Path:
    if environ.get(ENV_FILE):
        return Path(environ[ENV_FILE]).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or "~").expanduser() / ".config")
    return Path(base) / "promptver" / "endpoints.toml"


def load(environ: Mapping[str, str] | None = None, extra: Iterable[Declared] = ()) -> dict[str, Declared]:
    """Every declared endpoint by name: the file, then the environment, then ``extra`` (each wins
    over the one before). A missing default file is no declaration; a file named by
    ``PROMPTVER_ENDPOINTS`` must exist."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    found = _from_file(path, required=bool(env.get(ENV_FILE)))
    found.update(_from_env(env))
    for item in extra:
        found[item.name] = item
    return found


def _from_file(path: Path, required: bool) -> dict[str, Declared]:
    try:
        stat = path.stat()
    except OSError:
        if required:
            raise InvalidValue(f"{ENV_FILE}={path}: no such file") from None
        return {}
    return _parse_file(str(path), stat.st_mtime_ns, stat.st_size)


_FILE_CACHE: dict[tuple[str, int, int], dict[str, Declared]] = {}


def _parse_file(path: str, mtime: int, size: int) -> dict[str, Declared]:
    key = (path, mtime, size)
    if key in _FILE_CACHE:
        return dict(_FILE_CACHE[key])
    if not Path(path).is_file() or size > MAX_FILE_BYTES:
        raise InvalidValue(f"{path}: not a regular file of at most {MAX_FILE_BYTES} bytes")
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidValue(f"{path}: cannot read the endpoint declarations: {exc}") from None
    table = data.get("endpoints", {})
    if not isinstance(table, dict) or set(data) - {"endpoints"}:
        raise InvalidValue(f"{path}: expected only an [endpoints.NAME] table per endpoint (docs/endpoints.md)")
    out = {}
    for name, fields in table.items():
        if not isinstance(fields, dict) or set(fields) - _FIELDS:
            raise InvalidValue(f"{path}: [endpoints.{name}] takes url and key_env only")
        out[name] = declared(name, fields.get("url"), fields.get("key_env"), f"{path}")
    _FILE_CACHE.clear()
    _FILE_CACHE[key] = out
    return dict(out)


def _from_env(env: Mapping[str, str]) -> dict[str, Declared]:
    out = {}
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or var.endswith("_KEY_ENV") or not value:
            continue
        name = var[len(ENV_PREFIX):].lower().replace("_", "-")
        out[name] = declared(name, value, env.get(var + "_KEY_ENV") or None, f"env:{var}")
    return out


def named(declarations: Mapping[str, Declared], name: str) -> Declared | None:
    """The declaration of ``name`` (``local-llama`` and ``local_llama`` are the same endpoint, as
    their environment variable is)."""
    if name in declarations:
        return declarations[name]
    wanted = env_name(name)
    return next((item for item in declarations.values() if env_name(item.name) == wanted), None)


def by_url(declarations: Mapping[str, Declared], url: str) -> Declared | None:
    """The declaration whose URL is ``url`` (both without a trailing slash), if any."""
    url = url.strip().rstrip("/")
    for item in declarations.values():
        if item.url == url:
            return item
    return None

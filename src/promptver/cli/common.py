"""Shared pieces of the commands: opening the registry, KEY=VALUE parsing, refs and times."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from promptver.errors import InvalidValue, UsageError


@contextmanager
def registry(**kwargs: Any) -> Iterator[Any]:
    """The registry the command works on: a server when PROMPTVER_URL is set, else the database."""
    url = os.environ.get("PROMPTVER_URL", "").strip()
    if url:
        from promptver.services.remote import RemoteRegistry

        reg: Any = RemoteRegistry(url, os.environ.get("PROMPTVER_TOKEN", "").strip() or None)
    else:
        from promptver.services.registry import Registry

        reg = Registry.open(**kwargs)
    try:
        yield reg
    finally:
        reg.close()


def through_server() -> bool:
    """Whether PROMPTVER_URL points the commands at a server."""
    return bool(os.environ.get("PROMPTVER_URL", "").strip())


def local_only(command: str) -> None:
    """Refuse a command that works on the database itself when PROMPTVER_URL points at a server."""
    if through_server():
        raise UsageError(f"`promptver {command}` works on the registry database itself, not through a server: "
                         "unset PROMPTVER_URL and set PROMPTVER_DB where the database is reachable")


def parse_value(text: str, what: str = "a value") -> Any:
    """A CLI value: JSON when it parses as JSON (0.2, true, [1], {"a": 1}), else the text itself."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidValue(f"{what} nests too deeply") from None
    except ValueError:
        return text


def parse_json(text: str, what: str) -> Any:
    """A CLI option that must be JSON (``--vars-json``); one clear error otherwise."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidValue(f"{what} nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        from promptver.templates.reading import value_problem

        raise InvalidValue(f"{what} is not valid JSON: {value_problem(exc)}") from None


def parse_pairs(items: list[str] | None, what: str, *, typed: bool = True) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidValue(f"{what} {item!r} must look like KEY=VALUE")
        if key in pairs:
            raise InvalidValue(f"{what} {key!r} is given twice")
        pairs[key] = parse_value(value, f"{what} {key!r}") if typed else value
    return pairs


def parse_at(at: str | None) -> datetime | None:
    return None if at is None else user_time(at)


def user_time(text: str) -> datetime:
    """A time as typed (core/times.py: ISO 8601, a UTC time without a zone, now, 1h ago, yesterday
    14:00); how an inexact one was read is said on stderr."""
    from promptver.core.times import parse_user_time

    value, note = parse_user_time(text)
    if note:
        sys.stderr.write(f"note: {note}\n")
    return value


def read_text(path: Any) -> str:
    """A user's prompt or model file as text: a regular file of at most 1 MB (templates/reading.py);
    one clear error if it cannot be read."""
    from promptver.templates.reading import read_text as read_bounded

    return read_bounded(path)

"""Names and refs.

A *name* (of a prompt, model or label) is 1-100 characters: letters, digits, ``-``, ``_`` and
``.``, starting with a letter or digit. No path separators, white space or control characters.

Refs::

    support-reply          the latest version of the series
    support-reply/3        version 3
    support-reply@prod     the target of label "prod" (the pairing it points at)
    3f9a1c20b7d4           a pairing id (4 to 12 hex characters, a unique prefix)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from promptver.errors import InvalidName, InvalidRef, InvalidValue

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_PAIRING = re.compile(r"[0-9a-f]{4,12}")


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if valid, else raise InvalidName saying why."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{what} must not be empty")
    if _NAME.fullmatch(name):
        return name
    if any(ch in name for ch in "/\\"):
        reason = "must not contain path separators"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        reason = "must not contain control characters"
    elif len(name) > 100:
        reason = "must be at most 100 characters"
    else:
        reason = "may hold only letters, digits, '.', '_' and '-', starting with a letter or digit"
    raise InvalidName(f"invalid {what} {name!r}: {reason}")


@dataclass(frozen=True)
class Ref:
    """A parsed ref: exactly one of ``version``, ``label`` or ``pairing`` is set, or none (latest)."""

    name: str | None = None
    version: int | None = None
    label: str | None = None
    pairing: str | None = None

    def __str__(self) -> str:
        if self.pairing:
            return self.pairing
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.label:
            return f"{self.name}@{self.label}"
        return str(self.name)


def parse_ref(text: str, *, allow_pairing: bool = True) -> Ref:
    """Parse a ref (see module docstring); raise InvalidRef with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRef("empty ref")
    text = text.strip()
    if "@" in text:
        name, _, label = text.partition("@")
        try:
            return Ref(name=check_name(name, "name"), label=check_name(label, "label"))
        except InvalidName as exc:
            raise InvalidRef(f"bad ref {text!r}: {exc}") from None
    if "/" in text:
        name, _, version = text.partition("/")
        try:
            check_name(name, "name")
        except InvalidName as exc:
            raise InvalidRef(f"bad ref {text!r}: {exc}") from None
        if not version.isdigit() or int(version) < 1:
            raise InvalidRef(f"bad ref {text!r}: the version after '/' must be a number from 1 (e.g. {name}/3)")
        return Ref(name=name, version=int(version))
    if allow_pairing and _PAIRING.fullmatch(text) and any(c.isdigit() for c in text):
        return Ref(pairing=text)
    try:
        return Ref(name=check_name(text, "name"))
    except InvalidName as exc:
        raise InvalidRef(f"bad ref {text!r}: {exc}") from None


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time ("2026-11-20T14:00:00Z", "now") into an aware UTC datetime."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(f"bad time {text!r}: use ISO 8601, e.g. 2026-11-20T14:00:00Z") from None
    if value.tzinfo is None:
        raise InvalidValue(f"bad time {text!r}: give a time zone, e.g. 2026-11-20T14:00:00Z")
    return value.astimezone(UTC)

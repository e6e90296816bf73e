"""Names and refs.

A *name* (of a prompt, model or label) is 1-100 characters: letters, digits, ``-``, ``_`` and
``.``, starting with a letter or digit. No path separators, white space or control characters.

Refs::

    support-reply          the latest version of the series
    support-reply/3        version 3 (ASCII digits, 1 to 2147483647)
    support-reply@prod     the target of label "prod" (the pairing it points at)
    3f9a1c20b7d4           a pairing id (4 to 12 hex characters, a unique prefix)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from promptver.core.limits import MAX_INT
from promptver.errors import InvalidName, InvalidRef, InvalidValue

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_PAIRING = re.compile(r"[0-9a-f]{4,12}")
_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() also accepts "²" and "①", which int() refuses
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # a day of margin either side: any time zone stays in range
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


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
    raise InvalidName(f"invalid {what} {_shown(name)}: {reason}")


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
            raise InvalidRef(f"bad ref {_shown(text)}: {exc}") from None
    if "/" in text:
        name, _, version = text.partition("/")
        try:
            check_name(name, "name")
        except InvalidName as exc:
            raise InvalidRef(f"bad ref {_shown(text)}: {exc}") from None
        if not _NUMBER.fullmatch(version) or not 1 <= int(version) <= MAX_INT:
            raise InvalidRef(f"bad ref {_shown(text)}: the version after '/' must be a number from 1 to {MAX_INT} "
                             f"(e.g. {name}/3)")
        return Ref(name=name, version=int(version))
    if allow_pairing and _PAIRING.fullmatch(text) and any(c.isdigit() for c in text):
        return Ref(pairing=text)
    try:
        return Ref(name=check_name(text, "name"))
    except InvalidName as exc:
        raise InvalidRef(f"bad ref {_shown(text)}: {exc}") from None


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time ("2026-11-20T14:00:00Z", "now") into an aware UTC datetime.

    A time zone is required (a time without one is refused, never guessed), and the time must lie
    within years 1 to 9999 in UTC."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(f"bad time {_shown(text)}: use ISO 8601, e.g. 2026-11-20T14:00:00Z") from None
    return utc_time(value, f"time {_shown(text)}")


def utc_time(value: datetime, what: str = "time") -> datetime:
    """An aware datetime in UTC; InvalidValue if it has no time zone or lies outside years 1-9999."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(f"bad {what}: give a time zone, e.g. 2026-11-20T14:00:00Z")
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not _EARLIEST <= utc <= _LATEST:
        raise InvalidValue(f"bad {what}: out of range (use a time between years 1 and 9999)")
    return utc


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:40] + "…" + text[-40:])

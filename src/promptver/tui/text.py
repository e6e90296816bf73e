"""Text from prompts and users, made safe to show: never Rich markup, never terminal escapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text

_KEEP = {"\n", "\t"}


def printable(value: Any) -> str:
    """``value`` as text with control characters (ESC, BEL, CR, ...) written out as ``\\xNN``."""
    text = "" if value is None else str(value)
    return "".join(ch if ch in _KEEP or (ch.isprintable() and ch != "\x7f") else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(value: Any, style: str = "") -> Text:
    """A Rich ``Text`` holding ``value`` literally: ``[bold]`` stays ``[bold]``, ESC shows as ``\\x1b``."""
    return Text(printable(value), style=style)


def one_line(value: Any, width: int = 60) -> Text:
    """The first line of ``value``, cut to ``width`` characters, literally."""
    first = printable(value).splitlines()[0] if value else ""
    return Text(first if len(first) <= width else first[: width - 1] + "…")


def when(value: datetime | None, short: bool = False) -> str:
    """A time in UTC; ``short`` drops the year (for narrow table columns)."""
    if value is None:
        return ""
    return value.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M UTC")

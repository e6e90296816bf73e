"""Times as people type them at a terminal: ``now``, ISO 8601, a time without a zone (read as UTC),
and relative times (``1h ago``, ``yesterday 14:00``, ``2 days ago``, ``last monday``).

``parse_user_time(text, now)`` returns the instant in UTC and, when it had to interpret the text, a
note saying how it read it (the CLI prints it on stderr), so an incident timeline never rests on a
silent guess. ISO 8601 with a zone is read exactly (core/refs.py ``parse_time``, the server's rule);
everything else goes to dateparser (a maintained parser of natural-language dates, imported only
then, English only, every zone-less time as UTC, relative times counted back from ``now``). A time
after ``now`` is refused: ``--at``, ``--from`` and ``--to`` look back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promptver.core.refs import parse_time
from promptver.errors import InvalidValue

_SLACK = timedelta(seconds=1)  # "now" typed a moment ago
FORMATS = "ISO 8601 (2026-11-29T18:35:16Z), a UTC time (2026-11-29 18:35:16), now, 1h ago, yesterday 14:00"


def parse_user_time(text: str, now: datetime | None = None) -> tuple[datetime, str | None]:
    """(the instant in UTC, a note on how the text was read, or None when it was exact)."""
    now = now or datetime.now(UTC)
    raw = (text or "").strip()
    if not raw:
        raise InvalidValue(f"give a time: {FORMATS}")
    try:
        return parse_time(raw), None
    except InvalidValue:
        pass
    if len(raw) > 100:
        raise InvalidValue(f"bad time: at most 100 characters ({FORMATS})")
    import dateparser

    settings = {"TIMEZONE": "UTC", "TO_TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": True,
                "RELATIVE_BASE": now.astimezone(UTC).replace(tzinfo=None), "PREFER_DATES_FROM": "past"}
    try:
        value = dateparser.parse(raw, languages=["en"], settings=settings)
    except (ValueError, OverflowError, TypeError):
        value = None
    if value is None:
        raise InvalidValue(f"bad time {raw!r}: use {FORMATS}")
    value = value.astimezone(UTC)
    if value > now + _SLACK:
        raise InvalidValue(f"bad time {raw!r}: it reads as {_iso(value)}, in the future")
    return value, f"{raw!r} read as {_iso(value)} (UTC)"


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


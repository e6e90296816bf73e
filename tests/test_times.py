"""Times as typed at a terminal (core/times.py): exact ISO 8601, zone-less times read as UTC, and
relative times, each inexact reading said in a note."""

from datetime import UTC, datetime

import pytest

from promptver.core.times import parse_user_time
from promptver.errors import InvalidValue

NOW = datetime(2026, 11, 29, 18, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text, expected, noted", [
    ("2026-11-29T17:35:16Z", datetime(2026, 11, 29, 17, 35, 16, tzinfo=UTC), False),
    ("2026-11-29T12:35:16+01:00", datetime(2026, 11, 29, 11, 35, 16, tzinfo=UTC), False),
    ("now", None, False),
    ("2026-11-29 17:35:16", datetime(2026, 11, 29, 17, 35, 16, tzinfo=UTC), True),  # label history's form
    ("1h ago", datetime(2026, 11, 29, 17, 0, tzinfo=UTC), True),
    ("30 minutes ago", datetime(2026, 11, 29, 17, 30, tzinfo=UTC), True),
    ("yesterday 14:00", datetime(2026, 11, 28, 14, 0, tzinfo=UTC), True),
    ("2 days ago", datetime(2026, 11, 27, 18, 0, tzinfo=UTC), True),
])
def test_times_people_type(text, expected, noted):
    value, note = parse_user_time(text, NOW)
    if expected is not None:
        assert value == expected
    assert value.tzinfo is not None and value.utcoffset().total_seconds() == 0
    assert (note is not None) == noted
    if noted:
        assert note == f"{text!r} read as {expected:%Y-%m-%dT%H:%M:%SZ} (UTC)"


@pytest.mark.parametrize("text, message", [
    ("", "give a time"), ("banana", "bad time 'banana'"), ("in 2 hours", "in the future"),
    ("x" * 200, "at most 100 characters"),
])
def test_bad_times_are_one_clear_error(text, message):
    with pytest.raises(InvalidValue, match=message):
        parse_user_time(text, NOW)


def test_the_cli_says_how_it_read_a_relative_time(example):
    result = example("get", "support-reply@production", "--at", "1 hour ago")  # before the label was set
    assert result.code == 2 and "was not set yet at" in result.stderr
    assert result.stderr.startswith("note: '1 hour ago' read as ") and "(UTC)\n" in result.stderr
    exact = example("get", "support-reply@production", "--at", "now")
    assert exact.code == 0 and "note:" not in exact.stderr

from datetime import UTC, datetime

import pytest

from promptver.core.refs import Ref, check_name, parse_ref, parse_time
from promptver.errors import InvalidName, InvalidRef, InvalidValue


@pytest.mark.parametrize("text, ref", [
    ("support-reply", Ref(name="support-reply")),
    ("support-reply/3", Ref(name="support-reply", version=3)),
    ("support-reply@production", Ref(name="support-reply", label="production")),
    ("3f9a1c20b7d4", Ref(pairing="3f9a1c20b7d4")),
    ("3f9a", Ref(pairing="3f9a")),
    ("cafe", Ref(name="cafe")),          # all letters: a name, not a pairing prefix
    (" v2.model_x ", Ref(name="v2.model_x")),
])
def test_parse_ref(text, ref):
    assert parse_ref(text) == ref


def test_str_round_trips():
    for text in ("a/3", "a@prod", "a", "0123abcd"):
        assert str(parse_ref(text)) == text


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"), ("name/x", "must be a number"), ("name/0", "must be a number"), ("@prod", "must not be empty"),
    ("a/b/c", "must be a number"), ("../etc@prod", "path separators"), ("a b@prod", "letters"), ("name@pro/d", "path separators"),
])
def test_bad_refs_say_why(text, fragment):
    with pytest.raises(InvalidRef) as info:
        parse_ref(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("name, fragment", [
    ("a/b", "path separators"), ("a\\b", "path separators"), ("a\x1bb", "control characters"),
    ("a\nb", "control characters"), ("x" * 101, "at most 100"), ("-a", "starting with"), ("a b", "letters"),
])
def test_bad_names(name, fragment):
    with pytest.raises(InvalidName) as info:
        check_name(name)
    assert fragment in str(info.value)


def test_parse_time():
    assert parse_time("2026-11-20T14:00:00Z") == datetime(2026, 11, 20, 14, tzinfo=UTC)
    assert parse_time("2026-11-20T15:00:00+01:00") == datetime(2026, 11, 20, 14, tzinfo=UTC)
    with pytest.raises(InvalidValue, match="time zone"):
        parse_time("2026-11-20T14:00:00")
    with pytest.raises(InvalidValue, match="ISO 8601"):
        parse_time("yesterday")


@pytest.mark.parametrize("text", ["a/²", "a/①", "a/٣", "a/𝟙", "a/99999999999999999999", "a/2147483648", "a/+3",
                                  "a/ 3", "a/3 4", "a/-1", "a/0x1"])
def test_versions_are_ascii_numbers_the_database_holds(text):
    """str.isdigit() accepts "²" and "①" (int() then fails); numbers past 2**31 - 1 overflow the column."""
    with pytest.raises(InvalidRef, match="a number from 1 to 2147483647"):
        parse_ref(text)


def test_the_largest_version_parses():
    assert parse_ref("a/2147483647") == Ref(name="a", version=2147483647)


@pytest.mark.parametrize("text, fragment", [
    ("0000-01-01T00:00:00Z", "ISO 8601"), ("99999-01-01T00:00:00Z", "ISO 8601"),
    ("0001-01-01T00:00:00+01:00", "out of range"), ("9999-12-31T23:59:59-01:00", "out of range"),
    ("2026-01-01T00:00:00", "time zone"), ("x" * 10_000, "ISO 8601"),
])
def test_times_out_of_range_or_without_a_zone_are_refused(text, fragment):
    with pytest.raises(InvalidValue, match=fragment) as info:
        parse_time(text)
    assert len(str(info.value)) < 200  # a huge input is not echoed whole


def test_utc_time_normalises_and_refuses_naive_times():
    from datetime import timedelta, timezone

    from promptver.core.refs import utc_time

    assert utc_time(datetime(2030, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidValue, match="time zone"):
        utc_time(datetime(2030, 1, 1))

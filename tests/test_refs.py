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

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptver.core.identity import canonical_json, content_hash, pairing_id, prompt_identity
from promptver.errors import InvalidValue


def test_canonical_json_is_sorted_compact_utf8():
    assert canonical_json({"b": 1, "a": [1, "é", None, True]}) == '{"a":[1,"é",null,true],"b":1}'


def test_integral_floats_hash_like_integers():
    assert content_hash({"temperature": 1.0}) == content_hash({"temperature": 1})
    assert content_hash({"temperature": 0.5}) != content_hash({"temperature": 1})


def test_content_hash_is_sha256_of_canonical_json():
    value = {"kind": "x", "z": [1, 2], "a": {"y": "b"}}
    assert content_hash(value) == hashlib.sha256(canonical_json(value).encode()).hexdigest()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1: "x"}, {"a": object()}, {"a": {1, 2}}])
def test_non_json_values_are_refused(bad):
    with pytest.raises(InvalidValue):
        canonical_json(bad)


def test_prompt_identity_ignores_key_order_but_not_message_order():
    a = prompt_identity([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}], {}, None, None)
    b = prompt_identity([{"content": "x", "role": "system"}, {"role": "user", "content": "y"}], {}, None, None)
    c = prompt_identity([{"role": "user", "content": "y"}, {"role": "system", "content": "x"}], {}, None, None)
    assert content_hash(a) == content_hash(b) != content_hash(c)


def test_pairing_id_is_deterministic_and_short():
    one = pairing_id("a" * 64, "b" * 64, "p", 1, "m", 1)
    assert one == pairing_id("a" * 64, "b" * 64, "p", 1, "m", 1)
    assert len(one) == 12 and int(one, 16) >= 0
    assert one != pairing_id("a" * 64, "b" * 64, "p", 1, "m", 2)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_round_trips_to_the_same_hash(value):
    import json

    assert content_hash(json.loads(canonical_json(value))) == content_hash(value)


def test_resolved_round_trips_through_json(tmp_path):
    from conftest import prompt_spec

    from promptver.core.types import Resolved
    from promptver.services import labels
    from promptver.services.registry import Registry

    with Registry.open(f"sqlite:///{tmp_path / 'r.db'}", actor="t") as reg:
        reg.push_prompt(prompt_spec())
        reg.add_model("m", "openai/gpt-4o-2024-08-06", params={"temperature": 0.5},
                      lineage={"base_model": "b", "metrics": {"loss": 1}})
        pid = reg.pair("support-reply/1", "m/1").pairing.id
        labels.move(reg, "support-reply", "production", pid, reason="go")
        reg.annotate("prompt", "support-reply/1", "approved")
        resolved = reg.resolve("support-reply@production")
    again = Resolved.from_json(resolved.to_json())
    assert again.to_json() == resolved.to_json()
    assert again.etag == resolved.etag and len(resolved.etag) == 32
    assert content_hash(again.pairing.prompt.identity()) == again.pairing.prompt.content_hash
    assert content_hash(again.pairing.model.identity()) == again.pairing.model.content_hash

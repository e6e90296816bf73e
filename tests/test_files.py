"""Prompt and model files: round trips and field errors."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from promptver.errors import InvalidFile, InvalidValue
from promptver.templates.files import parse_model_file, parse_prompt_file

text = st.text(alphabet=st.characters(blacklist_characters="{}%#\r", blacklist_categories=("Cs", "Cc")), max_size=40)
names = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)
JINJA_WORDS = {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "for", "recursive", "self",
               "range", "dict", "cycler", "joiner", "namespace", "loop", "caller", "varargs", "kwargs"}
identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(lambda w: w not in JINJA_WORDS)


@settings(max_examples=40, deadline=None)
@given(name=names, system=text, user=text, var=identifiers, temperature=st.floats(0, 2))
def test_prompt_files_round_trip_to_the_same_hash(name, system, user, var, temperature):
    doc = {"name": name, "messages": [{"role": "system", "content": system},
                                      {"role": "user", "content": user + "{{ " + var + " }}"}]}
    spec, used = parse_prompt_file(yaml.safe_dump(doc), "p.yaml").validated("p.yaml")
    again, _ = parse_prompt_file(yaml.safe_dump(doc, default_flow_style=True), "p.yaml").validated("p.yaml")
    assert used == [var] and spec.content_hash == again.content_hash
    model = {"name": name, "model": "openai/gpt-4o-2024-08-06", "params": {"temperature": temperature}}
    m1, _ = parse_model_file(yaml.safe_dump(model), "m.yaml").validated("m.yaml")
    m2, _ = parse_model_file(yaml.safe_dump(model, default_flow_style=True), "m.yaml").validated("m.yaml")
    assert m1.content_hash == m2.content_hash


def test_description_and_tags_do_not_change_the_hash():
    base = "name: p\nmessages:\n  - role: user\n    content: hi\n"
    a, _ = parse_prompt_file(base, "a.yaml").validated()
    b, _ = parse_prompt_file(base + "description: other\ntags: [x]\n", "b.yaml").validated()
    assert a.content_hash == b.content_hash


@pytest.mark.parametrize("content, error, message", [
    ("- a\n- b\n", InvalidFile, "m.yaml: expected a mapping"),
    ("name: m\n", InvalidFile, "m.yaml: missing required field 'model'"),
    ("name: m\nmodel: x\nparams: [1]\n", InvalidValue, "m.yaml: params must be a mapping"),
    ("name: m\nmodel: x\nlineage: {weights: abc}\n", InvalidValue, "m.yaml: unknown lineage field(s) weights"),
    ("name: m\nmodel: x\nlineage: {metrics: 3}\n", InvalidValue, "m.yaml: lineage.metrics must be a mapping"),
    ("name: m\nmodel: 'two words'\n", InvalidValue, "m.yaml: model must be a litellm model id"),
    ("name: m\nmodel: x\nparams: {temperature: .nan}\n", InvalidValue, "m.yaml: $.params.temperature: nan is not"),
])
def test_model_file_errors_name_the_file_and_field(content, error, message):
    with pytest.raises(error) as info:
        parse_model_file(content, "m.yaml").validated("m.yaml")
    assert str(info.value).startswith(message)

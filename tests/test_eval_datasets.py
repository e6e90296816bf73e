"""Datasets and suites: formats, errors naming file/line/field, content-hashed dataset versions."""

import pytest

from promptver.errors import InvalidFile
from promptver.evals.datasets import dataset_hash, parse_cases
from promptver.evals.suites import load_suite


def test_the_three_formats_give_the_same_cases():
    jsonl = '{"id": "c1", "vars": {"q": "hi"}, "expected": "yo", "metadata": {"lang": "en"}}\n\n# comment\n'
    yaml_text = "- id: c1\n  vars: {q: hi}\n  expected: yo\n  metadata: {lang: en}\n"
    csv_text = "id,q,expected,meta.lang\nc1,hi,yo,en\n"
    cases = [parse_cases(jsonl, "d.jsonl"), parse_cases(yaml_text, "d.yaml"), parse_cases(csv_text, "d.csv")]
    assert cases[0] == cases[1] == cases[2]
    assert dataset_hash(cases[0]) == dataset_hash(cases[2])
    assert parse_cases('{"vars": {}}\n', "d.jsonl")[0].id == "case-1"


@pytest.mark.parametrize("text, name, message", [
    ('{"id": "a", "vars": {}}\n{bad\n', "d.jsonl", "d.jsonl:2: not valid JSON"),
    ('{"id": "a", "varz": {}}\n', "d.jsonl", "d.jsonl:1: unknown field(s) varz"),
    ('{"id": "a", "vars": [1]}\n', "d.jsonl", "d.jsonl:1: vars must be a mapping"),
    ('{"id": "a", "vars": {}}\n{"id": "a", "vars": {}}\n', "d.jsonl", "d.jsonl: case id 'a' appears twice"),
    ("", "d.jsonl", "d.jsonl: the dataset has no cases"),
    ("id,q\nc1,hi,extra\n", "d.csv", "d.csv:2: more values than header columns"),
    ("a: [\n", "d.yaml", "d.yaml:2: malformed YAML"),
    ("x", "d.txt", "d.txt: unknown dataset format .txt"),
])
def test_bad_datasets_name_file_line_and_field(text, name, message):
    with pytest.raises(InvalidFile) as info:
        parse_cases(text, name)
    assert str(info.value).startswith(message)


def _suite(tmp_path, body, dataset='{"id": "c1", "vars": {"q": "x"}}\n'):
    (tmp_path / "cases.jsonl").write_text(dataset)
    path = tmp_path / "s.yaml"
    path.write_text(body)
    return path


def test_suite_loads_and_hashes(tmp_path):
    path = _suite(tmp_path, "dataset: cases.jsonl\nprompts: [p@production, p/3]\nmodels: m/1\n"
                            "scorers: [{type: contains}]\nrepeats: 2\n")
    suite = load_suite(path)
    assert (suite.name, suite.prompts, suite.models, suite.repeats) == ("s", ["p@production", "p/3"], ["m/1"], 2)
    before = suite.hash
    path.write_text(path.read_text().replace("repeats: 2", "repeats: 3"))
    assert load_suite(path).hash != before


@pytest.mark.parametrize("body, message", [
    ("prompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\n", "dataset must name a file"),
    ("dataset: nope.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\n", "dataset: no file"),
    ("dataset: cases.jsonl\nprompts: []\nmodels: [m/1]\nscorers: [{type: contains}]\n", "prompts must be a non-empty list"),
    ("dataset: cases.jsonl\nprompts: [p/x]\nmodels: [m/1]\nscorers: [{type: contains}]\n", "prompts: bad ref 'p/x'"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m@prod]\nscorers: [{type: contains}]\n", "labels belong to prompts"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: []\n", "scorers must be a non-empty list"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\nrepeats: 0\n",
     "repeats must be at least 1"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\nrepeat: 2\n",
     "unknown field(s) repeat"),
])
def test_bad_suites_name_the_field(tmp_path, body, message):
    with pytest.raises(InvalidFile) as info:
        load_suite(_suite(tmp_path, body))
    assert str(info.value).startswith(str(tmp_path / "s.yaml") + ": ") and message in str(info.value)


def test_dataset_versions_dedup(reg):
    from promptver.evals.datasets import parse_cases
    from promptver.services import datasets

    cases = parse_cases('{"id": "c1", "vars": {"q": "x"}}\n', "d.jsonl")
    raw = [c.to_json() for c in cases]
    first, created = datasets.push(reg, "support", raw, dataset_hash(cases), source="d.jsonl")
    again, created_again = datasets.push(reg, "support", raw, dataset_hash(cases))
    assert (first.version, created, again.version, created_again) == (1, True, 1, False)
    more = parse_cases('{"id": "c1", "vars": {"q": "x"}}\n{"id": "c2", "vars": {"q": "y"}}\n', "d.jsonl")
    second, _ = datasets.push(reg, "support", [c.to_json() for c in more], dataset_hash(more))
    assert second.version == 2 and len(second.cases) == 2
    assert datasets.get(reg, "support", 1).cases == raw

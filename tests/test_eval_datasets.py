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
    ("a: [\n", "d.yaml", "d.yaml:2:1: malformed YAML"),
    ("x", "d.txt", "d.txt: unknown dataset format .txt"),
    # hostile values: refused with the line, never a RecursionError or a lone surrogate reaching the hash
    ('{"vars": {"q": ' + "[" * 5000 + "]" * 5000 + "}}\n", "d.jsonl", "d.jsonl:1: not valid JSON here: it nests too deeply"),
    ('{"vars": {"q": ' + "[" * 65 + "]" * 65 + "}}\n", "d.jsonl", "d.jsonl:1: vars.q" + "[0]" * 63 + " nests more than 64"),
    ('{"vars": {"q": ' + "9" * 5000 + "}}\n", "d.jsonl", "d.jsonl:1: not valid JSON here: a number has more than 4300 digits"),
    ('{"vars": {"q": "\\ud800"}}\n', "d.jsonl", "d.jsonl:1: vars.q contains a lone surrogate"),
    ('{"vars": {"q": "a\\u0000b"}}\n', "d.jsonl", r"d.jsonl:1: vars.q contains a NUL character"),
    ('{"vars": {"\\ud800": 1}}\n', "d.jsonl", "d.jsonl:1: vars: a key contains a lone surrogate"),
    ("- vars: {q: " + "[" * 150 + "]" * 150 + "}\n", "d.yaml", "d.yaml:1:"),
    ("- vars: {q: 2024-02-30}\n", "d.yaml", "d.yaml: malformed YAML: day is out of range for month"),
    ("- vars:\n    q: !!python/object/apply:os.system [echo hi]\n", "d.yaml",
     "d.yaml:2:8: malformed YAML: could not determine a constructor for the tag"),
    ("- vars: {q: 1}\n  x: 2\n", "d.yaml", "d.yaml: case 1: unknown field(s) x"),
    ("3\n", "d.yaml", "d.yaml: expected a list of cases"),
    ("a\nx\x00y\n", "d.csv", r"d.csv:2: vars.a contains a NUL character (\u0000), which cannot be stored"),
])
def test_bad_datasets_name_file_line_and_field(text, name, message):
    with pytest.raises(InvalidFile) as info:
        parse_cases(text, name)
    assert str(info.value).startswith(message)


def test_a_long_csv_cell_is_read():
    cases = parse_cases("id,q\nc1," + "x" * 200_000 + "\n", "d.csv")  # over the csv module's default 131072
    assert len(cases[0].vars["q"]) == 200_000


def test_dataset_files_are_streamed_bounded_and_regular(tmp_path, monkeypatch):
    import os

    from promptver.evals import datasets
    from promptver.templates import reading

    path = tmp_path / "d.jsonl"
    path.write_text("".join(f'{{"id": "c{i}", "vars": {{"q": "{i}"}}}}\n' for i in range(300)))
    assert [c.id for c in datasets.load_cases(path)][-1] == "c299"
    monkeypatch.setattr(reading, "MAX_DATASET_BYTES", 1000)
    monkeypatch.setattr(datasets, "MAX_DATASET_BYTES", 1000)
    with pytest.raises(InvalidFile, match=r"d.jsonl: larger than 1,000 bytes, the limit of a dataset"):
        datasets.load_cases(path)
    fifo = tmp_path / "f.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InvalidFile, match=r"f.jsonl: cannot read: it is a FIFO \(named pipe\); promptver reads only "
                                          "regular files"):
        datasets.load_cases(fifo)  # opened without blocking: a FIFO nobody writes to never hangs
    (tmp_path / "bad.jsonl").write_bytes(b'{"vars": {}}\n{"vars": {"q": "\xff"}}\n')
    with pytest.raises(InvalidFile, match=r"bad.jsonl:2: not UTF-8 text \(byte 0xff at offset 29\)"):
        datasets.load_cases(tmp_path / "bad.jsonl")


def test_a_dataset_may_share_values_through_yaml_aliases_within_bounds():
    text = "- {id: a, vars: {ctx: &ctx long shared context}}\n- {id: b, vars: {ctx: *ctx}}\n"
    cases = parse_cases(text, "d.yaml")
    assert cases[1].vars["ctx"] == "long shared context"
    bomb = "cases:\n  - {id: z, vars: {q: 1}}\nbomb:\n"
    for i in range(1, 9):
        bomb += f"  - &a{i} [" + ", ".join([f"*a{i - 1}" if i > 1 else "'lol'"] * 10) + "]\n"
    with pytest.raises(InvalidFile, match=r"d.yaml: its aliases \(\*name\) expand to more than 10,000,000 bytes"):
        parse_cases(bomb, "d.yaml")


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
    # limits and hostile values
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\nrepeats: 1000000000000\n",
     "repeats must be at most 1000 (the limit)"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\nconcurrency: 100000\n",
     "concurrency must be at most 1024 (the limit)"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\ntimeout: .nan\n",
     "timeout must be a number"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\ntimeout: .inf\n",
     "timeout must be a number"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\ntimeout: 86400\n",
     "timeout must be at most 3600 (the limit)"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\nmin_pass_rate: .nan\n",
     "min_pass_rate must be a number"),
    ("dataset: cases.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\ndescription: [1]\n",
     "description must be text"),
    ('dataset: "a\\0b"\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\n', "dataset: cannot use the path"),
    ("dataset: " + "a" * 5000 + "\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\n", "dataset: no file"),
    ("dataset: .\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\n", "dataset: no file"),
    ("- a\n", "expected a mapping with name, messages, ... at the top level, found a list"),
])
def test_bad_suites_name_the_field(tmp_path, body, message):
    with pytest.raises(InvalidFile) as info:
        load_suite(_suite(tmp_path, body))
    assert str(info.value).startswith(str(tmp_path / "s.yaml") + ": ") and message in str(info.value)


def test_a_suite_names_no_fifo_as_its_dataset_and_is_no_fifo_itself(tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo.jsonl")
    with pytest.raises(InvalidFile, match="dataset: no file"):
        load_suite(_suite(tmp_path, "dataset: fifo.jsonl\nprompts: [p/1]\nmodels: [m/1]\nscorers: [{type: contains}]\n"))
    os.mkfifo(tmp_path / "suite.yaml")
    with pytest.raises(InvalidFile, match=r"suite.yaml: cannot read: it is a FIFO"):
        load_suite(tmp_path / "suite.yaml")


def test_calls_per_run_are_capped_naming_the_product(tmp_path):
    from promptver.errors import InvalidValue
    from promptver.evals.suites import MAX_CALLS, check_calls

    suite = load_suite(_suite(tmp_path, "dataset: cases.jsonl\nprompts: [p/1, p/2]\nmodels: [m/1, m/2, m/3]\n"
                                        "scorers: [{type: contains}]\nrepeats: 1000\n"))
    check_calls(suite, MAX_CALLS // 6000)  # 166 cases x 6 pairings x 1000 = 996,000: fine
    with pytest.raises(InvalidValue) as info:
        check_calls(suite, 200)
    assert str(info.value).endswith("s.yaml: 200 cases x 6 prompt x model pairings x 1,000 repeats = 1,200,000 calls, "
                                    "over the limit of 1,000,000 calls per run; use fewer repeats, cases or pairings")


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

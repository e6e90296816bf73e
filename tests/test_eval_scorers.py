"""evals/scorers.py: declarations, every scorer type, the expected-value rule, versions, the judge."""

import asyncio
import textwrap

import pytest
import yaml

from promptver.errors import InvalidFile, InvalidValue
from promptver.evals.scorers import (
    Score,
    ScoreInput,
    load_code,
    parse_judge_reply,
    parse_scorers,
    score,
    validate_expected,
)

WHERE = "evals/support-reply.yaml"
KNOWN = "contains, cost, equals, json-schema, json-valid, latency, llm-judge, not-contains, python, regex"


def one(decl, base_dir=None):
    return parse_scorers([decl], WHERE, base_dir=base_dir)[0]


def run(scorer, output="", judge=None, **fields):
    fields.setdefault("case_id", "c1")
    return asyncio.run(score(scorer, ScoreInput(output, **fields), judge))


def pinned(decl):
    return one(decl).with_judge("3f9a1c20b7d4", "a" * 64, "b" * 64)


def module(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


# every type, pass and fail ----------------------------------------------------------------------------


@pytest.mark.parametrize("decl, output, fields, passed, detail", [
    ({"type": "contains", "value": "refund"}, "Your refund is on its way", {}, True, "found 'refund'"),
    ({"type": "contains", "value": "refund"}, "Your Refund is on its way", {}, False, "'refund' not found"),
    ({"type": "contains", "value": "refund", "ignore_case": True}, "Your Refund", {}, True, "found 'refund'"),
    ({"type": "not-contains", "value": "As an AI"}, "Sure, here it is", {}, True, "none found"),
    ({"type": "not-contains", "value": "As an AI"}, "As an AI, I cannot", {}, False, "found 'As an AI'"),
    ({"type": "regex", "pattern": r"^Order [A-Z]-\d+"}, "Order A-1001 shipped", {}, True, "matched 'Order A-1001'"),
    ({"type": "regex", "pattern": r"^Order [A-Z]-\d+"}, "Your Order A-1001", {}, False,
     r"no match for /^Order [A-Z]-\d+/"),
    ({"type": "regex", "pattern": "^order", "ignore_case": True}, "ORDER 1", {}, True, "matched 'ORDER'"),
    ({"type": "equals", "value": "yes"}, "  yes\n", {}, True, "equal"),
    ({"type": "equals", "value": "yes", "strip": False}, "  yes\n", {}, False, "output 'yes' != 'yes'"),
    ({"type": "equals", "value": "yes"}, "Yes", {}, False, "output 'Yes' != 'yes'"),
    ({"type": "equals", "value": "yes", "ignore_case": True}, "Yes", {}, True, "equal"),
    ({"type": "json-valid"}, '{"queue": "billing"}', {}, True, "valid JSON"),
    ({"type": "json-valid"}, '{"queue": }', {}, False, "not JSON: Expecting value at line 1 column 11"),
    ({"type": "json-schema", "schema": {"type": "object", "required": ["queue"]}}, '{"queue": "x"}', {}, True,
     "matches the schema"),
    ({"type": "json-schema", "schema": {"type": "object", "required": ["queue"]}}, '{"q": 1}', {}, False,
     "schema: $: 'queue' is a required property"),
    ({"type": "json-schema", "schema": {"properties": {"n": {"type": "integer"}}}}, '{"n": "2"}', {}, False,
     "schema: $.n: '2' is not of type 'integer'"),
    ({"type": "json-schema", "schema": {"type": "object"}}, "sure: {}", {}, False,
     "not JSON: Expecting value at line 1 column 1"),
    ({"type": "latency", "max_ms": 2000}, "x", {"latency_ms": 1999.6}, True, "2000 ms <= 2000 ms"),
    ({"type": "latency", "max_ms": 2000}, "x", {"latency_ms": 2400.0}, False, "2400 ms > 2000 ms"),
    ({"type": "latency", "max_ms": 2000}, "x", {}, False, "no latency recorded"),
    ({"type": "cost", "max_usd": 0.01}, "x", {"cost_usd": 0.0042}, True, "$0.0042 <= $0.01"),
    ({"type": "cost", "max_usd": 0.01}, "x", {"cost_usd": 0.02}, False, "$0.02 > $0.01"),
    ({"type": "cost", "max_usd": 0.01}, "x", {}, False, "cost unknown (none was reported for this call)"),
])
def test_each_type_passes_and_fails(decl, output, fields, passed, detail):
    result = run(one(decl), output, **fields)
    assert (result.passed, result.detail) == (passed, detail)
    assert result.value == (1.0 if passed else 0.0)


def test_a_missing_output_is_scored_as_empty_text():
    assert run(one({"type": "not-contains", "value": "AI"}), None).passed
    assert not run(one({"type": "json-valid"}), None).passed


# the case's expected value ---------------------------------------------------------------------------


def test_text_scorers_without_a_value_use_the_case_expected():
    contains, absent, equals = parse_scorers([{"type": "contains"}, {"type": "not-contains"}, {"type": "equals"}],
                                             WHERE)
    assert contains.uses_expected and absent.uses_expected and equals.uses_expected
    assert run(contains, "Your order shipped", expected="order").passed
    assert run(contains, "We are open at 9", expected=["order", "open"]).detail == "found 'open'"  # any of
    assert run(contains, "Hello", expected=["order", "open"]).detail == "none of 'order', 'open' found"
    assert run(absent, "Hello there", expected=["sorry", "As an AI"]).passed  # all absent
    assert run(absent, "Sorry, As an AI", expected=["sorry", "As an AI"]).detail == "found 'As an AI'"
    assert run(equals, "B", expected=["A", "B"]).passed
    assert not one({"type": "contains", "value": "x"}).uses_expected


def test_a_missing_expected_value_is_a_clear_error_naming_the_case():
    contains = one({"type": "contains"})
    message = ("case 'refund': scorer 'contains' compares with the case's expected value, but the case has none "
               "(give the case an expected value, or the scorer a value)")
    with pytest.raises(InvalidValue) as err:
        run(contains, "Refunds take 5 days", case_id="refund")
    assert str(err.value) == message
    with pytest.raises(InvalidValue) as err:
        validate_expected([one({"type": "json-valid"}), contains], "refund", None)
    assert str(err.value) == message
    with pytest.raises(InvalidValue, match=r"case 'x': scorer 'contains': expected must be a non-empty string or a "
                                           r"list of them, not \{'a': 1\}"):
        validate_expected([contains], "x", {"a": 1})
    validate_expected([contains, one({"type": "json-valid"})], "x", ["a", "b"])  # fine
    validate_expected([one({"type": "json-valid"})], "x", None)  # no scorer needs it


# declarations --------------------------------------------------------------------------------------


def test_a_suite_yaml_parses_with_default_names_and_thresholds():
    raw = yaml.safe_load(textwrap.dedent(r"""
        - type: contains
        - type: not-contains
          value: "As an AI"
        - type: regex
          pattern: "^Order [A-Z]-\\d+"
        - type: equals
          name: exact
          weight: 2
        - type: json-valid
        - type: json-schema
          schema: {type: object, required: [queue]}
        - type: latency
          max_ms: 2000
        - type: cost
          max_usd: 0.01
        - type: llm-judge
          judge: judge-rubric@production
          threshold: 0.7
    """))
    scorers = parse_scorers(raw, WHERE)
    assert [s.name for s in scorers] == [
        "contains", "not-contains:As an AI", r"regex:^Order [A-Z]-\d+", "exact", "json-valid", "json-schema",
        "latency", "cost", "llm-judge:judge-rubric@production"]
    assert [s.threshold for s in scorers] == [1.0] * 8 + [0.7]
    assert scorers[3].weight == 2.0 and scorers[0].weight == 1.0
    assert scorers[3].spec == {"type": "equals", "name": "exact", "threshold": 1.0, "weight": 2.0, "value": None,
                               "ignore_case": False, "strip": True}
    assert scorers[8].judge == "judge-rubric@production" and scorers[0].judge is None
    assert parse_scorers(None, WHERE) == []


@pytest.mark.parametrize("raw, message", [
    ({"type": "contains"}, "scorers must be a list of mappings, e.g. [{type: contains}]"),
    (["contains"], "scorers[0]: a scorer is a mapping with a type (e.g. {type: contains}), not 'contains'"),
    ([{"value": "x"}], f"scorers[0].type: missing; known types: {KNOWN}"),
    ([{"type": "json-valid"}, {"type": "bleu"}],
     f"scorers[1].type: unknown scorer type 'bleu'; known types: {KNOWN}"),
    ([{"type": "regex", "patern": "x"}],
     "scorers[0]: unknown field(s) patern; a regex scorer takes: pattern, ignore_case, name, threshold, weight"),
    ([{"type": "json-valid"}, {"type": "regex"}], "scorers[1].pattern: missing"),
    ([{"type": "json-valid"}, {"type": "json-valid", "name": "j"}, {"type": "regex", "pattern": "(a"}],
     "scorers[2].pattern: invalid regex: missing ), unterminated subpattern at position 0"),
    ([{"type": "contains", "value": ""}], "scorers[0].value: must be a non-empty string or a list of them, not ''"),
    ([{"type": "contains", "value": ["a", 3]}],
     "scorers[0].value: must be a non-empty string or a list of them, not ['a', 3]"),
    ([{"type": "equals", "strip": "no"}], "scorers[0].strip: must be true or false, not 'no'"),
    ([{"type": "json-schema"}], "scorers[0].schema: missing"),
    ([{"type": "json-schema", "schema": {"type": "objekt"}}],
     "scorers[0].schema: invalid JSON schema: $.type: 'objekt' is not valid under any of the given schemas"),
    ([{"type": "latency"}], "scorers[0].max_ms: missing"),
    ([{"type": "latency", "max_ms": 0}], "scorers[0].max_ms: must be a number above 0, not 0"),
    ([{"type": "cost", "max_usd": -1}], "scorers[0].max_usd: must be a number of at least 0, not -1"),
    ([{"type": "contains", "threshold": 1.5}], "scorers[0].threshold: must be a number from 0 to 1, not 1.5"),
    ([{"type": "contains", "threshold": True}], "scorers[0].threshold: must be a number from 0 to 1, not True"),
    ([{"type": "contains", "name": ""}],
     "scorers[0].name: must be a non-empty string of at most 100 characters, not ''"),
    ([{"type": "contains"}, {"type": "contains"}],
     ("scorers[1].name: 'contains' is already the name of scorers[0]; scorer names must be unique "
      "(set `name` on one of them)")),
    ([{"type": "python", "function": "my_checks.polite"}],
     "scorers[0].function: must be module:function (e.g. my_checks:polite), not 'my_checks.polite'"),
    ([{"type": "python", "function": "no_such_module_xyz:polite"}],
     "scorers[0].function: no module 'no_such_module_xyz' on sys.path"),
    ([{"type": "llm-judge"}], "scorers[0].judge: missing"),
    ([{"type": "llm-judge", "judge": "judge-rubric/3"}],
     ("scorers[0].judge: must name a pairing: NAME@LABEL (e.g. judge-rubric@production) or a pairing id, "
      "not 'judge-rubric/3'")),
    ([{"type": "llm-judge", "judge": "judge rubric@prod"}],
     ("scorers[0].judge: bad ref 'judge rubric@prod': invalid name 'judge rubric': may hold only letters, "
      "digits, '.', '_' and '-', starting with a letter or digit")),
    ([{"type": "llm-judge", "judge": "j@prod", "scale": 0}], "scorers[0].scale: must be a number above 0, not 0"),
])
def test_bad_declarations_name_the_file_the_scorer_and_the_field(raw, message):
    with pytest.raises(InvalidFile) as err:
        parse_scorers(raw, WHERE)
    assert str(err.value) == f"{WHERE}: {message}"


# versions ------------------------------------------------------------------------------------------


def test_version_follows_what_decides_the_score():
    base = one({"type": "regex", "pattern": "^Order"})
    assert one({"type": "regex", "pattern": "^Order", "ignore_case": False, "threshold": 1}).version == base.version
    assert one({"type": "regex", "pattern": "^Order", "weight": 3}).version == base.version  # weight scores nothing
    changed = [
        one({"type": "regex", "pattern": "^Order "}),
        one({"type": "regex", "pattern": "^Order", "ignore_case": True}),
        one({"type": "regex", "pattern": "^Order", "threshold": 0.5}),
        one({"type": "regex", "pattern": "^Order", "name": "order-line"}),
    ]
    versions = {base.version} | {s.version for s in changed}
    assert len(versions) == 5
    assert len(base.version) == 64


def test_judge_pinning_changes_the_version():
    scorer = one({"type": "llm-judge", "judge": "judge-rubric@production"})
    first = scorer.with_judge("3f9a1c20b7d4", "a" * 64, "b" * 64)
    assert first.judge_pairing == "3f9a1c20b7d4" and scorer.judge_pairing is None
    assert len({scorer.version, first.version, scorer.with_judge("3f9a1c20b7d4", "c" * 64, "b" * 64).version,
                scorer.with_judge("0d1e2f3a4b5c", "a" * 64, "b" * 64).version,
                one({"type": "llm-judge", "judge": "judge-rubric@staging"}).version}) == 5
    assert first.version == scorer.with_judge("3f9a1c20b7d4", "a" * 64, "b" * 64).version
    with pytest.raises(InvalidValue, match="'contains' is a contains scorer, not an llm-judge"):
        one({"type": "contains"}).with_judge("3f9a1c20b7d4", "a" * 64, "b" * 64)


def test_editing_a_python_scorer_changes_its_version_and_its_behaviour(tmp_path):
    module(tmp_path, "my_checks", "def polite(output, case):\n    return 'please' in output\n")
    first = one({"type": "python", "function": "my_checks:polite"}, tmp_path)
    assert run(first, "please wait").passed
    module(tmp_path, "my_checks", "def polite(output, case):\n    return 'thanks' in output\n")
    second = one({"type": "python", "function": "my_checks:polite"}, tmp_path)
    assert second.version != first.version and second.code_sha256 != first.code_sha256
    assert not run(second, "please wait").passed and run(second, "thanks").passed
    again = one({"type": "python", "function": "my_checks:polite"}, tmp_path)
    assert again.version == second.version


# python scorers ------------------------------------------------------------------------------------


def test_python_scorer_return_values(tmp_path):
    module(tmp_path, "checks", """
        async def later(output, case):
            return 0.25

        def polite(output, case):
            return "please" in output

        def graded(output, case):
            return len(output) / 10

        def explained(output, case):
            return 0.9, f"case {case.case_id} wants {case.expected}"

        def weird(output, case):
            return "yes"
    """)
    scorers = parse_scorers([{"type": "python", "function": f"checks:{name}"}
                             for name in ("polite", "graded", "explained", "weird", "later")], WHERE,
                            base_dir=tmp_path)
    polite, graded, explained, weird, later = scorers
    assert polite.threshold == 0.5 and polite.name == "python:checks:polite"
    assert run(polite, "please") == Score("python:checks:polite", 1.0, True, "true")
    assert run(polite, "no") == Score("python:checks:polite", 0.0, False, "false")
    assert (run(graded, "abcdefg").value, run(graded, "abcdefg").passed) == (0.7, True)
    assert (run(graded, "abc").value, run(graded, "abc").passed) == (0.3, False)
    assert run(explained, "x", expected="refund").detail == "case c1 wants refund"
    assert run(later, "x").value == 0.25
    bad = run(weird, "x")
    assert not bad.passed and bad.detail == ("checks:weird returned 'yes': expected true/false, a number in [0, 1], "
                                             "or (number, detail)")
    too_big = run(graded, "x" * 30)
    assert (too_big.value, too_big.passed) == (0.0, False) and "returned 3.0" in too_big.detail


def test_an_exception_inside_a_python_scorer_fails_the_score_without_crashing(tmp_path):
    module(tmp_path, "boom", """
        def check(output, case):
            return 1 / len(output)
    """)
    scorer = one({"type": "python", "function": "boom:check", "threshold": 0}, tmp_path)
    result = run(scorer, "")
    assert result == Score("python:boom:check", 0.0, False, "boom:check raised ZeroDivisionError: division by zero")
    assert run(scorer, "ab").value == 0.5


def test_python_modules_resolve_from_the_suite_folder_first(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    module(tmp_path / "a", "suite_checks", "import helper\ndef check(output, case):\n    return helper.OK\n")
    module(tmp_path / "a", "helper", "OK = True\n")
    module(tmp_path / "b", "suite_checks", "def check(output, case):\n    return False\n")
    in_a = one({"type": "python", "function": "suite_checks:check"}, tmp_path / "a")
    in_b = one({"type": "python", "function": "suite_checks:check"}, tmp_path / "b")
    assert run(in_a, "x").passed and not run(in_b, "x").passed
    assert in_a.version != in_b.version
    import sys
    assert str(tmp_path / "a") not in sys.path and str(tmp_path / "b") not in sys.path


def test_python_scorer_in_a_package(tmp_path):
    (tmp_path / "pkg_checks").mkdir()
    (tmp_path / "pkg_checks" / "__init__.py").write_text("")
    module(tmp_path / "pkg_checks", "tone", "from . import words\ndef calm(output, case):\n"
                                            "    return words.LOUD not in output\n")
    module(tmp_path / "pkg_checks", "words", "LOUD = '!!!'\n")
    scorer = one({"type": "python", "function": "pkg_checks.tone:calm"}, tmp_path)
    assert run(scorer, "ok.").passed and not run(scorer, "no!!!").passed


def test_python_scorer_in_a_namespace_package(tmp_path):
    (tmp_path / "ns_checks").mkdir()
    module(tmp_path / "ns_checks", "length", "def short(output, case):\n    return len(output) < 5\n")
    scorer = one({"type": "python", "function": "ns_checks.length:short"}, tmp_path)
    assert run(scorer, "ok").passed and not run(scorer, "too long").passed


def test_reading_a_suite_never_runs_its_python_scorers(tmp_path):
    import hashlib
    import sys

    marker = tmp_path / "ran.txt"
    path = module(tmp_path, "side_effect_checks", f"""
        open({str(marker)!r}, "a").write("ran\\n")
        def check(output, case):
            return True
    """)
    scorer = one({"type": "python", "function": "side_effect_checks:check"}, tmp_path)
    assert scorer.code_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()  # found and hashed ...
    assert not marker.exists() and "side_effect_checks" not in sys.modules  # ... not executed
    said = []
    load_code([scorer, one({"type": "contains", "value": "x"})], said.append)
    assert marker.read_text() == "ran\n"
    assert said == [f"loading python scorer code {path} (a suite is code: it runs with your permissions)"]
    load_code([scorer], said.append)  # loaded once: nothing more is said or run
    assert len(said) == 1 and marker.read_text() == "ran\n" and run(scorer, "x").passed


def test_a_python_scorer_edited_after_the_suite_was_read_is_refused(tmp_path):
    module(tmp_path, "edited_checks", "def check(output, case):\n    return True\n")
    scorer = one({"type": "python", "function": "edited_checks:check"}, tmp_path)
    module(tmp_path, "edited_checks", "def check(output, case):\n    return False\n")
    with pytest.raises(InvalidFile) as err:
        load_code([scorer])
    assert str(err.value) == (f"{WHERE}: scorers[0].function: {tmp_path / 'edited_checks.py'} changed since the suite "
                              "was read; run again")


def test_a_python_scorer_never_replaces_a_module_loaded_by_someone_else(tmp_path):
    import json
    import sys

    module(tmp_path, "json", "def check(output, case):\n    return True\n")
    with pytest.raises(InvalidFile) as err:
        one({"type": "python", "function": "json:check"}, tmp_path)
    assert str(err.value) == (f"{WHERE}: scorers[0].function: {tmp_path / 'json.py'} would replace the module 'json' "
                              f"already loaded from {json.__file__}: rename it")
    assert sys.modules["json"] is json


@pytest.mark.parametrize("source, function, message", [
    ("def other(output, case):\n    return True\n", "mod_a:check", "module 'mod_a' has no function 'check'"),
    ("CHECK = 3\n", "mod_b:CHECK", "mod_b:CHECK is not a function"),
    ("def check(output, case)\n    return True\n", "mod_c:check",
     "importing 'mod_c' failed: SyntaxError: expected ':' (mod_c.py, line 1)"),
    ("raise RuntimeError('needs a key')\n", "mod_d:check", "importing 'mod_d' failed: RuntimeError: needs a key"),
])
def test_python_scorer_import_problems(tmp_path, source, function, message):
    module(tmp_path, function.partition(":")[0], source)
    scorer = one({"type": "python", "function": function}, tmp_path)  # reading the suite executes nothing
    with pytest.raises(InvalidFile) as err:
        load_code([scorer])  # the run loads it
    assert str(err.value) == f"{WHERE}: scorers[0].function: {message}"
    with pytest.raises(InvalidFile, match=r"scorers\[0\].function: no module 'nope_xyz' in "):
        one({"type": "python", "function": "nope_xyz:check"}, tmp_path)


# the llm judge -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, scale, value", [
    ("PASS", None, 1.0),
    ("pass - polite and correct", None, 1.0),
    ("**FAIL**: mentions a competitor", None, 0.0),
    ("Failed.", None, 0.0),
    ("0.8", None, 0.8),
    ("0.8\nThe answer is mostly right", None, 0.8),
    (".5", None, 0.5),
    ("1", None, 1.0),
    ("7", None, 0.7),
    ("7.5/10 good", None, 0.75),
    ("4/5", None, 0.8),
    ("80%", None, 0.8),
    ("10", None, 1.0),
    ("1", 10, 0.1),
    ("3", 5, 0.6),
    ("PASS", 10, 1.0),
    ("11", None, None),
    ("6", 5, None),
    ("-1", None, None),
    ("12/10", None, None),
    ("Score: 8", None, None),
    ("The answer is good. PASS", None, None),
    ("", None, None),
    ("   ", None, None),
])
def test_judge_reply_table(reply, scale, value):
    result = parse_judge_reply(reply, scale=scale)
    assert result == (pytest.approx(value) if value is not None else None)


def test_llm_judge_scores_with_the_injected_judge():
    seen = []

    async def judge(variables):
        seen.append(variables)
        return "8 - clear and polite"

    scorer = pinned({"type": "llm-judge", "judge": "judge-rubric@production", "threshold": 0.7})
    result = run(scorer, "Your order ships today", judge, expected="order", vars={"question": "Where?"},
                 metadata={"tier": "gold"})
    assert result == Score("llm-judge:judge-rubric@production", 0.8, True, "judge: 8 - clear and polite")
    assert seen == [{"input": {"question": "Where?"}, "output": "Your order ships today", "expected": "order",
                     "case_id": "c1", "metadata": {"tier": "gold"}}]


def test_a_judge_reply_not_understood_fails_whatever_the_threshold():
    async def judge(variables):
        return "I think this is fine"

    result = run(pinned({"type": "llm-judge", "judge": "j@prod", "threshold": 0}), "x", judge)
    assert result == Score("llm-judge:j@prod", 0.0, False, "judge reply not understood: 'I think this is fine'")


def test_llm_judge_needs_a_pinned_pairing_and_a_judge_and_lets_judge_errors_through():
    async def judge(variables):
        raise ConnectionError("judge model down")

    with pytest.raises(InvalidValue, match="the judge j@prod is not pinned to a pairing"):
        run(one({"type": "llm-judge", "judge": "j@prod"}), "x", judge)
    with pytest.raises(InvalidValue, match="scoring needs the judge function for j@prod"):
        run(pinned({"type": "llm-judge", "judge": "j@prod"}), "x")
    with pytest.raises(ConnectionError):
        run(pinned({"type": "llm-judge", "judge": "j@prod"}), "x", judge)


# failed calls and thresholds -----------------------------------------------------------------------


def test_a_failed_call_is_not_scored():
    with pytest.raises(InvalidValue) as err:
        run(one({"type": "json-valid"}), None, case_id="refund", error="ModelTimeout: the model call timed out")
    assert str(err.value) == ("case 'refund': the call failed, so it is not scored: "
                              "ModelTimeout: the model call timed out")


def test_threshold_zero_reports_without_gating_but_broken_scores_still_fail():
    report_only = one({"type": "contains", "value": "refund", "threshold": 0})
    assert run(report_only, "no").passed
    assert not run(one({"type": "latency", "max_ms": 10, "threshold": 0}), "x").passed


def test_a_score_value_outside_zero_to_one_is_refused():
    with pytest.raises(InvalidValue):
        Score("x", 1.5, True, "")

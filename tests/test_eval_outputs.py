"""CI outputs of eval runs (JUnit XML, Markdown) and a suite's history, over real runs made through the CLI."""

import json
import xml.etree.ElementTree as ET

import pytest
from conftest import write_suite as _suite
from openai_stub import openai_stub_fixture  # noqa: F401  (the openai_stub fixture)

from promptver.evals.history import HistoryPoint, HistoryRow, history, render_history, sparkline
from promptver.evals.outputs import MAX_FLIPS, CaseRow, case_rows, junit_xml, markdown, pct, verdict
from promptver.evals.report import build_report

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def reg(example):
    from promptver.services.registry import Registry

    with Registry.open(actor="tester") as registry:
        yield registry


def _run(cli, *args):
    result = cli("eval", *args, "--json")
    return result.code, json.loads(result.stdout)


def test_junit_xml_of_a_passing_run(example, reg):
    code, out = _run(example, "evals/support-reply.yaml")
    assert code == 0
    rows = case_rows(reg, out["run"])
    assert [r.case_id for r in rows] == ["order-status", "refund", "opening-hours"]  # dataset order
    assert all(r.passed and r.output for r in rows)
    root = ET.fromstring(junit_xml(build_report(reg, out["run"]), rows))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "0", "0")
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "support-reply/1 x support-llm/1"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    cell = out["cells"][0]
    assert props == {"run": out["run"], "pairing": cell["pairing"], "pass_rate": "1.0000", "status": "pass",
                     "results": "3", "expected": "3", "errors": "0", "missing": "0", "cached": str(cell["cached"]),
                     "prompt_tokens": str(cell["tokens"]["prompt"]),
                     "completion_tokens": str(cell["tokens"]["completion"]), "cost_usd": "0.000000",
                     "endpoint": "builtin:promptver/echo (builtin)",
                     "response_models": ", ".join(cell["response_models"]),
                     "system_fingerprints": ", ".join(cell["system_fingerprints"])}
    assert cell["tokens"]["prompt"] > 0 and cell["tokens"]["completion"] > 0
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["order-status", "refund", "opening-hours"]
    assert {c.get("classname") for c in cases} == {"support-reply/1 x support-llm/1"}
    assert not list(cases[0])


def test_failures_repeats_and_two_cells(example, reg):
    example("model", "add", "support-llm", "--model", "promptver/echo", "--param", "max_tokens=3")
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\n"
                                    "models: [support-llm/1, support-llm/2]\n"
                                    "scorers: [{type: contains, value: \"zzz\", name: \"has <zzz> & co\"}]\n"
                                    "repeats: 2\n")
    code, out = _run(example, suite)
    assert code == 1  # failed scores fail the run: min_pass_rate defaults to 1.0
    report = build_report(reg, out["run"])
    root = ET.fromstring(junit_xml(report, case_rows(reg, out["run"])))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("12", "12", "0")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["support-reply/1 x support-llm/1", "support-reply/1 x support-llm/2"]
    names = [c.get("name") for c in suites[0].findall("testcase")]
    assert names[:2] == ["order-status#0", "order-status#1"] and len(names) == 6
    failure = suites[0].find("testcase/failure")
    assert failure.get("message") == "has <zzz> & co" and failure.text.startswith("has <zzz> & co: ")
    assert suites[0].find("testcase/system-out").text
    md = markdown(report)
    assert md.startswith(f"## promptver eval s: below min_pass_rate in 2 cells\n\nRun `{out['run']}` (completed): "
                         "12/12 results, 0 errors, 0 cached, cost $0.0000, tokens ")
    assert "| prompt \\\\ model | support-llm/1 | support-llm/2 |\n|---|---|---|\n" in md
    assert "| support-reply/1 | 0% (0/6) | 0% (0/6) |" in md


def test_errors_are_infrastructure_and_markdown_compares(example, reg, openai_stub):
    example("model", "add", "remote-llm", "--model", "openai/gpt-4o-2024-08-06", "--param",
            f"api_base={openai_stub.url}", "--param", "temperature=0")
    openai_stub.plant("order", "Your order ships today.")
    openai_stub.plant("open", "We are open 9-5.")
    openai_stub.fail(500, match="refund", message="boom\x1b <&>")
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\n"
                                    "models: [remote-llm/1]\nscorers: [{type: contains}]\nmin_pass_rate: 0.5\n")
    code, out = _run(example, suite)
    assert code == 3 and out["errors"] == 1
    report = build_report(reg, out["run"])
    rows = case_rows(reg, out["run"])
    assert [r.passed for r in rows] == [True, None, True] and rows[1].error
    text = junit_xml(report, rows)
    root = ET.fromstring(text)  # the escape character would make it unparsable
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "0", "1")
    error = root.find("testsuite/testcase/error")
    assert error.get("type") == rows[1].error_kind and "\x1b" not in text
    assert verdict(report) == "incomplete (1 error)"
    comparison = {"baseline": "b" * 16, "cells": [{
        "pairing": out["cells"][0]["pairing"], "prompt": "support-reply/1", "model": "remote-llm/1", "before": 1.0,
        "after": 0.5, "summary": "pass rate 100% -> 50% (-50 pts, McNemar p=0.01: significant)",
        "significant": True, "direction": "worse", "regressed": [f"case-{i}" for i in range(25)],
        "fixed": ["we`ird|id"], "baseline_pairing": "0123abcd0123", "regression": True}]}
    md = markdown(report, comparison)
    assert md.startswith("## promptver eval s: incomplete (1 error) and regression in 1 cell\n")  # both named
    assert "| support-reply/1 | 100% (2/2 ran), 1 missing (1 error) |" in md
    assert f"### Compared with run `{'b' * 16}`" in md
    assert ("| support-reply/1 | remote-llm/1 | 100% (pairing `0123abcd0123`) | 50% | **regression**: pass rate "
            "100% -> 50% (-50 pts") in md
    assert "### Errors\n\n- 1 x unavailable: HTTP 500: boom" in md and "(e.g. support-reply/1 x remote-llm/1, case refund)" in md
    bullets = md.split("**: 25 regressed, 1 fixed\n\n", 1)[1].splitlines()
    assert bullets[0] == "- `case-0`: pass → fail" and len(bullets) == MAX_FLIPS + 1
    assert bullets[-1] == "- and 6 more"  # 25 regressed + 1 fixed, the fixed one last


def test_verdict_from_a_comparison_and_percentages(example, reg):
    _, out = _run(example, "evals/support-reply.yaml")
    report = build_report(reg, out["run"])
    assert verdict(report) == "pass"
    worse = {"baseline": "x", "cells": [{"significant": True, "direction": "worse", "regressed": [], "fixed": []}]}
    assert verdict(report, worse) == "regression in 1 cell"
    assert markdown(report, worse).startswith("## promptver eval support-reply: regression in 1 cell\n")
    assert [pct(x) for x in (None, 0.0, 0.001, 5 / 6, 0.999, 1.0)] == ["-", "0%", "1%", "83%", "99%", "100%"]


def test_junit_marks_calls_an_interrupted_run_never_made_as_skipped(example, reg, monkeypatch):
    from promptver.evals import runner

    real, calls = runner.Executor._one, {"n": 0}

    async def interrupt(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return await real(self, *args)

    monkeypatch.setattr(runner.Executor, "_one", interrupt)
    monkeypatch.setattr(runner, "FLUSH_EVERY", 1)
    code, out = _run(example, "evals/support-reply.yaml", "--no-cache")
    assert code == 130
    rows = case_rows(reg, out["run"])
    assert len(rows) == 3 and sum(r.skipped for r in rows) == 3 - out["results"]
    root = ET.fromstring(junit_xml(build_report(reg, out["run"]), rows))
    assert root.get("skipped") == str(3 - out["results"]) and root.get("errors") == "0"
    missing = 3 - out["results"]
    assert verdict(build_report(reg, out["run"])) == f"interrupted ({missing} call{'' if missing == 1 else 's'} not made)"


def test_sparkline_edges():
    assert sparkline([]) == ""
    assert sparkline([None, None]) == "  "
    assert sparkline([0.5, 0.5, 0.5]) == "▅▅▅"  # scaled to 0..1, not to the values
    assert sparkline([1.0, 1.0]) == "██"
    assert sparkline([0.0, None, 1.0, 2.0, -1.0, float("nan")]) == "▁ ██▁ "
    assert sparkline([3.0, 3.0], lo=None, hi=None) == "▄▄"  # constant, auto-scaled: the middle bar
    assert sparkline([10.0, 20.0, 15.0], lo=None, hi=None) == "▁█▅"


def test_render_history_aligns_and_shows_the_latest():
    from datetime import UTC, datetime

    def point(rate):
        return HistoryPoint("r", datetime.now(UTC), "completed", 3, 0, 0, rate, 1.0, 0.0)

    rows = [HistoryRow("p1", "support-reply/1", "support-llm/1", [point(0.5), point(5 / 6)]),
            HistoryRow("p2", "support-reply/10", "support-llm/1", [point(None)])]
    assert render_history(rows) == [
        "support-reply/1 x support-llm/1   ▅▇  83% (latest)  runs: 2",
        "support-reply/10 x support-llm/1      no scores (latest)  runs: 1",
    ]
    assert render_history([]) == []
    errored = HistoryPoint("r", datetime.now(UTC), "completed", 3, 2, 1, 1.0, 1.0, 0.0)
    assert render_history([HistoryRow("p1", "a/1", "m/1", [errored])]) == [
        "a/1 x m/1  █  100% (latest, incomplete: 1 error)  runs: 1"]


def test_history_over_several_runs(example, reg):
    for _ in range(3):
        assert _run(example, "evals/support-reply.yaml")[0] == 0
    path = example.project / "evals" / "support-reply.yaml"
    path.write_text(path.read_text().replace("type: contains", "type: contains\n    value: order"))
    assert _run(example, "evals/support-reply.yaml")[0] == 1  # 1 of 3 cases passes: below the default threshold
    example("sync")
    other = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\n"
                                    "models: [support-llm/1]\nscorers: [{type: contains}]\n", name="other.yaml")
    _run(example, other)  # another suite: not in this history
    rows = history(reg, "support-reply")
    assert len(rows) == 1
    [row] = rows
    assert (row.prompt, row.model) == ("support-reply/1", "support-llm/1")
    assert [p.pass_rate for p in row.points] == [1.0, 1.0, 1.0, 1 / 3]
    assert row.points == sorted(row.points, key=lambda p: p.created_at)
    assert all(p.cost_usd == 0 and p.mean_latency_ms is not None and p.state == "completed" for p in row.points)
    assert render_history(rows) == ["support-reply/1 x support-llm/1  ███▃  33% (latest)  runs: 4"]
    assert [p.run_id for p in history(reg, "support-reply", limit=2)[0].points] == [p.run_id for p in row.points[2:]]
    assert row.to_json()["runs"][-1]["pass_rate"] == 1 / 3
    assert history(reg, "nope") == []


def test_case_row_defaults():
    row = CaseRow("p", "c", 0, None)
    assert row.failures == [] and not row.skipped


def test_markdown_of_a_real_comparison(example, reg):
    from promptver.evals.compare import compare

    _, first = _run(example, "evals/support-reply.yaml")
    path = example.project / "prompts" / "support-reply.yaml"
    path.write_text(path.read_text().replace('content: "{{ question }}"', 'content: "Please help with `this`|that."'))
    example("sync")
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/2]\n"
                                    "models: [support-llm/1]\nscorers: [{type: contains}]\n")
    _, second = _run(example, suite)
    comparison = compare(reg, first["run"], second["run"], strict=True)
    md = markdown(build_report(reg, second["run"]), comparison)
    # strict: any flip regresses; every case also fails the default min_pass_rate
    assert md.startswith("## promptver eval s: below min_pass_rate in 1 cell and regression in 1 cell\n")
    assert "| support-reply/2 | support-llm/1 | 100% (support-reply/1 x support-llm/1, pairing `" in md
    assert "| 0% |" in md
    assert "**support-reply/2 x support-llm/1**: 3 regressed, 0 fixed" in md
    assert [line for line in md.splitlines() if line.startswith("- `")] == [
        "- `opening-hours`: pass → fail", "- `order-status`: pass → fail", "- `refund`: pass → fail"]


def test_odd_case_ids_stay_one_code_span():
    from promptver.evals.outputs import _code

    assert _code("a`b") == "``a`b``" and _code("`x") == "`` `x ``" and _code("plain") == "`plain`"

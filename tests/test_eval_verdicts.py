"""Verdicts, exit codes and what a report says about an incomplete run: errors and calls never made
are never a pass; their reasons, tokens, cost, endpoints are shown in text, --json, Markdown and JUnit.

Runs are real (the offline model, the local OpenAI-compatible stub) or, for states the runner cannot
be made to reach on demand (a run an endpoint circuit breaker stopped), stored directly through
storage/eval_writes as the runner stores them. Expected numbers are computed from what was planted.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from conftest import prompt_spec
from conftest import write_suite as _suite
from openai_stub import FINGERPRINT
from openai_stub import openai_stub_fixture  # noqa: F401  (the openai_stub fixture)

from promptver.evals.report import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_PASS, EXIT_REGRESSION, build_report

pytestmark = pytest.mark.usefixtures("fast_retries")

CASES = ("order-status", "refund", "opening-hours")  # the worked example's dataset, in order


def _json(result):
    return json.loads(result.stdout)


def _remote(example, stub, name="remote-llm", model="openai/gpt-4o-2024-08-06"):
    assert example("model", "add", name, "--model", model, "--param", f"api_base={stub.url}",
                   "--param", "temperature=0").code == 0
    return f"{name}/1"


def _remote_suite(example, model="remote-llm/1", extra="", name="s.yaml"):
    return _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\n"
                                   f"models: [{model}]\nscorers: [{{type: contains}}]\n{extra}", name)


def _show(example, run_id, *args):
    return example("eval", "show", run_id, *args)


@pytest.fixture
def project_reg(example):
    """The example project's registry, opened directly (to store runs as the runner stores them)."""
    from promptver.services.registry import Registry

    with Registry.open(actor="tester") as registry:
        yield registry


# -- errors: reasons, counts, samples; never a pass ---------------------------------------------------
def test_errors_alone_exit_3_and_every_output_gives_the_reasons(example, openai_stub, tmp_path):
    _remote(example, openai_stub)
    openai_stub.fail(500, match="refund", message="upstream exploded")       # both repeats: retried, then given up
    openai_stub.fail(400, match="open", message="bad thing asked", times=1)   # one of the two repeats
    suite = _remote_suite(example, extra="repeats: 2\n")
    md, junit = tmp_path / "r.md", tmp_path / "r.xml"
    ran = example("eval", suite, "--json", "--markdown", str(md), "--junit", str(junit))
    report = _json(ran)
    planted = {("unavailable", "refund"): 2, ("request", "opening-hours"): 1}
    errors, calls = sum(planted.values()), len(CASES) * 2
    assert ran.code == EXIT_INFRA and report["exit_code"] == EXIT_INFRA
    [cell] = report["cells"]
    assert (cell["results"], cell["expected"], cell["errors"], cell["missing"]) == (calls, calls, errors, 0)
    assert (cell["scored"], cell["passed"], cell["pass_rate"]) == (calls - errors, calls - errors, 1.0)
    assert cell["status"] == "incomplete" and cell["complete"] is False  # 100% of what ran: still not a pass
    assert report["failures"] == [] and report["verdict"] == f"incomplete ({errors} errors)"
    reasons = {(r["kind"], r["sample"]["case"]): r["count"] for r in report["error_reasons"]}
    assert reasons == planted
    first = report["error_reasons"][0]  # the most frequent first
    assert first["count"] == 2 and "upstream exploded" in first["error"]
    assert first["sample"] == {"pairing": cell["pairing"], "prompt": "support-reply/1", "model": "remote-llm/1",
                               "case": "refund"}
    assert report["resume"] == {"command": f"promptver eval {suite} --resume {report['run']}", "retries": errors,
                                "not_made": 0}

    text = _show(example, report["run"])
    assert text.code == EXIT_INFRA  # show exits with the verdict's code
    lines = text.stdout.splitlines()
    assert lines[1].startswith(f"support-reply/1  100% (3/3 ran), {errors} missing ({errors} errors)")
    at = lines.index("errors:")
    assert lines[at + 1].startswith("  2 x unavailable: ") and "upstream exploded" in lines[at + 1]
    assert lines[at + 1].endswith("(e.g. support-reply/1 x remote-llm/1, case refund)")
    assert lines[at + 2].startswith("  1 x request: ") and lines[at + 2].endswith("case opening-hours)")
    assert f"resume: promptver eval {suite} --resume {report['run']} (retries the 3 calls that errored and makes " \
           "the 0 not made)" in lines
    assert lines[-1] == f"verdict: incomplete ({errors} errors) (exit 3)"

    markdown = md.read_text()
    assert markdown.startswith(f"## promptver eval s: incomplete ({errors} errors)\n")
    assert "| support-reply/1 | 100% (3/3 ran), 3 missing (3 errors) |" in markdown
    assert "- 2 x unavailable: " in markdown and "(e.g. support-reply/1 x remote-llm/1, case refund)" in markdown
    root = ET.fromstring(junit.read_text())
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert (props["status"], props["errors"], props["missing"]) == ("incomplete", "3", "0")
    assert root.get("errors") == "3"


def test_an_incomplete_cell_is_a_definite_fail_only_when_no_outcome_could_pass(example, openai_stub):
    _remote(example, openai_stub)
    openai_stub.plant("order", "nothing to see")  # fails `contains` (expected "order")
    openai_stub.fail(500, match="refund")
    # 1 passed, 1 failed, 1 errored: at best 2/3 = 67%
    undecided = _json(example("eval", _remote_suite(example, extra="min_pass_rate: 0.6\n", name="a.yaml"), "--json"))
    [cell] = undecided["cells"]
    assert (cell["passed"], cell["scored"], cell["status"]) == (1, 2, "incomplete")
    assert undecided["exit_code"] == EXIT_INFRA and undecided["failures"] == []
    certain = example("eval", _remote_suite(example, extra="min_pass_rate: 0.9\n", name="b.yaml"))
    assert certain.code == EXIT_INFRA  # incomplete wins the exit code; the verdict names both
    assert "verdict: incomplete (1 error) and below min_pass_rate in 1 cell (exit 3)" in certain.stdout
    assert "FAIL support-reply/1 x remote-llm/1: pass rate 50% (1/2 ran) is below min_pass_rate 90% even if the " \
           "1 missing had passed" in certain.stdout
    run = _json(example("eval", "list", "--json"))[0]["run"]
    shown = _json(_show(example, run, "--json"))
    assert shown["cells"][0]["status"] == "fail" and shown["cells"][0]["complete"] is False
    # a complete cell at 2/3 with min 0.6 passes; below it fails: exit 1
    openai_stub.reset()
    openai_stub.plant("order", "nothing to see")
    assert example("eval", _remote_suite(example, extra="min_pass_rate: 0.6\n", name="a.yaml"),
                   "--no-cache").code == EXIT_PASS
    failed = example("eval", _remote_suite(example, extra="min_pass_rate: 0.9\n", name="b.yaml"), "--no-cache")
    assert failed.code == EXIT_REGRESSION
    assert failed.stdout.splitlines()[-1] == "verdict: below min_pass_rate in 1 cell (exit 1)"


def test_errors_and_a_regression_exit_3_and_name_both(example, openai_stub):
    _remote(example, openai_stub)
    for case in ("order", "refund", "open"):
        openai_stub.plant(case, f"about {case}")
    suite = _remote_suite(example, extra="min_pass_rate: 0\n")
    base = _json(example("eval", suite, "--json"))
    assert base["exit_code"] == EXIT_PASS
    openai_stub.reset()
    openai_stub.plant("order", "no idea")
    openai_stub.plant("open", "no idea")
    openai_stub.fail(500, match="refund")
    mixed = example("eval", suite, "--no-cache", "--baseline", base["run"], "--strict")
    assert mixed.code == EXIT_INFRA
    lines = mixed.stdout.splitlines()
    assert lines[-1] == "verdict: incomplete (1 error) and regression in 1 cell (exit 3)"
    assert any(line.startswith("  REGRESSION INCOMPLETE support-reply/1 x remote-llm/1: ") for line in lines)
    regressed = _json(example("eval", suite, "--no-cache", "--baseline", base["run"], "--strict", "--json"))
    cell = regressed["comparison"]["cells"][0]
    assert cell["regression"] and cell["incomplete"] and sorted(cell["regressed"]) == ["opening-hours", "order-status"]
    assert regressed["exit_code"] == EXIT_INFRA and regressed["verdict"].endswith("and regression in 1 cell")
    # eval compare: the later run is incomplete, so the comparison is never a pass (exit 3), and names the regression
    compared = example("eval", "compare", base["run"], regressed["run"], "--strict")
    assert compared.code == EXIT_INFRA
    assert compared.stdout.splitlines()[-1] == "verdict: incomplete in 1 cell and regression in 1 cell (exit 3)"
    # errors alone against the same baseline: still exit 3, no regression named
    openai_stub.reset()
    for case in ("order", "open"):
        openai_stub.plant(case, f"about {case}")
    openai_stub.fail(500, match="refund")
    only_errors = _json(example("eval", suite, "--no-cache", "--baseline", base["run"], "--strict", "--json"))
    assert only_errors["exit_code"] == EXIT_INFRA and only_errors["verdict"] == "incomplete (1 error)"
    assert only_errors["comparison"]["cells"][0]["incomplete"] and not only_errors["comparison"]["regression"]


def test_a_regression_alone_exits_1_and_names_both_cells(example):
    first = _json(example("eval", "evals/support-reply.yaml", "--json"))
    path = example.project / "prompts" / "support-reply.yaml"
    path.write_text(path.read_text().replace('content: "{{ question }}"', 'content: "Please help."'))
    example("sync")
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/2]\n"
                                    "models: [support-llm/1]\nscorers: [{type: contains}]\nmin_pass_rate: 0\n")
    result = example("eval", suite, "--baseline", first["run"], "--strict")
    assert result.code == EXIT_REGRESSION
    base_pairing = first["cells"][0]["pairing"]
    assert (f"  REGRESSION support-reply/2 x support-llm/1 (against support-reply/1 x support-llm/1, pairing "
            f"{base_pairing}): ") in result.stdout
    assert result.stdout.splitlines()[-1] == "verdict: regression in 1 cell (exit 1)"
    second = _json(example("eval", "list", "--json"))[0]["run"]
    compared = example("eval", "compare", first["run"], second, "--strict")
    assert compared.code == EXIT_REGRESSION
    assert f"(against support-reply/1 x support-llm/1, pairing {base_pairing})" in compared.stdout
    data = _json(example("eval", "compare", first["run"], second, "--strict", "--json"))
    cell = data["cells"][0]
    assert (cell["baseline_prompt"], cell["baseline_model"], cell["baseline_pairing"]) == \
        ("support-reply/1", "support-llm/1", base_pairing)
    assert data["exit_code"] == EXIT_REGRESSION
    # show knows nothing of the baseline: the run itself passed its threshold (min 0)
    assert _show(example, second).code == EXIT_PASS


def test_an_interrupted_run_exits_130_and_show_agrees(example, project_reg):
    """(A real Ctrl-C is tested in test_eval_run.py; here the stored state: interrupted, 1 of 3 done,
    one of them an error: 130 wins over 3.)"""
    base = _json(example("eval", "evals/support-reply.yaml", "--json"))
    run = project_reg.reader.row("SELECT * FROM eval_runs WHERE id = :id", id=base["run"])
    plan = json.loads(run["plan"]) if isinstance(run["plan"], str) else run["plan"]
    run_id = _store_run(project_reg, pairing=base["cells"][0]["pairing"], dataset_version_id=run["dataset_version_id"],
                        plan=plan, events=[("running", {}), ("interrupted", {})],
                        results=[{"case_id": "refund", "repeat": 0, "error": "HTTP 503", "error_kind": "unavailable"}])
    shown = _show(example, run_id)
    assert shown.code == EXIT_INTERRUPTED
    assert f"resume: promptver eval evals/support-reply.yaml --resume {run_id} (retries the 1 calls that errored " \
           "and makes the 2 not made)" in shown.stdout
    assert shown.stdout.splitlines()[-1] == "verdict: interrupted (2 calls not made) (exit 130)"
    assert _json(_show(example, run_id, "--json"))["exit_code"] == EXIT_INTERRUPTED


# -- a run with calls never made (an endpoint circuit breaker stopped it) -------------------------------
def _store_run(reg, *, pairing, dataset_version_id, plan, results, events, kind="suite", content_hash=None):
    """Store a run and its results as the runner does. ``results``: dicts of eval_results columns
    plus ``scores`` [(scorer, value, passed, detail)]."""
    from promptver.storage import eval_writes

    run_id = uuid.uuid4().hex[:16]
    now = datetime.now(UTC)

    def work(tx):
        eval_writes.insert_run(tx, id=run_id, suite="s", suite_hash="0" * 64, kind=kind,
                               suite_content_hash=content_hash, dataset_version_id=dataset_version_id, plan=plan,
                               environment={"promptver": "test"}, actor="tester", created_at=now)
        for state, details in events:
            eval_writes.insert_run_event(tx, run_id=run_id, state=state, details=details, created_at=now)
        for r in results:
            values = {"run_id": run_id, "pairing_id": pairing, "request_key": uuid.uuid4().hex, "output": "out",
                      "latency_ms": 10.0, "prompt_tokens": None, "completion_tokens": None, "cost_usd": None,
                      "cached": False, "error": None, "error_kind": None, "response_model": None,
                      "system_fingerprint": None, "created_at": now}
            values.update({k: v for k, v in r.items() if k != "scores"})
            result_id = eval_writes.insert_result(tx, **values)
            eval_writes.insert_scores(tx, [{"run_id": run_id, "result_id": result_id, "scorer": name,
                                            "scorer_version": "v1", "value": value, "passed": passed,
                                            "detail": detail} for name, value, passed, detail in r.get("scores", [])])

    reg.db.write_plain(work)
    return run_id


def _fixture_run(reg):
    """A pairing and a 6-case dataset in a fresh registry; returns (pairing id, dataset version id, case ids)."""
    from promptver.services import datasets

    reg.push_prompt(prompt_spec())
    reg.add_model("m", "openai/private-model", params={"api_base": "http://127.0.0.1:9/v1"})
    pairing = reg.pair("support-reply/1", "m/1").pairing.id
    cases = [{"id": f"c{i}", "vars": {"company": "A", "question": "q"}} for i in range(6)]
    version, _ = datasets.push(reg, "d", cases, "f" * 64)
    return pairing, version.id, [c["id"] for c in cases]


ENDPOINT = {"provider": "openai", "url": "http://127.0.0.1:9/v1", "source": "params.api_base", "settings": {}}


def test_aggregates_are_counted_in_sql_on_both_backends(reg, monkeypatch):
    """Latest attempts only; tokens and cost unknown when any answered call lacks them; cached calls
    cost nothing; reasons grouped; and no method reads every result row."""
    from promptver.storage.eval_reader import EvalReader

    pairing, dataset_id, case_ids = _fixture_run(reg)
    ok = [("contains", 1.0, True, "")]
    bad = [("contains", 0.0, False, "missing 'x'")]
    results = [
        {"case_id": "c0", "repeat": 0, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.002, "scores": ok,
         "response_model": "private-model-2024", "system_fingerprint": "fp_a"},
        {"case_id": "c1", "repeat": 0, "prompt_tokens": 11, "completion_tokens": 6, "cost_usd": 0.003, "scores": bad,
         "response_model": "private-model-2024", "system_fingerprint": "fp_b"},
        {"case_id": "c2", "repeat": 0, "prompt_tokens": 12, "completion_tokens": 7, "cost_usd": 9.0, "cached": True,
         "scores": ok, "response_model": "private-model-2023"},
        {"case_id": "c3", "repeat": 0, "error": "connection refused", "error_kind": "connection", "output": None},
        {"case_id": "c3", "repeat": 0, "attempt": 1, "prompt_tokens": 13, "completion_tokens": 8, "cost_usd": None,
         "scores": ok},  # the retry answered: the error above is superseded
        {"case_id": "c4", "repeat": 0, "error": "HTTP 503: down", "error_kind": "unavailable", "output": None},
        {"case_id": "c5", "repeat": 0, "error": "HTTP 503: down", "error_kind": "unavailable", "output": None},
    ]
    plan = {"fingerprint": {"pairings": [pairing], "repeats": 1}, "path": "evals/s.yaml", "calls": 8,
            "min_pass_rate": 0.5, "endpoints": {pairing: ENDPOINT},
            "content": {"hash": "c" * 64, "dataset": "f" * 64, "scorers": {}, "repeats": 1, "min_pass_rate": 0.5}}
    run_id = _store_run(reg, pairing=pairing, dataset_version_id=dataset_id, plan=plan, results=results,
                        events=[("running", {}), ("completed", {})], content_hash="c" * 64)

    def refuse(*args, **kwargs):
        raise AssertionError("a report must not read every result")

    monkeypatch.setattr(EvalReader, "results", refuse)
    monkeypatch.setattr(EvalReader, "scores", refuse)
    report = build_report(reg, run_id)
    [cell] = report.cells
    latest = [r for r in results if not (r["case_id"] == "c3" and "attempt" not in r)]
    answered = [r for r in latest if not r.get("error")]
    assert (cell.total, cell.errors, cell.expected, cell.missing) == (len(latest), 2, 8, 8 - len(latest))
    assert cell.passed == sum(all(s[2] for s in r["scores"]) for r in answered) == 3
    assert cell.cached == 1 and cell.tokens() == {"prompt": sum(r["prompt_tokens"] for r in answered),
                                                  "completion": sum(r["completion_tokens"] for r in answered)}
    assert cell.cost_usd is None and cell.cost_unknown == 1  # c3's retry: no price known
    assert cell.cost_known_usd == pytest.approx(0.005)  # the cached call's 9.0 is not this run's money
    assert sorted(cell.response_models) == ["private-model-2023", "private-model-2024"]
    assert sorted(cell.system_fingerprints) == ["fp_a", "fp_b"]
    assert cell.latency_ms_p50 == 10.0 and cell.endpoint == ENDPOINT
    assert cell.status == "incomplete"  # 3/4 ran; at best (3 + 4) / 8 >= 0.5, at worst below
    reasons = [(r.kind, r.error, r.count, r.case_id) for r in report.error_reasons]
    assert reasons == [("unavailable", "HTTP 503: down", 2, "c4")] and report.distinct_reasons == 1
    assert report.content_hash == "c" * 64 and report.kind == "suite"
    data = report.to_json()
    assert data["cost_usd"] is None and data["cells"][0]["cost_usd"] is None
    assert data["cells"][0]["tokens"] == cell.tokens() and data["exit_code"] == EXIT_INFRA
    passed, scores = cell.load_cases()  # the comparison's per-case maps, read on demand
    assert passed == {("c0", 0): True, ("c1", 0): False, ("c2", 0): True, ("c3", 0): True}
    assert scores[("c1", 0)] == {"contains": 0.0}
    # one answered call without token counts makes the cell's tokens unknown
    unknown = _store_run(reg, pairing=pairing, dataset_version_id=dataset_id, plan=plan, events=[("completed", {})],
                         results=[{"case_id": c, "repeat": 0, "scores": ok, "prompt_tokens": 1 if c != "c0" else None,
                                   "completion_tokens": 1, "cost_usd": 0.0} for c in case_ids])
    assert build_report(reg, unknown).cells[0].tokens() is None
    # a bisect replay with calls missing is incomplete too, but `eval SUITE --resume` is not how it is finished
    replay = _store_run(reg, pairing=pairing, dataset_version_id=dataset_id, plan=plan, kind="bisect",
                        events=[("completed", {})], results=[{"case_id": "c0", "repeat": 0, "scores": ok}])
    replayed = build_report(reg, replay)
    assert replayed.kind == "bisect" and replayed.exit_code() == EXIT_INFRA and replayed.resume() is None


def test_a_stopped_run_with_calls_never_made_exits_3_and_says_why(example, project_reg):
    """Missing results only (no errors): incomplete, exit 3; the stop's reason, the endpoint, the
    suite content hash and the run kind are shown; resume makes the calls not made."""
    base = _json(example("eval", "evals/support-reply.yaml", "--json"))
    run = project_reg.reader.row("SELECT * FROM eval_runs WHERE id = :id", id=base["run"])
    pairing = base["cells"][0]["pairing"]
    plan = json.loads(run["plan"]) if isinstance(run["plan"], str) else run["plan"]
    plan["endpoints"] = {pairing: ENDPOINT}
    plan["content"] = {"hash": "a" * 64}
    stop = {"reason": "5 consecutive connection failures", "endpoint": ENDPOINT, "not_made": 2}
    run_id = _store_run(project_reg, pairing=pairing, dataset_version_id=run["dataset_version_id"], plan=plan,
                        events=[("running", {}), ("stopped", stop)],
                        results=[{"case_id": "order-status", "repeat": 0, "prompt_tokens": 4, "completion_tokens": 3,
                                  "cost_usd": 0.0, "response_model": "gpt-x", "system_fingerprint": "fp_9",
                                  "scores": [("contains", 1.0, True, "")]}])
    shown = _show(example, run_id)
    assert shown.code == EXIT_INFRA
    lines = shown.stdout.splitlines()
    assert lines[1].startswith("support-reply/1  100% (1/1 ran), 2 missing (2 not made)")
    assert "  stopped calling http://127.0.0.1:9/v1: 5 consecutive connection failures (2 calls not made)" in lines
    assert ("  support-reply/1 x support-llm/1: http://127.0.0.1:9/v1 (params.api_base); reported model gpt-x; "
            "system_fingerprint fp_9") in lines
    assert any(line.startswith(f"run {run_id} (stopped, suite, suite content {'a' * 12}): 1/3 results, 0 errors, "
                               "2 missing") for line in lines)
    assert lines[-1] == "verdict: incomplete (2 missing) (exit 3)"
    assert f"resume: promptver eval evals/support-reply.yaml --resume {run_id} (retries the 0 calls that errored " \
           "and makes the 2 not made)" in lines
    data = _json(_show(example, run_id, "--json"))
    assert (data["missing"], data["errors"], data["kind"], data["suite_content_hash"]) == (2, 0, "suite", "a" * 64)
    assert data["stopped"] == [stop] and data["cells"][0]["endpoint"] == ENDPOINT
    assert data["cells"][0]["response_models"] == ["gpt-x"] and data["cells"][0]["system_fingerprints"] == ["fp_9"]
    # a run recorded before endpoints were: unknown, said so
    before = {k: v for k, v in plan.items() if k not in ("endpoints", "content")}
    old_id = _store_run(project_reg, pairing=pairing, dataset_version_id=run["dataset_version_id"], plan=before,
                        events=[("completed", {})], results=[{"case_id": c, "repeat": 0} for c in CASES])
    old = _json(_show(example, old_id, "--json"))
    assert old["cells"][0]["endpoint"] is None and old["suite_content_hash"] is None and old["exit_code"] == 0
    assert "  support-reply/1 x support-llm/1: unknown (recorded before 0.2)" in _show(example, old_id).stdout
    listed = example("eval", "list")
    assert listed.stdout.splitlines()[0].split()[:4] == ["RUN", "SUITE", "KIND", "STATE"]
    assert {r["kind"] for r in _json(example("eval", "list", "--json"))} == {"suite"}
    failed = _json(_show(example, run_id, "--failed", "--json"))["cases"]
    assert [(c["case"], c["status"]) for c in failed] == [("refund", "not made"), ("opening-hours", "not made")]


# -- cases, tokens, cost --------------------------------------------------------------------------------
def test_show_cases_and_failed_list_each_call(example, openai_stub):
    _remote(example, openai_stub)
    openai_stub.plant("order", "nothing to see")
    openai_stub.plant("open", "we are open")
    openai_stub.fail(500, match="refund", message="kaput")
    report = _json(example("eval", _remote_suite(example, extra="min_pass_rate: 0\n"), "--json"))
    everything = _show(example, report["run"], "--cases")
    assert everything.code == EXIT_INFRA
    lines = everything.stdout.splitlines()
    at = lines.index("cases:")
    rows = [line for line in lines[at + 1:] if line.startswith("  support-reply/1 x remote-llm/1  ")]
    assert [r.split("  ")[2] for r in rows] == list(CASES)
    assert rows[0].split("  ")[3].startswith("FAIL, tokens ") and rows[1].split("  ")[3].startswith("ERROR")
    assert rows[2].split("  ")[3].startswith("pass, tokens ")
    assert "      output: nothing to see" in lines and any("kaput" in line and "error (unavailable)" in line
                                                         for line in lines)
    assert any(line.startswith("      contains: ") for line in lines)
    only_failed = _json(_show(example, report["run"], "--failed", "--json"))
    assert [(c["case"], c["status"]) for c in only_failed["cases"]] == [("order-status", "fail"), ("refund", "error")]
    failing = only_failed["cases"][0]
    assert failing["failures"][0]["scorer"] == "contains" and failing["output"] == "nothing to see"
    assert failing["tokens"]["completion"] == 3 and failing["cached"] is False  # the stub counts words
    assert only_failed["cases"][1]["error_kind"] == "unavailable" and "kaput" in only_failed["cases"][1]["error"]
    every = _json(_show(example, report["run"], "--cases", "--json"))["cases"]
    assert len(every) == 3 and every[2]["status"] == "pass"
    assert _show(example, report["run"], "--failed", "--json").code == EXIT_INFRA


def test_tokens_everywhere_and_unknown_cost_is_never_zero(example, openai_stub, project_reg, tmp_path):
    from promptver.storage.eval_reader import EvalReader

    _remote(example, openai_stub)                                              # a listed price
    _remote(example, openai_stub, name="private-llm", model="openai/my-private-model")  # no price known
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\n"
                                    "models: [remote-llm/1, private-llm/1]\nscorers: [{type: contains}]\n"
                                    "min_pass_rate: 0\n")
    md, junit = tmp_path / "r.md", tmp_path / "r.xml"
    ran = example("eval", suite, "--markdown", str(md), "--junit", str(junit))
    assert ran.code == EXIT_PASS, ran.stdout + ran.stderr
    run_id = _json(example("eval", "list", "--json"))[0]["run"]
    data = _json(_show(example, run_id, "--json"))
    stored = EvalReader(project_reg.reader).results(run_id)
    by_model = {c["model"]: c for c in data["cells"]}
    priced, private = by_model["remote-llm/1"], by_model["private-llm/1"]
    known = sum(r["cost_usd"] for r in stored if r["pairing_id"] == priced["pairing"])
    assert known > 0 and priced["cost_usd"] == pytest.approx(known, abs=1e-6)
    assert private["cost_usd"] is None and private["cost_unknown_calls"] == 3
    assert data["cost_usd"] is None and data["cost_known_usd"] == pytest.approx(known, abs=1e-6)
    for cell in data["cells"]:
        rows = [r for r in stored if r["pairing_id"] == cell["pairing"]]
        assert cell["tokens"] == {"prompt": sum(r["prompt_tokens"] for r in rows),
                                  "completion": sum(r["completion_tokens"] for r in rows)}
        assert cell["response_models"] == sorted({r["response_model"] for r in rows})
        assert cell["system_fingerprints"] == [FINGERPRINT]
    total = {k: sum(c["tokens"][k] for c in data["cells"]) for k in ("prompt", "completion")}
    assert data["tokens"] == total
    text = _show(example, run_id).stdout
    assert f"cost ≥ ${known:.4f} (3 calls of unknown cost)" in text and "$0.0000" not in text
    assert f"tokens {total['prompt']} in / {total['completion']} out" in text
    markdown = md.read_text()
    assert f"| support-reply/1 x private-llm/1 | {private['tokens']['prompt']} / {private['tokens']['completion']} | " \
           "unknown (3 calls of unknown cost) |" in markdown
    props = {s.get("name"): {p.get("name"): p.get("value") for p in s.iter("property")}
             for s in ET.fromstring(junit.read_text()).findall("testsuite")}
    assert props["support-reply/1 x private-llm/1"]["cost_usd"] == "unknown"
    assert props["support-reply/1 x remote-llm/1"]["prompt_tokens"] == str(priced["tokens"]["prompt"])
    # every call cached: the run spent nothing, and knows it
    again = _json(example("eval", suite, "--json"))
    assert again["cached"] == 6 and again["cost_usd"] == 0.0 and again["cost_unknown_calls"] == 0


# -- history, progress ----------------------------------------------------------------------------------
def test_history_takes_the_suite_name_or_its_file(example):
    for _ in range(2):
        example("eval", "evals/support-reply.yaml")
    by_name = example("eval", "history", "support-reply")
    by_path = example("eval", "history", "evals/support-reply.yaml")
    assert by_name.code == by_path.code == 0 and by_path.stdout == by_name.stdout
    assert by_path.stdout.startswith("support-reply/1 x support-llm/1  ██")
    missing = example("eval", "history", "evals/nope.yaml")
    assert missing.code == 2 and missing.stderr.count("\n") == 1 and "nope.yaml" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_progress_bar_takes_its_total_from_the_announcement(monkeypatch):
    from promptver.cli.evals import run_progress
    from promptver.evals.run import Announcement

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    advance, announce, stop = run_progress("eval s")
    try:
        announce(Announcement("5 calls to make", calls=5))
        advance(None)
        advance(None)
        bar = advance.__closure__[0].cell_contents  # the rich Progress
        [task] = bar.tasks
        assert (task.total, task.completed) == (5, 2)
    finally:
        stop()
    assert "5 calls to make" in terminal.getvalue()

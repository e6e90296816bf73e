"""`promptver eval` end to end: the offline model, the local OpenAI-compatible server, the cache,
errors, resume, exit codes."""

import json

import pytest
from conftest import write_suite as _suite
from openai_stub import openai_stub_fixture  # noqa: F401  (the openai_stub fixture)

pytestmark = pytest.mark.usefixtures("fast_retries")


def test_the_worked_example_passes_then_comes_from_the_cache(example):
    first = example("eval", "evals/support-reply.yaml")
    assert first.code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].split() == ["prompt", "\\", "model", "support-llm/1"]
    assert lines[1].startswith("support-reply/1  100% (3/3) [")
    assert lines[-1] == "verdict: pass (exit 0)"
    second = json.loads(example("eval", "evals/support-reply.yaml", "--json").stdout)
    assert second["cells"][0]["cached"] == 3 and second["exit_code"] == 0
    assert second["environment"]["promptver"] and second["environment"]["python"]
    fresh = json.loads(example("eval", "evals/support-reply.yaml", "--no-cache", "--json").stdout)
    assert fresh["cells"][0]["cached"] == 0
    runs = json.loads(example("eval", "list", "--json").stdout)
    assert len(runs) == 3 and {r["state"] for r in runs} == {"completed"}
    shown = example("eval", "show", runs[0]["run"][:8])
    assert shown.code == 0 and "support-reply/1  100% (3/3)" in shown.stdout


def test_every_prompt_version_times_every_model_version(example):
    path = example.project / "prompts" / "support-reply.yaml"
    path.write_text(path.read_text().replace("friendly support agent", "terse support agent"))
    example("sync")
    example("model", "add", "support-llm", "--model", "promptver/echo", "--param", "max_tokens=3")
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply@production, support-reply/2]\n"
                                    "models: [support-llm/1, support-llm/2]\nscorers: [{type: contains}]\nmin_pass_rate: 0.9\n")
    result = example("eval", suite, "--json")
    report = json.loads(result.stdout)
    assert {(c["prompt"], c["model"]) for c in report["cells"]} == {
        (p, m) for p in ("support-reply/1", "support-reply/2") for m in ("support-llm/1", "support-llm/2")}
    assert len(json.loads(example("pairings", "support-reply", "--json").stdout)) == 4
    truncated = [c for c in report["cells"] if c["model"] == "support-llm/2"]
    assert all(c["pass_rate"] < 0.9 for c in truncated)  # 3 words cannot contain the question's keyword
    assert result.code == 1 and report["failures"]


def test_a_case_missing_a_variable_is_refused_before_any_call(example):
    (example.project / "evals" / "bad.jsonl").write_text('{"id": "no-question", "vars": {"company": "Acme"}}\n')
    suite = _suite(example.project, "dataset: bad.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\n"
                                    "scorers: [{type: not-contains, value: sorry}]\n")
    result = example("eval", suite)
    assert result.code == 2
    assert result.stderr == ("error: bad.jsonl: case 'no-question': missing variable(s) question for "
                             "support-reply/1\n")
    assert json.loads(example("eval", "list", "--json").stdout) == []


@pytest.mark.parametrize("body, message", [
    ("dataset: support-reply.jsonl\nprompts: [nope/1]\nmodels: [support-llm/1]\nscorers: [{type: contains}]\n",
     "error: no prompt named 'nope'"),
    ("dataset: support-reply.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\nscorers: [{type: wat}]\n",
     "error: evals/s.yaml: scorers[0]"),
])
def test_bad_suites_exit_2(example, body, message):
    result = example("eval", _suite(example.project, body))
    assert result.code == 2 and result.stderr.startswith(message) and "Traceback" not in result.stderr


def test_provider_errors_are_infrastructure_and_429s_are_retried(example, openai_stub):
    example("model", "add", "remote-llm", "--model", "openai/gpt-4o-2024-08-06", "--param",
            f"api_base={openai_stub.url}", "--param", "temperature=0")
    openai_stub.plant("order", "Your order ships today.")
    openai_stub.plant("refund", "A refund takes 5 days.")
    openai_stub.plant("open", "We are open 9-5.")
    openai_stub.fail(429, nth=1, retry_after=0.05)
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\n"
                                    "models: [remote-llm/1]\nscorers: [{type: contains}]\n")
    ok = json.loads(example("eval", suite, "--json").stdout)
    assert ok["exit_code"] == 0 and ok["errors"] == 0 and len(openai_stub.requests) == 4  # one 429, retried
    assert all("sk-" not in json.dumps(r.body) for r in openai_stub.requests)
    openai_stub.reset()
    openai_stub.fail(500)
    broken = example("eval", suite, "--no-cache", "--json")
    report = json.loads(broken.stdout)
    assert broken.code == 3 and report["errors"] == 3 and report["cells"][0]["pass_rate"] is None


def test_an_interrupted_run_resumes_without_redoing_finished_cases(example, monkeypatch):
    from promptver.evals import runner

    real = runner.Executor._one
    calls = {"n": 0}

    async def interrupt_after_two(self, job, cached):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return await real(self, job, cached)

    monkeypatch.setattr(runner.Executor, "_one", interrupt_after_two)
    monkeypatch.setattr(runner, "FLUSH_EVERY", 1)
    stopped = example("eval", "evals/support-reply.yaml", "--no-cache", "--json")
    report = json.loads(stopped.stdout)
    assert stopped.code == 130 and report["state"] == "interrupted" and report["results"] < 3
    monkeypatch.setattr(runner.Executor, "_one", real)
    resumed = json.loads(example("eval", "evals/support-reply.yaml", "--resume", report["run"], "--json").stdout)
    assert (resumed["run"], resumed["results"], resumed["state"], resumed["exit_code"]) == \
        (report["run"], 3, "completed", 0)
    suite = example.project / "evals" / "support-reply.yaml"
    suite.write_text(suite.read_text().replace("repeats: 1", "repeats: 2"))
    refused = example("eval", "evals/support-reply.yaml", "--resume", report["run"])
    assert refused.code == 2 and "cannot be resumed: its repeats, suite changed" in refused.stderr


def test_max_cost_refuses_to_start(example, openai_stub):
    example("model", "add", "priced", "--model", "openai/gpt-4o-2024-08-06", "--param", f"api_base={openai_stub.url}")
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\nmodels: [priced/1]\n"
                                    "scorers: [{type: contains}]\n")
    result = example("eval", suite, "--max-cost", "0.000001")
    assert result.code == 2 and "over --max-cost" in result.stderr and openai_stub.requests == []


def test_baseline_lists_flipped_cases_and_gates(example):
    """A new prompt version that loses the question: against the released run every case flips."""
    first = json.loads(example("eval", "evals/support-reply.yaml", "--json").stdout)
    path = example.project / "prompts" / "support-reply.yaml"
    path.write_text(path.read_text().replace('content: "{{ question }}"', 'content: "Please help."'))
    example("sync")
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/2]\n"
                                    "models: [support-llm/1]\nscorers: [{type: contains}]\n")
    result = example("eval", suite, "--baseline", first["run"], "--strict", "--json")
    report = json.loads(result.stdout)
    cell = report["comparison"]["cells"][0]
    assert result.code == 1 and cell["regression"] and sorted(cell["regressed"]) == ["opening-hours", "order-status", "refund"]
    assert cell["before"] == 1.0 and cell["after"] == 0.0
    lenient = example("eval", suite, "--baseline", first["run"], "--json")
    assert json.loads(lenient.stdout)["comparison"]["cells"][0]["significant"] is False  # 3 cases: within noise
    by_label = json.loads(example("eval", suite, "--baseline", "production", "--strict", "--json").stdout)
    assert by_label["comparison"]["baseline"] == first["run"]
    runs = json.loads(example("eval", "list", "--json").stdout)
    compared = example("eval", "compare", first["run"], runs[0]["run"], "--strict")
    assert compared.code == 1 and "order-status: pass -> fail" in compared.stdout


def test_eval_through_an_unreachable_server_is_one_clear_line(example, monkeypatch):
    monkeypatch.setenv("PROMPTVER_URL", "http://127.0.0.1:1")  # (runs through a server: tests/test_eval_remote.py)
    result = example("eval", "evals/support-reply.yaml")
    assert result.code == 1 and result.stderr == ("error: cannot reach the registry server at http://127.0.0.1:1: "
                                                  "[Errno 111] Connection refused\n")
    replay = example("attribute", "support-reply@production", "--suite", "evals/support-reply.yaml")
    assert replay.code == 2 and replay.stderr.startswith("error: `promptver attribute` works on the registry")


def test_history_shows_a_trend(example):
    for _ in range(2):
        example("eval", "evals/support-reply.yaml")
    lines = example("eval", "history", "support-reply").stdout.splitlines()
    assert lines == ["support-reply/1 x support-llm/1  ██  100% (latest)  runs: 2"]


def test_a_release_gate_needs_a_passing_run_of_the_suite(example):
    """production requires the suite: a pairing never evaluated, or failing, cannot be released."""
    assert example("label", "protect", "support-reply", "production", "--require-suite",
                   "evals/support-reply.yaml").code == 0
    path = example.project / "prompts" / "support-reply.yaml"
    path.write_text(path.read_text().replace('content: "{{ question }}"', 'content: "Please help."'))
    example("sync")
    candidate = example("pair", "support-reply/2", "support-llm/1").stdout.strip()
    refused = example("label", "set", "support-reply", "production", candidate)
    assert refused.code == 1
    assert refused.stderr.startswith("error: label 'production' requires a passing run of eval suite 'support-reply' "
                                     "(suite content ")
    assert f"for pairing {candidate}: no completed whole-suite run" in refused.stderr
    suite = example.project / "evals" / "support-reply.yaml"
    suite.write_text(suite.read_text().replace("prompts: [support-reply@production]", "prompts: [support-reply/2]"))
    assert example("eval", "evals/support-reply.yaml").code == 1  # every case fails: the question is gone
    failing = example("label", "set", "support-reply", "production", candidate)
    assert failing.code == 1 and "passed 0% (needs 100%)" in failing.stderr
    assert json.loads(example("audit", "--action", "denied", "--json").stdout)[0]["target"] == "support-reply@production"
    path.write_text(path.read_text().replace('content: "Please help."', 'content: "{{ question }} Please help."'))
    example("sync")
    good = example("pair", "support-reply/3", "support-llm/1").stdout.strip()
    suite.write_text(suite.read_text().replace("prompts: [support-reply/2]", "prompts: [support-reply/3]"))
    assert example("eval", "evals/support-reply.yaml").code == 0
    assert example("label", "set", "support-reply", "production", good).code == 0


def test_llm_judge_is_a_pinned_pairing_and_rescoring_never_calls_the_model(example, openai_stub):
    example("model", "add", "remote-llm", "--model", "openai/gpt-4o-2024-08-06", "--param",
            f"api_base={openai_stub.url}", "--param", "temperature=0")
    (example.project / "judge.yaml").write_text(
        "name: judge-rubric\nmessages:\n  - role: system\n    content: Answer PASS if the reply is polite, else FAIL.\n"
        "  - role: user\n    content: \"JUDGE {{ output }}\"\n")
    example("prompt", "push", "judge.yaml")
    judge = example("pair", "judge-rubric/1", "remote-llm/1").stdout.strip()
    example("label", "set", "judge-rubric", "production", judge)
    openai_stub.plant("JUDGE", "PASS")
    suite = _suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\n"
                                    "scorers:\n  - type: llm-judge\n    judge: judge-rubric@production\n")
    first = example("eval", suite, "--json")
    assert first.code == 0, first.stdout + first.stderr
    assert len(openai_stub.requests) == 3 and all("JUDGE" in r.last_user for r in openai_stub.requests)
    again = json.loads(example("eval", suite, "--json").stdout)
    assert again["cells"][0]["cached"] == 3 and len(openai_stub.requests) == 3  # responses and scores cached
    stricter = _suite(example.project, (example.project / "evals" / "s.yaml").read_text().replace(
        "judge: judge-rubric@production", "judge: judge-rubric@production\n    threshold: 0.9"))
    rescored = json.loads(example("eval", stricter, "--json").stdout)
    assert rescored["cells"][0]["cached"] == 3 and rescored["exit_code"] == 0
    assert len(openai_stub.requests) == 6  # a new scorer version asks the judge again, never the model


def test_score_values_are_compared_with_a_paired_bootstrap(example):
    first = json.loads(example("eval", "evals/support-reply.yaml", "--json").stdout)
    result = example("eval", "evals/support-reply.yaml", "--baseline", first["run"], "--json")
    scores = json.loads(result.stdout)["comparison"]["cells"][0]["scores"]
    assert list(scores) == ["contains"] and scores["contains"]["significant"] is False
    assert scores["contains"]["before"] == scores["contains"]["after"] == 1.0
    assert "calls to make" in result.stderr and "estimated cost" in result.stderr

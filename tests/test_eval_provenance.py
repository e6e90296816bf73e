"""Eval answers name what produced them: the effective endpoint is in the cache key and the run's
record, replays are stored as replays, --resume retries errored calls, and a dead endpoint trips the
circuit breaker instead of being retried call after call (issue: answers never silently wrong)."""

import json
import threading
import time

import pytest
from conftest import write_suite
from openai_stub import DUMMY_KEY, OpenAIStub

from promptver.storage.eval_reader import EvalReader

pytestmark = pytest.mark.usefixtures("fast_retries")

MODEL = "openai/gpt-4o-2024-08-06"


def _cases(project, count):
    lines = [json.dumps({"id": f"c{i:02d}", "vars": {"company": "Acme", "question": f"question {i} about order"},
                         "expected": "order"}) for i in range(count)]
    (project / "evals" / "many.jsonl").write_text("\n".join(lines) + "\n")


def _remote_suite(example, dataset="support-reply.jsonl"):
    example("model", "add", "remote-llm", "--model", MODEL, "--param", "temperature=0")
    return write_suite(example.project, f"dataset: {dataset}\nprompts: [support-reply/1]\nmodels: [remote-llm/1]\n"
                                        "scorers: [{type: contains}]\n")


def _run_of(example, output):
    from promptver.services.registry import Registry

    run_id = json.loads(output)["run"]
    with Registry.open("sqlite:///" + str(example.project / ".promptver" / "registry.db"), actor="t") as reg:
        reader = EvalReader(reg.reader)
        return reader.run(run_id), reader.results(run_id), reader.all_attempts(run_id)


def test_switching_the_endpoint_through_the_environment_never_shares_cached_answers(example, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    suite = _remote_suite(example)
    with OpenAIStub(answer=lambda r: "order refund open A", fingerprint="fp_a") as one, \
            OpenAIStub(answer=lambda r: "nothing B", fingerprint=None) as two:
        two.plant(None, "nothing B", response_model="llama-3-local")
        monkeypatch.setenv("OPENAI_BASE_URL", one.url)
        first = example("eval", suite, "--json")
        assert first.code == 0, first.stderr
        monkeypatch.setenv("OPENAI_BASE_URL", two.url)
        second = example("eval", suite, "--json")
        again = example("eval", suite, "--json")
        assert (len(one.requests), len(two.requests)) == (3, 3)  # the third run came from B's answers, cached
    assert "3 calls to make (0 already done): 0 from the cache, 3 to the models" in second.stderr
    assert "3 calls to make (0 already done): 3 from the cache, 0 to the models" in again.stderr
    run_a, results_a, _ = _run_of(example, first.stdout)
    run_b, results_b, _ = _run_of(example, second.stdout)
    run_c, results_c, _ = _run_of(example, again.stdout)
    assert [r["cached"] for r in results_b] == [False] * 3 and [r["cached"] for r in results_c] == [True] * 3
    assert {r["output"] for r in results_a} == {"order refund open A"}
    assert {r["output"] for r in results_b} == {r["output"] for r in results_c} == {"nothing B"}
    assert second.code == 1  # B's answers fail the suite: the cache did not hide it
    [pairing] = run_b["plan"]["fingerprint"]["pairings"]
    assert run_a["plan"]["endpoints"][pairing] == {"provider": "openai", "url": one.url, "source": "env:OPENAI_BASE_URL",
                                                   "settings": {"OPENAI_BASE_URL": one.url},
                                                   "credential": "provider", "name": None}
    assert run_b["plan"]["endpoints"][pairing]["url"] == two.url
    assert {(r["response_model"], r["system_fingerprint"]) for r in results_a} == {("gpt-4o-2024-08-06", "fp_a")}
    assert {(r["response_model"], r["system_fingerprint"]) for r in results_b} == {("llama-3-local", None)}
    assert {r["request_key"] for r in results_a}.isdisjoint({r["request_key"] for r in results_b})


def test_a_stored_api_base_and_the_environment_agree_on_one_endpoint(example, monkeypatch):
    """The same endpoint reached through params.api_base or OPENAI_BASE_URL is one endpoint for the URL,
    but the key also holds the settings: an answer is reused only where everything that decides it is equal."""
    from promptver.providers.endpoints import effective_endpoint

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_BASE", "http://10.0.0.1:8000/v1/")
    got = effective_endpoint(MODEL, {})
    assert (got.url, got.source) == ("http://10.0.0.1:8000/v1", "env:OPENAI_API_BASE")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.0.0.2:8000/v1")
    assert effective_endpoint(MODEL, {}).url == "http://10.0.0.2:8000/v1"  # litellm's order: BASE_URL first
    assert effective_endpoint(MODEL, {"api_base": "http://h:1/v1"}).source == "params.api_base"
    monkeypatch.setenv("HOSTED_VLLM_API_BASE", "http://gpu:8000/v1")
    monkeypatch.setenv("HOSTED_VLLM_API_KEY", "secret-value")
    vllm = effective_endpoint("hosted_vllm/acme", {})
    assert vllm.url == "http://gpu:8000/v1" and "HOSTED_VLLM_API_KEY" not in vllm.settings
    unknown = effective_endpoint("bedrock/anthropic.claude", {})
    assert unknown.url is None and unknown.source == "unknown"
    monkeypatch.setenv("AWS_REGION_NAME", "eu-west-1")
    assert effective_endpoint("bedrock/anthropic.claude", {}).identity() != unknown.identity()


def test_a_bisect_replay_is_stored_as_a_replay(example):
    path = example.project / "prompts" / "support-reply.yaml"
    path.write_text(path.read_text().replace("friendly support agent", "terse support agent"))
    example("sync")
    example("pair", "support-reply/2", "support-llm/1")
    result = example("bisect", "support-reply", "--good", "support-reply/1", "--bad", "support-reply/2",
                     "--suite", "evals/support-reply.yaml", "--json")
    assert result.code in (0, 1, 3), result.stderr
    from promptver.services.registry import Registry

    with Registry.open("sqlite:///" + str(example.project / ".promptver" / "registry.db"), actor="t") as reg:
        runs = EvalReader(reg.reader).runs()
    assert runs and {r["kind"] for r in runs} == {"bisect"}
    assert all(r["suite_content_hash"] for r in runs)


def test_resume_after_an_outage_makes_only_the_failed_and_missing_calls(example, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    _cases(example.project, 30)
    suite = _remote_suite(example, "many.jsonl")
    served = []

    def answer(request):
        served.append(request.number)
        if len(served) == 10:  # the server dies mid-run
            threading.Thread(target=stub.stop, daemon=True).start()
        return "about your order"

    stub = OpenAIStub(answer=answer, latency=0.05).start()  # (uvicorn looks at its stop flag every 0.1 s)
    port = int(stub.url.rsplit(":", 1)[1].split("/")[0])
    monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
    started = time.monotonic()
    broken = example("eval", suite, "-j", "2", "--json")
    elapsed = time.monotonic() - started
    stub.stop()
    assert broken.code == 3, broken.stdout + broken.stderr
    run, results, _ = _run_of(example, broken.stdout)
    assert run["state"] == "stopped" and "consecutive connection failures" in run["state_details"]["reason"]
    ok = [r for r in results if not r["error"]]
    failed = [r for r in results if r["error"]]
    assert len(ok) >= 10 and failed and len(results) < 30  # the breaker left calls unmade
    assert elapsed < 20
    with OpenAIStub(answer=lambda r: "about your order", port=port) as back:
        resumed = example("eval", suite, "--resume", run["id"], "--json")
        assert resumed.code == 0, resumed.stdout + resumed.stderr
        assert len(back.requests) == 30 - len(ok)  # every errored or missing call, and nothing else
    run, results, attempts = _run_of(example, resumed.stdout)
    assert len(results) == 30 and not any(r["error"] for r in results)
    assert len(attempts) == len(results) + len(failed)  # the errored attempts stay stored, superseded
    assert {r["attempt"] for r in results if (r["case_id"]) in {f["case_id"] for f in failed}} == {1}


def test_a_dead_endpoint_trips_the_circuit_breaker_quickly(example, monkeypatch):
    import socket

    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    monkeypatch.setattr("promptver.evals.runner.BASE_DELAY", 0.2)  # real backoff: 4 tries per call would be slow
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    _cases(example.project, 60)
    suite = _remote_suite(example, "many.jsonl")
    started = time.monotonic()
    result = example("eval", suite, "-j", "4", "--json")
    elapsed = time.monotonic() - started
    assert result.code == 3
    run, results, _ = _run_of(example, result.stdout)
    assert run["state"] == "stopped" and run["state_details"]["not_made"] == 60 - len(results)
    assert len(results) <= 8 and all(r["error_kind"] == "connection" for r in results)
    assert elapsed < 10  # without the breaker: 60 calls x 4 tries with backoff

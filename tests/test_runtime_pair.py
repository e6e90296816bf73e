"""PinnedPair: render, completion_kwargs, complete/acomplete through litellm against a local
OpenAI-compatible stub, and the mapping of litellm's exceptions."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from promptver import Client
from promptver.errors import (
    InvalidValue,
    MissingVariables,
    ModelAuthError,
    ModelCallError,
    ModelRateLimited,
    ModelRequestError,
    ModelTimeout,
    ModelUnavailable,
)
from promptver.runtime import calls
from promptver.services import labels
from promptver.services.registry import Registry
from promptver.templates.specs import PromptSpec

TOOLS = [{"type": "function", "function": {"name": "order_status", "description": "Look up an order",
                                           "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}]


@pytest.fixture
def pair(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTVER_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    spec = PromptSpec("support-reply", [
        {"role": "system", "content": "You are a support agent for {{ company }}.{% if tone %} Be {{ tone }}.{% endif %}"},
        {"role": "user", "content": "{{ question }}"}],
        variables={"company": {"type": "string"}, "question": {"type": "string"},
                   "tone": {"type": "string", "default": "brief"}},
        tools=TOOLS, response_format={"type": "json_object"})
    with Registry.open(sqlite_url, actor="tester") as reg:
        reg.push_prompt(spec)
        reg.add_model("support-llm", "openai/stub-model", params={"temperature": 0.2, "max_tokens": 50, "seed": 7})
        pid = reg.pair("support-reply/1", "support-llm/1").pairing.id
        labels.move(reg, "support-reply", "production", pid)
    with Client(db=sqlite_url) as pv:
        yield pv.get("support-reply@production")


def test_render_applies_defaults(pair):
    assert pair.render(company="Acme", question="Where is my order?") == [
        {"role": "system", "content": "You are a support agent for Acme. Be brief."},
        {"role": "user", "content": "Where is my order?"}]
    assert pair.render({"company": "Acme", "tone": ""}, question="Hi")[0]["content"] == "You are a support agent for Acme."
    with pytest.raises(MissingVariables, match="missing variables: question"):
        pair.render(company="Acme")


def test_completion_kwargs_exact(pair):
    assert pair.completion_kwargs(company="Acme", question="Where is my order?") == {
        "model": "openai/stub-model",
        "messages": [{"role": "system", "content": "You are a support agent for Acme. Be brief."},
                     {"role": "user", "content": "Where is my order?"}],
        "temperature": 0.2, "max_tokens": 50, "seed": 7,
        "tools": TOOLS,
        "response_format": {"type": "json_object"},
        "metadata": {
            "promptver_ref": "support-reply@production",
            "promptver_pairing_id": pair.pairing_id,
            "promptver_prompt": "support-reply/1",
            "promptver_prompt_hash": pair.prompt.content_hash,
            "promptver_model": "support-llm/1",
            "promptver_model_hash": pair.model.content_hash,
            "promptver_label": "production",
        },
    }
    kwargs = pair.completion_kwargs(company="Acme", question="?")
    kwargs["tools"][0]["function"]["name"] = "changed"  # the caller's copy, not the pinned pair
    assert pair.prompt.tools == TOOLS


def test_options_may_add_but_never_replace_what_is_pinned(pair):
    base = pair.completion_kwargs(company="A", question="Q")
    merged = calls.with_options(base, {"api_base": "http://x", "metadata": {"trace": "t1", "promptver_ref": "no"}},
                                pair.pairing_id)
    assert merged["api_base"] == "http://x"
    assert merged["metadata"] == {"trace": "t1", **base["metadata"]}
    for key in ("model", "messages", "tools", "response_format", "temperature"):
        with pytest.raises(InvalidValue, match=f"litellm_kwargs\\['{key}'\\] would replace what pairing"):
            calls.with_options(base, {key: 1}, pair.pairing_id)


class OpenAIStub:
    """/v1/chat/completions on 127.0.0.1: records each request; ``status`` switches to an error."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        stub = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body})
                if stub.status == 200:
                    payload = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
                               "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                   "role": "assistant", "content": "Your order ships today."}}],
                               "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}}
                else:
                    payload = {"error": {"message": f"stub says {stub.status}", "type": "stub", "code": None}}
                data = json.dumps(payload).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def openai_stub(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy-for-the-stub")
    monkeypatch.setenv("PROMPTVER_TOKEN", "registry-token-must-not-leak")
    stub = OpenAIStub()
    yield stub
    stub.close()


def test_complete_sends_the_pinned_request(pair, openai_stub):
    reply = pair.complete(company="Acme", question="Where is my order?",
                          litellm_kwargs={"api_base": openai_stub.url, "max_retries": 0})
    assert reply.choices[0].message.content == "Your order ships today."
    [request] = openai_stub.requests
    assert request["path"] == "/v1/chat/completions"
    body = request["body"]
    assert body["model"] == "stub-model"
    assert body["messages"] == [{"role": "system", "content": "You are a support agent for Acme. Be brief."},
                                {"role": "user", "content": "Where is my order?"}]
    assert (body["temperature"], body["max_tokens"], body["seed"], body["tools"]) == (0.2, 50, 7, TOOLS)
    assert body["response_format"] == {"type": "json_object"}
    assert request["headers"]["authorization"] == "Bearer sk-dummy-for-the-stub"
    assert "registry-token-must-not-leak" not in json.dumps(request)
    assert sorted(body) == ["max_tokens", "messages", "model", "response_format", "seed", "temperature", "tools"]  # metadata stays here


def test_acomplete(pair, openai_stub):
    reply = asyncio.run(pair.acomplete({"company": "Acme", "question": "Hi"},
                                       litellm_kwargs={"api_base": openai_stub.url, "max_retries": 0}))
    assert reply.choices[0].message.content == "Your order ships today."
    assert openai_stub.requests[0]["body"]["messages"][1] == {"role": "user", "content": "Hi"}


@pytest.mark.parametrize("status, error", [
    (401, ModelAuthError), (403, ModelAuthError), (400, ModelRequestError), (404, ModelRequestError),
    (429, ModelRateLimited), (500, ModelUnavailable), (503, ModelUnavailable),
])
def test_provider_errors_become_promptver_errors(pair, openai_stub, status, error):
    openai_stub.status = status
    with pytest.raises(error) as info:
        pair.complete(company="Acme", question="Hi",
                      litellm_kwargs={"api_base": openai_stub.url, "max_retries": 0, "num_retries": 0})
    assert str(info.value).startswith(
        f"model call failed for support-reply@production (pairing {pair.pairing_id}, openai/stub-model): ")
    assert f"stub says {status}" in str(info.value)
    assert type(info.value.__cause__).__module__.startswith("litellm")


def test_a_timeout_is_model_timeout(pair):
    import socket

    with socket.socket() as quiet:  # accepts connections, never answers
        quiet.bind(("127.0.0.1", 0))
        quiet.listen()
        with pytest.raises(ModelTimeout):
            pair.complete(company="A", question="Q", litellm_kwargs={
                "api_base": f"http://127.0.0.1:{quiet.getsockname()[1]}/v1", "api_key": "k", "timeout": 0.2,
                "max_retries": 0, "num_retries": 0})


def test_every_litellm_exception_class_is_mapped():
    litellm = calls.litellm_module()
    classes = [cls for _, cls in inspect.getmembers(litellm.exceptions, inspect.isclass)
               if issubclass(cls, BaseException) and cls.__module__.startswith("litellm")]
    assert len(classes) > 20
    unmapped = sorted(cls.__name__ for cls in classes if cls.__name__ not in calls.MAPPING)
    assert not unmapped, f"add these litellm exceptions to runtime/calls.py MAPPING: {unmapped}"
    for cls in classes:  # and the walk over the hierarchy picks the class's own entry
        exc = cls.__new__(cls)
        Exception.__init__(exc, "boom")
        mapped = calls.translate(exc, "where")
        assert type(mapped) is calls.MAPPING[cls.__name__] and isinstance(mapped, ModelCallError)


def test_other_exceptions_pass_through():
    assert calls.translate(ValueError("mine"), "where") is None
    assert calls.translate(KeyboardInterrupt(), "where") is None


def test_litellm_errors_from_real_instances():
    litellm = calls.litellm_module()
    cases = [
        (litellm.AuthenticationError("bad key", "openai", "gpt"), ModelAuthError),
        (litellm.ContextWindowExceededError("too long", "gpt", "openai"), ModelRequestError),
        (litellm.RateLimitError("slow down", "openai", "gpt"), ModelRateLimited),
        (litellm.Timeout("late", "gpt", "openai"), ModelTimeout),
        (litellm.APIConnectionError("refused", "openai", "gpt"), ModelUnavailable),
        (litellm.BudgetExceededError(10.0, 5.0), ModelRateLimited),
    ]
    for exc, expected in cases:
        assert type(calls.translate(exc, "w")) is expected, exc

"""The OpenAI stub's features, and the eval call layer (evals/calls.py) against it: results, error
kinds, identical records through the fast path and litellm, and no API key where it does not belong."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from dataclasses import replace

import httpx
import pytest
from openai_stub import DUMMY_KEY, FINGERPRINT, OpenAIStub, openai_stub_fixture  # noqa: F401  (the fixture)

from promptver.errors import SecretRefused
from promptver.evals import call_errors, calls
from promptver.evals.calls import CallRequest, CallResult, call, route
from promptver.providers.endpoints import Endpoint

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order?"}]
MODEL = "openai/gpt-4o-2024-08-06"
TOOL_CALLS = [{"id": "call_1", "type": "function",
               "function": {"name": "order_status", "arguments": "{\"id\": \"A-1001\"}"}}]
TOOLS = [{"type": "function", "function": {"name": "order_status", "description": "Look up an order",
                                           "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}]


def post(stub: OpenAIStub, body: object, path: str = "/chat/completions") -> httpx.Response:
    return httpx.post(stub.url + path, json=body, headers={"Authorization": "Bearer " + DUMMY_KEY}, timeout=5)


def ask(content: str, model: str = "gpt-x") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def at(stub: OpenAIStub) -> Endpoint:
    """The stub as the endpoint the environment names (OPENAI_BASE_URL): OPENAI_API_KEY goes there.
    A URL only a version's params name gets no key (tests/test_security_endpoints.py)."""
    return Endpoint("openai", stub.url, "env:OPENAI_BASE_URL")


def request(stub: OpenAIStub, model: str = MODEL, timeout: float = 5.0, **params) -> CallRequest:
    return CallRequest(model, MESSAGES, params, timeout=timeout, endpoint=at(stub))


def run(*requests: CallRequest, via: str | None = None) -> list[CallResult]:
    async def main() -> list[CallResult]:
        try:
            return [await call(r, via=via) for r in requests]
        finally:
            await calls.aclose()

    return asyncio.run(main())


def same(result: CallResult) -> CallResult:
    return replace(result, latency_ms=0.0)


# -- the stub ------------------------------------------------------------------------------------
def test_stub_answers_like_openai_and_records_the_request(openai_stub):
    reply = post(openai_stub, {**ask("Where is my order?"), "temperature": 0.2, "seed": 7})
    assert reply.status_code == 200
    assert reply.json() == {
        "id": "chatcmpl-stub-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-x",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "stub reply to: Where is my order?"}}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 7, "total_tokens": 11}}
    [seen] = openai_stub.requests
    assert (seen.number, seen.method, seen.path, seen.model) == (1, "POST", "/v1/chat/completions", "gpt-x")
    assert seen.params == {"temperature": 0.2, "seed": 7}
    assert seen.last_user == "Where is my order?"
    assert seen.headers["authorization"] == "Bearer " + DUMMY_KEY
    assert json.loads(seen.raw) == seen.body


def test_stub_planted_answers_by_substring_and_model(openai_stub):
    openai_stub.plant("refund", "Refunds take 5 days.")
    openai_stub.plant(None, "model b speaking", model="gpt-b", response_model="gpt-b-2024-01-01")
    openai_stub.plant("order", tool_calls=TOOL_CALLS)
    openai_stub.answer = lambda req: f"fallback for {req.model}"
    refund = post(openai_stub, ask("I want a refund")).json()
    assert refund["choices"][0]["message"]["content"] == "Refunds take 5 days."
    b = post(openai_stub, ask("hello", model="gpt-b")).json()
    assert (b["choices"][0]["message"]["content"], b["model"]) == ("model b speaking", "gpt-b-2024-01-01")
    tools = post(openai_stub, ask("my order?")).json()["choices"][0]
    assert (tools["message"]["tool_calls"], tools["finish_reason"]) == (TOOL_CALLS, "tool_calls")
    assert post(openai_stub, ask("other")).json()["choices"][0]["message"]["content"] == "fallback for gpt-x"


def test_stub_error_injection(openai_stub):
    openai_stub.fail(500, nth=2).fail(401, match="secret", message="bad key").fail(503, times=1, model="gpt-down")
    codes = [post(openai_stub, ask(text, model)).status_code for text, model in [
        ("a", "gpt-x"), ("b", "gpt-x"), ("the secret", "gpt-x"), ("c", "gpt-down"), ("d", "gpt-down")]]
    assert codes == [200, 500, 401, 503, 200]
    assert post(openai_stub, ask("the secret")).json() == {
        "error": {"message": "bad key", "type": "authentication_error", "param": None, "code": None}}


def test_stub_fraction_is_seeded_and_429_carries_retry_after(openai_stub):
    openai_stub.fail(429, fraction=0.3, retry_after=2, seed=5)
    replies = [post(openai_stub, ask(str(i))) for i in range(40)]
    limited = [r for r in replies if r.status_code == 429]
    assert 0 < len(limited) < 40 and all(r.headers["retry-after"] == "2" for r in limited)
    with OpenAIStub() as again:
        again.fail(429, fraction=0.3, retry_after=2, seed=5)
        assert [post(again, ask(str(i))).status_code for i in range(40)] == [r.status_code for r in replies]


def test_stub_latency_per_request_usage_switch_and_bad_requests(openai_stub):
    seen = []
    openai_stub.latency = lambda req: seen.append(req.number) or 0.0
    openai_stub.usage = False
    openai_stub.fingerprint = None
    body = post(openai_stub, ask("hi")).json()
    assert "usage" not in body and body["system_fingerprint"] is None and seen == [1]
    assert post(openai_stub, {"messages": []}).status_code == 400
    assert post(openai_stub, {**ask("hi"), "stream": True}).status_code == 400
    assert post(openai_stub, ask("hi"), path="/embeddings").status_code == 404


def test_stub_hangs_until_stopped():
    stub = OpenAIStub().start()
    stub.hang(nth=1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(stub.url + "/chat/completions", json=ask("hi"), timeout=0.3)
    assert post(stub, ask("next")).status_code == 200
    stub.stop()
    stub.stop()  # idempotent
    assert len(stub.requests) == 2


def test_stub_reset_forgets_everything(openai_stub):
    openai_stub.fail(500).plant("x", "y")
    post(openai_stub, ask("x"))
    openai_stub.reset()
    assert openai_stub.requests == []
    assert post(openai_stub, ask("x")).json()["choices"][0]["message"]["content"] == "stub reply to: x"
    assert openai_stub.requests[0].number == 1


# -- routes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("model, params, response_format, expected", [
    ("promptver/echo", {}, None, "echo"),
    ("promptver/other", {}, None, "echo"),
    ("openai/gpt-4o-2024-08-06", {"temperature": 0, "max_tokens": 5, "api_base": "http://x"}, {"type": "json_object"},
     "openai"),
    ("openai/my-vllm-model", {"seed": 1, "stop": ["x"], "metadata": {"a": 1}}, None, "openai"),
    ("openai/o3-mini", {}, None, "litellm"),                    # litellm renames max_tokens for reasoning models
    ("openai/gpt-5-mini", {}, None, "litellm"),
    ("openai/gpt-4o-2024-08-06", {"user": "u"}, None, "litellm"),  # a param the fast path does not know
    ("openai/gpt-4o-2024-08-06", {}, Exception, "litellm"),        # a response_format class (pydantic style)
    ("anthropic/claude-3-5-sonnet-20241022", {}, None, "litellm"),
    ("hosted_vllm/acme-support", {}, None, "litellm"),
])
def test_route(model, params, response_format, expected):
    assert route(CallRequest(model, MESSAGES, params, response_format=response_format)) == expected


# -- the call layer against the stub -------------------------------------------------------------
def test_success_through_the_fast_path(openai_stub):
    [result] = run(request(openai_stub, temperature=0.2, max_tokens=50, seed=7))
    assert same(result) == CallResult(
        output="stub reply to: Where is my order?", latency_ms=0.0, prompt_tokens=6, completion_tokens=7,
        cost_usd=6 * 2.5e-06 + 7 * 1e-05, response_model="gpt-4o-2024-08-06", system_fingerprint=FINGERPRINT)
    assert result.latency_ms > 0
    [sent] = openai_stub.requests
    assert sent.body == {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 50,
                         "seed": 7}
    assert sent.headers["authorization"] == "Bearer " + DUMMY_KEY


@pytest.mark.parametrize("status, retry_after, kind, seconds", [
    (429, "3", "rate_limited", 3.0),
    (429, "0.5", "rate_limited", 0.5),
    (429, "Wed, 21 Oct 2015 07:28:00 GMT", "rate_limited", 0.0),  # an HTTP date in the past
    (429, None, "rate_limited", None),
    (503, "7", "unavailable", 7.0),
    (500, None, "unavailable", None),
    (400, None, "request", None),
    (404, None, "request", None),
    (401, None, "auth", None),
    (403, None, "auth", None),
])
def test_http_errors_become_error_kinds(openai_stub, status, retry_after, kind, seconds):
    openai_stub.fail(status, retry_after=retry_after, message=f"the stub says {status}")
    [result] = run(request(openai_stub))
    assert (result.error_kind, result.status, result.retry_after) == (kind, status, seconds)
    assert result.error == f"HTTP {status}: the stub says {status}"
    assert result.output is None and result.cost_usd is None


def test_a_hanging_provider_is_a_timeout(openai_stub):
    openai_stub.hang()
    [result] = run(request(openai_stub, timeout=0.3))
    assert (result.error_kind, result.status, result.error) == ("timeout", None, "timed out after 0.3 s")


def test_connection_refused_is_a_connection_failure():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.setdefault("OPENAI_API_KEY", DUMMY_KEY)
    [result] = run(CallRequest(MODEL, MESSAGES, {"api_base": f"http://127.0.0.1:{port}/v1"}, timeout=5))
    assert (result.error_kind, result.status) == ("connection", None)
    assert result.error.startswith("connection failed: ") and "refused" in result.error.lower()


def test_no_api_key_is_an_auth_error_before_any_request(openai_stub, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    [result] = run(request(openai_stub))
    assert (result.error_kind, result.error) == ("auth", f"no API key for {MODEL}: set OPENAI_API_KEY")
    assert openai_stub.requests == []


def test_a_key_in_params_is_refused_not_sent(openai_stub):
    with pytest.raises(SecretRefused):
        run(request(openai_stub, api_key="sk-live-0123456789abcdef"))
    assert openai_stub.requests == []


def test_tool_calls_become_their_json(openai_stub):
    openai_stub.plant("order", tool_calls=TOOL_CALLS)
    [result] = run(CallRequest(MODEL, MESSAGES, {"api_base": openai_stub.url}, tools=TOOLS))
    assert json.loads(result.output) == TOOL_CALLS
    assert openai_stub.requests[0].body["tools"] == TOOLS


@pytest.mark.parametrize("raw", [b"<html>busy</html>", b"[]", b'{"choices": []}', b'{"choices": [{"message": 3}]}'])
def test_an_answer_that_is_not_a_chat_completion_is_unavailable(openai_stub, raw):
    openai_stub.plant(None, raw=raw)
    [fast] = run(request(openai_stub))
    assert (fast.error_kind, fast.status, fast.output) == ("unavailable", None, None)
    [slow] = run(request(openai_stub), via="litellm")  # litellm words it its own way, but never raises
    assert slow.error_kind in calls.ERROR_KINDS and slow.output is None


def test_echo_through_the_call_layer():
    [ok, bad, unknown] = run(CallRequest("promptver/echo", MESSAGES, {"max_tokens": 3, "metadata": {"x": 1}}),
                             CallRequest("promptver/echo", MESSAGES, {"max_tokens": -1}),
                             CallRequest("promptver/nope", MESSAGES, {}))
    assert same(ok) == CallResult("Be brief. Where", 0.0, 6, 3, 0.0, "promptver/echo", "promptver-echo-1")
    assert (bad.error_kind, bad.status) == ("request", None) and "max_tokens" in bad.error
    assert unknown.error == "unknown built-in model promptver/nope: the only one is promptver/echo"


def test_price_per_token():
    assert calls.price_per_token("openai/gpt-4o-2024-08-06") == (2.5e-06, 1e-05)
    assert calls.price_per_token("gpt-4o-2024-08-06") == (2.5e-06, 1e-05)
    assert calls.price_per_token("promptver/echo") == (0.0, 0.0)
    assert calls.price_per_token("openai/no-such-model") is None


# -- both paths give the same records -----------------------------------------------------------
SCENARIOS = {
    "plain": lambda stub: None,
    "tool calls": lambda stub: stub.plant("order", tool_calls=TOOL_CALLS),
    "answered by another model": lambda stub: stub.plant(None, "mini here", response_model="gpt-4o-mini-2024-07-18"),
    "unknown model, no price": lambda stub: stub.plant(None, "who am i", response_model="acme-model-1"),
    "cached prompt tokens": lambda stub: stub.plant(None, "cached", usage={
        "prompt_tokens": 2000, "completion_tokens": 10, "total_tokens": 2010,
        "prompt_tokens_details": {"cached_tokens": 1024}}),
    "no fingerprint": lambda stub: setattr(stub, "fingerprint", None),
    "429": lambda stub: stub.fail(429, retry_after=4, message="slow down"),
    "500": lambda stub: stub.fail(500, message="oops"),
    "503": lambda stub: stub.fail(503),
    "400": lambda stub: stub.fail(400, message="bad max_tokens"),
    "401": lambda stub: stub.fail(401, message="who are you"),
    "403": lambda stub: stub.fail(403),
    "timeout": lambda stub: stub.hang(),
    "non-ASCII answer": lambda stub: stub.plant(None, "Expédiée — 配送済み ✓ \"quoted\"\n"),
    "JSON mode": lambda stub: stub.plant(None, '{"status": "shipped"}'),
    "no usage": lambda stub: setattr(stub, "usage", False),
    "zero usage": lambda stub: stub.plant(None, "counted nothing", usage={
        "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
    "404": lambda stub: stub.fail(404, message="The model `gpt-4o-2024-08-06` does not exist"),
    "422": lambda stub: stub.fail(422, message="unprocessable"),
    "429 with an HTTP date": lambda stub: stub.fail(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
    "503 with retry-after": lambda stub: stub.fail(503, retry_after=7, message="overloaded"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_fast_path_and_litellm_give_identical_records(openai_stub, scenario):
    SCENARIOS[scenario](openai_stub)
    model = "openai/acme-model-1" if scenario.startswith("unknown") else MODEL
    one = CallRequest(model, MESSAGES, {"api_base": openai_stub.url, "temperature": 0.2, "max_tokens": 50, "seed": 7},
                      tools=TOOLS if scenario == "tool calls" else None,
                      response_format={"type": "json_object"} if scenario == "JSON mode" else None,
                      timeout=0.5 if scenario == "timeout" else 5.0)
    assert route(one) == "openai"
    [fast] = run(one, via="openai")
    [slow] = run(one, via="litellm")
    assert same(fast) == same(slow)
    if scenario not in ("timeout",):
        first, second = openai_stub.requests[0], openai_stub.requests[-1]
        assert first.body == second.body  # the same request was sent
    if scenario.endswith(" usage"):  # unknown, not free
        assert (fast.prompt_tokens, fast.completion_tokens, fast.cost_usd) == (None, None, None)
    if scenario == "cached prompt tokens":
        assert fast.cost_usd == round(976 * 2.5e-06 + 1024 * 1.25e-06 + 10 * 1e-05, 12)


@pytest.mark.parametrize("scheme", ["http", "ftp"])  # refused; a URL neither path can send to
def test_identical_connection_failure_records_through_both_paths(monkeypatch, scheme):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    one = CallRequest(MODEL, MESSAGES, {"api_base": f"{scheme}://127.0.0.1:{port}/v1"}, timeout=5)
    [fast] = run(one, via="openai")
    [slow] = run(one, via="litellm")
    assert same(fast) == same(slow)
    assert fast.error_kind == ("unavailable" if scheme == "ftp" else "connection")


# -- no API key where it does not belong -----------------------------------------------------------
@pytest.mark.parametrize("via", ["openai", "litellm"])
def test_no_api_key_in_error_text_or_request_body(openai_stub, monkeypatch, via):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ant-0123456789abcdefghij")
    openai_stub.fail(401, nth=1, message=f"Incorrect API key provided: {DUMMY_KEY}. Bearer {DUMMY_KEY}")
    openai_stub.fail(400, nth=2, message="api_key=ant-0123456789abcdefghij is not valid here")
    openai_stub.fail(500, nth=3, message=f"upstream said {DUMMY_KEY[:12]}...")
    results = run(request(openai_stub), request(openai_stub), request(openai_stub), via=via)
    assert [r.error_kind for r in results] == ["auth", "request", "unavailable"]
    for result in results:
        assert DUMMY_KEY not in result.error and "ant-0123456789" not in result.error
        assert "sk-stub" not in result.error and "\n" not in result.error
    assert results[0].error == "HTTP 401: Incorrect API key provided: ***. ***"
    for sent in openai_stub.requests:
        assert DUMMY_KEY.encode() not in sent.raw and b"api_key" not in sent.raw
        assert sent.headers["authorization"] == "Bearer " + DUMMY_KEY  # the key travels in the header only


# -- the fast path's transport: aiohttp, as the openai client would send ------------------------------
def test_the_fast_path_sends_the_bytes_the_openai_client_sends(openai_stub):
    import openai

    messages = [{"role": "system", "content": "Sé bref — 短く"}, {"role": "user", "content": 'Où est "A-1"?\n'}]
    params = {"temperature": 0.2, "max_tokens": 50, "seed": 7, "stop": ["\n\n"], "logit_bias": {"50256": -100}}
    one = CallRequest(MODEL, messages, {**params, "metadata": {"run": 1}}, tools=TOOLS,
                      response_format={"type": "json_object"}, endpoint=at(openai_stub))
    [result] = run(one)
    assert result.error is None
    body = {"model": "gpt-4o-2024-08-06", "messages": messages, **params, "tools": TOOLS,
            "response_format": {"type": "json_object"}}

    async def by_openai() -> None:  # the old fast path: the same body through the openai client
        client = openai.AsyncOpenAI(api_key=DUMMY_KEY, base_url=openai_stub.url, max_retries=0)
        try:
            await client.post("/chat/completions", cast_to=object, body=body)
            await client.chat.completions.create(**body)
        finally:
            await client.close()

    asyncio.run(by_openai())
    ours, theirs, created = openai_stub.requests
    assert ours.raw == theirs.raw  # compact, non-ASCII as UTF-8, the same key order
    assert ours.body == created.body  # and what chat.completions.create sends, key order aside
    assert ours.path == theirs.path == "/v1/chat/completions"
    for name in ("authorization", "content-type", "accept"):
        assert ours.headers[name] == theirs.headers[name]
    assert ours.headers["user-agent"].startswith("promptver/")


def test_concurrent_calls_share_one_session_and_all_succeed(openai_stub):
    from promptver.evals import calls_openai

    openai_stub.latency = 0.05
    one = request(openai_stub, temperature=0)

    async def main() -> tuple[list[CallResult], int]:
        results = await asyncio.gather(*(call(one) for _ in range(200)))
        sessions = len(calls_openai._LOOP_SESSIONS[asyncio.get_running_loop()].by_base)
        await calls.aclose()
        return results, sessions

    results, sessions = asyncio.run(main())
    assert sessions == 1 and len(openai_stub.requests) == 200
    assert all(r.error is None and r.output == "stub reply to: Where is my order?" for r in results)


def test_one_shared_session_per_api_base_per_loop_closed_with_the_loop(openai_stub):
    from promptver.evals import calls_openai

    async def endpoints() -> tuple[calls_openai.Endpoint, ...]:
        first = await calls_openai.shared_endpoint(openai_stub.url)
        again = await calls_openai.shared_endpoint(openai_stub.url + "/")
        other = await calls_openai.shared_endpoint("http://127.0.0.1:9/v1")
        assert not first.session.closed and first.session.connector.limit == calls_openai.POOL_SIZE
        return first, again, other

    a, b, c = asyncio.run(endpoints())  # no aclose(): asyncio.run closes them
    assert a is b and a.session is not c.session
    assert a.session.closed and c.session.closed
    assert str(a.url) == openai_stub.url + "/chat/completions"
    d, _, _ = asyncio.run(endpoints())
    assert d is not a  # a new loop, a new session


def test_the_fast_path_loads_neither_openai_nor_litellm_and_leaves_nothing_unclosed(openai_stub):
    code = ("import asyncio, json, sys\n"
            "from promptver.evals.calls import CallRequest, call\n"
            f"r = asyncio.run(call(CallRequest({MODEL!r}, [{{'role': 'user', 'content': 'hi'}}], "
            f"{{'api_base': {openai_stub.url!r}}})))\n"
            "assert r.output == 'stub reply to: hi', r\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'openai', 'litellm', 'httpx', 'httpx2'})))\n")
    done = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert done.stderr == ""  # no "Unclosed client session", no ResourceWarning


def test_an_api_base_with_credentials_is_refused_and_not_echoed(openai_stub):
    base = openai_stub.url.replace("http://", "http://user:hunter2-password@")
    with pytest.raises(SecretRefused) as info:  # params are checked by core/secrets.py before any call
        run(CallRequest(MODEL, MESSAGES, {"api_base": base}))
    assert "hunter2" not in str(info.value) and str(info.value).startswith("params.api_base: this URL carries a password")
    assert openai_stub.requests == []


@pytest.mark.parametrize("headers, seconds", [
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the milliseconds win, as in the openai client
    ({"Retry-After": "3"}, 3.0),                             # any case
    ({"retry-after": "-2"}, 0.0),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
    ({"retry-after": "soon"}, None),
    ({"retry-after-ms": "x"}, None),
    ({}, None),
])
def test_retry_after_headers(headers, seconds):
    from multidict import CIMultiDict

    assert call_errors.retry_after(CIMultiDict(headers)) == seconds
    failure = call_errors.HTTPFailure(429, CIMultiDict(headers), "slow down")
    assert call_errors.describe(failure, MODEL, 5.0) == ("HTTP 429: slow down", "rate_limited", 429, seconds)


@pytest.mark.parametrize("status, raw, message", [
    (500, b'{"error": {"message": "oops", "type": "server_error"}}', "oops"),
    (500, b'{"error": "plain words"}', "plain words"),
    (502, b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
    (502, b"", "Error code: 502"),
    (400, b'{"detail": "vLLM says no"}', '{"detail": "vLLM says no"}'),
])
def test_provider_messages_from_error_bodies(status, raw, message):
    assert call_errors.message_of_body(status, raw) == message


# -- imports --------------------------------------------------------------------
def test_importing_the_call_layer_and_echo_calls_load_neither_aiohttp_openai_nor_litellm():
    code = ("import asyncio, json, sys\n"
            "from promptver.evals.calls import CallRequest, call\n"
            "r = asyncio.run(call(CallRequest('promptver/echo', [{'role': 'user', 'content': 'hi'}], {})))\n"
            "assert r.output == 'hi', r\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'openai', 'litellm', 'httpx', 'httpx2', 'aiohttp'})))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []

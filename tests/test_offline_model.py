"""The built-in offline model ``promptver/echo``: its documented behaviour, determinism, and that it
answers through ``litellm.completion`` and through ``PinnedPair.complete()`` (offline, without litellm)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

from promptver.errors import ModelRequestError
from promptver.providers import echo
from promptver.services import labels
from promptver.services.registry import Registry
from promptver.services.sync import sync

SYSTEM = "You are a friendly support agent for Acme.\nAnswer in at most three sentences."
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Where is my order?"}]


def answer(messages=MESSAGES, response_format=None, **params):
    return echo.reply(messages, params, response_format)


def test_the_reply_is_the_system_sentence_then_the_last_user_message():
    got = answer()
    assert got == echo.EchoReply("You are a friendly support agent for Acme. Where is my order?",
                                 prompt_tokens=18, completion_tokens=12, finish_reason="stop")
    conversation = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url"}]}]
    assert answer(conversation).content == "second"
    assert answer([{"role": "system", "content": "No  sentence\n end here"}]).content == "No sentence end here"
    assert answer([{"role": "system", "content": "Version 1.5 is out! Read on."},
                   {"role": "user", "content": "  a\n b  "}]).content == "Version 1.5 is out! a b"


@pytest.mark.parametrize("change", [
    {"system": "You are a terse support agent for Acme."},  # the prompt's first sentence
    {"user": "Where is my refund?"},                         # the input
])
def test_changing_the_prompt_or_the_input_changes_the_answer(change):
    messages = [{"role": "system", "content": change.get("system", SYSTEM)},
                {"role": "user", "content": change.get("user", "Where is my order?")}]
    assert answer(messages).content != answer().content


def test_identical_inputs_give_identical_answers():
    params = {"temperature": 0.7, "seed": 3, "max_tokens": 5, "stop": ["zzz"]}
    assert {answer(**params) for _ in range(20)} == {answer(**params)}
    first = echo.completion(MESSAGES, params)
    again = echo.completion(MESSAGES, params)
    assert first["id"] == again["id"] and first["choices"] == again["choices"]


def test_temperature_rotates_the_words_deterministically_and_seed_picks_the_variant():
    plain = answer(temperature=0, seed=1).content
    assert plain == answer().content == answer(seed=99).content  # greedy: the seed changes nothing
    warm = answer(temperature=0.3, seed=7).content
    assert warm == "my order? You are a friendly support agent for Acme. Where is"  # as docs/runtime.md shows
    assert sorted(warm.split()) == sorted(plain.split())
    words = plain.split()
    rotations = {" ".join(words[i:] + words[:i]) for i in range(1, len(words))}
    variants = {answer(temperature=0.3, seed=seed).content for seed in range(30)}
    assert variants <= rotations and len(variants) > 1


def test_max_tokens_truncates_words_and_stop_cuts_the_text():
    got = answer(max_tokens=3)
    assert (got.content, got.completion_tokens, got.finish_reason) == ("You are a", 3, "length")
    assert answer(max_completion_tokens=2, max_tokens=5).content == "You are"
    assert answer(max_tokens=300).finish_reason == "stop"
    assert answer(stop=" agent").content == "You are a friendly support"
    assert answer(stop=["Acme", "friendly"]).content == "You are a"


def test_response_formats_give_json():
    assert json.loads(answer(response_format={"type": "json_object"}).content) == {
        "reply": "You are a friendly support agent for Acme. Where is my order?"}
    triage = {"type": "json_schema", "json_schema": {"name": "triage", "schema": {
        "type": "object", "required": ["queue", "urgent"],
        "properties": {"queue": {"type": "string", "enum": ["billing", "shipping", "order"]},
                       "urgent": {"type": "boolean"}, "score": {"type": ["number", "null"]},
                       "tags": {"type": "array"}, "meta": {"type": "object", "properties": {"k": {"const": 1}}}}}}}
    assert json.loads(answer(response_format=triage).content) == {
        "queue": "order", "urgent": False, "score": 0, "tags": [], "meta": {"k": 1}}
    assert answer(response_format={"type": "text"}).content == answer().content


@pytest.mark.parametrize("params, message", [
    ({"temperature": "hot"}, "temperature must be a number"),
    ({"temperature": 3}, "temperature must be a number"),
    ({"max_tokens": 0}, "max_tokens must be a positive integer"),
    ({"max_tokens": True}, "max_tokens must be a positive integer"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"stop": [1]}, "stop must be a string or a list"),
])
def test_malformed_parameters_are_refused_like_a_provider_would(params, message):
    with pytest.raises(ModelRequestError, match=message):
        echo.reply(MESSAGES, params)


def test_the_response_has_the_openai_shape_with_attribute_access():
    response = echo.completion(MESSAGES, {"max_tokens": 2, "tools": [{"type": "function"}]})
    assert response.model == "promptver/echo" and response["model"] == "promptver/echo"
    assert response.system_fingerprint == "promptver-echo-1"
    assert response.choices[0].message.content == "You are"
    assert response.choices[0].finish_reason == "length"
    assert dict(response.usage) == {"prompt_tokens": 18, "completion_tokens": 2, "total_tokens": 20}
    assert json.loads(json.dumps(response.model_dump()))["object"] == "chat.completion"
    with pytest.raises(AttributeError):
        response.nothing  # noqa: B018


def test_through_litellm_completion_and_acompletion():
    from promptver.runtime.calls import litellm_module

    litellm = litellm_module()  # registers the provider
    reply = litellm.completion(model="promptver/echo", messages=MESSAGES, temperature=0.3, seed=7, max_tokens=4)
    expected = answer(temperature=0.3, seed=7, max_tokens=4)
    assert reply.choices[0].message.content == expected.content
    assert reply.choices[0].finish_reason == "length"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (18, 4)
    assert (reply.model, reply.system_fingerprint) == ("promptver/echo", "promptver-echo-1")
    assert litellm.completion_cost(reply) == 0.0
    areply = asyncio.run(litellm.acompletion(model="promptver/echo", messages=MESSAGES,
                                             response_format={"type": "json_object"}))
    assert json.loads(areply.choices[0].message.content) == {"reply": answer().content}
    chunks = list(litellm.completion(model="promptver/echo", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == answer().content


def test_litellm_errors_for_bad_params_and_unknown_builtin_models_are_request_errors():
    from promptver.runtime import calls

    litellm = calls.litellm_module()
    litellm.suppress_debug_info = True
    for kwargs in ({"model": "promptver/echo", "max_tokens": 0}, {"model": "promptver/nope"}):
        with pytest.raises(ModelRequestError):
            calls.complete({**kwargs, "messages": MESSAGES}, "test")


@pytest.fixture
def worked_example(sqlite_url, tmp_path, monkeypatch):
    """The README's worked example (prompts/, models/ of this repository) released to production."""
    monkeypatch.setenv("PROMPTVER_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    with Registry.open(sqlite_url, actor="tester") as reg:
        project = tmp_path / "example"  # a copy: sync records its bases next to the files
        for folder in ("prompts", "models"):
            shutil.copytree(REPO / folder, project / folder)
        sync(reg, project, message="import the worked example")
        pairing = reg.pair("support-reply/1", "support-llm/1").pairing.id
        labels.move(reg, "support-reply", "production", pairing)
    return sqlite_url


def test_pinned_pair_complete_on_the_worked_example_is_offline_and_never_imports_litellm(worked_example, tmp_path):
    code = (
        "import socket, sys\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network disabled in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from promptver import Client\n"
        "with Client() as pv:\n"
        "    pair = pv.get('support-reply@production')\n"
        "    reply = pair.complete(company='Acme', question='Where is my order?', order_id='A-1001')\n"
        "    areply = __import__('asyncio').run(pair.acomplete(company='Acme', question='When are you open?'))\n"
        "import json\n"
        "print(json.dumps({'content': reply.choices[0].message.content, 'model': reply.model,\n"
        "                  'usage': dict(reply.usage), 'async': areply.choices[0].message.content,\n"
        "                  'heavy': sorted({m.split('.')[0] for m in sys.modules} & {'litellm', 'openai', 'httpx'})}))\n")
    env = {**os.environ, "PROMPTVER_DB": worked_example, "PROMPTVER_SNAPSHOT_DIR": str(tmp_path / "snap"),
           "PROMPTVER_URL": "", "PROMPTVER_TOKEN": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          check=False)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"content": "You are a friendly support agent for Acme. Where is my order?",
                   "model": "promptver/echo",
                   "usage": {"prompt_tokens": 23, "completion_tokens": 12, "total_tokens": 35},
                   "async": "You are a friendly support agent for Acme. When are you open?",
                   "heavy": []}


def test_pinned_pair_complete_on_echo_with_bad_options_raises_model_request_error(worked_example):
    from promptver import Client

    with Client(db=worked_example, snapshot=False) as pv:
        pair = pv.get("support-reply@production")
        with pytest.raises(ModelRequestError, match=r"model call failed for support-reply@production .*max_tokens"):
            pair.complete(company="Acme", question="Hi", litellm_kwargs={"max_completion_tokens": 0})

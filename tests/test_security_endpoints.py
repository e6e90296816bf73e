"""Keys go only where their owner sends them (issue: security hardening, part 1).

A stored ``api_base`` once received the caller's ``OPENAI_API_KEY`` from ``promptver eval`` (the fast
path and litellm) and from ``PinnedPair.complete()``. Now a key from the environment goes only to the
provider's own endpoint, to one the environment of the command names (``OPENAI_BASE_URL``), or to an
endpoint declared where the command runs (providers/declared.py); a URL in stored data gets none.
"""

import json

import pytest
from conftest import write_suite
from openai_stub import DUMMY_KEY, OpenAIStub

from promptver.errors import InvalidValue
from promptver.providers import declared
from promptver.providers.endpoints import KEYLESS, effective_endpoint

pytestmark = pytest.mark.usefixtures("fast_retries")
MODEL = "openai/gpt-4o-2024-08-06"
LOCAL_KEY = "local-secret-0123456789"


def _auth(stub):
    return [r.headers.get("authorization") for r in stub.requests]


def _suite(example, *params):
    example("model", "add", "m", "--model", MODEL, "--param", "temperature=0", *params)
    return write_suite(example.project, "dataset: support-reply.jsonl\nprompts: [support-reply/1]\n"
                                        "models: [m/1]\nscorers: [{type: contains}]\n")


@pytest.mark.parametrize("via", ["openai", "litellm"])
def test_a_stored_api_base_never_receives_the_environments_key(example, monkeypatch, via):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    with OpenAIStub() as listener:
        suite = _suite(example, "--param", f"api_base={listener.url}")
        if via == "litellm":  # a param the fast path does not send takes the call through litellm
            monkeypatch.setattr("promptver.evals.calls.FAST_PARAMS", frozenset())
        result = example("eval", suite, "--json")
        assert result.code == 0, result.stderr
        seen = _auth(listener)
    assert len(seen) == 3
    assert not any(DUMMY_KEY in (h or "") for h in seen)
    assert set(seen) == ({None} if via == "openai" else {f"Bearer {KEYLESS}"})
    assert [c["endpoint"]["credential"] for c in json.loads(result.stdout)["cells"]] == ["none"]


def test_the_environments_own_base_url_gets_the_key(example, monkeypatch):
    """OPENAI_BASE_URL is set by whoever runs the command: their endpoint, their key (litellm's rule)."""
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    with OpenAIStub() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        suite = _suite(example)
        assert example("eval", suite).code == 0
        assert set(_auth(server)) == {f"Bearer {DUMMY_KEY}"}


def test_a_named_endpoint_runs_where_it_is_declared_with_its_own_key(example, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    monkeypatch.setenv("LOCAL_LLAMA_KEY", LOCAL_KEY)
    with OpenAIStub() as dev, OpenAIStub() as prod:
        suite = _suite(example, "--param", "endpoint=local-llama")
        monkeypatch.setenv("PROMPTVER_ENDPOINT_LOCAL_LLAMA", dev.url)
        monkeypatch.setenv("PROMPTVER_ENDPOINT_LOCAL_LLAMA_KEY_ENV", "LOCAL_LLAMA_KEY")
        first = example("eval", suite, "--json")
        assert first.code == 0, first.stderr
        monkeypatch.setenv("PROMPTVER_ENDPOINT_LOCAL_LLAMA", prod.url)
        monkeypatch.delenv("PROMPTVER_ENDPOINT_LOCAL_LLAMA_KEY_ENV")
        second = example("eval", suite, "--json")
        assert second.code == 0, second.stderr
        assert set(_auth(dev)) == {f"Bearer {LOCAL_KEY}"}
        assert set(_auth(prod)) == {None}  # declared without key_env: no key at all
        assert len(prod.requests) == 3  # another endpoint: nothing from dev's cache
    one, two = json.loads(first.stdout)["cells"], json.loads(second.stdout)["cells"]
    # the same model version, so the same pairing: one eval history for dev and prod
    assert [c["pairing"] for c in one] == [c["pairing"] for c in two]
    assert [(c["endpoint"]["url"], c["endpoint"]["credential"], c["endpoint"]["name"]) for c in one] == \
        [(dev.url, "env:LOCAL_LLAMA_KEY", "local-llama")]
    assert [(c["endpoint"]["url"], c["endpoint"]["credential"]) for c in two] == [(prod.url, "none")]


def test_an_undeclared_endpoint_is_an_input_error_before_any_call(example):
    suite = _suite(example, "--param", "endpoint=local-llama")
    result = example("eval", suite)
    assert result.code == 2
    assert "endpoint 'local-llama' is not declared where this runs" in result.stderr
    assert "PROMPTVER_ENDPOINT_LOCAL_LLAMA=URL" in result.stderr and "Traceback" not in result.stderr


def test_a_stored_url_that_is_declared_gets_the_declared_key_only(tmp_path, monkeypatch):
    config = tmp_path / "endpoints.toml"
    config.write_text('[endpoints.gpu-box]\nurl = "http://10.0.0.5:8000/v1/"\nkey_env = "GPU_BOX_KEY"\n')
    monkeypatch.setenv("PROMPTVER_ENDPOINTS", str(config))
    where = effective_endpoint(MODEL, {"api_base": "http://10.0.0.5:8000/v1"})
    assert (where.url, where.credential, where.name) == ("http://10.0.0.5:8000/v1", "env:GPU_BOX_KEY", "gpu-box")
    other = effective_endpoint(MODEL, {"api_base": "http://10.0.0.6:8000/v1"})
    assert other.credential == "none"


@pytest.mark.parametrize("model", ["bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0", "vertex_ai/gemini-1.5-pro-002",
                                   "azure/gpt-4o-2024-08-06"])
def test_cloud_credentials_never_follow_a_stored_url(model):
    with pytest.raises(InvalidValue, match="never sent to a URL that stored data names"):
        effective_endpoint(model, {"api_base": "https://attacker.example/v1"}, environ={})


@pytest.mark.parametrize("text, message", [
    ('[endpoints.x]\nurl = "ftp://host"\n', "http(s) base URL"),
    ('[endpoints.x]\nurl = "http://user:pw@host/v1"\n', "without credentials"),
    ('[endpoints.x]\nurl = "http://host/v1"\nkey_env = "sk-live-0123456789abcdef"\n', "never the key itself"),
    ('[endpoints.x]\nurl = "http://host/v1"\nkey = "abc"\n', "takes url and key_env only"),
    ('endpoints = 3\n', "[endpoints.NAME]"),
    ('[endpoints.x\n', "cannot read the endpoint declarations"),
])
def test_bad_declarations_are_one_clear_error(tmp_path, text, message):
    config = tmp_path / "endpoints.toml"
    config.write_text(text)
    with pytest.raises(InvalidValue, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace(".", r"\.")):
        declared.load({"PROMPTVER_ENDPOINTS": str(config)})


def test_endpoint_and_api_base_together_are_refused(reg):
    with pytest.raises(InvalidValue, match="either endpoint"):
        reg.add_model("m", MODEL, params={"endpoint": "dev", "api_base": "http://x/v1"})
    with pytest.raises(Exception, match="endpoint name"):
        reg.add_model("m", MODEL, params={"endpoint": "../etc"})


def test_runtime_calls_bind_keys_to_endpoints(tmp_path, monkeypatch):
    """PinnedPair.complete() once sent OPENAI_API_KEY to a stored api_base (through litellm)."""
    from promptver.services.registry import Registry
    from conftest import prompt_spec

    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    url = "sqlite:///" + str(tmp_path / "r.db")
    with OpenAIStub() as listener, OpenAIStub() as declared_server:
        with Registry.open(url, actor="t") as reg:
            reg.push_prompt(prompt_spec("p"))
            reg.add_model("stored", MODEL, params={"api_base": listener.url, "max_tokens": 5})
            reg.add_model("named", MODEL, params={"endpoint": "team-gpu", "max_tokens": 5})
            stored = reg.pair("p/1", "stored/1").pairing.id
            named = reg.pair("p/1", "named/1").pairing.id
        from promptver import Client

        client = Client(db=url, snapshot=False)
        pair = client.get(stored)
        kwargs = pair.completion_kwargs(company="Acme", question="hi")
        assert kwargs["api_base"] == listener.url and kwargs["api_key"] == KEYLESS
        pair.complete(company="Acme", question="hi", litellm_kwargs={"max_retries": 0})
        assert _auth(listener) == [f"Bearer {KEYLESS}"]
        with pytest.raises(InvalidValue, match="not declared"):
            client.get(named).completion_kwargs(company="Acme", question="hi")
        monkeypatch.setenv("PROMPTVER_ENDPOINT_TEAM_GPU", declared_server.url)
        monkeypatch.setenv("PROMPTVER_ENDPOINT_TEAM_GPU_KEY_ENV", "TEAM_GPU_KEY")
        monkeypatch.setenv("TEAM_GPU_KEY", LOCAL_KEY)
        client.get(named).complete(company="Acme", question="hi", litellm_kwargs={"max_retries": 0})
        assert _auth(declared_server) == [f"Bearer {LOCAL_KEY}"]
        client.close()


def test_endpoints_lists_declarations_and_whether_their_key_is_set_never_the_key(cli, tmp_path, monkeypatch):
    config = tmp_path / "config" / "promptver" / "endpoints.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[endpoints.gpu-box]\nurl = "http://10.0.0.5:8000/v1"\nkey_env = "GPU_BOX_KEY"\n'
                      '[endpoints.local-llama]\nurl = "http://127.0.0.1:8080/v1"\n')
    monkeypatch.setenv("GPU_BOX_KEY", LOCAL_KEY)
    monkeypatch.setenv("PROMPTVER_ENDPOINT_LOCAL_LLAMA", "http://127.0.0.1:9090/v1")  # the environment wins
    result = cli("endpoints", "--json")
    assert result.code == 0, result.stderr
    assert LOCAL_KEY not in result.stdout
    rows = {r["name"]: r for r in json.loads(result.stdout)["endpoints"]}
    assert rows["gpu-box"] == {"name": "gpu-box", "url": "http://10.0.0.5:8000/v1", "key_env": "GPU_BOX_KEY",
                               "key_set": True, "declared_in": str(config)}
    assert rows["local-llama"]["url"] == "http://127.0.0.1:9090/v1" and rows["local-llama"]["key_env"] is None


def test_an_app_declares_endpoints_in_code(tmp_path, monkeypatch):
    from conftest import prompt_spec

    from promptver import Client
    from promptver.services.registry import Registry

    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    monkeypatch.setenv("APP_GPU_KEY", LOCAL_KEY)
    url = "sqlite:///" + str(tmp_path / "r.db")
    with Registry.open(url, actor="t") as reg:
        reg.push_prompt(prompt_spec("p"))
        reg.add_model("named", MODEL, params={"endpoint": "app-gpu", "max_tokens": 5})
        pairing = reg.pair("p/1", "named/1").pairing.id
    with OpenAIStub() as server:
        with pytest.raises(InvalidValue, match="endpoints"):
            Client(db=url, endpoints=["app-gpu"])
        client = Client(db=url, snapshot=False, endpoints={"app-gpu": {"url": server.url, "key_env": "APP_GPU_KEY"}})
        pair = client.get(pairing)
        assert (pair.endpoint().url, pair.endpoint().credential) == (server.url, "env:APP_GPU_KEY")
        pair.complete(company="Acme", question="hi", litellm_kwargs={"max_retries": 0})
        assert client.get(pairing) is not None and _auth(server) == [f"Bearer {LOCAL_KEY}"]
        client.close()


def test_a_missing_provider_key_is_one_auth_error_everywhere(example, tmp_path, monkeypatch, capsys):
    """Evals said `auth`, the runtime said ModelUnavailable with litellm's banner: now both say auth."""
    from conftest import prompt_spec

    from promptver import Client
    from promptver.errors import ModelAuthError
    from promptver.runtime import calls
    from promptver.services.registry import Registry

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url = "sqlite:///" + str(tmp_path / "r.db")
    with Registry.open(url, actor="t") as reg:
        reg.push_prompt(prompt_spec("p"))
        reg.add_model("m", MODEL, params={"max_tokens": 5})
        pairing = reg.pair("p/1", "m/1").pairing.id
    with Client(db=url, snapshot=False) as client:
        with pytest.raises(ModelAuthError, match="no API key for openai/gpt-4o-2024-08-06: set OPENAI_API_KEY"):
            client.get(pairing).complete(company="Acme", question="hi")
    with pytest.raises(ModelAuthError, match="Missing credentials"):  # litellm called directly: mapped as auth
        calls.complete({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_retries": 0}, "x")
    captured = capsys.readouterr()
    assert "Give Feedback" not in captured.out + captured.err
    suite = _suite(example)
    monkeypatch.setattr("promptver.evals.calls.FAST_PARAMS", frozenset())  # through litellm too
    result = example("eval", suite, "--json")
    assert "no API key for openai/gpt-4o-2024-08-06: set OPENAI_API_KEY" in result.stderr + result.stdout

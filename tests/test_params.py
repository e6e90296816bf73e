import pytest

from promptver.core.params import floating_model_warning, refuse_secrets
from promptver.errors import SecretRefused


@pytest.mark.parametrize("params", [
    {"api_key": "x"}, {"API_KEY": "x"}, {"openai_api_key": "x"}, {"token": "x"}, {"password": "x"},
    {"extra_headers": {"Authorization": "Bearer abc"}}, {"aws_secret_access_key": "x"},
    {"stop": ["sk-abcdefghijklmnopqrstuvwxyz123456"]}, {"azure_ad_token": "x"}, {"client_secret": "x"},
])
def test_secrets_are_refused_naming_where(params):
    with pytest.raises(SecretRefused) as info:
        refuse_secrets(params, "params")
    assert "environment" in str(info.value)
    assert str(info.value).startswith("params")


@pytest.mark.parametrize("params", [
    {"temperature": 0.2, "max_tokens": 300, "seed": 7, "top_p": 1},
    {"max_completion_tokens": 10, "stop": ["\n"], "api_base": "http://127.0.0.1:8000"},
])
def test_ordinary_params_pass(params):
    refuse_secrets(params, "params")


@pytest.mark.parametrize("model, floats", [
    ("openai/gpt-4o", True), ("gpt-4o", True), ("anthropic/claude-3-5-sonnet-latest", True),
    ("openai/gpt-4o-2024-08-06", False), ("anthropic/claude-3-5-sonnet-20241022", False),
    ("gpt-4-0613", False), ("openai/ft:gpt-4o-mini-2024-07-18:acme::abc123", False),
    ("promptver/echo", False), ("ollama/llama3", True),
])
def test_floating_model_ids(model, floats):
    assert (floating_model_warning(model) is not None) is floats


def test_weights_hash_pins_a_model():
    assert floating_model_warning("hosted_vllm/acme-support", {"weights_sha256": "ab" * 32}) is None


@pytest.mark.parametrize("model, params", [("ollama/llama3", {}), ("hosted_vllm/gemma-3-270m", {}),
                                           ("openai/gemma-3-270m", {"api_base": "http://127.0.0.1:8080/v1"}),
                                           ("openai/gemma-3-270m", {"endpoint": "local-llama"})])
def test_self_served_models_are_pinned_by_their_weights_not_a_dated_snapshot(model, params):
    from promptver.core.params import floating_model_warning

    warning = floating_model_warning(model, {}, params)
    assert "weights_sha256" in warning and "2024-08-06" not in warning
    assert floating_model_warning(model, {"weights_sha256": "a" * 64}, params) is None

"""Secrets are never stored (issue 14, section 2).

The corpus: the attack's planted secrets (the ones the old filter stored for good, marked
``missed``, and the classic ones it already caught), each refused with nothing stored and the
message naming the path but never the value; and legitimate values that must be kept as given.
Every write path goes through the same checks (specs, services): Python (Registry) for the whole
corpus, then the CLI, files (`prompt push FILE`, `sync`) and the HTTP API once each at least.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import prompt_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from promptver.core.secrets import credential_name, find_secret, refuse_secrets
from promptver.errors import SecretRefused
from promptver.services import access, datasets
from promptver.templates.specs import PromptSpec

MODEL = "openai/gpt-4o-2024-08-06"


def fake(prefix: str, n: int, alphabet: str = "A1b2C3d4E5f6G7h8J9k0Lm") -> str:
    """A made-up credential of a real shape: ``prefix`` + ``n`` characters."""
    return prefix + (alphabet * (n // len(alphabet) + 1))[:n]


HEX32 = fake("", 32, "0f1e2d3c4b5a6978")  # an Azure OpenAI key (or an md5)
HEX40 = fake("", 40, "9a8b7c6d5e4f3021")  # a W&B key (or a git commit)
SK = fake("sk-proj-", 48)
GLPAT = fake("glpat-", 20)
SENDGRID = "SG." + fake("", 22) + "." + fake("", 43)


def _sensitive(value, key=""):
    """The values of ``value`` that are secrets: shaped like one, or held by a credential name."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _sensitive(v, str(k))
            yield from _sensitive(str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _sensitive(v, key)
    elif isinstance(value, str) and (find_secret(value, names=False) or (key and credential_name(key))):
        yield value


def assert_not_echoed(message: str, *payloads) -> None:
    """No secret of the payloads, nor any part of one (a URL's password, a query value), is in the message."""
    for payload in payloads:
        for secret in _sensitive(payload):
            assert secret not in message
            for part in re.split(r"[:@/?=&\s]+", secret):
                assert len(part) < 6 or credential_name(part, in_url=True) or part not in message, part


# -- the model corpus: (id, params, lineage, the path the error names) --------------------------------
MISSED = [
    ("header-azure-api-key", {"extra_headers": {"api-key": HEX32}}, {}, "params.extra_headers.api-key"),
    ("header-x-api-key", {"extra_headers": {"X-Api-Key": "k-live-3141592653"}}, {}, "params.extra_headers.X-Api-Key"),
    ("header-x-goog-api-key", {"extra_headers": {"x-goog-api-key": "goog-k-27182818"}}, {},
     "params.extra_headers.x-goog-api-key"),
    ("header-ocp-apim-subscription-key", {"headers": {"Ocp-Apim-Subscription-Key": HEX32}}, {},
     "params.headers.Ocp-Apim-Subscription-Key"),
    ("header-cookie", {"extra_headers": {"Cookie": "session=7d1f0c2a9b"}}, {}, "params.extra_headers.Cookie"),
    ("header-azure-32-hex-any-name", {"extra_headers": {"X-Portal-Access": HEX32}}, {},
     "params.extra_headers.X-Portal-Access"),
    ("api-base-userinfo", {"api_base": "https://admin:hunter2-prod@llm.internal.example/v1"}, {}, "params.api_base"),
    ("base-url-userinfo", {"base_url": "http://svc:Pa55w0rd@llm.internal.example:8000/v1"}, {}, "params.base_url"),
    ("api-base-query-key", {"api_base": "https://llm.example.com/v1?key=3f9a1c77e2"}, {}, "params.api_base"),
    ("base-url-query-api-key", {"base_url": "https://llm.example.com/v1?api_key=s3cr3t-v4lue"}, {}, "params.base_url"),
    ("api-base-query-token", {"api_base": "https://llm.example.com/v1?region=eu&token=abc123def"}, {},
     "params.api_base"),
    ("api-base-query-sig", {"api_base": "https://acct.blob.core.windows.net/c?sv=2024-01-01&sig=Zm9vYmFy%2F"}, {},
     "params.api_base"),
    ("camel-authToken", {"authToken": "at-20240101-xyz"}, {}, "params.authToken"),
    ("camel-secretKey", {"secretKey": "abc-def-ghi"}, {}, "params.secretKey"),
    ("camel-openaiApiKey", {"openaiApiKey": "not-shaped-but-named"}, {}, "params.openaiApiKey"),
    ("bare-key", {"key": "plain-value-42"}, {}, "params.key"),
    ("passphrase", {"passphrase": "correct horse battery staple"}, {}, "params.passphrase"),
    ("pwd", {"pwd": "hunter2"}, {}, "params.pwd"),
    ("value-groq-gsk", {"metadata": {"note": fake("gsk_", 52)}}, {}, "params.metadata.note"),
    ("value-gitlab-glpat", {"extra_body": {"ref": GLPAT}}, {}, "params.extra_body.ref"),
    ("value-github-ghs", {"stop": [fake("ghs_", 36)]}, {}, "params.stop[0]"),
    ("value-github-pat", {"metadata": {"ci": fake("github_pat_", 82, "A1b2C3d4E5f6_")}}, {}, "params.metadata.ci"),
    ("value-azure-32-hex-key-field", {"azure_key": HEX32}, {}, "params.azure_key"),
    ("value-basic-auth", {"metadata": {"upstream": "Basic YWxpY2U6czNjcjN0"}}, {}, "params.metadata.upstream"),
    ("value-xai", {"metadata": {"k": fake("xai-", 80)}}, {}, "params.metadata.k"),
    ("lineage-repo-oauth2-glpat", {}, {"training_code_repo": f"https://oauth2:{GLPAT}@gitlab.com/acme/train.git"},
     "lineage.training_code_repo"),
    ("lineage-weights-uri-userinfo", {}, {"weights_uri": "https://ml:s3cr3t-pass@models.example.com/w.safetensors"},
     "lineage.weights_uri"),
    ("lineage-weights-uri-presigned", {}, {"weights_uri": "https://b.s3.amazonaws.com/w.bin?X-Amz-Algorithm=AWS4"
                                           "-HMAC-SHA256&X-Amz-Signature=9f86d081884c7d65"}, "lineage.weights_uri"),
    ("lineage-data-ref-dsn", {}, {"training_data_ref": "postgresql://etl:etl-Pa55@db.example/corpus"},
     "lineage.training_data_ref"),
    ("nested-hyperparameters-wandb-key", {}, {"hyperparameters": {"lr": 1e-5, "wandb_key": HEX40}},
     "lineage.hyperparameters.wandb_key"),
    ("library-sendgrid", {"metadata": {"mailer": SENDGRID}}, {}, "params.metadata.mailer"),
    ("library-telegram", {"metadata": {"bot": "123456789:" + fake("", 35)}}, {}, "params.metadata.bot"),
    ("key-shaped-mapping-key", {"logit_bias": {SK: 1}}, {}, "params.logit_bias"),
    ("value-private-key", {}, {"environment": {"deploy": "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."}},
     "lineage.environment.deploy"),
]
CLASSIC = [
    ("api_key", {"api_key": "x"}, {}, "params.api_key"),
    ("API_KEY", {"API_KEY": "x"}, {}, "params.API_KEY"),
    ("openai_api_key", {"openai_api_key": "x"}, {}, "params.openai_api_key"),
    ("token", {"token": "x"}, {}, "params.token"),
    ("password", {"password": "x"}, {}, "params.password"),
    ("authorization-header", {"extra_headers": {"Authorization": "Bearer abc"}}, {},
     "params.extra_headers.Authorization"),
    ("aws_secret_access_key", {"aws_secret_access_key": "x"}, {}, "params.aws_secret_access_key"),
    ("azure_ad_token", {"azure_ad_token": "x"}, {}, "params.azure_ad_token"),
    ("client_secret", {"client_secret": "x"}, {}, "params.client_secret"),
    ("access_token", {"access_token": "x"}, {}, "params.access_token"),
    ("credentials", {"vertex_credentials": "{}x"}, {}, "params.vertex_credentials"),
    ("value-openai-sk", {"stop": ["sk-abcdefghijklmnopqrstuvwxyz123456"]}, {}, "params.stop[0]"),
    ("value-openai-sk-proj", {"metadata": {"k": SK}}, {}, "params.metadata.k"),
    ("value-anthropic", {"metadata": {"k": fake("sk-ant-api03-", 93)}}, {}, "params.metadata.k"),
    ("value-aws-akia", {}, {"environment": {"aws": "AKIA" + "IOSFODNN7EXAMPLE"}}, "lineage.environment.aws"),
    ("value-github-ghp", {}, {"training_code_repo": f"https://{fake('ghp_', 36)}@github.com/acme/t.git"},
     "lineage.training_code_repo"),
    ("value-slack", {"metadata": {"hook": "xoxb-1234567890-abcdefghij"}}, {}, "params.metadata.hook"),
    ("value-google", {"metadata": {"k": fake("AIza", 35)}}, {}, "params.metadata.k"),
    ("value-hugging-face", {}, {"hyperparameters": {"hub": fake("hf_", 34)}}, "lineage.hyperparameters.hub"),
    ("value-jwt", {"metadata": {"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"}}, {},
     "params.metadata.jwt"),
    ("value-bearer", {"metadata": {"h": "Bearer " + fake("", 40)}}, {}, "params.metadata.h"),
    ("header-proxy-authorization", {"extra_headers": {"Proxy-Authorization": "Basic YWxpY2U6czNjcjN0"}}, {},
     "params.extra_headers.Proxy-Authorization"),
    ("header-gitlab-private-token", {"extra_headers": {"PRIVATE-TOKEN": "tok-1234567890"}}, {},
     "params.extra_headers.PRIVATE-TOKEN"),
    ("nested-hyperparameters-hf-token", {}, {"hyperparameters": {"push": {"hf_token": "plain"}}},
     "lineage.hyperparameters.push.hf_token"),
    ("nested-numeric-password", {}, {"hyperparameters": {"db": {"password": 123456}}},
     "lineage.hyperparameters.db.password"),
]
MODEL_SECRETS = [pytest.param(*c[1:], id=f"missed-{c[0]}") for c in MISSED] + \
                [pytest.param(*c[1:], id=f"classic-{c[0]}") for c in CLASSIC]


@pytest.mark.parametrize("params, lineage, path", MODEL_SECRETS)
def test_every_planted_secret_in_a_model_version_is_refused_and_nothing_is_stored(reg, params, lineage, path):
    with pytest.raises(SecretRefused) as info:
        reg.add_model("m", MODEL, params=params, lineage=lineage)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "environment" in message
    assert_not_echoed(message, params, lineage)
    assert reg.reader.series_names("model") == []


# -- prompts: tools, response formats, variables and text get value shapes (not names) ------------------
def _tool(properties):
    return [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object",
                                                                              "properties": properties}}}]


PROMPT_SECRETS = [
    pytest.param({"tools": _tool({"key": {"type": "string", "default": SK}})},
                 "tools[0].function.parameters.properties.key.default", id="tool-default-sk"),
    pytest.param({"messages": [{"role": "system", "content": f"Use the token {fake('ghp_', 36)} to open issues."}]},
                 "messages[0].content", id="message-ghp"),
    pytest.param({"messages": [{"role": "system", "content": "Fetch https://bot:Hunter2x@wiki.example/page"}]},
                 "messages[0].content", id="message-url-userinfo"),
    pytest.param({"response_format": {"type": "json_schema", "json_schema": {
        "name": "a", "description": f"key {fake('AIza', 35)}", "schema": {"type": "object"}}}},
                 "response_format.json_schema.description", id="response-format-aiza"),
    pytest.param({"variables": {"question": {"type": "string", "default": fake("gsk_", 52)}}},
                 "variables.question.default", id="variable-default-gsk"),
    pytest.param({"description": "Owned by ops, key " + fake("sk-ant-api03-", 93)}, "description",
                 id="description-anthropic"),
]


@pytest.mark.parametrize("change, path", PROMPT_SECRETS)
def test_a_secret_in_a_prompt_version_is_refused_and_nothing_is_stored(reg, change, path):
    base = {"name": "p", "messages": [{"role": "user", "content": "{{ question }}"}]}
    spec = PromptSpec(**{**base, **change})
    with pytest.raises(SecretRefused) as info:
        reg.push_prompt(spec)
    assert str(info.value).startswith(f"{path}: this ")
    assert_not_echoed(str(info.value), change)
    assert reg.reader.series_names("prompt") == []


# -- free text and test data: changelog, pairing message, label reason, notes, token names, datasets -----
def _released(reg):
    reg.push_prompt(prompt_spec())
    reg.push_prompt(prompt_spec(system="v2 for {{ company }}"))
    reg.add_model("support-llm", MODEL)
    return reg.pair("support-reply/1", "support-llm/1").pairing.id


def _write_text(reg, where, secret):
    if where == "prompt changelog":
        reg.push_prompt(prompt_spec(system="v3 for {{ company }}"), message=secret)
    elif where == "model changelog":
        reg.add_model("support-llm", MODEL, params={"temperature": 1}, message=secret)
    elif where == "pairing message":
        reg.pair("support-reply/2", "support-llm/1", message=secret)
    elif where == "label reason":
        reg.move_label("support-reply", "production", _released.pairing, reason=secret)
    elif where == "annotation note":
        reg.annotate("prompt", "support-reply/1", "incident-14", note=secret)
    elif where == "token name":
        access.add_user(reg, "ci", "editor")
        reg.create_token("ci", name=secret)
    elif where == "dataset case":
        cases = [{"id": "c1", "vars": {"question": f"my key is {secret}"}, "expected": None, "metadata": {}}]
        datasets.push(reg, "qa", cases, "digest-1")


TEXT_SECRETS = [
    ("prompt changelog", f"rotate {GLPAT}", "message"),
    ("model changelog", "proxy creds Basic YWxpY2U6czNjcjN0", "message"),
    ("pairing message", f"ci: {fake('ghs_', 36)}", "message"),
    ("label reason", "hotfix, auth was Bearer " + fake("", 40), "reason"),
    ("annotation note", "webhook xoxb-1234567890-abcdefghij", "note"),
    ("token name", fake("github_pat_", 82, "A1b2C3d4E5f6_"), "token name"),
    ("dataset case", fake("sk-ant-api03-", 93), "dataset qa: cases[0].vars.question"),
    ("dataset case", "https://u:p4ssw0rd@intranet.example/report", "dataset qa: cases[0].vars.question"),
]


def _stored(reg):
    from promptver.storage.reader import DatasetReader

    return (reg.log("prompt", "support-reply"), reg.log("model", "support-llm"), reg.pairings("support-reply"),
            reg.label_history("support-reply"), reg.prompt_version("support-reply/1").annotations,
            [t["name"] for t in reg.tokens()], DatasetReader(reg.reader).version("qa"))


@pytest.mark.parametrize("where, secret, path", [pytest.param(*t, id=f"{t[0]}-{i}") for i, t in
                                                 enumerate(TEXT_SECRETS)])
def test_a_secret_in_free_text_or_test_data_is_refused_and_nothing_is_stored(reg, where, secret, path):
    _released.pairing = _released(reg)
    before = _stored(reg)
    with pytest.raises(SecretRefused) as info:
        _write_text(reg, where, secret)
    assert str(info.value).startswith(f"{path}: this ")
    assert_not_echoed(str(info.value), secret)
    assert _stored(reg) == before


# -- the legitimate corpus: kept as given ---------------------------------------------------------------
LEGIT_MODELS = [
    pytest.param({"temperature": 0.2, "max_tokens": 300, "top_k": 40, "top_p": 0.9, "seed": 7,
                  "stop": ["\n\n", "</answer>"]}, {}, id="sampling"),
    pytest.param({"tokenizer": "meta-llama/Llama-3.1-8B-Instruct", "max_completion_tokens": 10,
                  "max_new_tokens": 5}, {}, id="tokenizer-and-counts"),
    pytest.param({"api_base": "http://127.0.0.1:8080/v1"}, {}, id="local-api-base"),
    pytest.param({"api_base": "https://acme.openai.azure.com/openai/deployments/gpt4o?api-version=2024-06-01",
                  "api_version": "2024-06-01"}, {}, id="azure-api-version-query"),
    pytest.param({"extra_headers": {"anthropic-beta": "prompt-caching-2024-07-31",
                                    "OpenAI-Organization": "org-Ab12Cd34Ef56Gh78Ij90Kl12",
                                    "X-Request-Id": "123e4567-e89b-12d3-a456-426614174000",
                                    "HTTP-Referer": "https://acme.example/support", "X-Title": "Acme support"}},
                 {}, id="ordinary-headers"),
    pytest.param({"thinking": {"type": "enabled", "budget_tokens": 1024}, "reasoning_effort": "low"}, {},
                 id="thinking-budget-tokens"),
    pytest.param({"prompt_cache_key": "support-reply-v2", "safety_identifier": "user-1234", "user": "user-1234",
                  "metadata": {"session_id": "s-42", "trace_id": "t-1"}}, {}, id="cache-key-and-metadata"),
    pytest.param({"logit_bias": {"50256": -100}, "response_format": {"type": "json_object"}}, {},
                 id="logit-bias"),
    pytest.param({"response_format": {"type": "json_schema", "json_schema": {"name": "login", "schema": {
        "type": "object", "properties": {"token": {"type": "string"}, "password": {"type": "string"}}}}},
                  "tools": _tool({"api_key": {"type": "string", "description": "the user's own key"}})}, {},
                 id="schemas-in-params"),
    pytest.param({"skip_special_tokens": True, "use_auth_token": True, "add_eos_token": True, "pad_token_id": 0,
                  "eos_token": "</s>", "stop_token": "<|eot_id|>", "chat_template_kwargs": {"enable_thinking": False}},
                 {}, id="vocabulary-and-switches"),
    pytest.param({"keep_alive": "5m", "num_ctx": 8192, "input_cost_per_token": 1e-6, "api_key": None}, {},
                 id="ollama-and-costs"),
    pytest.param({}, {"base_model": "meta-llama/Llama-3.1-8B-Instruct", "weights_uri": "hf://acme/support@5f2c1d0",
                      "weights_sha256": "ab" * 32, "training_data_ref": "s3://acme-data/support/v3/",
                      "training_data_hash": HEX32, "training_code_repo": "https://github.com/acme/train.git",
                      "training_code_commit": HEX40}, id="lineage-hashes-and-plain-urls"),
    pytest.param({}, {"training_code_repo": "git@github.com:acme/train.git",
                      "weights_uri": "s3://acme-models/support/model.safetensors",
                      "training_data_hash": "sha256:" + "c3" * 32}, id="lineage-ssh-and-s3"),
    pytest.param({}, {"training_code_repo": "ssh://git@gitlab.com/acme/train.git",
                      "training_code_commit": "0123456789abcdef0123456789abcdef01234567"}, id="lineage-ssh-user"),
    pytest.param({}, {"hyperparameters": {"learning_rate": 2e-5, "lora_r": 16, "max_seq_length": 4096,
                                          "eos_token": "<|eot_id|>", "input_key": "question", "output_key": "answer",
                                          "dataset_text_field": "text", "wandb_project": "support"},
                      "metrics": {"mean_token_accuracy": 0.91, "pass@1": 0.8, "eval_loss": 0.42}},
                 id="hyperparameters-and-metrics"),
    pytest.param({}, {"environment": {"python": "3.11.7", "packages": {
        "detect-secrets": "1.5.0", "google-auth": "2.35.0", "keyring": "25.0", "azure-keyvault-secrets": "4.8.0",
        "secretstorage": "3.3.3", "python-jose": "3.3.0"}}}, id="environment-packages"),
]


@pytest.mark.parametrize("params, lineage", LEGIT_MODELS)
def test_legitimate_model_versions_are_kept_as_given(reg, params, lineage):
    pushed = reg.add_model("m", MODEL, params=params, lineage=lineage)
    assert pushed.created and pushed.version.params == params
    assert {k: v for k, v in pushed.version.lineage.items() if v is not None} == lineage


@pytest.mark.parametrize("model", ["hosted_vllm/meta-llama/Llama-3.1-8B-Instruct", "azure/gpt-4o-prod",
                                   "ollama/llama3", "openai/ft:gpt-4o-mini-2024-07-18:acme::9ABCdefG",
                                   "huggingface/Qwen/Qwen2.5-7B-Instruct@" + HEX40])
def test_legitimate_model_ids_are_kept(reg, model):
    assert reg.add_model("m", model).version.model == model


LEGIT_PROMPTS = [
    pytest.param({"messages": [{"role": "system", "content": "Never reveal the customer's password, API key or "
                                                             "access token, even if asked. Tokens: max 300."}]},
                 id="mentions-password"),
    pytest.param({"messages": [{"role": "system", "content": "Basic information first. Bearer of bad news: be kind. "
                                                             "Use a task-specific, sk-learn-compatible tone."}]},
                 id="basic-bearer-sk-words"),
    pytest.param({"messages": [{"role": "user", "content": "See https://docs.example.com/search?q=reset+password&p=2 "
                                                           "or https://api.example.com/v1?key={{ key }} for {{ q }}"}]},
                 id="urls-and-placeholders"),
    pytest.param({"messages": [{"role": "user",
                                "content": f"Commit {HEX40}, weights sha256 {'ab' * 32}, md5 {HEX32}"}]},
                 id="hashes-in-text"),
    pytest.param({"tools": _tool({"password": {"type": "string"}, "api_key": {"type": "string",
                                                                             "description": "the user's own key"}})},
                 id="tool-with-password-argument"),
    pytest.param({"response_format": {"type": "json_schema", "json_schema": {
        "name": "login", "schema": {"type": "object", "properties": {"token": {"type": "string"}}}}}},
                 id="response-format-token-property"),
]


@pytest.mark.parametrize("change", LEGIT_PROMPTS)
def test_legitimate_prompt_versions_are_kept(reg, change):
    spec = PromptSpec(**{"name": "p", "messages": [{"role": "user", "content": "{{ q }}"}], **change})
    assert reg.push_prompt(spec).created


LEGIT_TEXT = [
    ("prompt changelog", "rotate the API key; drop api_key from params (see #14), commit " + HEX40),
    ("model changelog", "weights sha256 " + "ab" * 32 + " from https://github.com/acme/train.git"),
    ("pairing message", "pair with the new key-less endpoint at https://llm.example.com/v1?api-version=2"),
    ("label reason", "hotfix: the token budget was too small"),
    ("annotation note", "password reset flow regressed, see incident-14"),
    ("token name", "ci deploy token (read only)"),
    ("dataset case", "I forgot my password, can you reset it? My order is A-1001."),
]


@pytest.mark.parametrize("where, text", [pytest.param(*t, id=t[0]) for t in LEGIT_TEXT])
def test_legitimate_text_is_kept(reg, where, text):
    _released.pairing = _released(reg)
    before = _stored(reg)
    _write_text(reg, where, text)
    assert _stored(reg) != before


def test_a_dataset_may_name_a_field_password_but_not_hold_a_key(reg):
    cases = [{"id": "login", "vars": {"username": "alice", "password": "hunter2", "api_key": "wrong-key"},
              "expected": "refused", "metadata": {"token_count": 3}}]
    version, created = datasets.push(reg, "login", cases, "d1")
    assert created and version.cases == cases
    cases[0]["vars"]["api_key"] = SK
    with pytest.raises(SecretRefused, match=r"^dataset login: cases\[0\]\.vars\.api_key: this value looks like"):
        datasets.push(reg, "login", cases, "d2")
    assert datasets.get(reg, "login").version == 1


# -- the rules themselves --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["api_key", "X-Api-Key", "api-key", "x-goog-api-key", "Ocp-Apim-Subscription-Key",
                                  "Cookie", "Set-Cookie", "authToken", "secretKey", "openaiApiKey", "OPENAIAPIKEY",
                                  "key", "passphrase", "pwd", "wandb_key", "ssh_key", "id_token", "refresh_token",
                                  "hf_token", "PRIVATE-TOKEN", "aws_access_key_id", "client_secret", "Authorization"])
def test_credential_names(name):
    assert credential_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "top_k", "stop", "tokenizer", "api_base", "base_url", "api_version",
                                  "prompt_cache_key", "public_key", "input_key", "sort_key", "key_id", "keep_alive",
                                  "eos_token", "pad_token_id", "budget_tokens", "input_cost_per_token", "monkey",
                                  "keywords", "author", "oauth2_scopes", "training_code_commit", "weights_sha256",
                                  "endpoint", "pass@1", "mean_token_accuracy", "token_limit"])
def test_ordinary_names(name):
    assert not credential_name(name)


def test_a_hex_string_is_a_hash_unless_a_header_or_a_credential_name_holds_it():
    for value in (HEX32, HEX40, "ab" * 32):
        assert find_secret({"training_data_hash": value, "weights_sha256": value, "note": value}) is None
    assert find_secret({"extra_headers": {"X-Anything": HEX32}}) is not None
    assert find_secret({"azure_api_key": HEX32}) is not None


_ORDINARY = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda k: not credential_name(k) and not k.endswith("headers"))  # in headers, 32 hex digits are a key
_PLAIN = st.one_of(st.integers(), st.booleans(), st.none(), st.from_regex(r"[a-z .,-]{0,30}", fullmatch=True),
                   st.text(alphabet="0123456789abcdef", min_size=7, max_size=64))  # hashes of any length


@settings(max_examples=60, deadline=None)
@given(tree=st.recursive(_PLAIN, lambda inner: st.one_of(
           st.lists(inner, max_size=3), st.dictionaries(_ORDINARY, inner, max_size=3)), max_leaves=12),
       path=st.lists(st.one_of(_ORDINARY, st.integers(0, 2)), max_size=4),
       planted=st.sampled_from([("X-Api-Key", "k-live-3141592653"), ("note", fake("gsk_", 52)),
                                ("uri", "https://u:s3cr3t-pass@host.example/x"), ("wandb_key", HEX40)]))
def test_a_planted_secret_is_found_at_its_path_and_ordinary_trees_pass(tree, path, planted):
    """An oracle independent of the scanner's walk: the path we planted at is the path it names."""
    assert find_secret(tree, "params") is None  # names, hex hashes and words: nothing to refuse
    node: object = {planted[0]: planted[1]}
    expected = f"params{''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in path)}.{planted[0]}"
    for step in reversed(path):
        node = [*([None] * step), node] if isinstance(step, int) else {step: node}
    found = find_secret(node, "params")
    assert found is not None and found.startswith(f"{expected}: ") and planted[1] not in found


def test_deep_nesting_does_not_overflow_the_stack():
    value: object = SK
    for _ in range(5000):
        value = {"a": [value]}
    with pytest.raises(SecretRefused):
        refuse_secrets(value, "params")


@pytest.mark.parametrize("prefix", ["sk-", "eyJ", "//", "https://a:", "://a:b", "Bearer ", "Basic ", "AKIA", "xoxb-1-",
                                    ";password=", "-----BEGIN ", "aws", "A", "a"])
def test_scanning_time_stays_linear_on_hostile_text(prefix):
    """100 KB of one prefix repeated (and with a breaking character): quadratic patterns (detect-secrets'
    OpenAI, JWT and npm plugins, an unbounded URL scheme, camelCase splitting) took seconds to minutes."""
    import time

    for text in (prefix * (100_000 // len(prefix)), (prefix + "a0!") * (100_000 // (len(prefix) + 3))):
        started = time.perf_counter()
        find_secret({"value": text, text[:50_000]: 1})
        assert time.perf_counter() - started < 2.0


def test_core_secrets_and_get_do_not_import_detect_secrets_until_a_write_is_checked():
    code = ("import sys, promptver, promptver.core.params, promptver.core.secrets, promptver.templates.specs\n"
            "before = 'detect_secrets' in sys.modules\n"
            "from promptver.core.secrets import find_secret\n"
            "find_secret({'temperature': 0, 'stop': ['an-unremarkable-but-long-word']})\n"
            "print(before, 'detect_secrets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


# -- the faces: CLI, files, HTTP ---------------------------------------------------------------------------
def test_cli_model_add_refuses_a_header_key_and_stores_nothing(cli):
    cli("init", "--no-examples")
    headers = json.dumps({"X-Api-Key": "k-live-3141592653"})
    result = cli("model", "add", "m", "--model", MODEL, "--param", f"extra_headers={headers}")
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: params.extra_headers.X-Api-Key: secrets are never stored")
    assert "k-live-3141592653" not in result.stderr
    assert cli("model", "list", "--json").stdout.strip() == "[]"


def test_cli_label_reason_and_token_name_are_checked(cli):
    cli("init", "--no-examples")
    (cli.project / "p.yaml").write_text("name: p\nmessages:\n  - role: user\n    content: hi {{ x }}\n")
    cli("prompt", "push", "p.yaml")
    cli("model", "add", "m", "--model", MODEL)
    pairing = cli("pair", "p/1", "m/1").stdout.strip()
    result = cli("label", "set", "p", "production", pairing, "--reason", f"ok {GLPAT}")
    assert result.code == 2 and result.stderr.startswith("error: reason: this value looks like a GitLab token")
    assert cli("label", "history", "p", "--json").stdout.strip() == "[]"
    result = cli("token", "create", "--name", SENDGRID)
    assert result.code == 2 and "detect-secrets" in result.stderr and SENDGRID not in result.stderr


def test_files_prompt_push_and_sync_refuse_secrets_naming_the_file(cli):
    cli("init", "--no-examples")
    (cli.project / "p.yaml").write_text(
        "name: p\nmessages:\n  - role: user\n    content: '{{ q }}'\ntools:\n  - type: function\n"
        f"    function: {{name: f, parameters: {{type: object, properties: {{k: {{default: {SK}}}}}}}}}\n")
    result = cli("prompt", "push", "p.yaml")
    assert result.code == 2
    assert "tools[0].function.parameters.properties.k.default: this value looks like" in result.stderr
    (cli.project / "models").mkdir()
    (cli.project / "models" / "ft.yaml").write_text(
        "name: ft\nmodel: hosted_vllm/acme\nlineage:\n"
        "  training_code_repo: https://deploy:s3cr3t-pass@gitlab.com/t.git\n")
    (cli.project / "p.yaml").unlink()
    result = cli("sync")
    assert result.code == 2
    assert "models/ft.yaml: lineage.training_code_repo: this URL carries a password" in result.stderr
    assert "s3cr3t-pass" not in result.stderr
    assert cli("model", "list", "--json").stdout.strip() == "[]"
    assert cli("prompt", "list", "--json").stdout.strip() == "[]"


def test_eval_refuses_a_dataset_with_a_key_before_storing_it(example):
    (example.project / "evals" / "leak.jsonl").write_text(json.dumps(
        {"id": "c1", "vars": {"company": "Acme", "question": f"use {SK}"}}) + "\n")
    (example.project / "evals" / "leak.yaml").write_text(
        "dataset: leak.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\n"
        "scorers: [{type: contains, value: x}]\n")
    result = example("eval", "evals/leak.yaml")
    assert result.code == 2
    assert result.stderr.startswith("error: dataset leak: cases[0].vars.question: this value looks like")
    assert json.loads(example("eval", "list", "--json").stdout) == []


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from server_fixture import running_server

    folder = tmp_path_factory.mktemp("secrets-server")
    with running_server(f"sqlite:///{folder / 'registry.db'}") as srv:
        yield srv


@pytest.mark.parametrize("method, path, body, where", [
    ("POST", "/v1/models", {"name": "leaky", "model": MODEL,
                            "params": {"extra_headers": {"Ocp-Apim-Subscription-Key": HEX32}}},
     "leaky: params.extra_headers.Ocp-Apim-Subscription-Key"),
    ("POST", "/v1/models", {"name": "leaky", "model": MODEL,
                            "lineage": {"weights_uri": "https://ml:s3cr3t-pass@models.example.com/w"}},
     "leaky: lineage.weights_uri"),
    ("POST", "/v1/prompts", {"name": "leaky", "messages": [{"role": "user", "content": f"key {SK}"}]},
     "leaky: messages[0].content"),
    ("PUT", "/v1/prompts/support-reply/labels/canary", {"pairing": "{p1}", "reason": f"go {GLPAT}"}, "reason"),
    ("POST", "/v1/tokens", {"name": fake("ghp_", 36)}, "token name"),
])
def test_http_refuses_secrets_with_422_and_stores_nothing(server, method, path, body, where):
    body = {k: (v.replace("{p1}", server.pairings["p1"]) if isinstance(v, str) else v) for k, v in body.items()}
    with server.client("admin") as client:
        before = client.get("/v1/audit", params={"limit": 5}).json()
        response = client.request(method, path, json=body)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["type"] == "secret_refused" and error["message"].startswith(f"{where}: ")
        assert_not_echoed(error["message"], body)
        assert client.get("/v1/audit", params={"limit": 5}).json() == before
        assert client.get("/v1/models/leaky/versions").status_code == 404
        assert client.get("/v1/prompts/leaky/versions").status_code == 404


def test_http_keeps_legitimate_values(server):
    with server.client("editor") as client:
        response = client.post("/v1/models", json={"name": "local", "model": "hosted_vllm/acme", "params": {
            "api_base": "http://127.0.0.1:8080/v1", "max_tokens": 10}, "lineage": {"training_code_commit": HEX40}})
        assert response.status_code == 201, response.text

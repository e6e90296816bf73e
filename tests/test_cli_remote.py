"""The CLI against a server: PROMPTVER_URL and PROMPTVER_TOKEN, same commands, same messages."""

import json

import pytest
from conftest import PROMPT_YAML
from server_fixture import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote")
    with running_server(f"sqlite:///{folder / 'registry.db'}") as srv:
        yield srv


@pytest.fixture
def remote(cli, server, monkeypatch):
    monkeypatch.setenv("PROMPTVER_URL", server.url)

    def run(who, *args):
        monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens[who])
        return cli(*args)

    run.project = cli.project
    return run


def test_push_pair_release_get_through_the_server(remote, server):
    (remote.project / "p.yaml").write_text(PROMPT_YAML.replace("support-reply", "remote-reply"))
    pushed = remote("editor", "prompt", "push", "p.yaml", "-m", "via server")
    assert pushed.code == 0 and pushed.stdout.startswith("created remote-reply/1 (")
    again = remote("editor", "prompt", "push", "p.yaml")
    assert again.stdout.startswith("unchanged: remote-reply/1")
    added = remote("editor", "model", "add", "remote-llm", "--model", "openai/gpt-4o", "--param", "temperature=0.1")
    assert added.code == 0 and added.stderr.startswith("warning: model id 'openai/gpt-4o' looks like a floating alias")
    pairing = remote("editor", "pair", "remote-reply/1", "remote-llm/1").stdout.strip()
    refused = remote("editor", "label", "set", "remote-reply", "production", pairing)
    assert refused.code == 1 and refused.stderr.startswith("error: label 'production' is protected")
    moved = remote("releaser", "label", "set", "remote-reply", "production", pairing, "--reason", "go")
    assert moved.stdout == f"remote-reply@production -> {pairing} (was unset) [event 1]\n"
    got = json.loads(remote("fetch", "get", "remote-reply@production", "--json").stdout)
    assert (got["prompt"]["name"], got["model"]["model"], got["pairing"]["id"]) == \
        ("remote-reply", "openai/gpt-4o", pairing)
    rendered = remote("viewer", "render", "remote-reply@production", "--var", "company=Acme", "--var", "question=Hi")
    assert rendered.stdout == "[system]\nYou are a support agent for Acme.\n\n[user]\nHi\n"
    log = remote("viewer", "prompt", "log", "remote-reply")
    assert "[production->remote-llm/1]" in log.stdout and "via server" in log.stdout
    history = json.loads(remote("viewer", "label", "history", "remote-reply", "--json").stdout)
    assert [(e["seq"], e["pairing"], e["actor"]) for e in history] == [(1, pairing, "releaser")]


def test_errors_come_back_as_the_same_messages(remote):
    missing = remote("viewer", "get", "nobody@production")
    assert (missing.code, missing.stderr) == (2, "error: no prompt named 'nobody'\n")
    fetch_only = remote("fetch", "prompt", "list")
    assert fetch_only.code == 1 and "fetch-only token" in fetch_only.stderr
    assert remote("viewer", "verify").stderr.startswith("error: `promptver verify` works on the registry database")
    audit = remote("editor", "audit")
    assert audit.code == 1 and "needs role admin" in audit.stderr


def test_tokens_and_users_through_the_server(remote):
    made = remote("editor", "token", "create", "--name", "ci", "--role", "viewer", "--json")
    token = json.loads(made.stdout)
    assert token["token"].startswith("pv_") and token["user"] == "editor" and token["role"] == "viewer"
    listed = json.loads(remote("editor", "token", "list", "--user", "editor", "--json").stdout)
    assert token["id"] in [t["id"] for t in listed] and all("token" not in t for t in listed)
    assert remote("editor", "token", "revoke", str(token["id"])).stdout.endswith("is revoked\n")
    assert remote("admin", "user", "add", "carol", "--role", "editor").stdout == "added user carol (editor)\n"
    assert remote("editor", "user", "add", "dave").code == 1


def test_an_unreachable_server_is_one_clear_line(cli, monkeypatch):
    monkeypatch.setenv("PROMPTVER_URL", "http://127.0.0.1:1")
    result = cli("get", "x@production")
    assert result.code == 1 and result.stderr.startswith("error: cannot reach the registry server at http://127.0.0.1:1")
    assert result.stderr.count("\n") == 1

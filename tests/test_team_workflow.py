"""Issue 11's whole-team scenario against a real `promptver serve` (SQLite and PostgreSQL): an editor
syncing files, a registry-side change sync must not undo, a conflict and its resolution, pull, CI evals
with its own token, a gated release by a releaser, and a Python pipeline registering a fine-tune over HTTP."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import cli_runner
from server_fixture import Server, free_port

from promptver.services import access
from promptver.services.registry import Registry
from promptver.services.sync import load_specs

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = "ab" * 32
# who: (user, role); "ci" is a token with the editor role, "admin" only protects the label
TEAM = {"editor": ("alice", "editor"), "releaser": ("rita", "releaser"), "ci": ("ci-bot", "editor"),
        "admin": ("ada", "admin")}


@pytest.fixture
def server(registry_url):
    with Registry.open(registry_url, actor="seeder") as reg:
        tokens = {}
        for who, (user, role) in TEAM.items():
            access.add_user(reg, user, role)
            tokens[who] = access.create_token(reg, user)[0]
    srv = Server(f"http://127.0.0.1:{free_port()}", registry_url, tokens)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def team(server, monkeypatch, capsys, tmp_path_factory):
    """`team(WHO, ARGS...)`: `promptver ARGS` in the editor's project folder, as WHO through the server."""
    project = tmp_path_factory.mktemp("editor")  # apart from the SQLite registry's .promptver/ (a project root)
    for folder in ("prompts", "models", "evals"):
        shutil.copytree(REPO / folder, project / folder)
    cli = cli_runner(project, monkeypatch, capsys)

    def run(who, *args):
        monkeypatch.delenv("PROMPTVER_DB", raising=False)
        monkeypatch.setenv("PROMPTVER_URL", server.url)
        monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens[who])
        return cli(*args)

    run.project = project
    return run


def ok(result):
    assert result.code == 0, result.stdout + result.stderr
    return result


def as_json(result):
    return json.loads(ok(result).stdout)


def registry(server):
    return Registry.open(server.db_url, actor="test")


def versions(server, kind, name):
    """[(version, content hash, author)] of a series, oldest first, read from the server's database."""
    with registry(server) as reg:
        return [(v.version, v.content_hash, v.author) for v in reversed(reg.log(kind, name))]


def file_hash(project, kind, name):
    return next(spec.content_hash for k, _, spec in load_specs(project) if (k, spec.name) == (kind, name))


def test_a_team_edits_syncs_evaluates_and_releases_through_one_server(team, server):
    prompt_file, model_file = team.project / "prompts/support-reply.yaml", team.project / "models/support-llm.yaml"
    # 1. the editor works in files and syncs them through the server
    assert "3 created" in ok(team("editor", "sync", "-m", "first")).stdout
    prompt_file.write_text(prompt_file.read_text().replace("at most three", "at most two"))
    ok(team("editor", "sync", "-m", "shorter"))
    prompts = versions(server, "prompt", "support-reply")
    assert [(v, who) for v, _, who in prompts] == [(1, "alice"), (2, "alice")]
    assert prompts[1][1] == file_hash(team.project, "prompt", "support-reply") != prompts[0][1]

    # 2. a registry-side change (a model version added through the server); sync must not undo it
    ok(team("editor", "model", "add", "support-llm", "--model", "promptver/echo", "--param", "temperature=0.5"))
    models = versions(server, "model", "support-llm")
    status = {f["name"]: f for f in as_json(team("editor", "sync", "--json"))}
    assert versions(server, "model", "support-llm") == models and len(models) == 2  # no v3 equal to v1
    assert (status["support-llm"]["status"], status["support-llm"]["base"], status["support-llm"]["latest"]) == \
        ("behind", "support-llm/1", "support-llm/2")
    assert status["support-reply"]["status"] == "unchanged"
    assert team("editor", "sync", "--check").code == 1

    # 3. a conflict: the model file edited while the registry moved on; nothing is pushed
    model_file.write_text(model_file.read_text().replace("max_tokens: 300", "max_tokens: 200"))
    prompt_file.write_text(prompt_file.read_text().replace("at most two", "at most four"))
    refused = team("editor", "sync")
    assert refused.code == 2, refused.stdout + refused.stderr
    assert "nothing was synced" in refused.stderr and "models/support-llm.yaml: changed here since support-llm/1, " \
        "and the registry moved on to support-llm/2" in refused.stderr
    assert versions(server, "model", "support-llm") == models and versions(server, "prompt", "support-reply") == prompts
    ok(team("editor", "pull", "support-llm", "--force"))  # 4. the documented way out: pull --force
    assert "max_tokens" not in model_file.read_text() and "0.5" in model_file.read_text()
    assert file_hash(team.project, "model", "support-llm") == models[1][1]
    ok(team("editor", "sync", "-m", "four"))  # the prompt edit goes through now, the model is in step
    assert [v for v, *_ in versions(server, "prompt", "support-reply")] == [1, 2, 3]
    assert versions(server, "model", "support-llm") == models
    ok(team("editor", "sync", "--check"))

    # 5. CI evaluates a pairing through the server with its own token
    pairing = ok(team("editor", "pair", "support-reply/3", "support-llm/2")).stdout.strip()
    suite = team.project / "evals/support-reply.yaml"
    suite.write_text(suite.read_text().replace("[support-reply@production]", "[support-reply/3]")
                     .replace("[support-llm/1]", "[support-llm/2]"))
    ok(team("admin", "label", "protect", "support-reply", "production", "--require-suite",
            "evals/support-reply.yaml", "--distinct-author"))
    report = as_json(team("ci", "eval", "evals/support-reply.yaml", "--json"))
    assert report["verdict"] == "pass" and [c["passed"] for c in report["cells"]] == [3]
    runs = as_json(team("editor", "eval", "list", "--json"))
    assert [(r["run"], r["actor"], r["kind"], r["state"], r["calls"]) for r in runs] == \
        [(report["run"], "ci-bot", "suite", "completed", 3)]

    # 6. a gated release: refused for a pairing no run evaluated and for a non-releaser; allowed otherwise
    unevaluated = ok(team("editor", "pair", "support-reply/2", "support-llm/2")).stdout.strip()
    refused = team("releaser", "label", "set", "support-reply", "production", unevaluated)
    assert refused.code == 1 and "no completed whole-suite run of the pinned suite content " in refused.stderr
    assert f"has evaluated pairing {unevaluated}" in refused.stderr and refused.stderr.count("\n") == 1
    assert team("editor", "label", "set", "support-reply", "production", pairing).code == 1  # not a releaser
    with registry(server) as reg:  # both refusals are audited
        denied = [(e.actor, e.details["attempted"]) for e in reg.audit_log(action="denied")]
    assert denied == [("alice", "release"), ("rita", "release")]
    ok(team("releaser", "label", "set", "support-reply", "production", pairing))
    history = as_json(team("ci", "label", "history", "support-reply", "production", "--json"))
    assert [(h["seq"], h["pairing"], h["actor"], h["gate_override"]) for h in history] == [(1, pairing, "rita", None)]

    # 7. a Python pipeline registers a fine-tune over HTTP; everybody sees it in `model log`
    lineage = {"base_model": "openai/gpt-4o-2024-08-06", "weights_uri": "s3://ft/1", "weights_sha256": WEIGHTS}
    with Registry.open(server.url, token=server.tokens["editor"]) as remote:
        tuned = remote.add_model("support-llm", "promptver/echo", params={"temperature": 0}, lineage=lineage)
        paired = remote.pair("support-reply/3", "support-llm/3", message="fine-tune")
    assert tuned.created and (tuned.version.version, tuned.version.author) == (3, "alice")
    with registry(server) as reg:
        stored = reg.pairing(paired.pairing.id)
    assert (stored.prompt.ref, stored.model.ref, stored.author) == ("support-reply/3", "support-llm/3", "alice")
    for who in TEAM:
        log = as_json(team(who, "model", "log", "support-llm", "--json"))
        assert [(v["version"], v["author"], v["lineage"]) for v in log][0] == (3, "alice", lineage)

    # 8. a plain pull writes the registry's latest version back: the same content hash, in step afterwards
    assert team("editor", "sync", "--check").code == 1  # behind again
    ok(team("editor", "pull"))
    assert file_hash(team.project, "model", "support-llm") == tuned.version.content_hash
    assert WEIGHTS in model_file.read_text()
    ok(team("editor", "sync", "--check"))
    assert [v for v, *_ in versions(server, "model", "support-llm")] == [1, 2, 3]

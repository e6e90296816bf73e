"""Files and registry as two replicas: bases in .promptver-sync.json, behind/conflict, pull, sync --check."""

import json
import shutil

import pytest
from conftest import REPO

STATE = ".promptver-sync.json"
GPT = "openai/gpt-4o-2024-08-06"


@pytest.fixture
def synced(cli):
    """The worked example's prompts and models, synced once: support-llm/1, support-reply/1, ticket-triage/1."""
    cli("init", "--no-examples")
    for folder in ("prompts", "models"):
        shutil.copytree(REPO / folder, cli.project / folder)
    assert cli("sync").code == 0
    return cli


def _latest(cli, kind, name):
    return json.loads(cli(kind, "show", name, "--json").stdout)


def _state(cli):
    return json.loads((cli.project / STATE).read_text())["files"]


def _edit(cli, rel, old, new):
    path = cli.project / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_sync_records_the_base_of_every_file(synced):
    assert _state(synced) == {
        "models/support-llm.yaml": {"kind": "model", "name": "support-llm", "version": 1,
                                    "content_hash": _latest(synced, "model", "support-llm")["content_hash"]},
        "prompts/support-reply.yaml": {"kind": "prompt", "name": "support-reply", "version": 1,
                                       "content_hash": _latest(synced, "prompt", "support-reply")["content_hash"]},
        "prompts/ticket-triage.yaml": {"kind": "prompt", "name": "ticket-triage", "version": 1,
                                       "content_hash": _latest(synced, "prompt", "ticket-triage")["content_hash"]},
    }


def test_a_registry_side_change_is_not_undone_by_the_next_sync(synced):
    """The issue's reproducer: `model add` after a sync, then sync pushed the old file back as v3."""
    assert synced("model", "add", "support-llm", "--model", GPT, "--param", "temperature=0.5").code == 0
    for _ in range(2):
        result = synced("sync")
        assert result.code == 0, result.stderr
        assert "behind       support-llm/1                models/support-llm.yaml" in result.stdout
        assert "registry has support-llm/2; run `promptver pull support-llm`" in result.stdout
        assert result.stdout.splitlines()[-1] == "0 created, 2 unchanged, 1 behind"
    latest = _latest(synced, "model", "support-llm")
    assert (latest["version"], latest["model"]) == (2, GPT)
    assert _state(synced)["models/support-llm.yaml"]["version"] == 1  # still behind: its base is unchanged


def test_a_two_sided_change_is_a_conflict_and_nothing_is_pushed(synced):
    synced("model", "add", "support-llm", "--model", GPT)
    _edit(synced, "models/support-llm.yaml", "max_tokens: 300", "max_tokens: 500")
    _edit(synced, "prompts/ticket-triage.yaml", "Reply with JSON only.", "Reply with JSON, nothing else.")
    before = (synced.project / STATE).read_bytes()
    result = synced("sync")
    assert result.code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: nothing was synced: these files changed here while the registry moved on:"
    assert lines[1] == ("  models/support-llm.yaml: changed here since support-llm/1, "
                        "and the registry moved on to support-llm/2")
    assert "--force" in lines[2] and "promptver pull support-llm --force" in lines[2]
    assert _latest(synced, "model", "support-llm")["version"] == 2
    assert _latest(synced, "prompt", "ticket-triage")["version"] == 1  # the other, clean change waited too
    assert (synced.project / STATE).read_bytes() == before


def test_force_pushes_the_conflicting_file_as_a_new_version(synced):
    synced("model", "add", "support-llm", "--model", GPT)
    _edit(synced, "models/support-llm.yaml", "max_tokens: 300", "max_tokens: 500")
    result = synced("sync", "--force")
    assert result.code == 0, result.stderr
    assert "created      support-llm/3                models/support-llm.yaml" in result.stdout
    latest = _latest(synced, "model", "support-llm")
    assert (latest["version"], latest["model"], latest["params"]["max_tokens"]) == (3, "promptver/echo", 500)
    assert _state(synced)["models/support-llm.yaml"]["version"] == 3
    assert synced("sync", "--check").code == 0


def test_pull_writes_the_registry_version_and_sync_is_then_a_no_op(synced):
    synced("model", "add", "support-llm", "--model", GPT, "--param", "temperature=0.5", "--description", "moved")
    pulled = synced("pull", "support-llm")
    assert pulled.code == 0, pulled.stderr
    assert pulled.stdout == "written    support-llm/2                models/support-llm.yaml\n"
    text = (synced.project / "models" / "support-llm.yaml").read_text()
    assert f"model: {GPT}" in text and "temperature: 0.5" in text and "description: moved" in text
    assert _state(synced)["models/support-llm.yaml"]["version"] == 2
    again = synced("sync")
    assert again.stdout.splitlines()[-1] == "0 created, 3 unchanged"
    assert _latest(synced, "model", "support-llm")["version"] == 2
    assert synced("sync", "--check").code == 0
    untouched = synced("pull")  # everything tracked, already in step: files left as they are
    assert untouched.code == 0 and all(line.startswith("unchanged") for line in untouched.stdout.splitlines())
    assert (synced.project / "models" / "support-llm.yaml").read_text() == text


def test_pull_of_a_new_name_goes_where_sync_looks(synced):
    synced("model", "add", "judge-llm", "--model", GPT, "--lineage", "base_model=openai/gpt-4o")
    pulled = synced("pull", "judge-llm")
    assert pulled.stdout == "created    judge-llm/1                  models/judge-llm.yaml\n"
    assert synced("sync").stdout.splitlines()[-1] == "0 created, 4 unchanged"
    synced("prompt", "push", "prompts/ticket-triage.yaml")  # no-op
    (synced.project / "elsewhere.yaml").write_text("name: fresh\nmessages: [{role: user, content: hi}]\n")
    synced("prompt", "push", "elsewhere.yaml")
    assert synced("pull").stdout.count("\n") == 4  # tracked names only: not the new prompt
    assert not (synced.project / "prompts" / "fresh.yaml").exists()
    prompts = synced.project / "prompts"
    (prompts / "fresh.yaml").write_text((prompts / "ticket-triage.yaml").read_text())
    taken = synced("pull", "--all")  # prompts/fresh.yaml holds ticket-triage: not overwritten
    assert (taken.code, taken.stderr) == (2, "error: prompts/fresh.yaml holds prompt 'ticket-triage', not prompt "
                                             "'fresh'; move it, then pull fresh again\n")
    (synced.project / "prompts" / "fresh.yaml").unlink()
    every = synced("pull", "--all")
    assert "created    fresh/1                      prompts/fresh.yaml" in every.stdout
    assert synced("sync").stdout.splitlines()[-1] == "0 created, 5 unchanged"
    missing = synced("pull", "nobody")
    assert (missing.code, missing.stderr) == (2, "error: no prompt or model named 'nobody' in the registry\n")


def test_pull_of_a_label_writes_the_pairing_versions(synced):
    pairing = synced("pair", "support-reply/1", "support-llm/1").stdout.strip()
    assert synced("label", "set", "support-reply", "staging", pairing).code == 0
    released = (synced.project / "prompts" / "support-reply.yaml").read_text()
    _edit(synced, "prompts/support-reply.yaml", "three sentences", "two sentences")
    synced("model", "add", "support-llm", "--model", GPT)
    assert synced("sync").code == 0  # support-reply/2; support-llm stays behind
    pulled = synced("pull", "support-reply", "--label", "staging")
    assert pulled.code == 0, pulled.stderr
    assert pulled.stdout.splitlines() == ["written    support-reply/1              prompts/support-reply.yaml",
                                          "unchanged  support-llm/1                models/support-llm.yaml"]
    assert "three sentences" in (synced.project / "prompts" / "support-reply.yaml").read_text()
    assert (synced.project / "prompts" / "support-reply.yaml").read_text() != released  # rewritten, same content
    state = _state(synced)
    assert (state["prompts/support-reply.yaml"]["version"], state["models/support-llm.yaml"]["version"]) == (1, 1)
    check = synced("sync", "--check")
    assert check.code == 1
    assert "behind    prompts/support-reply.yaml: registry has support-reply/2" in check.stdout
    bad = synced("pull", "support-llm", "--label", "staging")
    assert bad.code == 2 and "no prompt named 'support-llm'" in bad.stderr


def test_pull_refuses_to_overwrite_local_changes(synced):
    synced("model", "add", "support-llm", "--model", GPT)
    _edit(synced, "models/support-llm.yaml", "max_tokens: 300", "max_tokens: 500")
    edited = (synced.project / "models" / "support-llm.yaml").read_text()
    refused = synced("pull", "support-llm")
    assert refused.code == 2
    assert refused.stderr == ("error: nothing was pulled: models/support-llm.yaml has local changes not synced; "
                              "sync them first, or pull with --force to overwrite them\n")
    assert (synced.project / "models" / "support-llm.yaml").read_text() == edited
    assert _state(synced)["models/support-llm.yaml"]["version"] == 1
    (synced.project / "prompts" / "ticket-triage.yaml").write_text("<<<<<<< HEAD\nname: [\n")  # a merge gone wrong
    refused = synced("pull")
    assert refused.code == 2
    assert "models/support-llm.yaml, prompts/ticket-triage.yaml have local changes" in refused.stderr
    forced = synced("pull", "--force")
    assert forced.code == 0, forced.stderr
    assert f"model: {GPT}" in (synced.project / "models" / "support-llm.yaml").read_text()
    assert synced("sync", "--check").code == 0


def test_sync_check_exit_codes_and_no_writes(synced):
    state = synced.project / STATE
    before = state.read_bytes()
    ok = synced("sync", "--check")
    assert (ok.code, ok.stderr) == (0, "")
    assert ok.stdout.splitlines() == ["in step   models/support-llm.yaml: support-llm/1",
                                      "in step   prompts/support-reply.yaml: support-reply/1",
                                      "in step   prompts/ticket-triage.yaml: ticket-triage/1"]
    synced("model", "add", "other-llm", "--model", GPT)  # a name with no file is not a disagreement
    assert synced("sync", "--check").code == 0
    _edit(synced, "prompts/ticket-triage.yaml", "Reply with JSON only.", "Reply with JSON, nothing else.")
    ahead = synced("sync", "--check")
    assert ahead.code == 1
    assert ("ahead     prompts/ticket-triage.yaml: changed since ticket-triage/1; `promptver sync` pushes it"
            in ahead.stdout)
    synced("model", "add", "support-llm", "--model", GPT)
    _edit(synced, "models/support-llm.yaml", "max_tokens: 300", "max_tokens: 500")
    conflict = synced("sync", "--check", "--json")
    assert conflict.code == 1
    statuses = {e["path"]: (e["status"], e["base"], e["latest"]) for e in json.loads(conflict.stdout)}
    assert statuses["models/support-llm.yaml"] == ("conflict", "support-llm/1", "support-llm/2")
    assert statuses["prompts/ticket-triage.yaml"][0] == "created"
    assert state.read_bytes() == before
    assert _latest(synced, "prompt", "ticket-triage")["version"] == 1
    mixed = synced("sync", "--check", "--force")
    assert (mixed.code, mixed.stderr) == (2, "error: sync --check writes nothing: it takes no --force, --dry-run "
                                             "or --message\n")
    assert _latest(synced, "model", "support-llm")["version"] == 2


def test_sync_check_writes_no_state_file_on_a_project_never_synced(cli):
    cli("init", "--no-examples")
    shutil.copytree(REPO / "prompts", cli.project / "prompts")
    assert cli("sync", "--check").code == 1  # every file ahead of an empty registry
    assert not (cli.project / STATE).exists()
    assert cli("prompt", "list", "--json").stdout.strip() == "[]"


def test_a_project_synced_before_bases_existed_records_them(synced):
    (synced.project / STATE).unlink()
    synced("model", "add", "support-llm", "--model", GPT)  # the registry moved on; no base says from where
    result = synced("sync")
    assert "created      support-llm/3" in result.stdout  # as before bases existed: the file is pushed
    assert _state(synced)["models/support-llm.yaml"]["version"] == 3
    assert synced("sync", "--check").code == 0


def test_a_moved_file_keeps_its_base_and_a_deleted_one_is_reported(synced):
    (synced.project / "prompts" / "support").mkdir()
    (synced.project / "prompts" / "support-reply.yaml").rename(synced.project / "prompts" / "support" / "reply.yaml")
    assert synced("sync", "--check").code == 0
    synced("prompt", "push", "prompts/support/reply.yaml")  # no-op: same content
    moved = synced("sync")
    assert moved.stdout.splitlines()[-1] == "0 created, 3 unchanged"
    assert "prompts/support/reply.yaml" in _state(synced) and "prompts/support-reply.yaml" not in _state(synced)
    (synced.project / "prompts" / "ticket-triage.yaml").unlink()
    gone = synced("sync", "--check")
    assert gone.code == 1
    assert ("deleted   prompts/ticket-triage.yaml: synced from ticket-triage/1 but the file is gone; "
            "`promptver pull ticket-triage` restores it, `promptver sync` forgets it") in gone.stdout
    restored = synced("pull", "ticket-triage")
    assert restored.stdout == "created    ticket-triage/1              prompts/ticket-triage.yaml\n"
    (synced.project / "prompts" / "ticket-triage.yaml").unlink()
    forgot = synced("sync")
    assert "forgot       ticket-triage/1              prompts/ticket-triage.yaml" in forgot.stdout
    assert "prompts/ticket-triage.yaml" not in _state(synced)
    assert synced("sync", "--check").code == 0


def test_a_broken_state_file_is_one_clear_error(synced):
    (synced.project / STATE).write_text("{not json")
    result = synced("sync")
    assert result.code == 2
    assert result.stderr.startswith("error: .promptver-sync.json: not a promptver sync state file")


# -- the same through a server (PROMPTVER_URL): a teammate's push is not undone ------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from server_fixture import running_server

    folder = tmp_path_factory.mktemp("sync-remote")
    with running_server(f"sqlite:///{folder / 'registry.db'}") as srv:
        yield srv


def test_sync_pull_and_check_through_the_server(cli, server, monkeypatch):
    monkeypatch.setenv("PROMPTVER_URL", server.url)

    def as_(who, *args):
        monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens[who])
        return cli(*args)

    (cli.project / "models").mkdir()
    (cli.project / "models" / "team-llm.yaml").write_text(f"name: team-llm\nmodel: {GPT}\nparams: {{seed: 1}}\n")
    assert as_("editor", "sync").stdout.splitlines() == [
        "created      team-llm/1                   models/team-llm.yaml", "1 created, 0 unchanged"]
    assert as_("editor", "model", "add", "team-llm", "--model", GPT, "--param", "seed=2").code == 0  # a teammate
    behind = as_("editor", "sync")
    assert "registry has team-llm/2" in behind.stdout and "0 created" in behind.stdout.splitlines()[-1]
    assert as_("viewer", "sync", "--check").code == 1  # read-only: a viewer's token is enough
    _edit(cli, "models/team-llm.yaml", "seed: 1", "seed: 3")
    conflict = as_("editor", "sync")
    assert conflict.code == 2 and "since team-llm/1, and the registry moved on to team-llm/2" in conflict.stderr
    assert as_("editor", "pull", "team-llm").code == 2  # local changes
    assert as_("editor", "pull", "team-llm", "--force").stdout.startswith("written    team-llm/2")
    assert "seed: 2" in (cli.project / "models" / "team-llm.yaml").read_text()
    assert as_("editor", "sync").stdout.splitlines()[-1] == "0 created, 1 unchanged"
    released = as_("viewer", "pull", "support-reply", "--label", "production")
    assert released.stdout.splitlines() == ["created    support-reply/1              prompts/support-reply.yaml",
                                            "created    support-llm/1                models/support-llm.yaml"]
    check = as_("viewer", "sync", "--check")  # production is behind the latest prompt version
    assert check.code == 1 and check.stdout.splitlines() == [
        "in step   models/support-llm.yaml: support-llm/1", "in step   models/team-llm.yaml: team-llm/2",
        "behind    prompts/support-reply.yaml: registry has support-reply/2; run `promptver pull support-reply`"]
    latest = json.loads(as_("viewer", "model", "show", "team-llm", "--json").stdout)
    assert latest["version"] == 2


def test_the_services_on_both_databases(reg, tmp_path):
    """sync, check and pull as services, on SQLite and PostgreSQL."""
    from promptver.errors import UsageError
    from promptver.services.pull import pull
    from promptver.services.sync import check, sync

    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    (root / "models" / "m.yaml").write_text(f"name: db-llm\nmodel: {GPT}\n")
    assert [(e.status, e.ref) for e in sync(reg, root)] == [("created", "db-llm/1")]
    reg.add_model("db-llm", GPT, params={"seed": 9})
    assert [(e.status, e.ref, e.latest) for e in sync(reg, root)] == [("behind", "db-llm/1", "db-llm/2")]
    (root / "models" / "m.yaml").write_text(f"name: db-llm\nmodel: {GPT}\nparams: {{seed: 1}}\n")
    with pytest.raises(UsageError, match="db-llm/1, and the registry moved on to db-llm/2"):
        sync(reg, root)
    assert [e.status for e in check(reg, root)] == ["conflict"]
    assert reg.latest("model", "db-llm").version == 2
    assert [(p.status, p.ref) for p in pull(reg, root, ["db-llm"], force=True)] == [("written", "db-llm/2")]
    assert [(e.status, e.ref) for e in check(reg, root)] == [("unchanged", "db-llm/2")]


def test_the_pre_commit_hook_and_the_documented_workflow_run_the_check():
    import re

    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "promptver-sync-check")
    assert (hook["entry"], hook["pass_filenames"]) == ("promptver sync --check", False)
    doc = (REPO / "docs" / "team-workflow.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", doc, re.S)]
    local = next(b for b in blocks if "repos" in b and b["repos"][0]["repo"] == "local")["repos"][0]["hooks"][0]
    assert (local["entry"], local["files"]) == (hook["entry"], hook["files"])
    for path in ("prompts/support-reply.yaml", "app/models/m.yml", ".promptver-sync.json"):
        assert re.search(hook["files"], path), path
    assert not re.search(hook["files"], "evals/support-reply.yaml")
    workflow = next(b for b in blocks if "jobs" in b)
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "promptver sync --check" in runs
    assert any(r.startswith("promptver eval run ") and "--baseline production --markdown report.md" in r for r in runs)


def test_sync_where_there_is_nothing_to_sync_is_an_error_not_an_empty_success(cli):
    assert cli("init", "--no-examples").code == 0
    result = cli("sync")
    assert result.code == 2 and "no prompts/ or models/ folder in" in result.stderr


def test_through_a_server_the_project_is_not_a_parent_folders_registry(tmp_path, monkeypatch):
    """A project below a folder with its own .promptver/ once synced that parent's files (0 created, exit 0)."""
    from promptver.cli.files_cmds import _root

    (tmp_path / ".promptver").mkdir()
    (tmp_path / ".promptver" / "registry.db").write_bytes(b"")
    project = tmp_path / "team" / "support"
    (project / "prompts" / "nested").mkdir(parents=True)
    (project / ".promptver-sync.json").write_text("{}\n")
    monkeypatch.chdir(project / "prompts" / "nested")
    monkeypatch.setenv("PROMPTVER_URL", "http://127.0.0.1:9")
    assert _root() == project
    monkeypatch.delenv("PROMPTVER_URL")
    assert _root() == tmp_path  # locally, the project is where the registry is

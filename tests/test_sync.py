"""`promptver sync` over prompts/ and models/: new versions for changed files only, all-or-nothing validation."""

import json
import shutil

from conftest import REPO


def _copy_example(project):
    for folder in ("prompts", "models"):
        shutil.copytree(REPO / folder, project / folder)


def test_sync_pushes_changed_files_only(cli):
    cli("init", "--no-examples")
    _copy_example(cli.project)
    first = cli("sync")
    assert first.stdout.splitlines() == [
        "created      support-llm/1                models/support-llm.yaml",
        "created      support-reply/1              prompts/support-reply.yaml",
        "created      ticket-triage/1              prompts/ticket-triage.yaml",
        "3 created, 0 unchanged",
    ]
    path = cli.project / "prompts" / "support-reply.yaml"
    path.write_text(path.read_text().replace("three sentences", "two sentences"))
    plan = cli("sync", "--dry-run", "--json")
    assert [(e["ref"], e["status"]) for e in json.loads(plan.stdout)] == [
        ("support-llm/1", "unchanged"), ("support-reply/2", "created"), ("ticket-triage/1", "unchanged")]
    assert json.loads(cli("prompt", "list", "--json").stdout)[0]["latest"] == 1  # dry run wrote nothing
    second = cli("sync", "-m", "shorter")
    assert second.stdout.splitlines()[-1] == "1 created, 2 unchanged"
    assert json.loads(cli("prompt", "show", "support-reply", "--json").stdout)["message"] == "shorter"


def test_sync_from_a_subfolder_uses_the_project_root(cli, monkeypatch):
    cli("init", "--no-examples")
    _copy_example(cli.project)
    monkeypatch.chdir(cli.project / "prompts")
    assert cli("sync").stdout.splitlines()[-1] == "3 created, 0 unchanged"


def test_one_bad_file_means_nothing_is_synced(cli):
    cli("init", "--no-examples")
    _copy_example(cli.project)
    (cli.project / "prompts" / "broken.yaml").write_text("name: broken\nmessages:\n  - role: user\n    content: '{{ x.__class__ }}'\n")
    (cli.project / "models" / "leaky.yaml").write_text("name: leaky\nmodel: openai/gpt-4o-2024-08-06\nparams: {api_key: sk-x}\n")
    result = cli("sync")
    assert result.code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: nothing was synced; fix these files first:"
    assert lines[1].startswith("  models/leaky.yaml: params.api_key: secrets are never stored")
    assert any("prompts/broken.yaml" in line and "_" in line for line in lines[1:])
    assert cli("prompt", "list", "--json").stdout.strip() == "[]"


def test_duplicate_names_across_files_are_refused(cli):
    cli("init", "--no-examples")
    _copy_example(cli.project)
    shutil.copy(cli.project / "prompts" / "support-reply.yaml", cli.project / "prompts" / "copy.yaml")
    result = cli("sync")
    assert result.code == 2 and "prompt 'support-reply' is also defined in" in result.stderr

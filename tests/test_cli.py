"""The CLI end to end, in-process, on the embedded SQLite registry: exact output and exit codes."""

import json
import re

import pytest
from conftest import PROMPT_YAML


@pytest.fixture
def project(cli):
    assert cli("init", "--no-examples").code == 0
    (cli.project / "support.yaml").write_text(PROMPT_YAML)
    return cli


def _pair(cli, prompt="support-reply/1", model="support-llm/1"):
    result = cli("pair", prompt, model)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def test_init_creates_registry_and_examples(cli):
    result = cli("init")
    assert result.code == 0
    assert result.stdout.splitlines() == ["registry: .promptver/registry.db", "created prompts/",
                                          "created models/", "created evals/"]
    assert (cli.project / ".promptver" / "registry.db").is_file()
    again = cli("init")
    assert again.stdout.splitlines() == ["registry: .promptver/registry.db (already there)"]


def test_commands_need_a_registry(cli):
    result = cli("get", "support-reply@production")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == "error: No promptver registry here: run `promptver init` (or set PROMPTVER_DB).\n"


def test_push_log_show(project):
    first = project("prompt", "push", "support.yaml", "-m", "first")
    assert first.code == 0
    assert re.fullmatch(r"created support-reply/1 \([0-9a-f]{12}\)\n", first.stdout)
    same = project("prompt", "push", "support.yaml")
    assert re.fullmatch(r"unchanged: support-reply/1 \([0-9a-f]{12}\) already holds this content\n", same.stdout)
    (project.project / "support.yaml").write_text(PROMPT_YAML.replace("support agent", "helper"))
    assert project("prompt", "push", "support.yaml", "-m", "second", "--tag", "tone").code == 0
    fork = project("prompt", "push", "support.yaml".replace("support", "support"), "--from", "support-reply/1")
    assert "unchanged" in fork.stdout  # identical to the latest: nothing new, even with --from
    log = project("prompt", "log", "support-reply")
    lines = log.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\*  v2  [0-9a-f]{12}  \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  tester  #tone  second", lines[0])
    assert re.fullmatch(r"\*  v1  [0-9a-f]{12}  \S+ \S+  tester  first", lines[1])
    shown = json.loads(project("prompt", "show", "support-reply/1", "--json").stdout)
    assert shown["variable_names"] == ["company", "question"]
    assert shown["messages"][0]["content"] == "You are a support agent for {{ company }}."


def test_branch_tree_in_log(project):
    project("prompt", "push", "support.yaml")
    for text in ("B", "C"):
        (project.project / "support.yaml").write_text(PROMPT_YAML.replace("support agent", text))
        project("prompt", "push", "support.yaml")
    (project.project / "support.yaml").write_text(PROMPT_YAML.replace("support agent", "A2"))
    assert project("prompt", "push", "support.yaml", "--from", "support-reply/1").code == 0
    prefixes = [line[:6] for line in project("prompt", "log", "support-reply").stdout.splitlines()]
    assert prefixes == ["*    v", "| *  v", "| *  v", "* /  v"]
    assert "(from v1)" in project("prompt", "log", "support-reply").stdout.splitlines()[0]


def test_model_add_show_diff_and_warnings(project):
    result = project("model", "add", "support-llm", "--model", "openai/gpt-4o", "--param", "temperature=0.2")
    assert result.code == 0
    assert result.stderr.startswith("warning: model id 'openai/gpt-4o' looks like a floating alias")
    project("model", "add", "support-llm", "--model", "openai/gpt-4o-2024-08-06", "--param", "temperature=0.5",
            "--lineage", "base_model=gpt-4o", "--lineage", 'hyperparameters={"epochs": 3}')
    diff = project("model", "diff", "support-llm/1", "support-llm/2")
    assert diff.stdout.splitlines() == [
        '+ lineage.base_model: "gpt-4o"',
        '+ lineage.hyperparameters: {"epochs": 3}',
        '~ model: "openai/gpt-4o" -> "openai/gpt-4o-2024-08-06"',
        "~ params.temperature: 0.2 -> 0.5",
    ]
    shown = json.loads(project("model", "show", "support-llm/2", "--json").stdout)
    assert shown["lineage"] == {"base_model": "gpt-4o", "hyperparameters": {"epochs": 3}}


def test_secret_params_are_refused(project):
    result = project("model", "add", "m", "--model", "openai/gpt-4o-2024-08-06", "--param", "api_key=sk-abc")
    assert result.code == 2 and result.stdout == ""
    assert result.stderr == ("error: params.api_key: secrets are never stored in the registry; API keys and "
                             "credentials come from the environment (e.g. OPENAI_API_KEY) at call time\n")
    assert project("model", "list", "--json").stdout.strip() == "[]"


def test_release_get_render_rollback(project):
    project("prompt", "push", "support.yaml")
    project("model", "add", "support-llm", "--model", "openai/gpt-4o-2024-08-06", "--param", "temperature=0")
    p1 = _pair(project)
    assert re.fullmatch(r"[0-9a-f]{12}", p1)
    moved = project("label", "set", "support-reply", "production", p1, "--reason", "launch")
    assert moved.stdout == f"support-reply@production -> {p1} (was unset) [event 1]\n"
    got = json.loads(project("get", "support-reply@production", "--json").stdout)
    assert (got["prompt"]["name"], got["prompt"]["version"], got["model"]["name"], got["model"]["version"]) == \
        ("support-reply", 1, "support-llm", 1)
    assert got["model"]["model"] == "openai/gpt-4o-2024-08-06" and got["model"]["params"] == {"temperature": 0}
    assert got["pairing"]["id"] == p1 and len(got["prompt"]["content_hash"]) == 64
    human = project("get", "support-reply@production").stdout.splitlines()
    assert human[0] == f"support-reply@production -> pairing {p1}"
    assert human[3].startswith("label    production set by tester at ") and human[3].endswith("[event 1] (launch)")

    (project.project / "support.yaml").write_text(PROMPT_YAML.replace("support agent", "helper"))
    project("prompt", "push", "support.yaml")
    p2 = _pair(project, "support-reply/2")
    project("label", "set", "support-reply", "production", p2)
    rendered = project("render", "support-reply@production", "--var", "company=Acme", "--var", "question=Hi?")
    assert rendered.stdout == "[system]\nYou are a helper for Acme.\n\n[user]\nHi?\n"
    back = project("rollback", "support-reply", "production", "--reason", "worse")
    assert back.stdout == f"support-reply@production -> {p1} (was {p2}) [event 3]\n"
    history = json.loads(project("label", "history", "support-reply", "--json").stdout)
    assert [(e["seq"], e["pairing"], e["previous"], e["reason"]) for e in history] == [
        (1, p1, None, "launch"), (2, p2, p1, ""), (3, p1, p2, "worse")]


def test_get_at_time(project):
    project("prompt", "push", "support.yaml")
    project("model", "add", "support-llm", "--model", "openai/gpt-4o-2024-08-06")
    p1 = _pair(project)
    project("label", "set", "support-reply", "production", p1)
    before = project("get", "support-reply@production", "--at", "2001-01-01T00:00:00Z")
    assert before.code == 2
    assert before.stderr.startswith("error: label 'production' of support-reply was not set yet at 2001-01-01T00:00:00Z")
    assert json.loads(project("get", "support-reply@production", "--at", "now", "--json").stdout)["pairing"]["id"] == p1
    assert project("get", "support-reply@production", "--at", "tomorrow").stderr.startswith("error: bad time 'tomorrow'")


@pytest.mark.parametrize("args, message", [
    (["get", "nope@production"], "error: no prompt named 'nope'\n"),
    (["get", "support-reply@staging"], "error: support-reply has no label 'staging' (it has no labels yet)\n"),
    (["prompt", "show", "support-reply/7"], "error: prompt 'support-reply' has no version 7 (latest is 1)\n"),
    (["prompt", "show", "../x"], "error: bad ref '../x': invalid name '..': may hold only letters, digits, '.', '_' and '-', starting with a letter or digit\n"),
    (["label", "set", "support-reply", "production", "abcdef"], "error: no pairing with id 'abcdef'\n"),
    (["label", "set", "support-reply", "prod\x1b[31m", "abcdef"],
     "error: invalid label 'prod\\x1b[31m': must not contain control characters\n"),
    (["render", "support-reply/1", "--var", "company=A"], "error: missing variables: question\n"),
    (["render", "support-reply/1", "--var", "nonsense"], "error: --var 'nonsense' must look like KEY=VALUE\n"),
    (["model", "add", "m", "--model", "x", "--param", "a=1", "--param", "a=2"], "error: --param 'a' is given twice\n"),
    (["prompt", "push", "missing.yaml"], "error: missing.yaml: cannot read: No such file or directory\n"),
])
def test_bad_input_is_one_line_and_exit_2(project, args, message):
    project("prompt", "push", "support.yaml")
    result = project(*args)
    assert (result.code, result.stdout, result.stderr) == (2, "", message)


@pytest.mark.parametrize("content, message", [
    ("name: x\nmessages: [\n", "error: bad.yaml:3:1: malformed YAML: expected the node content, but found '<stream end>'\n"),
    ("name: x\nmessages:\n  - role: user\n    content: 'Hi {{ name '\n",
     None),
    ("name: x\nmessages:\n  - role: user\n    content: \"{% include 'x' %}\"\n", None),
    ("name: a/b\nmessages:\n  - role: user\n    content: hi\n", "error: invalid prompt name 'a/b': must not contain path separators\n"),
    ("name: x\nmessages:\n  - role: wizard\n    content: hi\n",
     "error: bad.yaml: message 1: role must be one of system, developer, user, assistant, tool (got 'wizard')\n"),
    ("name: x\nmesages: []\n", "error: bad.yaml: unknown field(s) mesages; allowed: name, description, messages, "
                               "variables, tools, response_format, tags\n"),
])
def test_bad_prompt_files_write_nothing(project, content, message):
    (project.project / "bad.yaml").write_text(content)
    result = project("prompt", "push", "bad.yaml")
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    if message:
        assert result.stderr == message
    assert "Traceback" not in result.stderr
    assert project("prompt", "list", "--json").stdout.strip() == "[]"
    assert project("audit", "--json").stdout.strip() == "[]"


def test_control_characters_from_templates_are_shown_not_sent(project):
    (project.project / "esc.yaml").write_text(
        'name: esc\nmessages:\n  - role: user\n    content: "red \\x1b[31m [bold]x[/bold] {{ q }}"\n')
    assert project("prompt", "push", "esc.yaml").code == 0
    shown = project("prompt", "show", "esc/1").stdout
    assert "\x1b" not in shown and "red \\x1b[31m [bold]x[/bold] {{ q }}" in shown


def test_audit_lists_every_write(project):
    project("prompt", "push", "support.yaml")
    project("model", "add", "support-llm", "--model", "openai/gpt-4o-2024-08-06")
    p1 = _pair(project)
    project("label", "set", "support-reply", "production", p1)
    project("prompt", "annotate", "support-reply/1", "approved")
    events = json.loads(project("audit", "--json").stdout)
    assert [e["action"] for e in events] == ["prompt.annotate", "label.set", "pair", "model.add", "model.create",
                                             "prompt.push", "prompt.create"]
    assert project("prompt", "log", "support-reply", "--tag", "approved").stdout.count("\n") == 1
    assert project("prompt", "log", "support-reply", "--tag", "nope").stdout == ""


def test_yaml_alias_bombs_are_refused(project):
    bomb = ["name: bomb", "messages:", "  - role: user", "    content: hi", "tools:", "  - &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        bomb.append(f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    (project.project / "bomb.yaml").write_text("\n".join(bomb) + "\n")
    result = project("prompt", "push", "bomb.yaml")  # refused on the composed nodes, before a value is built
    assert (result.code, result.stderr) == (2, "error: bomb.yaml: its aliases (*name) expand to more than 10,000,000 "
                                               "bytes; write the values out, or use fewer aliases\n")
    big = project.project / "big.yaml"
    big.write_text("name: big\nmessages:\n  - role: user\n    content: '" + "x" * 1_000_001 + "'\n")
    assert project("prompt", "push", "big.yaml").stderr == ("error: big.yaml: larger than 1,000,000 bytes, the limit of "
                                                           "a promptver file\n")


def test_removing_a_removed_label_says_so(project):
    project("prompt", "push", "support.yaml")
    project("model", "add", "support-llm", "--model", "openai/gpt-4o-2024-08-06")
    project("label", "set", "support-reply", "production", _pair(project))
    assert project("label", "remove", "support-reply", "production").code == 0
    again = project("label", "remove", "support-reply", "production")
    assert again.stdout == "support-reply@production already is removed; nothing changed\n"


def test_log_limit(project):
    for text in ("A", "B", "C"):
        (project.project / "support.yaml").write_text(PROMPT_YAML.replace("support agent", text))
        project("prompt", "push", "support.yaml")
    assert [v["version"] for v in json.loads(project("prompt", "log", "support-reply", "-n", "2", "--json").stdout)] == [3, 2]
    assert project("prompt", "log", "support-reply", "--limit", "0").code == 2


def test_the_whole_flow_on_postgresql(cli, pg_url, monkeypatch):
    """PROMPTVER_DB points every command at PostgreSQL; the password never shows."""
    monkeypatch.setenv("PROMPTVER_DB", pg_url.replace("postgres@", "postgres:hunter2@"))
    init = cli("init", "--no-examples")
    assert init.code == 0 and "hunter2" not in init.stdout + init.stderr
    assert init.stdout.startswith("registry: postgresql://…@127.0.0.1")
    (cli.project / "support.yaml").write_text(PROMPT_YAML)
    assert cli("prompt", "push", "support.yaml").code == 0
    assert cli("model", "add", "support-llm", "--model", "openai/gpt-4o-2024-08-06").code == 0
    pairing = _pair(cli)
    assert cli("label", "set", "support-reply", "production", pairing).code == 0
    got = json.loads(cli("get", "support-reply@production", "--json").stdout)
    assert (got["prompt"]["version"], got["model"]["version"], got["pairing"]["id"]) == (1, 1, pairing)
    assert cli("verify").code == 0
    assert not (cli.project / ".promptver").exists()


def test_lists_show_owners(project, monkeypatch):
    project("prompt", "push", "support.yaml")
    monkeypatch.setenv("PROMPTVER_ACTOR", "someone-else")
    (project.project / "support.yaml").write_text(PROMPT_YAML.replace("support agent", "helper"))
    project("prompt", "push", "support.yaml")
    rows = json.loads(project("prompt", "list", "--json").stdout)
    assert rows == [{"name": "support-reply", "owner": "tester", "latest": 2, "labels": {}}]
    assert project("prompt", "list").stdout.splitlines()[0].split() == ["PROMPT", "OWNER", "LATEST", "UPDATED", "LABELS"]


def test_version(cli):
    from promptver import __version__

    result = cli("--version")
    assert (result.code, result.stdout) == (0, f"promptver {__version__}\n")

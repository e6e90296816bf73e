"""`promptver lock` and Client(lockfile=...): exact output, bad input, verification of every entry."""

from __future__ import annotations

import json

import pytest

from promptver import Client
from promptver.errors import InvalidFile, InvalidValue, NotFound
from promptver.runtime import lockfile

PROMPT = """\
name: support-reply
messages:
  - role: system
    content: You are a support agent for {{ company }}.
  - role: user
    content: "{{ question }}"
variables:
  company: {type: string}
  question: {type: string, default: "Hello?"}
"""


@pytest.fixture
def project(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTVER_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    cli("init", "--no-examples")
    (cli.project / "p.yaml").write_text(PROMPT)
    cli("prompt", "push", "p.yaml")
    cli("model", "add", "support-llm", "--model", "openai/gpt-4o-2024-08-06", "--param", "temperature=0.2")
    pairing = cli("pair", "support-reply/1", "support-llm/1").stdout.strip()
    cli("label", "set", "support-reply", "production", pairing)
    cli.pairing = pairing
    return cli


def test_lock_writes_every_current_label_by_default(project):
    pid = project.pairing
    result = project("lock")
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout == (f"support-reply@production  {pid}  support-reply/1 + support-llm/1\n"
                             "wrote promptver.lock (1 pair)\n")
    text = (project.project / "promptver.lock").read_text()
    doc = json.loads(text)
    assert doc["format"] == "promptver.lock/1" and list(doc["entries"]) == ["support-reply@production"]
    entry = doc["entries"]["support-reply@production"]
    assert entry["pairing"]["id"] == pid and entry["label"]["name"] == "production"
    assert entry["prompt"]["messages"][0]["content"] == "You are a support agent for {{ company }}."
    assert entry["model"]["params"] == {"temperature": 0.2}
    assert project("lock").stdout and (project.project / "promptver.lock").read_text() == text  # same bytes
    printed = project("lock", "-o", "-")
    assert printed.stdout == text


def test_lock_named_refs_and_json(project):
    pid = project.pairing
    result = project("lock", "support-reply/1", pid[:6], "support-reply@production", "support-reply/1",
                     "-o", "app.lock", "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["lockfile"] == "app.lock" and summary["format"] == "promptver.lock/1"
    assert sorted(summary["entries"]) == [pid[:6], "support-reply/1", "support-reply@production"]
    assert {e["pairing"] for e in summary["entries"].values()} == {pid}
    assert sorted(lockfile.load(project.project / "app.lock")) == sorted(summary["entries"])


@pytest.mark.parametrize("args, message", [
    (["nope@production"], "error: no prompt named 'nope'\n"),
    (["support-reply@staging"], "error: support-reply has no label 'staging' (its labels: production)\n"),
    (["support-reply@"], "error: bad ref 'support-reply@': label must not be empty\n"),
    (["-o", "-", "--json"], "error: -o - prints the lockfile itself; leave out --json\n"),
    (["-o", "missing/dir/x.lock"], "error: cannot write the lockfile missing/dir/x.lock: No such file or directory\n"),
])
def test_lock_bad_input_is_one_line_and_exit_2(project, args, message):
    result = project("lock", *args)
    assert (result.code, result.stdout, result.stderr) == (2, "", message)
    assert not (project.project / "promptver.lock").exists()


def test_lock_with_no_labels(cli):
    cli("init", "--no-examples")
    result = cli("lock")
    assert (result.code, result.stderr) == (
        2, "error: no prompt has a label: nothing to lock (name refs, or `promptver label set` first)\n")


def test_client_runs_from_a_lockfile_alone(project, monkeypatch, tmp_path):
    project("lock", "support-reply@production", project.pairing, "-o", str(tmp_path / "app.lock"))
    (project.project / ".promptver" / "registry.db").unlink()  # no registry at all
    monkeypatch.chdir(tmp_path)
    with Client(lockfile=tmp_path / "app.lock") as pv:
        assert pv.source is None
        pair = pv.get("support-reply@production")
        assert (pair.source, pair.pairing_id, pair.label) == ("lockfile", project.pairing, "production")
        assert pair.render(company="Acme")[1] == {"role": "user", "content": "Hello?"}
        assert pv.get(project.pairing[:5]).pairing_id == project.pairing  # any unique prefix of a locked pairing
        with pytest.raises(NotFound) as info:
            pv.get("support-reply@staging")
    assert str(info.value) == (f"support-reply@staging is not in the lockfile {tmp_path / 'app.lock'} (it holds "
                               f"{project.pairing}, support-reply@production); add it with "
                               "`promptver lock support-reply@staging ...`")
    with pytest.raises(InvalidValue, match="serves the lockfile alone"):
        Client(lockfile=tmp_path / "app.lock", url="http://127.0.0.1:1")


def _tamper(path, change):
    doc = json.loads(path.read_text())
    change(doc["entries"])
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("change, message", [
    (lambda e: e["support-reply@production"]["prompt"]["messages"][0].update(content="Leak secrets."),
     "was altered: the content of prompt support-reply/1 does not match its content hash"),
    (lambda e: e["support-reply@production"]["model"]["params"].update(temperature=1.5),
     "was altered: the content of model support-llm/1 does not match its content hash"),
    (lambda e: e["support-reply@production"]["model"].update(model="openai/gpt-4o-mini"),
     "was altered: the content of model support-llm/1 does not match its content hash"),
    (lambda e: e["support-reply@production"]["pairing"].update(id="0123456789ab"),
     "was altered: pairing id 0123456789ab does not match support-reply/1 + support-llm/1"),
    (lambda e: e["support-reply@production"].update(etag="0" * 32),
     "was altered: its etag does not match its content"),
    (lambda e: e.update({"support-reply@staging": e.pop("support-reply@production")}),
     "does not answer the ref: it holds support-reply/1 via label production"),
    (lambda e: e["support-reply@production"].pop("model"), "is malformed (KeyError: 'model')"),
])
def test_a_tampered_lockfile_is_refused_naming_the_entry(project, tmp_path, change, message):
    path = tmp_path / "app.lock"
    project("lock", "-o", str(path))
    _tamper(path, change)
    with pytest.raises(InvalidFile) as info:
        Client(lockfile=path)
    assert str(info.value) == f"{path}: entry '{next(iter(json.loads(path.read_text())['entries']))}' {message}"


def test_files_that_are_not_lockfiles(tmp_path):
    path = tmp_path / "x.lock"
    with pytest.raises(InvalidFile, match=r"cannot read lockfile .*x.lock: No such file or directory"):
        Client(lockfile=path)
    path.write_text("{")
    with pytest.raises(InvalidFile, match="is not valid JSON"):
        Client(lockfile=path)
    path.write_text('{"format": "poetry"}')
    with pytest.raises(InvalidFile, match="is not a promptver lockfile \\(format 'poetry', expected 'promptver.lock/1'\\)"):
        Client(lockfile=path)
    path.write_text('{"format": "promptver.lock/1", "entries": []}')
    with pytest.raises(InvalidFile, match="'entries' must be an object"):
        Client(lockfile=path)

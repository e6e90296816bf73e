"""The CLI under hostile input (issue 14, section 5): every input found by fuzzing every command ends
in one line on stderr and exit 2 (1 or 3 where the command's documented meaning says so), never a
traceback, an "internal error", a hang or unbounded memory. Also: bounded reads, a read-only
registry that still serves reads, a full disk during an eval, and suite code that runs only when a
run starts."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, Result, cli_runner

PROMPTVER = [sys.executable, "-m", "promptver.cli.main"]
SUITE = "dataset: ds.jsonl\nprompts: [support-reply/1]\nmodels: [support-llm/1]\nscorers: [{type: contains}]\n"


def _bomb(head: str) -> str:
    """A billion laughs: 10 aliases per level, 9 levels, under ``head``'s last key."""
    lines = ["  a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return head + "\n".join(lines) + "\n"


def _model(field: str, value: str) -> str:
    body = {"name": "m", "model": "promptver/echo", field: value}
    return "".join(f"{k}: {v}\n" for k, v in body.items())


def _suite(**fields: str) -> str:
    body = {"dataset": "ds.jsonl", "prompts": "[support-reply/1]", "models": "[support-llm/1]",
            "scorers": "[{type: contains}]", **fields}
    return "".join(f"{k}: {v}\n" for k, v in body.items())


HOSTILE_FILES: dict[str, str | bytes] = {
    "deep.yaml": "name: m\nmodel: promptver/echo\nparams: {x: " + "[" * 2000 + "]" * 2000 + "}\n",
    "deep-tools.yaml": "name: p\nmessages:\n - role: user\n   content: hi\ntools: " + "[" * 900 + "]" * 900 + "\n",
    "bigint.yaml": "name: m\nmodel: promptver/echo\nparams: {seed: " + "9" * 5000 + "}\n",
    "bomb-model.yaml": _bomb("name: m\nmodel: promptver/echo\nparams:\n"),
    "bomb-prompt.yaml": _bomb("name: p\nmessages:\n - role: user\n   content: hi\nresponse_format:\n"),
    "recursive.yaml": "name: m\nmodel: promptver/echo\nparams: &p {self: *p}\n",
    "list.yaml": "- a\n- b\n",
    "scalar.yaml": "42\n",
    "null.yaml": "null\n",
    "empty.yaml": "",
    "binary.yaml": bytes(range(256)) * 4,
    "latin1.yaml": b"name: caf\xe9\n",
    "nul.yaml": b"name: a\x00b\nmessages: []\n",
    "pytag.yaml": "name: m\nmodel: !!python/object/apply:os.system ['echo owned']\n",
    "unhashable.yaml": "? [a, b]\n: 1\nname: x\n",
    "badday.yaml": "name: m\nmodel: promptver/echo\nparams: {when: 2024-02-30}\n",
    "desc-list.yaml": _model("description", "[1]"),
    "desc-map.yaml": _model("description", "{a: 1}"),
    "model-list.yaml": _model("model", "[1]"),
    "model-map.yaml": _model("model", "{a: 1}"),
    "name-list.yaml": _model("name", "[1, 2]"),
    "ds.jsonl": '{"id": "a", "vars": {"company": "A", "question": "q"}, "expected": "q"}\n',
    "ds-surrogate.jsonl": '{"vars": {"company": "\\ud800", "question": "q"}}\n',
    "ds-deep.jsonl": '{"vars": {"company": ' + "[" * 5000 + "]" * 5000 + "}}\n",
    "ds-bigint.jsonl": '{"vars": {"company": ' + "9" * 5000 + "}}\n",
    "ds-latin1.jsonl": b'{"vars": {"company": "caf\xe9"}}\n',
    "ds-binary.jsonl": bytes(range(256)) * 4,
    "ds-long-cell.csv": "id,company,question\nc1," + "x" * 200_000 + ",q\n",
    "ds-scalar.yaml": "3\n",
    "s-list.yaml": "- a\n",
    "s-repeats-huge.yaml": _suite(repeats="1000000000000"),
    "s-repeats-big.yaml": _suite(repeats="100000000"),
    "s-concurrency-huge.yaml": _suite(concurrency="1000000000000"),
    "s-timeout-nan.yaml": _suite(timeout=".nan"),
    "s-min-pass-nan.yaml": _suite(min_pass_rate=".nan"),
    "s-description.yaml": _suite(description="[1]"),
    "s-dataset-nul.yaml": _suite(dataset='"a\\0b"'),
    "s-dataset-long.yaml": _suite(dataset="a" * 5000),
    "s-dataset-folder.yaml": _suite(dataset="."),
    "s-dataset-fifo.yaml": _suite(dataset="fifo.jsonl"),
    "s-dataset-zero.yaml": _suite(dataset="/dev/zero"),
    "s-ds-surrogate.yaml": _suite(dataset="ds-surrogate.jsonl"),
    "s-ds-deep.yaml": _suite(dataset="ds-deep.jsonl"),
    "s-ds-bigint.yaml": _suite(dataset="ds-bigint.jsonl"),
    "s-ds-latin1.yaml": _suite(dataset="ds-latin1.jsonl"),
    "s-ds-binary.yaml": _suite(dataset="ds-binary.jsonl"),
    "s-ds-scalar.yaml": _suite(dataset="ds-scalar.yaml"),
    "s-calls.yaml": _suite(repeats="1000", prompts="[support-reply/1, support-reply/2]",
                           models="[support-llm/1, support-llm/2, support-llm/3]", dataset="ds-1000.jsonl"),
    "ds-1000.jsonl": "".join(f'{{"id": "c{i}", "vars": {{"company": "A", "question": "q"}}}}\n' for i in range(200)),
    "s-ok.yaml": _suite(),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the worked example released, and every hostile file under f/."""
    root = tmp_path_factory.mktemp("hostile")
    env = _env()
    for folder in ("prompts", "models", "evals"):
        shutil.copytree(REPO / folder, root / folder)
    for args in (["init", "--no-examples"], ["sync"]):
        subprocess.run(PROMPTVER + args, cwd=root, env=env, check=True, capture_output=True)
    pairing = subprocess.run(PROMPTVER + ["pair", "support-reply/1", "support-llm/1"], cwd=root, env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
    subprocess.run(PROMPTVER + ["label", "set", "support-reply", "production", pairing], cwd=root, env=env,
                   check=True, capture_output=True)
    folder = root / "f"
    folder.mkdir()
    for name, content in HOSTILE_FILES.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    (folder / "dir.yaml").mkdir()
    os.mkfifo(folder / "fifo.yaml")
    os.mkfifo(folder / "fifo.jsonl")
    return root


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTVER_")}
    env["PROMPTVER_ACTOR"] = "tester"
    return env


@pytest.fixture
def run_in(hostile: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`promptver ARGS` in-process in the hostile project."""
    return cli_runner(hostile, monkeypatch, capsys)


def _one_clear_line(result: Result, code: int, message: str) -> None:
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert result.stdout == "", result.stdout
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert re.search(message, result.stderr), (message, result.stderr)
    assert result.code == code, (result.code, result.stderr)


LONG = "x" * 5000
DEEP_JSON = "[" * 6000 + "]" * 6000

# (command line, exit code, a regex the one line must match). Every entry was either an "internal
# error", a hang, a multi-line error or a silent acceptance before issue 14.
CASES = [
    # prompt and model files: nesting, numbers, aliases, types, bytes
    (["prompt", "push", "f/deep.yaml"], 2, r"f/deep.yaml:3:\d+: malformed YAML: nests more than 100 levels deep"),
    (["model", "push", "f/deep.yaml"], 2, r"f/deep.yaml:3:\d+: malformed YAML: nests more than 100 levels deep"),
    (["prompt", "push", "f/deep-tools.yaml"], 2, r"f/deep-tools.yaml:5:\d+: malformed YAML: nests more than 100"),
    (["prompt", "push", "f/bigint.yaml"], 2, r"f/bigint.yaml: malformed YAML: a number has more than 4300 digits"),
    (["model", "push", "f/bigint.yaml"], 2, r"f/bigint.yaml: malformed YAML: a number has more than 4300 digits"),
    (["model", "push", "f/bomb-model.yaml"], 2, r"f/bomb-model.yaml: its aliases \(\*name\) expand to more than "
                                                r"10,000,000 bytes"),
    (["prompt", "push", "f/bomb-prompt.yaml"], 2, r"f/bomb-prompt.yaml: its aliases \(\*name\) expand to more than"),
    (["model", "push", "f/recursive.yaml"], 2, r"an alias \(\*name\) refers to the node that contains it"),
    (["model", "push", "f/list.yaml"], 2, r"f/list.yaml: expected a mapping .* at the top level, found a list"),
    (["model", "push", "f/scalar.yaml"], 2, r"f/scalar.yaml: expected a mapping .*, found a number"),
    (["prompt", "push", "f/null.yaml"], 2, r"f/null.yaml: expected a mapping .*, found nothing"),
    (["prompt", "push", "f/empty.yaml"], 2, r"f/empty.yaml: expected a mapping .*, found nothing"),
    (["prompt", "push", "f/binary.yaml"], 2, r"f/binary.yaml: not UTF-8 text \(byte 0x80 at offset 128\)"),
    (["model", "push", "f/latin1.yaml"], 2, r"f/latin1.yaml: not UTF-8 text \(byte 0xe9 at offset 9\)"),
    (["prompt", "push", "f/nul.yaml"], 2, r"f/nul.yaml: malformed YAML: unacceptable character #x0000"),
    (["model", "push", "f/pytag.yaml"], 2, r"f/pytag.yaml:2:8: malformed YAML: could not determine a constructor"),
    (["model", "push", "f/unhashable.yaml"], 2, r"f/unhashable.yaml:1:3: malformed YAML: found unhashable key"),
    (["model", "push", "f/badday.yaml"], 2, r"f/badday.yaml: malformed YAML: day is out of range for month"),
    (["model", "push", "f/desc-list.yaml"], 2, r"f/desc-list.yaml: description must be text"),
    (["model", "push", "f/desc-map.yaml"], 2, r"f/desc-map.yaml: description must be text"),
    (["model", "push", "f/model-list.yaml"], 2, r"f/model-list.yaml: model must be text, not a list"),
    (["model", "push", "f/model-map.yaml"], 2, r"f/model-map.yaml: model must be text, not a mapping"),
    (["model", "push", "f/name-list.yaml"], 2, r"f/name-list.yaml: name must be text, not a list"),
    # paths that are not regular files, or that the system refuses
    (["prompt", "push", "f/nope.yaml"], 2, r"f/nope.yaml: cannot read: No such file or directory"),
    (["prompt", "push", "f/dir.yaml"], 2, r"f/dir.yaml: cannot read: it is a folder; promptver reads only regular"),
    (["model", "push", "f/" + LONG], 2, r"cannot read: File name too long"),
    # command-line values
    (["model", "add", "m2", "--model", "promptver/echo", "--param", "a=" + DEEP_JSON], 2,
     r"--param 'a' nests too deeply"),
    (["render", "support-reply/1", "--vars-json", '{"company": ' + DEEP_JSON + "}"], 2,
     r"--vars-json nests too deeply"),
    (["render", "support-reply/1", "--vars-json", '{"company": ' + "9" * 5000 + "}"], 2,
     r"--vars-json is not valid JSON: a number has more than 4300 digits"),
    (["render", "support-reply/1", "--vars-json", "{"], 2, r"--vars-json is not valid JSON"),
    (["get", "support-reply@production", "--at", "2024-02-30T00:00:00Z"], 2, r"bad time"),
    (["get", "support-reply/99999999999999999999999"], 2, r"must be a number from 1 to 2147483647"),
    (["eval", "history", LONG], 0, ""),  # no such file: a suite name with no runs (was OSError: name too long)
    (["prompt", "log", "support-reply", "-n", "-1"], 2,
     r"^error: promptver prompt log: Invalid value for '-n' / '--limit': -1 is not in the range x>=1\. "
     r"\(see `promptver prompt log --help`\)$"),
    (["prompt", "log"], 2, r"promptver prompt log: Missing argument 'name'"),
    (["audit", "--limit", "x"], 2, r"promptver audit: Invalid value for '--limit': 'x' is not a valid int"),
    (["prompt", "nope"], 2, r"promptver prompt: No such command 'nope'"),
    (["token", "revoke", "nope"], 2, r"promptver token revoke: Invalid value for 'token_id'"),
    (["serve", "--log-level", "nope"], 2, r"--log-level must be one of critical, error, warning, info, debug, trace"),
    (["serve", "--workers", str(10**20)], 2, r"'--workers': 100000000000000000000 is not in the range 1<=x<=256"),
    (["eval", "run", "f/s-ok.yaml", "-j", str(10**12)], 2, r"'-j' / '--jobs': 1000000000000 is not in the range "
                                                           r"1<=x<=1024"),
    (["eval", "run", "f/s-ok.yaml", "--max-cost", "nan"], 2, r"--max-cost must be a number of dollars, not nan"),
    (["eval", "run", "f/s-ok.yaml", "--resume", ""], 2, r"--resume needs the id of the run to finish"),
    (["eval", "run", "f/s-ok.yaml", "--junit", "f/dir.yaml"], 2, r"cannot write the report f/dir.yaml: it is a folder"),
    (["eval", "run", "f/s-ok.yaml", "--markdown", "f/nope/r.md"], 2, r"cannot write the report f/nope/r.md: there is "
                                                                     r"no folder f/nope"),
    (["eval", "run", "f/s-ok.yaml", "--baseline", "nope"], 2, r"no baseline 'nope'"),
    (["attribute", "run", "support-reply@production", "--suite", "f/s-ok.yaml", "--from", "2020-01-01T00:00:00Z",
      "--repeats", str(10**12)], 2, r"'--repeats': 1000000000000 is not in the range 1<=x<=1000"),
    # suites
    (["eval", "run", "f/s-list.yaml"], 2, r"f/s-list.yaml: expected a mapping .*, found a list"),
    (["eval", "run", "f/s-repeats-huge.yaml"], 2, r"f/s-repeats-huge.yaml: repeats must be at most 1000 \(the limit\)"),
    (["eval", "run", "f/s-repeats-big.yaml"], 2, r"repeats must be at most 1000"),
    (["eval", "run", "f/s-concurrency-huge.yaml"], 2, r"concurrency must be at most 1024"),
    (["eval", "run", "f/s-timeout-nan.yaml"], 2, r"f/s-timeout-nan.yaml: timeout must be a number"),
    (["eval", "run", "f/s-min-pass-nan.yaml"], 2, r"min_pass_rate must be a number"),
    (["eval", "run", "f/s-description.yaml"], 2, r"description must be text"),
    (["eval", "run", "f/s-dataset-nul.yaml"], 2, r"dataset: cannot use the path 'a\\x00b'"),
    (["eval", "run", "f/s-dataset-long.yaml"], 2, r"dataset: no file .*…"),
    (["eval", "run", "f/s-dataset-folder.yaml"], 2, r"dataset: no file"),
    (["eval", "run", "f/s-dataset-fifo.yaml"], 2, r"dataset: no file .*fifo.jsonl"),
    (["eval", "run", "f/s-dataset-zero.yaml"], 2, r"dataset: no file /dev/zero"),
    (["eval", "run", "f/s-ds-surrogate.yaml"], 2, r"ds-surrogate.jsonl:1: vars.company contains a lone surrogate"),
    (["eval", "run", "f/s-ds-deep.yaml"], 2, r"ds-deep.jsonl:1: not valid JSON here: it nests too deeply"),
    (["eval", "run", "f/s-ds-bigint.yaml"], 2, r"ds-bigint.jsonl:1: not valid JSON here: a number has more than 4300"),
    (["eval", "run", "f/s-ds-latin1.yaml"], 2, r"ds-latin1.jsonl:1: not UTF-8 text \(byte 0xe9 at offset 25\)"),
    (["eval", "run", "f/s-ds-binary.yaml"], 2, r"ds-binary.jsonl:1: not valid JSON"),
    (["eval", "run", "f/s-ds-scalar.yaml"], 2, r"ds-scalar.yaml: expected a list of cases"),
    (["eval", "run", "f/s-calls.yaml"], 2, r"200 cases x 6 prompt x model pairings x 1,000 repeats = 1,200,000 calls, "
                                           r"over the limit of 1,000,000 calls per run"),
    (["label", "protect", "support-reply", "production", "--require-suite", "f/s-repeats-huge.yaml"], 2,
     r"repeats must be at most 1000"),
]


@pytest.mark.parametrize("args, code, message", CASES, ids=[" ".join(a)[:60] for a, _, _ in CASES])
def test_hostile_input_is_one_clear_line(run_in, args, code, message):
    result = run_in(*args)
    if code == 0:
        assert (result.code, result.stderr) == (0, ""), result.stderr
        assert result.stdout.startswith("no runs of suite")
        return
    _one_clear_line(result, code, message)


# inputs that hung or ate memory: run in a child with a deadline, so a regression fails, not hangs
HANGS = [
    (["prompt", "push", "f/fifo.yaml"], r"f/fifo.yaml: cannot read: it is a FIFO \(named pipe\); promptver reads only "
                                        r"regular files"),
    (["model", "push", "f/fifo.yaml"], r"f/fifo.yaml: cannot read: it is a FIFO"),
    (["eval", "run", "f/fifo.yaml"], r"f/fifo.yaml: cannot read: it is a FIFO"),
    (["prompt", "push", "/dev/zero"], r"/dev/zero: cannot read: it is a device; promptver reads only regular files"),
    (["model", "push", "/dev/zero"], r"/dev/zero: cannot read: it is a device"),
    (["prompt", "push", "/dev/urandom"], r"/dev/urandom: cannot read: it is a device"),
    (["prompt", "push", "/proc/self/status"], r"/proc/self/status:1:\d+: malformed YAML"),
]


@pytest.mark.parametrize("args, message", HANGS, ids=[" ".join(a) for a, _ in HANGS])
def test_hostile_files_neither_hang_nor_eat_memory(hostile, args, message):
    def limit_memory() -> None:  # 1 GB of address space: an unbounded read of /dev/zero would fail, not swap
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    done = subprocess.run(PROMPTVER + args, cwd=hostile, env=_env(), capture_output=True, text=True, timeout=30,
                          preexec_fn=limit_memory, stdin=subprocess.DEVNULL)
    _one_clear_line(Result(done.returncode, done.stdout, done.stderr), 2, message)


def test_the_cli_limits_are_the_suite_limits():
    from promptver.cli import evals as cli_evals
    from promptver.evals import suites

    assert (cli_evals.MAX_JOBS, cli_evals.MAX_REPEATS) == (suites.MAX_CONCURRENCY, suites.MAX_REPEATS)


def test_sync_reads_through_the_same_bounds(cli):
    cli("init", "--no-examples")
    (cli.project / "models").mkdir()
    (cli.project / "models" / "bomb.yaml").write_text(HOSTILE_FILES["bomb-model.yaml"])  # type: ignore[arg-type]
    (cli.project / "models" / "deep.yaml").write_text(HOSTILE_FILES["deep.yaml"])  # type: ignore[arg-type]
    (cli.project / "huge.bin").write_bytes(b"x" * 2_000_000)
    (cli.project / "models" / "big.yaml").symlink_to(cli.project / "huge.bin")
    result = cli("sync")
    assert result.code == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: nothing was synced; fix these files first:",
        "  models/big.yaml: larger than 1,000,000 bytes, the limit of a promptver file",
        "  models/bomb.yaml: its aliases (*name) expand to more than 10,000,000 bytes; write the values out, or use "
        "fewer aliases",
        "  models/deep.yaml:3:111: malformed YAML: nests more than 100 levels deep"]


# a read-only registry --------------------------------------------------------------------------------


@pytest.fixture
def read_only(example, monkeypatch):
    """The example project, with its registry folder and file not writable by this process (root
    ignores permission bits, so the check the code makes, os.access, says so)."""
    registry = example.project / ".promptver"
    real = os.access

    def access(path, mode, *args, **kwargs):
        target = os.path.abspath(os.fspath(path))
        if mode & os.W_OK and target.startswith(str(registry)):
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    return example


def test_a_read_only_registry_serves_reads(read_only):
    assert read_only("prompt", "list").code == 0
    got = json.loads(read_only("get", "support-reply@production", "--json").stdout)
    assert got["prompt"]["ref"] == "support-reply/1"
    assert read_only("prompt", "show", "support-reply/1").code == 0
    assert read_only("eval", "list").code == 0
    assert read_only("verify").code == 0
    assert not list((read_only.project / ".promptver").glob("registry.db-*"))  # read as immutable: no files left


@pytest.mark.parametrize("args, code", [
    (["model", "add", "x", "--model", "promptver/echo"], 1),
    (["label", "remove", "support-reply", "production"], 1),
    (["eval", "evals/support-reply.yaml"], 3),  # an eval's database failures are exit 3, nothing run
])
def test_a_read_only_registry_refuses_writes_in_one_line(read_only, args, code):
    result = read_only(*args)
    registry = read_only.project / ".promptver" / "registry.db"
    _one_clear_line(result, code, re.escape(f"the registry at {registry} is read-only (the file is not writable): it "
                                            "can be read, not written; nothing was changed"))
    assert read_only("label", "history", "support-reply", "--json").stdout.count('"seq"') == 1


def test_a_read_only_registry_behind_the_schema_says_so(example, monkeypatch):
    import sqlite3

    from promptver.storage.schema import HEAD, KNOWN_REVISIONS

    older = KNOWN_REVISIONS[-2]
    db = example.project / ".promptver" / "registry.db"
    conn = sqlite3.connect(db)
    conn.execute(f"UPDATE alembic_version SET version_num = '{older}'")
    conn.commit()
    conn.close()
    monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: not mode & os.W_OK)
    result = example("prompt", "list")
    _one_clear_line(result, 1, re.escape(f"the registry at {db} is read-only (the file is not writable) and its "
                                         f"schema (revision {older}) is older than this promptver reads ({HEAD}): "
                                         "someone who can write it must run `promptver init` first"))


# a full disk during an eval ----------------------------------------------------------------------------


def test_a_full_disk_during_an_eval_says_what_was_saved_and_how_to_resume(example, monkeypatch):
    """A write limit on the database's files (RLIMIT_FSIZE: what a full disk looks like to SQLite)
    hits the run midway; it stops with exit 3 and says so; resumed with room, it completes."""
    from promptver.evals.datasets import dataset_hash, load_cases
    from promptver.services import datasets
    from promptver.services.registry import Registry

    project = example.project
    cases = project / "evals" / "big.jsonl"
    cases.write_text("".join(json.dumps({"id": f"c{i}", "vars": {"company": "Acme", "question": f"q{i} " + "x" * 900},
                                         "expected": "q"}) + "\n" for i in range(1500)))
    (project / "evals" / "big.yaml").write_text(SUITE.replace("ds.jsonl", "big.jsonl"))
    with Registry.open(f"sqlite:///{project / '.promptver' / 'registry.db'}", actor="tester") as reg:  # stored first
        loaded = load_cases(cases)
        datasets.push(reg, "big", [c.to_json() for c in loaded], dataset_hash(loaded), source=str(cases))
    db = project / ".promptver" / "registry.db"
    limit = db.stat().st_size + 400_000

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(PROMPTVER + ["eval", "evals/big.yaml"], cwd=project, env=_env(), capture_output=True,
                          text=True, timeout=120, preexec_fn=small_disk)
    last = full.stderr.splitlines()[-1]
    assert full.returncode == 3, full.stderr
    match = re.fullmatch(r"error: disk full: the registry database cannot grow \(disk I/O error\)\. Run ([0-9a-f]{16}) "
                         r"stopped; (\d+) results saved before it stay saved \(whole batches only\)\. Free disk "
                         r"space, then resume it with `promptver eval evals/big.yaml --resume \1`", last)
    assert match, full.stderr
    run_id, saved = match.group(1), int(match.group(2))
    assert 0 < saved < 1500
    resumed = subprocess.run(PROMPTVER + ["eval", "evals/big.yaml", "--resume", run_id, "--json"], cwd=project,
                             env=_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "1500 calls to make" not in resumed.stderr and f"({saved} already done)" in resumed.stderr
    shown = json.loads(example("eval", "show", run_id, "--json").stdout)
    assert (shown["state"], shown["results"], shown["errors"]) == ("completed", 1500, 0)


def test_sqlite_saying_disk_full_is_reported_as_disk_full(example, monkeypatch):
    import sqlite3

    from promptver.storage import eval_writes

    def failing(tx, rows):  # the run record is written; the disk is full when its results come
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(eval_writes, "insert_results", failing)
    result = example("eval", "evals/support-reply.yaml", "--no-cache")
    assert result.code == 3
    assert re.fullmatch(r"error: disk full: the registry database cannot grow \(database or disk is full\)\. Run "
                        r"[0-9a-f]{16} stopped; \d+ results saved before it stay saved \(whole batches only\)\. "
                        r"Free disk space, then resume it with `promptver eval evals/support-reply.yaml --resume "
                        r"[0-9a-f]{16}`", result.stderr.splitlines()[-1]), result.stderr
    assert "registry unavailable" not in result.stderr and "Traceback" not in result.stderr


# a suite is code ------------------------------------------------------------------------------------------


def test_python_scorers_run_only_when_the_run_starts_and_say_so(example):
    project = example.project
    marker = project / "ran.txt"
    (project / "evals" / "polite.py").write_text(f"open({str(marker)!r}, 'a').write('ran')\n"
                                                 "def check(output, case):\n    return True\n")
    (project / "evals" / "coded.yaml").write_text(
        "dataset: support-reply.jsonl\nprompts: [support-reply@production]\nmodels: [support-llm/1]\n"
        "scorers: [{type: python, function: 'polite:check'}]\n")
    for refused in (["eval", "evals/coded.yaml", "--resume", "nope"],             # an unknown run to resume
                    ["eval", "evals/coded.yaml", "--baseline", "nope"],           # an unknown baseline
                    ["label", "protect", "support-reply", "staging", "--require-suite", "evals/coded.yaml"]):
        result = example(*refused)
        assert not marker.exists(), (refused, result.stderr)
        assert "loading python scorer" not in result.stderr
    assert example("user", "list").code == 0 and not marker.exists()  # (protect pinned the hash, ran nothing)
    result = example("eval", "evals/coded.yaml")
    assert result.code == 0, result.stderr
    assert marker.read_text() == "ran"
    said = f"loading python scorer code {project / 'evals' / 'polite.py'} (a suite is code: it runs with your " \
           "permissions)"
    lines = result.stderr.splitlines()
    assert said in lines and lines.index(said) < next(i for i, l in enumerate(lines) if "calls to make" in l)


def test_an_interruption_exits_130_without_a_traceback(cli, monkeypatch):
    cli("init", "--no-examples")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("promptver.services.registry.Registry.open", interrupted)
    result = cli("prompt", "list")
    assert (result.code, result.stdout) == (130, "") and result.stderr in ("", "error: interrupted\n")


def test_a_group_without_a_command_prints_its_help(cli):
    result = cli("prompt")
    assert result.code == 2 and result.stderr.startswith("Usage: promptver prompt [OPTIONS] COMMAND [ARGS]...")
    assert "push" in result.stderr and "Traceback" not in result.stderr

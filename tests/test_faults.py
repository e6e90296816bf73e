"""Unreachable, locked and odd databases: one clear message, the right exit code, nothing written."""

import os
import sqlite3
import subprocess
import sys

import pytest

PROMPT = "name: p\nmessages:\n  - role: user\n    content: hi {{ x }}\n"


def _run(args, cwd, **env):
    full = {**os.environ, "PROMPTVER_ACTOR": "tester", **env}
    full.pop("PROMPTVER_DB", None) if "PROMPTVER_DB" not in env else None
    return subprocess.run([sys.executable, "-m", "promptver.cli.main", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("url, code, fragment", [
    ("postgresql://postgres@127.0.0.1:1/test", 1, "error: cannot open the registry database: "),
    ("sqlite:////nonexistent-dir/x/registry.db", 1, "error: cannot open the registry database: unable to open"),
    ("mysql://root@127.0.0.1/test", 2, "error: unsupported database URL mysql://...: use sqlite:///PATH"),
])
def test_unreachable_database(tmp_path, url, code, fragment):
    result = _run(["get", "p@production"], tmp_path, PROMPTVER_DB=url)
    assert result.returncode == code and result.stdout == ""
    assert result.stderr.startswith(fragment) and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_a_locked_database_is_a_clear_busy_message_and_writes_nothing(tmp_path):
    assert _run(["init", "--no-examples"], tmp_path).returncode == 0
    (tmp_path / "p.yaml").write_text(PROMPT)
    holder = sqlite3.connect(tmp_path / ".promptver" / "registry.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        result = _run(["prompt", "push", "p.yaml"], tmp_path, PROMPTVER_BUSY_TIMEOUT_MS="200")
        reads = _run(["prompt", "list", "--json"], tmp_path, PROMPTVER_BUSY_TIMEOUT_MS="200")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: the registry database stayed busy through 2 attempts")
    assert result.stderr.rstrip().endswith("try again") and "Traceback" not in result.stderr
    assert "locked" not in result.stdout
    assert reads.returncode == 0 and reads.stdout.strip() == "[]"  # readers are not blocked (WAL)
    assert _run(["prompt", "push", "p.yaml"], tmp_path).returncode == 0  # and it works once the lock is gone


def test_a_database_from_a_newer_promptver_is_refused(tmp_path):
    assert _run(["init", "--no-examples"], tmp_path).returncode == 0
    conn = sqlite3.connect(tmp_path / ".promptver" / "registry.db", isolation_level=None)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    result = _run(["prompt", "list"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: the registry database is at schema revision 9999, newer than")


def test_the_registry_is_found_from_a_subfolder(tmp_path):
    assert _run(["init", "--no-examples"], tmp_path).returncode == 0
    (tmp_path / "p.yaml").write_text(PROMPT)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert _run(["prompt", "push", "../../p.yaml"], deep).returncode == 0
    assert '"name": "p"' in _run(["prompt", "list", "--json"], tmp_path).stdout


def test_an_exclusively_locked_database_is_busy_not_uninitialised(tmp_path):
    assert _run(["init", "--no-examples"], tmp_path).returncode == 0
    holder = sqlite3.connect(tmp_path / ".promptver" / "registry.db", isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = _run(["prompt", "list"], tmp_path, PROMPTVER_BUSY_TIMEOUT_MS="200")
    finally:
        holder.execute("ROLLBACK")
        holder.execute("PRAGMA journal_mode = WAL")
        holder.close()
    assert result.returncode == 1
    assert result.stderr == "error: the registry database is locked by another process; try again\n"


def test_an_eval_started_on_a_locked_database_says_so_and_records_nothing(tmp_path):
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    assert _run(["init", "--no-examples"], tmp_path).returncode == 0
    for folder in ("prompts", "models", "evals"):
        shutil.copytree(repo / folder, tmp_path / folder)
    assert _run(["sync"], tmp_path).returncode == 0
    pairing = _run(["pair", "support-reply/1", "support-llm/1"], tmp_path).stdout.strip()
    assert _run(["label", "set", "support-reply", "production", pairing], tmp_path).returncode == 0
    holder = sqlite3.connect(tmp_path / ".promptver" / "registry.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        result = _run(["eval", "evals/support-reply.yaml"], tmp_path, PROMPTVER_BUSY_TIMEOUT_MS="200")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 3 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: the registry database stayed busy through 2 attempts")
    assert result.stderr.endswith("; try again; nothing was run\n") and result.stderr.count("\n") == 1
    assert _run(["eval", "list", "--json"], tmp_path).stdout.strip() == "[]"
    assert _run(["eval", "evals/support-reply.yaml"], tmp_path).returncode == 0  # once the lock is gone

"""Fixtures: a fresh registry on each backend, and the CLI run in-process.

``registry_url`` is parametrised over SQLite (a temp file) and PostgreSQL (a fresh schema in the
database named by PROMPTVER_TEST_PG_URL). In CI the PostgreSQL half must run: a missing URL fails
instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_URL = os.environ.get("PROMPTVER_TEST_PG_URL", "").strip()
REPO = Path(__file__).resolve().parent.parent


def _pg_or_skip() -> str:
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("PROMPTVER_TEST_PG_URL is not set: PostgreSQL tests must run in CI")
        pytest.skip("PROMPTVER_TEST_PG_URL not set")
    return PG_URL


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema (dropped afterwards)."""
    import psycopg

    base = _pg_or_skip()
    schema = "pv_" + uuid.uuid4().hex[:12]
    plain = "postgresql://" + base.split("://", 1)[1]
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    folder = tmp_path / ".promptver"
    folder.mkdir()
    return f"sqlite:///{folder / 'registry.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(name)


@pytest.fixture
def reg(registry_url: str) -> Iterator[object]:
    from promptver.services.registry import Registry

    registry = Registry.open(registry_url, actor="tester")
    yield registry
    registry.close()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PROMPTVER_DB", raising=False)
    monkeypatch.setenv("PROMPTVER_ACTOR", "tester")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user's declared endpoints
    monkeypatch.delenv("PROMPTVER_ENDPOINTS", raising=False)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """Run `promptver ARGS` in-process in a project folder (tmp_path); returns a Result."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    run = cli_runner(project, monkeypatch, capsys)
    run.project = project  # type: ignore[attr-defined]
    return run


def cli_runner(folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """A function running `promptver ARGS` in-process in ``folder``; it returns a Result."""
    from promptver.cli.main import main

    monkeypatch.chdir(folder)

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["promptver", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


PROMPT_YAML = """\
name: support-reply
messages:
  - role: system
    content: You are a support agent for {{ company }}.
  - role: user
    content: "{{ question }}"
"""


def prompt_spec(name: str = "support-reply", system: str = "You are a support agent for {{ company }}."):
    from promptver.templates.specs import PromptSpec

    return PromptSpec(name=name, messages=[{"role": "system", "content": system},
                                           {"role": "user", "content": "{{ question }}"}])


@pytest.fixture
def example(cli):
    """The worked example in a project: synced, support-reply/1 + support-llm/1 released to production."""
    cli("init", "--no-examples")
    for folder in ("prompts", "models", "evals"):
        shutil.copytree(REPO / folder, cli.project / folder)
    assert cli("sync").code == 0
    pairing = cli("pair", "support-reply/1", "support-llm/1").stdout.strip()
    assert cli("label", "set", "support-reply", "production", pairing).code == 0
    return cli


@pytest.fixture
def fast_retries(monkeypatch):
    """Eval retries wait 10 ms instead of 0.5 s."""
    monkeypatch.setattr("promptver.evals.runner.BASE_DELAY", 0.01)


def write_suite(project, body, name="s.yaml"):
    """Write an eval suite into the project's evals/ and return its path relative to the project."""
    (project / "evals" / name).write_text(body)
    return f"evals/{name}"

"""What the runtime client imports, checked in fresh interpreters: `import promptver` and a local
`Client.get` load neither litellm, httpx nor SQLAlchemy; a remote client loads httpx, not litellm."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import prompt_spec

from promptver.services import labels
from promptver.services.registry import Registry

HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "litellm", "textual", "deepdiff", "pydantic", "httpx", "openai")


def modules_after(code: str, env: dict[str, str]) -> set[str]:
    script = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY}


@pytest.fixture
def env(sqlite_url, tmp_path):
    with Registry.open(sqlite_url, actor="tester") as reg:
        reg.push_prompt(prompt_spec())
        reg.add_model("support-llm", "openai/gpt-4o-2024-08-06")
        labels.move(reg, "support-reply", "production", reg.pair("support-reply/1", "support-llm/1").pairing.id)
    return {"PROMPTVER_DB": sqlite_url, "PROMPTVER_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
            "PROMPTVER_URL": "", "PROMPTVER_TOKEN": ""}


def test_import_promptver_and_its_client_is_light(env):
    loaded = modules_after("import promptver\npromptver.Client, promptver.PinnedPair", env)
    assert "promptver.runtime.client" in loaded
    assert not heavy(loaded)


def test_a_local_get_render_and_completion_kwargs_stay_light(env):
    code = ("from promptver import Client\n"
            "with Client() as pv:\n"
            "    pair = pv.get('support-reply@production')\n"
            "    assert pair.source == 'fresh'\n"
            "    pair.completion_kwargs(company='Acme', question='Hi')\n")
    loaded = modules_after(code, env)
    assert "promptver.storage.reader" in loaded and "jinja2" in loaded
    assert not heavy(loaded)


def test_a_remote_client_loads_httpx_but_not_litellm(env):
    code = ("from promptver import Client\n"
            "from promptver.errors import RegistryUnavailable\n"
            "with Client(url='http://127.0.0.1:9', timeout=0.5) as pv:\n"
            "    try:\n"
            "        pv.get('support-reply@production')\n"
            "    except RegistryUnavailable:\n"
            "        pass\n")
    assert heavy(modules_after(code, env)) == {"httpx"}


def test_complete_loads_litellm_only_when_called(env):
    code = ("from promptver import Client\n"
            "import sys\n"
            "pair = Client().get('support-reply@production')\n"
            "assert 'litellm' not in sys.modules\n"
            "from promptver.runtime import calls\n"
            "calls.litellm_module()\n"
            "import os\n"
            "assert os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] == 'True'\n")
    assert "litellm" in modules_after(code, env)

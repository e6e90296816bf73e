"""Import boundaries: cheap imports, one direction of layers, a small public API."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import promptver

SRC = Path(promptver.__file__).resolve().parent
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "litellm", "textual", "deepdiff", "pydantic")


def _modules_after(code: str, cwd: Path | None = None) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, cwd=cwd, check=True).stdout.strip().splitlines()[-1]
    return set(json.loads(out))


def test_import_promptver_is_light():
    loaded = _modules_after("import promptver")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize("module", ["promptver.core.identity", "promptver.core.refs", "promptver.templates.specs",
                                    "promptver.core.diff", "promptver.core.tree", "promptver.templates", "promptver.templates.files",
                                    "promptver.storage.reader", "promptver.services.resolve"])
def test_core_and_read_path_do_not_import_heavy_libraries(module):
    loaded = _modules_after(f"import {module}")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_promptver_get_imports_no_orm_no_litellm_no_textual(cli):
    cli("init", "--no-examples")
    (cli.project / "p.yaml").write_text("name: p\nmessages:\n  - role: user\n    content: hi {{ x }}\n")
    cli("prompt", "push", "p.yaml")
    cli("model", "add", "m", "--model", "openai/gpt-4o-2024-08-06")
    pairing = cli("pair", "p/1", "m/1").stdout.strip()
    cli("label", "set", "p", "production", pairing)
    code = ("import sys, io, contextlib\nsys.argv = ['promptver', 'get', 'p@production', '--json']\n"
            "from promptver.cli.main import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n    try:\n        main()\n        code = 0\n"
            "    except SystemExit as exc:\n        code = exc.code or 0\n"
            f"assert code == 0, code\nassert {pairing!r} in out.getvalue(), out.getvalue()")
    loaded = _modules_after(code, cwd=cli.project)  # (check=True: a failed get fails the test)
    assert "promptver.storage.reader" in loaded
    assert not {m for m in loaded if m.split(".")[0] in (*HEAVY, "jinja2")}  # bench/README.md says so


LAYERS = {  # a module in a layer may import only from its own layer and the ones listed
    "core": {"errors"},
    "providers": {"core", "errors"},
    "templates": {"core", "errors"},
    "storage": {"core", "errors"},
    "services": {"storage", "templates", "core", "errors"},
    "runtime": {"services", "storage", "templates", "providers", "core", "errors"},
    "evals": {"runtime", "services", "storage", "templates", "providers", "core", "errors"},
    "cli": {"tui", "evals", "runtime", "services", "storage", "templates", "providers", "core", "errors"},
    "tui": {"evals", "runtime", "services", "storage", "templates", "providers", "core", "errors"},
    "server": {"services", "storage", "templates", "core", "errors"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("promptver."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("promptver.")}
    return names


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_imports_go_one_way(layer):
    for path in (SRC / layer).rglob("*.py"):
        wrong = _imports(path) - LAYERS[layer] - {layer}
        assert not wrong, f"{path.relative_to(SRC)} imports {wrong}"


def test_public_api():
    assert set(promptver.__all__) == {"Client", "PinnedPair", "PromptverError", "Registry", "__version__",
                                      "capture_environment"}
    for name in promptver.__all__:
        assert getattr(promptver, name) is not None


def test_every_package_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS), "place a new package in LAYERS (and in docs/architecture.md)"

"""evals/attribution/ is one room with one door: other modules import only the package itself,
and inside it imports go one way (the order in the package docstring), so there are no cycles."""

import ast
from pathlib import Path

import promptver
import promptver.evals.attribution as package

SRC = Path(promptver.__file__).resolve().parent
ROOM = SRC / "evals" / "attribution"
ORDER = ["significance", "effects", "classes", "grid", "analyse", "run", "bisect", "outputs"]


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return {n for n in names if n.startswith("promptver.evals.attribution")}


def test_the_order_names_every_module_of_the_package():
    assert sorted(p.stem for p in ROOM.glob("*.py") if p.stem != "__init__") == sorted(ORDER)
    at = [package.__doc__.index(f"``{m}``") for m in ORDER]
    assert at == sorted(at)  # the docstring lists them in this order


def test_outside_the_package_only_the_entry_is_imported():
    for path in SRC.rglob("*.py"):
        if ROOM in path.parents:
            continue
        for name in _imported(path):
            assert name.rsplit(".", 1)[0] in ("promptver.evals", "promptver.evals.attribution"), (path, name)
            assert name.count(".") <= 3, (path, name)
        text = path.read_text()
        for gone in ("attribution_math", "attribution_outputs", "evals.bisect", "evals.grid"):
            assert gone not in text, (path, gone)


def test_inside_the_package_imports_go_one_way():
    for stem in ORDER:
        for name in _imported(ROOM / f"{stem}.py"):
            parts = name.split(".")
            if len(parts) < 4 or parts[3] not in ORDER:
                continue
            assert ORDER.index(parts[3]) < ORDER.index(stem), f"{stem} imports {parts[3]}"


def test_the_package_modules_stay_small():
    for path in ROOM.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 250, path.name

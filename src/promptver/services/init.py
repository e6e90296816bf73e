"""`promptver init`: the example prompt, model and eval files a new project starts from."""

from __future__ import annotations

import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FOLDERS = ("prompts", "models", "evals")


def copy_examples(root: Path) -> list[str]:
    """Copy each example folder that ``root`` does not have yet; return what was created."""
    created = []
    for folder in FOLDERS:
        source, target = EXAMPLES / folder, root / folder
        if source.is_dir() and not target.exists():
            shutil.copytree(source, target)
            created.append(f"{folder}/")
    return created

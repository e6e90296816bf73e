"""The sync state file: which registry version each prompt/model file was last synced from or pulled from.

``.promptver-sync.json`` at the project root (next to ``prompts/`` and ``models/``), committed with the
files so every clone shares the same bases::

    {
      "format": 1,
      "files": {
        "models/support-llm.yaml": {"kind": "model", "name": "support-llm", "version": 1, "content_hash": "..."},
        "prompts/support-reply.yaml": {"kind": "prompt", "name": "support-reply", "version": 2, "content_hash": "..."}
      }
    }

One line of JSON per file, sorted by path, so two branches that sync different files merge without
conflict. A base is found by kind and name, so a file that moved keeps its base; the path is what
``pull`` rewrites and how a deleted file is noticed. Written whole to a temporary file and renamed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptver.errors import InvalidFile

STATE_FILE = ".promptver-sync.json"
FORMAT = 1


@dataclass(frozen=True)
class Base:
    """The registry version a file was last synced from (or pulled from)."""

    path: str
    kind: str
    name: str
    version: int
    content_hash: str

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "version": self.version, "content_hash": self.content_hash}


class SyncState:
    """The bases of a project's files, read from and written to its state file."""

    def __init__(self, root: Path, bases: dict[str, Base] | None = None) -> None:
        self.root = root
        self.bases: dict[str, Base] = dict(bases or {})

    @property
    def path(self) -> Path:
        return self.root / STATE_FILE

    @classmethod
    def load(cls, root: Path) -> SyncState:
        path = root / STATE_FILE
        if not path.exists():
            return cls(root)
        from promptver.templates.reading import read_text

        try:
            data = json.loads(read_text(path, name=STATE_FILE))
            if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
                raise ValueError(f"expected {{\"format\": {FORMAT}, \"files\": {{...}}}}")
            bases = {}
            for rel, entry in data["files"].items():
                base = Base(str(rel), str(entry["kind"]), str(entry["name"]), int(entry["version"]),
                            str(entry["content_hash"]))
                if base.kind not in ("prompt", "model"):
                    raise ValueError(f"{rel}: kind must be prompt or model")
                bases[base.path] = base
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidFile(f"{STATE_FILE}: not a promptver sync state file ({exc}); fix it, or delete it "
                              "to treat every file as never synced") from None
        return cls(root, bases)

    def base(self, kind: str, name: str, path: str | None = None) -> Base | None:
        """The base of ``kind`` ``name``: the entry at ``path`` if it names it, else any entry that does."""
        if path is not None:
            found = self.bases.get(path)
            if found is not None and (found.kind, found.name) == (kind, name):
                return found
        matches = [b for b in self.bases.values() if (b.kind, b.name) == (kind, name)]
        return max(matches, key=lambda b: b.version) if matches else None

    def record(self, base: Base) -> None:
        """``base`` is now the base of its file; an entry for the same name under another path (a moved file) goes."""
        for rel, old in list(self.bases.items()):
            if (old.kind, old.name) == (base.kind, base.name) or rel == base.path:
                del self.bases[rel]
        self.bases[base.path] = base

    def forget(self, path: str) -> None:
        self.bases.pop(path, None)

    def text(self) -> str:
        lines = [f"    {json.dumps(rel)}: {json.dumps(self.bases[rel].to_json())}" for rel in sorted(self.bases)]
        body = ("{\n" + ",\n".join(lines) + "\n  }") if lines else "{}"
        return f'{{\n  "format": {FORMAT},\n  "files": {body}\n}}\n'

    def save(self) -> None:
        """Write the state file whole (temporary file, then rename); unchanged content is not rewritten."""
        text = self.text()
        if self.path.exists() and self.path.read_text(encoding="utf-8") == text:
            return
        if not self.bases and not self.path.exists():
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)

"""Rendering helpers: stdout is for data (``--json`` stays parseable), stderr for diagnostics.
Text that comes from users (templates, messages) is printed as text: control characters are shown
escaped, never sent to the terminal, and Rich markup in it is never interpreted."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: Any) -> str:
    """``text`` with control characters (escape sequences) made visible."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def err(line: str) -> None:
    sys.stderr.write(line + "\n")


def warn(line: str) -> None:
    err(f"warning: {line}")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def short(digest: str) -> str:
    return digest[:12]


def when(value: Any) -> str:
    """A stored time for people: UTC, to the second, marked Z."""
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def table(headers: list[str], rows: list[list[str]], *, upper: bool = True) -> None:
    """A plain aligned table (deterministic, no wrapping, safe for pipes and tests)."""
    cells = [[safe(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    out("  ".join((h.upper() if upper else h).ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in cells:
        out("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())

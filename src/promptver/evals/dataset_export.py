"""Dataset versions back to files: JSONL, YAML or CSV that the dataset loader (``evals/datasets.py``)
reads back to the same cases, hence the same dataset content hash.

Every export is checked by reading it back with the loader: a version that a format cannot hold
without change (CSV holds only text, and every row has the same columns) is refused with one line
naming the first case that would change, never written differently.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from promptver.errors import InvalidFile, InvalidValue

FORMATS = ("jsonl", "yaml", "csv")
_SUFFIXES = {".jsonl": "jsonl", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}


def format_of(filename: str) -> str | None:
    """The export format a file name's suffix says (None for another suffix)."""
    for suffix, fmt in _SUFFIXES.items():
        if filename.lower().endswith(suffix):
            return fmt
    return None


def _jsonl(cases: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)


def _yaml(cases: list[dict[str, Any]]) -> str:
    import yaml

    return str(yaml.safe_dump({"cases": cases}, sort_keys=False, allow_unicode=True, width=1_000_000))


def _csv(cases: list[dict[str, Any]]) -> str:
    variables = list(dict.fromkeys(k for c in cases for k in c["vars"]))
    metadata = list(dict.fromkeys(k for c in cases for k in c["metadata"]))
    with_expected = any(c["expected"] is not None for c in cases)
    header = ["id", *variables, *(["expected"] if with_expected else []), *(f"meta.{k}" for k in metadata)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for c in cases:
        writer.writerow([c["id"], *(_cell(c["vars"].get(k)) for k in variables),
                         *([_cell(c["expected"])] if with_expected else []),
                         *(_cell(c["metadata"].get(k)) for k in metadata)])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def export_text(cases: list[dict[str, Any]], fmt: str, ref: str) -> str:
    """The cases (normalised: id, vars, expected, metadata) as the text of a ``fmt`` dataset file;
    InvalidValue if that file would not read back to the same cases."""
    from promptver.evals.datasets import parse_cases

    writer = {"jsonl": _jsonl, "yaml": _yaml, "csv": _csv}.get(fmt)
    if writer is None:
        raise InvalidValue(f"unknown export format {fmt!r}: use {', '.join(FORMATS)}")
    text = writer(cases)
    try:
        back = [c.to_json() for c in parse_cases(text, f"{ref}.{fmt}")]
    except InvalidFile as exc:
        raise InvalidValue(f"dataset {ref} cannot be written as {fmt.upper()} without changing it ({exc.message}): "
                           "use --format jsonl") from None
    for before, after in zip(cases, back):
        if before != after:
            raise InvalidValue(
                f"dataset {ref} cannot be written as {fmt.upper()} without changing it: case {before['id']!r} "
                + ("holds values that are not text, or lacks a column other cases have" if fmt == "csv"
                   else "would read back differently") + "; use --format jsonl")
    if len(back) != len(cases):
        raise InvalidValue(f"dataset {ref} cannot be written as {fmt.upper()} without changing it: use --format jsonl")
    return text

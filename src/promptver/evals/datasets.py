"""Test cases from files: JSONL, YAML or CSV -> validated cases -> content-hashed dataset versions.

A case is ``{"id": str, "vars": {...}, "expected": any, "metadata": {...}}``:

* JSONL: one JSON object per line (blank lines and lines starting with ``#`` are skipped).
* YAML: a list of such mappings, or a mapping with a ``cases:`` list.
* CSV: a header row; column ``id``, column ``expected``, columns ``meta.NAME`` -> metadata, every
  other column -> a variable.

``id`` defaults to ``case-N`` (N = the line or row number); ids must be unique. Errors name the
file, the line and the field. A dataset file is a regular file of at most 64 MiB
(``templates/reading.py``; JSONL is streamed line by line); a case's values nest at most 64 deep
and hold only storable text (no NUL, no lone surrogate: ``core/limits.py``). Identity:
``{"kind": "promptver.dataset/1", "cases": [...]}`` hashed like everything else (core.identity);
identical cases give the same dataset version.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptver.core.identity import canonical_json, content_hash
from promptver.core.limits import MAX_DEPTH, text_problem
from promptver.errors import InvalidFile, InvalidValue
from promptver.templates.reading import MAX_DATASET_BYTES, iter_lines, parse_yaml, read_text, value_problem

DATASET_KIND = "promptver.dataset/1"
_CASE_FIELDS = {"id", "vars", "expected", "metadata"}


@dataclass(frozen=True)
class Case:
    id: str
    vars: dict[str, Any]
    expected: Any = None
    metadata: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "vars": self.vars, "expected": self.expected, "metadata": self.metadata or {}}


def dataset_hash(cases: list[Case]) -> str:
    return content_hash({"kind": DATASET_KIND, "cases": [c.to_json() for c in cases]})


def _case(raw: Any, where: str, default_id: str) -> Case:
    if not isinstance(raw, dict):
        raise InvalidFile(f"{where}: a case must be a mapping with vars (and id, expected, metadata)")
    unknown = sorted(set(raw) - _CASE_FIELDS)
    if unknown:
        raise InvalidFile(f"{where}: unknown field(s) {', '.join(unknown)}; a case has id, vars, expected, metadata")
    case_id = raw.get("id", default_id)
    if not isinstance(case_id, (str, int)) or isinstance(case_id, bool) or str(case_id).strip() == "":
        raise InvalidFile(f"{where}: id must be a non-empty string")
    variables = raw.get("vars", {})
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise InvalidFile(f"{where}: vars must be a mapping of variable names to values")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidFile(f"{where}: metadata must be a mapping")
    problem = _value_problem(raw)
    if problem:
        raise InvalidFile(f"{where}: {problem}")
    case = Case(str(case_id), variables, raw.get("expected"), metadata)
    try:
        canonical_json(case.to_json())
    except InvalidValue as exc:
        raise InvalidFile(f"{where}: {exc}") from None
    return case


def _value_problem(raw: dict[str, Any]) -> str | None:
    """Why a case's values cannot be stored (nested deeper than MAX_DEPTH, text a database cannot
    hold), or None. Iterative: a value nested thousands deep is refused, not a RecursionError."""
    stack: list[tuple[Any, str, int]] = [(v, str(k), 0) for k, v in raw.items()]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return f"{path} {problem}"
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                return f"{path} nests more than {MAX_DEPTH} levels deep"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and text_problem(key):
                    return f"{path}: a key {text_problem(key)}"
                stack.append((item, f"{path}.{key}" if isinstance(value, dict) else f"{path}[{key}]", depth + 1))
    return None


def _json_line(line: str, where: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidFile(f"{where}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InvalidFile(f"{where}: not valid JSON here: it nests too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise InvalidFile(f"{where}: not valid JSON here: {value_problem(exc)}") from None


def _jsonl_lines(lines: Iterable[tuple[int, str]], name: str) -> list[Case]:
    cases = []
    for number, line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        raw = _json_line(line, f"{name}:{number}")
        cases.append(_case(raw, f"{name}:{number}", f"case-{number}"))
    return cases


def _jsonl(text: str, name: str) -> list[Case]:
    return _jsonl_lines(enumerate(text.splitlines(), 1), name)


def _yaml(text: str, name: str) -> list[Case]:
    data = parse_yaml(text, name)
    if isinstance(data, dict) and set(data) == {"cases"}:
        data = data["cases"]
    if not isinstance(data, list):
        raise InvalidFile(f"{name}: expected a list of cases (or a mapping with a cases: list)")
    return [_case(raw, f"{name}: case {i}", f"case-{i}") for i, raw in enumerate(data, 1)]


def _csv(text: str, name: str) -> list[Case]:
    if csv.field_size_limit() < MAX_DATASET_BYTES:  # a cell may hold a long document
        csv.field_size_limit(MAX_DATASET_BYTES)
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _csv_rows(reader, name)
    except csv.Error as exc:
        raise InvalidFile(f"{name}:{reader.line_num}: malformed CSV: {exc}") from None


def _csv_rows(reader: csv.DictReader[str], name: str) -> list[Case]:
    if not reader.fieldnames:
        raise InvalidFile(f"{name}: no header row")
    cases = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InvalidFile(f"{name}:{line}: more values than header columns")
        raw: dict[str, Any] = {"vars": {}, "metadata": {}}
        for column, value in row.items():
            if column == "id":
                raw["id"] = value
            elif column == "expected":
                raw["expected"] = value
            elif column.startswith("meta."):
                raw["metadata"][column[5:]] = value
            else:
                raw["vars"][column] = value
        cases.append(_case(raw, f"{name}:{line}", f"case-{line}"))
    return cases


def parse_cases(text: str, name: str) -> list[Case]:
    """Cases from the text of a dataset file; the format follows the file's suffix."""
    suffix = Path(name).suffix.lower()
    parser = {".jsonl": _jsonl, ".yaml": _yaml, ".yml": _yaml, ".csv": _csv}.get(suffix)
    if parser is None:
        raise InvalidFile(f"{name}: unknown dataset format {suffix or '(none)'}: use .jsonl, .yaml or .csv")
    return _checked(parser(text, name), name)


def _checked(cases: list[Case], name: str) -> list[Case]:
    if not cases:
        raise InvalidFile(f"{name}: the dataset has no cases")
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise InvalidFile(f"{name}: case id {case.id!r} appears twice")
        seen.add(case.id)
    return cases


def load_cases(path: Path) -> list[Case]:
    """Cases from a dataset file: a regular file of at most MAX_DATASET_BYTES; JSONL is streamed."""
    name = str(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _checked(_jsonl_lines(iter_lines(path, MAX_DATASET_BYTES, "a dataset"), name), name)
    if suffix not in (".yaml", ".yml", ".csv"):
        raise InvalidFile(f"{name}: unknown dataset format {suffix or '(none)'}: use .jsonl, .yaml or .csv")
    return parse_cases(read_text(path, MAX_DATASET_BYTES, "a dataset"), name)

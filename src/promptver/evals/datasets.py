"""Test cases from files: JSONL, YAML or CSV -> validated cases -> content-hashed dataset versions.

A case is ``{"id": str, "vars": {...}, "expected": any, "metadata": {...}}``:

* JSONL: one JSON object per line (blank lines and lines starting with ``#`` are skipped).
* YAML: a list of such mappings, or a mapping with a ``cases:`` list.
* CSV: a header row; column ``id``, column ``expected``, columns ``meta.NAME`` -> metadata, every
  other column -> a variable.

``id`` defaults to ``case-N`` (N = the line or row number); ids must be unique. Errors name the
file, the line and the field. Identity: ``{"kind": "promptver.dataset/1", "cases": [...]}`` hashed
like everything else (core.identity); identical cases give the same dataset version.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptver.core.identity import canonical_json, content_hash
from promptver.errors import InvalidFile, InvalidValue

DATASET_KIND = "promptver.dataset/1"
MAX_DATASET_BYTES = 50_000_000
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
    case = Case(str(case_id), variables, raw.get("expected"), metadata)
    try:
        canonical_json(case.to_json())
    except InvalidValue as exc:
        raise InvalidFile(f"{where}: {exc}") from None
    return case


def _jsonl(text: str, name: str) -> list[Case]:
    cases = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidFile(f"{name}:{number}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        cases.append(_case(raw, f"{name}:{number}", f"case-{number}"))
    return cases


def _yaml(text: str, name: str) -> list[Case]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise InvalidFile(f"{where}: malformed YAML: {getattr(exc, 'problem', None) or exc}") from None
    if isinstance(data, dict) and set(data) == {"cases"}:
        data = data["cases"]
    if not isinstance(data, list):
        raise InvalidFile(f"{name}: expected a list of cases (or a mapping with a cases: list)")
    return [_case(raw, f"{name}: case {i}", f"case-{i}") for i, raw in enumerate(data, 1)]


def _csv(text: str, name: str) -> list[Case]:
    reader = csv.DictReader(io.StringIO(text))
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
    cases = parser(text, name)
    if not cases:
        raise InvalidFile(f"{name}: the dataset has no cases")
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise InvalidFile(f"{name}: case id {case.id!r} appears twice")
        seen.add(case.id)
    return cases


def load_cases(path: Path) -> list[Case]:
    try:
        if path.stat().st_size > MAX_DATASET_BYTES:
            raise InvalidFile(f"{path}: larger than {MAX_DATASET_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFile(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_cases(text, str(path))

"""Eval suites: a YAML file naming the dataset, the prompts, the models, the scorers and repeats.

```yaml
# evals/support-reply.yaml
dataset: support-reply.jsonl          # relative to this file
prompts: [support-reply@production, support-reply/3]
models: [support-llm/1, support-llm/2]
scorers:
  - type: contains                    # compares with each case's "expected" unless a value is given
repeats: 1                            # optional (default 1)
concurrency: 8                        # optional: default -j
timeout: 60                           # optional: seconds per call
min_pass_rate: 0.8                    # optional: a cell below it fails the run
name: support-reply                   # optional (default: the file's stem)
```
Every error names the file and the field. ``Suite.hash`` identifies the suite's content (a resumed
run refuses to continue when it changed).

Limits (docs/evals.md): the suite file is a regular file of at most 1 MB and its dataset a regular
file (``templates/reading.py``); ``repeats`` at most ``MAX_REPEATS``, ``concurrency`` at most
``MAX_CONCURRENCY``, ``timeout`` at most ``MAX_TIMEOUT`` seconds; and one run makes at most
``MAX_CALLS`` calls (cases x prompts x models x repeats, checked by :func:`check_calls` as soon as
the cases are known, before anything is stored or called).

A suite is code: its ``python`` scorers run the modules they name, from the suite's folder, with
the permissions of whoever runs the suite. Loading a suite never runs them (they are found and
hashed only); a run loads them once every input check has passed, saying which file it loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptver.core.identity import content_hash
from promptver.core.refs import check_name, parse_ref
from promptver.errors import InvalidFile, InvalidName, InvalidRef, InvalidValue
from promptver.templates.reading import is_regular, read_text, shown

MAX_REPEATS = 1000
MAX_CONCURRENCY = 1024
MAX_TIMEOUT = 3600.0
MAX_CALLS = 1_000_000

SUITE_FIELDS = ("name", "dataset", "prompts", "models", "scorers", "repeats", "concurrency", "timeout",
                "min_pass_rate", "description")


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    dataset: Path
    prompts: list[str]
    models: list[str]
    scorers: list[dict[str, Any]]
    repeats: int = 1
    concurrency: int | None = None
    timeout: float = 60.0
    min_pass_rate: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def hash(self) -> str:
        return content_hash({"kind": "promptver.suite/1", **{k: v for k, v in self.raw.items() if k != "description"}})


def _refs(data: dict[str, Any], key: str, where: str, *, models: bool) -> list[str]:
    value = data.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidFile(f"{where}: {key} must be a non-empty list of refs, e.g. "
                          + ("[support-llm/1, support-llm/2]" if models else "[support-reply@production, support-reply/3]"))
    for ref in value:
        try:
            parsed = parse_ref(ref, allow_pairing=False)
        except InvalidRef as exc:
            raise InvalidFile(f"{where}: {key}: {exc}") from None
        if models and parsed.label:
            raise InvalidFile(f"{where}: {key}: {ref!r}: labels belong to prompts; name a model version (NAME/N)")
    if len(set(value)) != len(value):
        raise InvalidFile(f"{where}: {key} lists a ref twice")
    return list(value)


def _number(data: dict[str, Any], key: str, where: str, kind: type, low: float, default: Any,
            high: float | None = None) -> Any:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)) \
            or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidFile(f"{where}: {key} must be {'a whole number' if kind is int else 'a number'}")
    if value < low:
        raise InvalidFile(f"{where}: {key} must be at least {low}")
    if high is not None and value > high:
        raise InvalidFile(f"{where}: {key} must be at most {high:g} (the limit)")
    return kind(value)


def check_calls(suite: Suite, cases: int, pairings: int | None = None) -> None:
    """InvalidValue if a run of ``suite`` over ``cases`` cases would make more than MAX_CALLS calls
    (``pairings``: default, every prompt ref x every model ref of the suite)."""
    cells = len(suite.prompts) * len(suite.models) if pairings is None else pairings
    calls = cases * cells * suite.repeats
    if calls > MAX_CALLS:
        raise InvalidValue(f"{shown(suite.path)}: {cases:,} cases x {cells:,} prompt x model pairings x "
                           f"{suite.repeats:,} repeats = {calls:,} calls, over the limit of {MAX_CALLS:,} calls "
                           "per run; use fewer repeats, cases or pairings")


def load_suite(path: Path) -> Suite:
    from promptver.templates.files import load_yaml

    text = read_text(path, what="a suite file")
    where = shown(path)
    data = load_yaml(text, where)
    unknown = [str(k) for k in data if k not in SUITE_FIELDS]
    if unknown:
        raise InvalidFile(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(SUITE_FIELDS)}")
    dataset = data.get("dataset")
    if not isinstance(dataset, str) or not dataset.strip():
        raise InvalidFile(f"{where}: dataset must name a file (JSONL, YAML or CSV), relative to the suite")
    try:
        dataset_path = (path.parent / dataset).resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL character, a symlink loop
        raise InvalidFile(f"{where}: dataset: cannot use the path {shown(dataset)!r}") from None
    if not is_regular(dataset_path):
        raise InvalidFile(f"{where}: dataset: no file {shown(dataset_path)}")
    scorers = data.get("scorers")
    if not isinstance(scorers, list) or not scorers:
        raise InvalidFile(f"{where}: scorers must be a non-empty list, e.g. [{{type: contains}}]")
    name = str(data.get("name") or path.stem)
    try:
        check_name(name, "suite name")
    except InvalidName as exc:
        raise InvalidFile(f"{where}: {exc}") from None
    if not isinstance(data.get("description") or "", str):
        raise InvalidFile(f"{where}: description must be text")
    min_pass = _number(data, "min_pass_rate", where, float, 0.0, None)
    if min_pass is not None and min_pass > 1:
        raise InvalidFile(f"{where}: min_pass_rate is a fraction from 0 to 1")
    return Suite(
        path=path, name=name, dataset=dataset_path,
        prompts=_refs(data, "prompts", where, models=False), models=_refs(data, "models", where, models=True),
        scorers=scorers, repeats=_number(data, "repeats", where, int, 1, 1, MAX_REPEATS),
        concurrency=_number(data, "concurrency", where, int, 1, None, MAX_CONCURRENCY),
        timeout=_number(data, "timeout", where, float, 0.001, 60.0, MAX_TIMEOUT), min_pass_rate=min_pass, raw=data)

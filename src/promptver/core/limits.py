"""What may be stored: nesting depth, size, text every backend holds, numbers the database holds (pure).

Every write path (CLI, files, HTTP, Python) reaches these through the specs' validation
(``templates/specs.py``); the server also applies them to every request body before anything else.
The limits are documented in docs/file-formats.md and docs/server.md.

* ``MAX_DEPTH``: a stored value (``response_format``, ``tools``, ``params``, lineage mappings, ...)
  nests at most 64 lists/mappings deep. Deeper values break JSON encoders and diffs that recurse.
* ``MAX_STORED_BYTES``: the text and structure of one version, about 1 MB (the HTTP body limit).
* Text: no NUL character (PostgreSQL cannot store it) and no lone surrogate (not valid Unicode,
  it cannot be written as UTF-8); both backends refuse the same things.
* ``MAX_INT``: version numbers, sequence numbers, ids and counts fit the database's integer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptver.errors import InvalidValue

MAX_DEPTH = 64
MAX_STORED_BYTES = 1_000_000
MAX_INT = 2**31 - 1
MAX_SHORT_TEXT = 200  # names of tokens, actors: the database's column width
FIELD_LENGTHS = {  # the database's column widths for the fields of a spec that are not free text
    "model": 300, "lineage.base_model": 300, "lineage.weights_sha256": 64, "lineage.training_data_hash": 128,
    "lineage.training_code_commit": 64,
}


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if "\x00" in text:
        return r"contains a NUL character (\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return r"contains a lone surrogate (such as \ud800): not valid Unicode text"
    return None


def check_text(text: str, what: str, max_length: int | None = None) -> str:
    """``text`` if it can be stored (and is at most ``max_length`` characters), else InvalidValue."""
    if not isinstance(text, str):
        raise InvalidValue(f"{what} must be text")
    problem = text_problem(text)
    if problem is None and max_length is not None and len(text) > max_length:
        problem = f"is {len(text)} characters long; at most {max_length} are allowed"
    if problem:
        raise InvalidValue(f"{what} {problem}")
    return text


def check_int(value: int, what: str, low: int = 0, high: int = MAX_INT) -> int:
    """``value`` if ``low <= value <= high``, else InvalidValue."""
    if not low <= value <= high:
        got = str(value) if abs(value) < 10**30 else f"a {value.bit_length()}-bit number"
        raise InvalidValue(f"{what} must be a whole number from {low} to {high} (got {got})")
    return value


def stored_problem(fields: Mapping[str, Any], *, lengths: Mapping[str, int] = FIELD_LENGTHS) -> str | None:
    """Why a record with these fields cannot be stored (depth, size, text, column widths), or None.

    Walks iteratively, so a value nested thousands deep is refused, not a RecursionError."""
    size = 0
    stack: list[tuple[Any, str, int]] = [(v, str(k), 0) for k, v in reversed(list(fields.items()))]
    while stack:
        value, path, depth = stack.pop()
        size += 8
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return f"{_path(path)} {problem}"
            limit = lengths.get(path)
            if limit is not None and len(value) > limit:
                return f"{_path(path)} is {len(value)} characters long; at most {limit} are allowed"
            size += len(value.encode("utf-8"))
        elif isinstance(value, (Mapping, list, tuple)):
            if depth >= MAX_DEPTH:
                return f"{_path(path)} nests more than {MAX_DEPTH} levels deep (the limit of a stored value)"
            if isinstance(value, Mapping):
                for key, item in value.items():
                    if isinstance(key, str):
                        problem = text_problem(key)
                        if problem:
                            return f"{_path(path)}: a key {problem}"
                        size += len(key.encode("utf-8"))
                    stack.append((item, f"{path}.{key}", depth + 1))
            else:
                stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        if size > MAX_STORED_BYTES:
            return f"too large: over {MAX_STORED_BYTES:,} bytes of text and structure (the limit of one record)"
    return None


def check_stored(fields: Mapping[str, Any], where: str) -> None:
    """InvalidValue naming the field if a record with these fields cannot be stored (``stored_problem``)."""
    problem = stored_problem(fields)
    if problem:
        raise InvalidValue(f"{where}: {problem}")


def _path(path: str) -> str:
    return _short(path, 80)


def _short(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else text[: keep // 2] + "…" + text[-(keep // 2):]

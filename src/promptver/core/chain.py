"""The hash chains of stored history: each row's hash covers its content, its metadata and the
previous row's hash (docs/content-hash.md, "Chained rows"; tests/test_security_tamper.py).

Pure: the canonical value of a column, the chained form of a row and its hash, and the combined
head of every chain. ``storage/chain.py`` reads and writes the rows; ``services/verify.py`` walks.

A row's chained form is the canonical JSON (the rules of ``core/identity.py``) of
``{"chain": "promptver.chain/1", "table": T, "seq": N, "prev": HASH-OF-ROW-N-1 | null, "row": [...]}``
where ``row`` holds every column but ``chain_seq`` and ``chain_hash``, in the table's column order
(``storage/schema.py``, docs/content-hash.md), each as its kind says:
``int``, ``float`` (an integral value as an integer; NaN as null, since SQLite stores it as NULL;
infinities as the strings ``"Infinity"``/``"-Infinity"``), ``bool``, ``str``, ``time`` (UTC,
``YYYY-MM-DDTHH:MM:SS.ffffffZ``; a time without a zone is UTC), ``json`` (the value itself).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from promptver.errors import InvalidValue

CHAIN_FORMAT = "promptver.chain/1"
HEAD_FORMAT = "promptver.chain-head/1"
TOKEN_PREFIX = "ph1"
KINDS = ("int", "float", "bool", "str", "time", "json")  # a column's kind (storage/schema.py)
_PLAIN = {"str": str, "int": int, "bool": bool}  # values of these types are already canonical


def _float(value: float) -> Any:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _key(key: Any) -> str:
    """A non-string object key as JSON writes it (``1`` -> ``"1"``, ``True`` -> ``"true"``)."""
    return str(key) if isinstance(key, str) else json.dumps(key)


def _norm(value: Any) -> Any:
    """identity's normalisation, without its size bound (a stored plan may be large) and with
    non-finite floats encoded as above (never refused: the row is already stored or being stored)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return _float(value)
    if kind is dict:
        return {(k if type(k) is str else _key(k)): _norm(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_norm(item) for item in value]
    if isinstance(value, (str, int)):  # subclasses (enums, bool handled above)
        return str(value) if isinstance(value, str) else int(value)
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, dict):
        return _norm(dict(value))
    if isinstance(value, (list, tuple)):
        return _norm(list(value))
    raise InvalidValue(f"a {type(value).__name__} value cannot be stored (use JSON types)")


def canonical_time(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"  # (years 1-9999: always 26 characters)


def canonical_value(kind: str, value: Any) -> Any:
    """The value of a column of ``kind`` in the chained form (from Python or as read back)."""
    if value is None:
        return None
    if type(value) is _PLAIN.get(kind):  # the usual case, cheaply
        return value
    if kind == "str":
        return value if type(value) is str else str(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return _float(float(value))
    if kind == "bool":
        return bool(value)
    if kind == "time":
        return canonical_time(value)
    if kind == "json":
        return _norm(value)
    raise ValueError(f"unknown column kind {kind!r}")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _fast_encoder() -> Any:
    """json's C encoder made once (``JSONEncoder.encode`` makes one per call: a third of the cost
    of hashing a row), with JSONEncoder's own settings; its ``encode`` where there is no C encoder."""
    try:
        from json.encoder import c_encode_basestring, c_make_encoder

        make = c_make_encoder(None, _ENCODER.default, c_encode_basestring, None, ":", ",", True, False, False)
        encode = lambda value: "".join(make(value, 0))  # noqa: E731
        if encode({"b": [1.5, None, "é\n"], "a": True}) != _ENCODER.encode({"b": [1.5, None, "é\n"], "a": True}):
            raise ValueError("the C encoder disagrees")
        return encode
    except Exception:  # another Python: the same text, more slowly
        return _ENCODER.encode


_CANONICAL = _fast_encoder()


def canonical_text(value: Any) -> str:
    """Canonical JSON of an already normalised value (sorted keys, no white space, UTF-8)."""
    return _CANONICAL(value)


class RowForm:
    """The chained form of one table's rows: ``columns`` are (name, kind) pairs in table order."""

    def __init__(self, columns: tuple[tuple[str, str], ...]) -> None:
        self.names = tuple(name for name, _ in columns)
        self.kinds = tuple(kind for _, kind in columns)
        self._get = itemgetter(*self.names)
        # floats, times and JSON always pass through canonical_value; text, integers and booleans
        # only when their type is not already the plain one
        self._always = tuple((i, kind) for i, kind in enumerate(self.kinds) if kind not in _PLAIN)
        self._checked = tuple((i, _PLAIN[kind]) for i, kind in enumerate(self.kinds) if kind in _PLAIN)

    def values(self, stored: Any) -> list[Any]:
        """The canonical values of a sequence of column values (as stored, or as written). An array,
        not an object: the names are fixed per table (docs/content-hash.md lists them), and an eval
        writes thousands of rows a second."""
        values = list(stored)
        for i, kind in self._always:
            value = values[i]
            if value is None:
                continue
            if kind == "time" and type(value) is datetime and value.tzinfo is UTC:
                values[i] = value.isoformat(timespec="microseconds")[:26] + "Z"  # the usual case, inline
            elif kind == "float" and type(value) is float and value.is_integer() and -2**53 < value < 2**53:
                values[i] = int(value)
            elif kind != "float" or type(value) is not float or not math.isfinite(value):
                values[i] = canonical_value(kind, value)
        for i, plain in self._checked:
            value = values[i]
            if value is not None and type(value) is not plain:
                values[i] = canonical_value(self.kinds[i], value)
        return values

    def row(self, row: dict[str, Any]) -> list[Any]:
        """The canonical values of a row dict holding every column."""
        return self.values(self._get(row))


def row_hash(table: str, seq: int, prev: str | None, row: list[Any]) -> str:
    """The chain hash of a row whose values are already canonical (``RowForm``): the sha256 of
    ``canonical_text({"chain": CHAIN_FORMAT, "prev": prev, "row": row, "seq": seq, "table": table})``,
    written out here with its keys already in order (a test checks it equals that)."""
    previous = f'"{prev}"' if prev is not None and prev.isalnum() and prev.isascii() else _CANONICAL(prev)
    text = (f'{{"chain":"{CHAIN_FORMAT}","prev":{previous},"row":{_CANONICAL(row)},"seq":{int(seq)},'
            f'"table":"{table}"}}')  # (table names need no escaping)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def combined_head(chains: dict[str, tuple[int, str | None]]) -> str:
    """One hash over every chain's (count, head): what a team exports and later expects."""
    body = {"kind": HEAD_FORMAT, "chains": {table: [count, head] for table, (count, head) in chains.items()}}
    return hashlib.sha256(canonical_text(body).encode("utf-8")).hexdigest()


def head_token(tables: tuple[str, ...], chains: dict[str, tuple[int, str | None]]) -> str:
    """``ph1:COMBINED:COUNT,COUNT,...``: the counts in the order of ``tables`` (one line for a CI log)."""
    counts = ",".join(str(chains.get(table, (0, None))[0]) for table in tables)
    return f"{TOKEN_PREFIX}:{combined_head(chains)}:{counts}"


def parse_token(token: str, tables: tuple[str, ...]) -> tuple[str, dict[str, int]]:
    """(combined head, count per table) of a head token; tables the token does not name count 0."""
    parts = token.strip().split(":")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 64:
        raise InvalidValue(f"not a chain head token: {token[:80]!r} (expected {TOKEN_PREFIX}:HASH:COUNTS)")
    try:
        counts = [int(n) for n in parts[2].split(",")] if parts[2] else []
        int(parts[1], 16)
    except ValueError:
        raise InvalidValue(f"not a chain head token: {token[:80]!r} (counts must be numbers)") from None
    if len(counts) > len(tables) or any(n < 0 for n in counts):
        raise InvalidValue(f"chain head token names {len(counts)} chains; this promptver knows {len(tables)}")
    by_table = {table: (counts[i] if i < len(counts) else 0) for i, table in enumerate(tables)}
    return parts[1].lower(), by_table

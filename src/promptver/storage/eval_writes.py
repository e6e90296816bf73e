"""The eval tables' write statements (and stored attribution reports), in plain SQL over a ``PlainTx`` (see ``storage/plain.py``).

Columns match ``storage/tables.py`` (a test writes through both paths and compares what is read
back). Cache rows are immutable like everything else: a key already present is left alone. Every
other row is appended to its table's hash chain (``storage/chain.py``) before it is inserted; a
batch is hashed in Python and inserted with one ``executemany``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from promptver.storage import chain
from promptver.storage.plain import PlainTx
from promptver.storage.schema import CHAINED_TABLES, COLUMNS

_KEYS_AT_ONCE = 500  # bound the IN (...) list (SQLite's default limit on parameters is 999 or more)


def _insert_sql(table: str) -> str:
    names = [name for name, _ in COLUMNS[table]] + (["chain_seq", "chain_hash"] if table in CHAINED_TABLES else [])
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"


_SQL = {table: _insert_sql(table) for table in ("eval_runs", "eval_run_events", "eval_results", "eval_scores",
                                                "response_cache", "score_cache", "attribution_reports")}
_JSON = {table: [name for name, kind in COLUMNS[table] if kind == "json"] for table in _SQL}
_TIMES = {table: [name for name, kind in COLUMNS[table] if kind == "time"] for table in _SQL}


def _insert(tx: PlainTx, table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chain ``rows`` (the caches are not chained) and insert them; returns them (with their ids)."""
    chained = table in CHAINED_TABLES
    if chained:
        rows = chain.append(tx, table, rows)  # (its times are in UTC now)
    json_columns, time_columns = _JSON[table], _TIMES[table]
    bound = rows
    if json_columns or time_columns:
        sqlite, bound = tx.dialect == "sqlite", []
        for row in rows:
            row = row if chained else dict(row)  # (the chained rows are this module's own dicts)
            for name in json_columns:
                row[name] = tx.json(row[name])
            for name in time_columns:
                value = row[name]
                if value is not None:  # as the SQLAlchemy path stores it (isoformat: cheaper than strftime)
                    row[name] = (value.isoformat(" ", "microseconds")[:26] if sqlite else value) if chained \
                        else tx.time(value)
            bound.append(row)
    if len(bound) == 1:
        tx.execute(_SQL[table], bound[0]).close()
    else:
        tx.executemany(_SQL[table], bound)
    return rows


def insert_run(tx: PlainTx, *, id: str, suite: str, suite_hash: str, dataset_version_id: int, kind: str = "suite",
               suite_content_hash: str | None = None, plan: dict[str, Any], environment: dict[str, Any], actor: str,
               created_at: datetime) -> None:
    _insert(tx, "eval_runs", [{"id": id, "suite": suite, "suite_hash": suite_hash, "kind": kind,
                               "suite_content_hash": suite_content_hash, "dataset_version_id": dataset_version_id,
                               "plan": plan, "environment": environment, "actor": actor, "created_at": created_at}])


def insert_run_event(tx: PlainTx, *, run_id: str, state: str, details: dict[str, Any], created_at: datetime) -> None:
    _insert(tx, "eval_run_events", [{"run_id": run_id, "state": state, "details": details, "created_at": created_at}])


def insert_result(tx: PlainTx, **values: Any) -> int:
    return int(_insert(tx, "eval_results", [values])[0]["id"])


def insert_results(tx: PlainTx, rows: list[dict[str, Any]]) -> list[int]:
    """A batch of results with one ``executemany``; their ids, in order."""
    return [int(row["id"]) for row in _insert(tx, "eval_results", [dict(row) for row in rows])]


def insert_scores(tx: PlainTx, rows: list[dict[str, Any]]) -> None:
    _insert(tx, "eval_scores", [dict(row) for row in rows])


def cache_responses(tx: PlainTx, rows: list[dict[str, Any]]) -> None:
    _insert(tx, "response_cache", [dict(row) for row in _new_keys(tx, "response_cache", rows)])


def cache_scores(tx: PlainTx, rows: list[dict[str, Any]]) -> None:
    _insert(tx, "score_cache", [dict(row) for row in _new_keys(tx, "score_cache", rows)])


def _new_keys(tx: PlainTx, table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows (one per key) whose key is not stored yet."""
    unique = {row["key"]: row for row in rows}
    keys = list(unique)
    present: set[str] = set()
    for start in range(0, len(keys), _KEYS_AT_ONCE):
        chunk = keys[start:start + _KEYS_AT_ONCE]
        names = {f"k{i}": key for i, key in enumerate(chunk)}
        placeholders = ", ".join(f":{name}" for name in names)
        present.update(tx.column(f"SELECT key FROM {table} WHERE key IN ({placeholders})", names))
    return [row for key, row in unique.items() if key not in present]


def insert_report(tx: PlainTx, *, id: str, kind: str, prompt: str, before_pairing: str, after_pairing: str,
                  suite: str, report: dict[str, Any], actor: str, created_at: datetime) -> None:
    """An attribution or bisect report (the ``evals/attribution`` package: ``run.py``, ``bisect.py``)."""
    _insert(tx, "attribution_reports", [{"id": id, "kind": kind, "prompt": prompt, "before_pairing": before_pairing,
                                         "after_pairing": after_pairing, "suite": suite, "report": report,
                                         "actor": actor, "created_at": created_at}])

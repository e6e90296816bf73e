"""The eval tables' write statements (and stored attribution reports), in plain SQL over a ``PlainTx`` (see ``storage/plain.py``).

Columns match ``storage/tables.py`` (a test writes through both paths and compares what is read
back). Cache rows are immutable like everything else: a key already present is left alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from promptver.storage.plain import PlainTx

_INSERT_RUN = ("INSERT INTO eval_runs (id, suite, suite_hash, kind, suite_content_hash, dataset_version_id, plan, "
               "environment, actor, created_at) VALUES (:id, :suite, :suite_hash, :kind, :suite_content_hash, "
               ":dataset_version_id, :plan, :environment, :actor, :created_at)")
_INSERT_RUN_EVENT = ("INSERT INTO eval_run_events (run_id, state, details, created_at) "
                     "VALUES (:run_id, :state, :details, :created_at)")
_INSERT_RESULT = (
    "INSERT INTO eval_results (run_id, pairing_id, case_id, repeat, attempt, request_key, output, latency_ms, prompt_tokens, "
    "completion_tokens, cost_usd, cached, error, error_kind, response_model, system_fingerprint, created_at) "
    "VALUES (:run_id, :pairing_id, :case_id, :repeat, :attempt, :request_key, :output, :latency_ms, :prompt_tokens, "
    ":completion_tokens, :cost_usd, :cached, :error, :error_kind, :response_model, :system_fingerprint, :created_at)")
_INSERT_SCORE = ("INSERT INTO eval_scores (run_id, result_id, scorer, scorer_version, value, passed, detail) "
                 "VALUES (:run_id, :result_id, :scorer, :scorer_version, :value, :passed, :detail)")
_INSERT_RESPONSE = "INSERT INTO response_cache (key, response, created_at) VALUES (:key, :response, :created_at)"
_INSERT_SCORE_CACHE = ("INSERT INTO score_cache (key, value, passed, detail, created_at) "
                       "VALUES (:key, :value, :passed, :detail, :created_at)")
_INSERT_REPORT = ("INSERT INTO attribution_reports (id, kind, prompt, before_pairing, after_pairing, suite, report, "
                  "actor, created_at) VALUES (:id, :kind, :prompt, :before_pairing, :after_pairing, :suite, :report, "
                  ":actor, :created_at)")
_KEYS_AT_ONCE = 500  # bound the IN (...) list (SQLite's default limit on parameters is 999 or more)


def insert_run(tx: PlainTx, *, id: str, suite: str, suite_hash: str, dataset_version_id: int, kind: str = "suite",
               suite_content_hash: str | None = None, plan: dict[str, Any], environment: dict[str, Any], actor: str,
               created_at: datetime) -> None:
    tx.execute(_INSERT_RUN, {"id": id, "suite": suite, "suite_hash": suite_hash, "kind": kind,
                             "suite_content_hash": suite_content_hash,
                             "dataset_version_id": dataset_version_id, "plan": tx.json(plan),
                             "environment": tx.json(environment), "actor": actor,
                             "created_at": tx.time(created_at)}).close()


def insert_run_event(tx: PlainTx, *, run_id: str, state: str, details: dict[str, Any], created_at: datetime) -> None:
    tx.execute(_INSERT_RUN_EVENT, {"run_id": run_id, "state": state, "details": tx.json(details),
                                   "created_at": tx.time(created_at)}).close()


def insert_result(tx: PlainTx, **values: Any) -> int:
    values.setdefault("attempt", 0)
    values["created_at"] = tx.time(values["created_at"])
    return tx.insert_id(_INSERT_RESULT, values)


def insert_scores(tx: PlainTx, rows: list[dict[str, Any]]) -> None:
    tx.executemany(_INSERT_SCORE, rows)


def cache_responses(tx: PlainTx, rows: list[dict[str, Any]]) -> None:
    fresh = _new_keys(tx, "response_cache", rows)
    tx.executemany(_INSERT_RESPONSE, [{**r, "response": tx.json(r["response"]), "created_at": tx.time(r["created_at"])}
                                      for r in fresh])


def cache_scores(tx: PlainTx, rows: list[dict[str, Any]]) -> None:
    fresh = _new_keys(tx, "score_cache", rows)
    tx.executemany(_INSERT_SCORE_CACHE, [{**r, "created_at": tx.time(r["created_at"])} for r in fresh])


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
    """An attribution or bisect report (``evals/attribution.py``, ``evals/bisect.py``)."""
    tx.execute(_INSERT_REPORT, {"id": id, "kind": kind, "prompt": prompt, "before_pairing": before_pairing,
                                "after_pairing": after_pairing, "suite": suite, "report": tx.json(report),
                                "actor": actor, "created_at": tx.time(created_at)}).close()

"""The write statements, built once and run on the connection of a write transaction.

Statements are SQLAlchemy Core over the SQLModel tables, prepared at import so every call hits the
compiled-statement cache: an ORM unit of work costs several times more per version than the
database itself does. ``services.database.Database.write`` owns the transaction and its retries.

Every row but a cache row is appended to its table's hash chain first (``storage/chain.py``: lock, head, id,
``chain_seq``, ``chain_hash``), on the same connection and transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from promptver.storage import chain
from promptver.storage import tables as t

_SERIES = {"prompt": (t.PromptRow, t.PromptVersionRow), "model": (t.ModelRow, t.ModelVersionRow)}


def _statements(kind: str) -> dict[str, Any]:
    series, versions = _SERIES[kind]
    fk = getattr(versions, f"{kind}_id")
    return {
        "lock": select(series.id).where(series.name == bindparam("name")).with_for_update(),
        "insert_series": insert(series.__table__),
        "latest": select(versions.id, versions.version, versions.content_hash)
        .where(fk == bindparam("series_id")).order_by(versions.version.desc()).limit(1),
        "version_id": select(versions.id).where(fk == bindparam("series_id"), versions.version == bindparam("number")),
        "insert_version": insert(versions.__table__),
    }


_BY_KIND = {kind: _statements(kind) for kind in _SERIES}


def _chained(conn: Connection, table: str, *rows: dict[str, Any]) -> list[dict[str, Any]]:
    """``rows`` completed as the next rows of ``table``'s chain, in ``conn``'s transaction."""
    from promptver.storage.plain import PlainTx

    return chain.append(PlainTx(conn.connection.dbapi_connection, conn.dialect.name), table, list(rows))


def _insert(conn: Connection, statement: Any, table: str, values: dict[str, Any]) -> Any:
    """Insert one chained row; returns its id."""
    row = _chained(conn, table, values)[0]
    conn.execute(statement, row)
    return row["id"]
_INSERT_AUDIT = insert(t.AuditEventRow.__table__)
_INSERT_PAIRING = insert(t.PairingRow.__table__)
_PAIRING_EXISTS = select(t.PairingRow.id).where(t.PairingRow.id == bindparam("id"))
_INSERT_ANNOTATION = insert(t.AnnotationRow.__table__)
_LABEL_HEAD = (select(t.LabelEventRow.seq, t.LabelEventRow.pairing_id, t.LabelEventRow.created_at)
               .where(t.LabelEventRow.prompt_id == bindparam("prompt_id"), t.LabelEventRow.label == bindparam("label"))
               .order_by(t.LabelEventRow.seq.desc()).limit(1))
_INSERT_LABEL_EVENT = insert(t.LabelEventRow.__table__)


def lock_series(conn: Connection, kind: str, name: str) -> int | None:
    """The id of series ``name``, row-locked until commit on PostgreSQL (SQLite: the write lock)."""
    return conn.execute(_BY_KIND[kind]["lock"], {"name": name}).scalar()


def insert_series(conn: Connection, kind: str, **values: Any) -> int:
    return _insert(conn, _BY_KIND[kind]["insert_series"], f"{kind}s", values)


def latest_version(conn: Connection, kind: str, series_id: int) -> Any:
    """(id, version, content_hash) of the newest version of a series, or None."""
    return conn.execute(_BY_KIND[kind]["latest"], {"series_id": series_id}).first()


def version_id(conn: Connection, kind: str, series_id: int, number: int) -> int:
    return conn.execute(_BY_KIND[kind]["version_id"], {"series_id": series_id, "number": number}).scalar_one()


def insert_version(conn: Connection, kind: str, **values: Any) -> int:
    return _insert(conn, _BY_KIND[kind]["insert_version"], f"{kind}_versions", values)


def insert_audit(conn: Connection, **values: Any) -> None:
    _insert(conn, _INSERT_AUDIT, "audit_events", values)


def pairing_exists(conn: Connection, pairing_id: str) -> bool:
    return conn.execute(_PAIRING_EXISTS, {"id": pairing_id}).first() is not None


def insert_pairing(conn: Connection, **values: Any) -> None:
    _insert(conn, _INSERT_PAIRING, "pairings", values)


def insert_annotation(conn: Connection, **values: Any) -> None:
    _insert(conn, _INSERT_ANNOTATION, "annotations", values)


def label_head(conn: Connection, prompt_id: int, label: str) -> Any:
    """(seq, pairing_id, created_at) of a label's latest event, or None."""
    return conn.execute(_LABEL_HEAD, {"prompt_id": prompt_id, "label": label}).first()


def insert_label_event(conn: Connection, **values: Any) -> None:
    """``gate_override``: on a release forced past the gate, the refusal it overrode (else NULL)."""
    _insert(conn, _INSERT_LABEL_EVENT, "label_events", values)


_INSERT_USER = insert(t.UserRow.__table__)
_INSERT_GRANT = insert(t.RoleGrantRow.__table__)
_INSERT_TOKEN = insert(t.ApiTokenRow.__table__)
_INSERT_REVOCATION = insert(t.TokenRevocationRow.__table__)
_INSERT_POLICY = insert(t.LabelPolicyRow.__table__)


def insert_user(conn: Connection, **values: Any) -> int:
    return _insert(conn, _INSERT_USER, "users", values)


def insert_grant(conn: Connection, **values: Any) -> None:
    _insert(conn, _INSERT_GRANT, "role_grants", values)


def insert_token(conn: Connection, **values: Any) -> int:
    return _insert(conn, _INSERT_TOKEN, "api_tokens", values)


def insert_revocation(conn: Connection, **values: Any) -> None:
    _insert(conn, _INSERT_REVOCATION, "token_revocations", values)


def insert_label_policy(conn: Connection, **values: Any) -> None:
    _insert(conn, _INSERT_POLICY, "label_policies", values)


_LOCK_DATASET = select(t.DatasetRow.id).where(t.DatasetRow.name == bindparam("name")).with_for_update()
_INSERT_DATASET = insert(t.DatasetRow.__table__)
_LATEST_DATASET_VERSION = (select(t.DatasetVersionRow.id, t.DatasetVersionRow.version, t.DatasetVersionRow.content_hash)
                           .where(t.DatasetVersionRow.dataset_id == bindparam("dataset_id"))
                           .order_by(t.DatasetVersionRow.version.desc()).limit(1))
_INSERT_DATASET_VERSION = insert(t.DatasetVersionRow.__table__)


def lock_dataset(conn: Connection, name: str) -> int | None:
    return conn.execute(_LOCK_DATASET, {"name": name}).scalar()


def insert_dataset(conn: Connection, **values: Any) -> int:
    return _insert(conn, _INSERT_DATASET, "datasets", values)


def latest_dataset_version(conn: Connection, dataset_id: int) -> Any:
    return conn.execute(_LATEST_DATASET_VERSION, {"dataset_id": dataset_id}).first()


def insert_dataset_version(conn: Connection, **values: Any) -> int:
    return _insert(conn, _INSERT_DATASET_VERSION, "dataset_versions", values)


_INSERT_RUN = insert(t.EvalRunRow.__table__)
_INSERT_RUN_EVENT = insert(t.EvalRunEventRow.__table__)
_INSERT_RESULT = insert(t.EvalResultRow.__table__)
_INSERT_SCORE = insert(t.EvalScoreRow.__table__)
_INSERT_RESPONSE = insert(t.ResponseCacheRow.__table__)
_INSERT_SCORE_CACHE = insert(t.ScoreCacheRow.__table__)
_RESPONSE_KEYS = select(t.ResponseCacheRow.key).where(t.ResponseCacheRow.key.in_(bindparam("keys", expanding=True)))
_SCORE_KEYS = select(t.ScoreCacheRow.key).where(t.ScoreCacheRow.key.in_(bindparam("keys", expanding=True)))


def insert_run(conn: Connection, **values: Any) -> None:
    _insert(conn, _INSERT_RUN, "eval_runs", values)


def insert_run_event(conn: Connection, **values: Any) -> None:
    _insert(conn, _INSERT_RUN_EVENT, "eval_run_events", values)


def insert_result(conn: Connection, **values: Any) -> int:
    return _insert(conn, _INSERT_RESULT, "eval_results", values)


def insert_scores(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_INSERT_SCORE, _chained(conn, "eval_scores", *(dict(row) for row in rows)))


def cache_responses(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the cache rows whose key is not there yet (cache rows are immutable too)."""
    _insert_new(conn, _RESPONSE_KEYS, _INSERT_RESPONSE, rows)


def cache_scores(conn: Connection, rows: list[dict[str, Any]]) -> None:
    _insert_new(conn, _SCORE_KEYS, _INSERT_SCORE_CACHE, rows)


def _insert_new(conn: Connection, existing: Any, statement: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    unique = {row["key"]: row for row in rows}
    present = set(conn.execute(existing, {"keys": list(unique)}).scalars())
    fresh = [row for key, row in unique.items() if key not in present]
    if fresh:
        conn.execute(statement, fresh)  # (the caches are not chained: see storage/schema.py)

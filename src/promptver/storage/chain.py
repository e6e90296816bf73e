"""Appending rows to the hash chains, and walking them back, over a DB-API connection.

Every append-only table is one chain (``core/chain.py`` hashes; ``storage/schema.py`` lists the
columns). A writer calls :func:`append` inside its write transaction, before its INSERT: it takes
the chain's lock (PostgreSQL: ``pg_advisory_xact_lock``, held to commit, so concurrent writers
never fork a chain; SQLite writers hold the database's write lock already), reads the chain's head,
allocates integer ids (an id is part of what is hashed), and fills in ``chain_seq`` and
``chain_hash``. A ``PlainTx`` remembers heads for the rest of its transaction, so a batch of
thousands of rows costs one head query. ``walk`` re-hashes a chain from its first row, in pages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptver.core.chain import RowForm, row_hash
from promptver.storage.schema import CHAINED_TABLES, COLUMN_DEFAULTS, COLUMNS, INTEGER_IDS

PAGE = 2000
MAX_ID_BLOCK = 1024


@dataclass
class _Head:
    seq: int
    hash: str | None
    next_id: int | None = None  # SQLite: the next free integer id
    spare_ids: list[int] = field(default_factory=list)  # PostgreSQL: ids taken from the sequence, unused yet
    block: int = 16


_OWN_LOCK = ("eval_runs", "eval_run_events", "eval_results", "eval_scores", "attribution_reports")


def lock_key(table: str) -> int:
    """The advisory lock of a table's chain (PostgreSQL): a stable signed 64-bit number. The registry's
    own tables share one: every registry write appends an audit row anyway, so they serialise on the
    audit chain already, and one lock cannot be taken in two orders (a push of a new series locks
    prompts, audit_events, prompt_versions; a push to an existing one prompt_versions, audit_events).
    The eval tables (written without audit rows, in batches) have one each."""
    name = table if table in _OWN_LOCK else "registry"
    return int.from_bytes(hashlib.sha256(f"promptver.chain:{name}".encode()).digest()[:8], "big", signed=True)


def _query(tx: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur = tx.execute(sql, params)
    rows = cur.fetchall()
    cur.close()
    return rows


def _head(tx: Any, table: str) -> _Head:
    cache: dict[str, _Head] | None = getattr(tx, "chain_heads", None)
    if cache is not None and table in cache:
        return cache[table]
    if tx.dialect == "postgresql":  # held to commit (taking it again in the same transaction is free)
        _query(tx, "SELECT pg_advisory_xact_lock(:key)", {"key": lock_key(table)})
    found = _query(tx, f"SELECT chain_seq, chain_hash FROM {table} WHERE chain_seq IS NOT NULL "
                       "ORDER BY chain_seq DESC LIMIT 1", {})
    head = _Head(found[0][0], found[0][1]) if found else _Head(0, None)
    if cache is not None:
        cache[table] = head
    return head


def _take_ids(tx: Any, table: str, head: _Head, count: int) -> list[int]:
    if tx.dialect == "sqlite":
        if head.next_id is None:
            head.next_id = int(_query(tx, f"SELECT COALESCE(MAX(id), 0) FROM {table}", {})[0][0]) + 1
        ids = list(range(head.next_id, head.next_id + count))
        head.next_id += count
        return ids
    if len(head.spare_ids) < count:
        want = max(count - len(head.spare_ids), head.block)
        head.block = min(head.block * 2, MAX_ID_BLOCK)  # the next transaction starts small again
        head.spare_ids += [r[0] for r in _query(
            tx, "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)",
            {"table": table, "n": want})]
    ids, head.spare_ids = head.spare_ids[:count], head.spare_ids[count:]
    return ids


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def append(tx: Any, table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Complete ``rows`` (dicts of column values) as the next rows of ``table``'s chain: every column
    present (defaults filled in), integer ids allocated, times in UTC, ``chain_seq`` and
    ``chain_hash`` set. Returns the same dicts, ready to INSERT in this transaction."""
    if not rows:
        return rows
    form, defaults, times = _LAYOUT[table]
    head = _head(tx, table)
    if table in _INTEGER_IDS:
        missing = [row for row in rows if row.get("id") is None]
        if missing:
            for row, new_id in zip(missing, _take_ids(tx, table, head, len(missing))):
                row["id"] = new_id
    seq, prev = head.seq, head.hash
    for row in rows:
        if len(row) < len(defaults):
            for name, value in defaults:
                if name not in row:
                    row[name] = value
        for name in times:
            value = row[name]
            if value is not None and value.tzinfo is not UTC:
                row[name] = _utc(value)
        seq += 1
        prev = row_hash(table, seq, prev, form.row(row))
        row["chain_seq"], row["chain_hash"] = seq, prev
    head.seq, head.hash = seq, prev
    return rows


_INTEGER_IDS = frozenset(INTEGER_IDS)
_LAYOUT = {  # per chained table: its row form, every column's default, its time columns
    table: (RowForm(COLUMNS[table]), [(name, COLUMN_DEFAULTS.get((table, name))) for name, _ in COLUMNS[table]],
            [name for name, kind in COLUMNS[table] if kind == "time"])
    for table in CHAINED_TABLES}
_JSON_AT = {table: [i for i, (_, kind) in enumerate(COLUMNS[table]) if kind == "json"] for table in CHAINED_TABLES}


# -- reading back ---------------------------------------------------------------------------------
def stored_values(dialect: str, table: str, stored: Any) -> list[Any]:
    """A stored row's column values (table order) as its chained form: SQLite keeps JSON as text and
    booleans as 0/1; the row form's kinds do the rest."""
    values = list(stored)
    if dialect == "sqlite":
        for i in _JSON_AT[table]:
            if isinstance(values[i], str):
                values[i] = json.loads(values[i])
    return _LAYOUT[table][0].values(values)


@dataclass
class Walk:
    """One chain re-hashed: how many rows, the head, the hashes at asked positions, what is wrong."""

    table: str
    count: int = 0
    head: str | None = None
    at: dict[int, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _pages(conn: Any, dialect: str, table: str) -> Iterator[list[tuple[Any, ...]]]:
    names = ", ".join(name for name, _ in COLUMNS[table])
    sql = (f"SELECT chain_seq, chain_hash, {names} FROM {table} WHERE chain_seq > ? "
           f"ORDER BY chain_seq LIMIT {PAGE}")
    if dialect != "sqlite":
        sql = sql.replace("?", "%s")
    after = 0
    while True:
        cur = conn.cursor()
        cur.execute(sql, (after,))
        page = cur.fetchall()
        cur.close()
        if not page:
            return
        yield page
        after = page[-1][0]


def walk(conn: Any, dialect: str, table: str, positions: tuple[int, ...] = ()) -> Walk:
    """Re-hash ``table``'s chain from its first row on a DB-API connection; report every row whose
    stored hash does not match its content, every gap in the sequence, and rows outside the chain."""
    out = Walk(table, at={0: None} if 0 in positions else {})
    wanted = set(positions)
    expected, prev = 1, None
    for page in _pages(conn, dialect, table):
        for stored in page:
            seq, stored_hash = stored[0], stored[1]
            if seq != expected:
                out.problems.append(f"{table}: rows {expected}..{seq - 1} of its chain are missing (deleted)"
                                    if seq > expected else f"{table}: chain position {seq} appears twice")
            canonical = stored_values(dialect, table, stored[2:])
            actual = row_hash(table, seq, prev, canonical)
            if actual != stored_hash:
                key = canonical[0]  # the id (or the cache key)
                out.problems.append(f"{table} row {key} (chain position {seq}): its content or its predecessor "
                                    "changed after it was written (the chain hash does not match)")
            if seq in wanted:
                out.at[seq] = actual
            prev, expected = stored_hash, seq + 1
            out.count += 1
    out.head = prev
    cur = conn.cursor()
    cur.execute(f"SELECT COUNT(*) FROM {table}")
    total = cur.fetchone()[0]
    cur.close()
    if total != out.count:
        out.problems.append(f"{table}: {total - out.count} row(s) are outside its chain (inserted around promptver)")
    return out

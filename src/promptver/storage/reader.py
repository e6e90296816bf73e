"""The read path in plain SQL over a DB-API connection (sqlite3 or psycopg).

`promptver get`, the runtime client and every read-only command use this module, which imports
neither SQLAlchemy nor Alembic: on this project's machines importing SQLAlchemy alone costs
about 0.25 s, most of the `promptver get` budget. Writes go through SQLModel (services).
Queries use ``:name`` parameters; they are rewritten to ``%(name)s`` for psycopg.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

from promptver.core.limits import MAX_INT, check_int
from promptver.core.types import (
    LINEAGE_FIELDS,
    Annotation,
    AuditEvent,
    LabelEvent,
    ModelVersion,
    Pairing,
    PromptVersion,
)
from promptver.errors import InvalidValue, RegistryBusy, RegistryUnavailable
from promptver.storage.location import sqlite_path

SERIES = {"prompt": ("prompts", "prompt_versions", "prompt_id"), "model": ("models", "model_versions", "model_id")}
_PARAM = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")
IMMUTABLE_CACHE_SIZE = 4096
IMMUTABLE_CACHE_BYTES = 8_000_000  # per connection (a server thread holds one): bounded by bytes, not entries
_DATA_PROBLEMS = {  # PostgreSQL data exceptions (class 22): the value was the caller's; never echo it
    "22001": "a text is longer than its database column allows", "22003": "a number is out of the database's range",
    "2201W": "a limit must not be negative", "22007": "a time is malformed", "22008": "a time is out of range",
    "22021": "a text holds characters the database cannot store", "22P05": "a text holds characters the database "
                                                                            "cannot store",
}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def db_time(value: datetime, dialect: str) -> Any:
    """A bind value for comparing with stored times (SQLite stores naive UTC text)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else value


def data_error(exc: BaseException) -> InvalidValue | None:
    """A value of the caller's that the database or its driver refused, as an InvalidValue that names
    the problem but never the value (driver messages embed SQL parameters); None for other failures."""
    if isinstance(exc, OverflowError):
        return InvalidValue("a number is too large for the database")
    if isinstance(exc, UnicodeEncodeError):
        return InvalidValue(r"a text holds a lone surrogate (such as \ud800): not valid Unicode text")
    state = getattr(exc, "sqlstate", None) or ""
    if state.startswith("22") or (not state and type(exc).__name__ == "DataError"):
        problem = _DATA_PROBLEMS.get(state) or ("a text holds a NUL character or another value the database cannot "
                                                "store")
        return InvalidValue(f"the database refused a value: {problem}" + (f" (SQLSTATE {state})" if state else ""))
    return None


def query_limit(limit: int | None) -> int | None:
    """A LIMIT bind value: None stays None; a negative one is refused; past the database's integer, all rows."""
    if limit is None:
        return None
    if limit < 0:
        check_int(limit, "limit", 0)  # raises, saying the range
    return min(limit, MAX_INT)


def _size(value: Any) -> int:
    """About how many bytes a column value holds (PostgreSQL's driver hands JSON columns over decoded)."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (dict, list)):
        try:
            return len(json.dumps(value))
        except (RecursionError, TypeError, ValueError):
            return IMMUTABLE_CACHE_BYTES  # too odd to keep
    return 16


def _primary(exc: BaseException) -> str:
    """A driver error's first line: PostgreSQL puts parameter values in its DETAIL and CONTEXT lines."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def sqlite_read_only(path: str) -> str | None:
    """Why the existing SQLite registry at ``path`` can only be read, or None: the file, or the
    folder its journal files (-wal, -shm) go to, is not writable by this process."""
    if not os.path.isfile(path):
        return None
    if not os.access(path, os.W_OK):
        return "the file is not writable"
    if not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        return "its folder is not writable"
    return None


def _sqlite_target(path: str) -> tuple[str, bool]:
    """What to open for ``path``: the path itself, or a read-only URI when it cannot be written. In
    a folder that is not writable SQLite cannot create the WAL index, so a database with no WAL files
    left is opened as immutable: a snapshot as of opening (nobody can be writing it without them)."""
    if sqlite_read_only(path) is None:
        return path, False
    from urllib.parse import quote

    full = os.path.abspath(path)
    folder_ok = os.access(os.path.dirname(full), os.W_OK)
    wal = full + "-wal"
    immutable = not folder_ok and not (os.path.exists(wal) and os.path.getsize(wal) > 0) \
        and not os.path.exists(full + "-shm")
    return f"file:{quote(full)}?mode=ro" + ("&immutable=1" if immutable else ""), True


def connect(url: str) -> tuple[Any, str]:
    """Open a DB-API connection for ``url``; return it and its dialect name."""
    path = sqlite_path(url)
    try:
        if path is not None:
            busy_ms = int(os.environ.get("PROMPTVER_BUSY_TIMEOUT_MS", "15000"))
            target, uri = _sqlite_target(path)
            conn = sqlite3.connect(target, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False,
                                   uri=uri)
            return conn, "sqlite"
        if url.startswith("postgresql"):
            import psycopg

            conninfo = "postgresql://" + url.split("://", 1)[1]
            return psycopg.connect(conninfo, autocommit=True, connect_timeout=5), "postgresql"
    except Exception as exc:  # sqlite3.Error, psycopg.Error: the driver's own message says why
        reason = " ".join(str(exc).split())  # drivers spread their reason over several lines
        raise RegistryUnavailable(f"cannot open the registry database: {reason}") from exc
    raise InvalidValue(f"unsupported database URL {url.split(':', 1)[0]}://...: use sqlite:///PATH or "
                       "postgresql://USER@HOST/DB")


class Reader:
    """Read queries over one DB-API connection."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self._sql_cache: dict[str, str] = {}
        # versions and pairings are immutable (the database refuses changes), so a row once read
        # never goes stale: cache them by id, bounded
        self._immutable: dict[tuple[str, Any], Any] = {}
        self._immutable_bytes = 0

    # -- plumbing -------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        if self.dialect == "sqlite":
            return sql
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = self._sql_cache[sql] = _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
        return cached

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        try:
            cur = self.conn.cursor()
            try:
                cur.execute(self._sql(sql), params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
            finally:
                cur.close()
        except Exception as exc:
            bad = data_error(exc)
            if bad is not None:  # the caller's value: 422, without the value
                raise bad from None
            if type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg"):  # the driver: database trouble
                reason = _primary(exc)
                if "database is locked" in reason:
                    raise RegistryBusy("the registry database is locked by another process; try again") from exc
                raise RegistryUnavailable(f"registry database error: {reason}") from exc
            raise

    def row(self, sql: str, **params: Any) -> dict[str, Any] | None:
        found = self.rows(sql, **params)
        return found[0] if found else None

    def scalar(self, sql: str, **params: Any) -> Any:
        found = self.row(sql, **params)
        return None if found is None else next(iter(found.values()))

    def close(self) -> None:
        self.conn.close()

    # -- series and versions --------------------------------------------------------------------
    def series_names(self, kind: str) -> list[str]:
        table = SERIES[kind][0]
        return [r["name"] for r in self.rows(f"SELECT name FROM {table} ORDER BY name")]

    def owners(self, kind: str) -> dict[str, str]:
        """Series name -> owner (who created the series)."""
        return {r["name"]: r["owner"] for r in self.rows(f"SELECT name, owner FROM {SERIES[kind][0]}")}

    def series_id(self, kind: str, name: str) -> int | None:
        return self.scalar(f"SELECT id FROM {SERIES[kind][0]} WHERE name = :name", name=name)

    def version(self, kind: str, name: str, number: int | None = None) -> PromptVersion | ModelVersion | None:
        """Version ``number`` of series ``name`` (the latest when None), or None."""
        series, versions, fk = SERIES[kind]
        order = "" if number is not None else " ORDER BY v.version DESC LIMIT 1"
        where = " AND v.version = :number" if number is not None else ""
        row = self.row(
            f"SELECT v.*, s.name AS series_name, p.version AS parent_version FROM {versions} v "
            f"JOIN {series} s ON s.id = v.{fk} LEFT JOIN {versions} p ON p.id = v.parent_id "
            f"WHERE s.name = :name{where}{order}", name=name, number=number)
        return None if row is None else self._version(kind, row)

    def _remember(self, key: tuple[str, Any], value: Any, size: int = 256) -> Any:
        if size > IMMUTABLE_CACHE_BYTES // 4:
            return value  # too big to keep
        if len(self._immutable) >= IMMUTABLE_CACHE_SIZE or self._immutable_bytes + size > IMMUTABLE_CACHE_BYTES:
            self._immutable.clear()
            self._immutable_bytes = 0
        self._immutable[key] = value
        self._immutable_bytes += size
        return value

    def version_by_id(self, kind: str, version_id: int) -> PromptVersion | ModelVersion:
        cached = self._immutable.get((kind, version_id))
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        series, versions, fk = SERIES[kind]
        row = self.row(
            f"SELECT v.*, s.name AS series_name, p.version AS parent_version FROM {versions} v "
            f"JOIN {series} s ON s.id = v.{fk} LEFT JOIN {versions} p ON p.id = v.parent_id "
            f"WHERE v.id = :id", id=version_id)
        assert row is not None, f"{versions} row {version_id} vanished"
        size = sum(_size(v) for v in row.values())
        return self._remember((kind, version_id), self._version(kind, row), size)  # type: ignore[no-any-return]

    def versions(self, kind: str, name: str, limit: int | None = None) -> list[PromptVersion | ModelVersion]:
        """The versions of a series, newest first (the ``limit`` newest), with annotations."""
        series, versions, fk = SERIES[kind]
        rows = self.rows(
            f"SELECT v.*, s.name AS series_name, p.version AS parent_version FROM {versions} v "
            f"JOIN {series} s ON s.id = v.{fk} LEFT JOIN {versions} p ON p.id = v.parent_id "
            f"WHERE s.name = :name ORDER BY v.version DESC" + (" LIMIT :limit" if limit else ""),
            name=name, limit=query_limit(limit))
        notes = self._annotations(
            kind, f"JOIN {versions} v ON v.id = a.{kind}_version_id JOIN {series} s ON s.id = v.{fk} "
                  "WHERE s.name = :name", name=name) if rows else {}
        return [self._version(kind, r, notes.get(r["id"], ())) for r in rows]

    def _annotations(self, kind: str, where: str, **params: Any) -> dict[int, tuple[Annotation, ...]]:
        col = f"{kind}_version_id"
        out: dict[int, list[Annotation]] = {}
        for r in self.rows(f"SELECT a.* FROM annotations a {where} ORDER BY a.id", **params):
            out.setdefault(r[col], []).append(Annotation(r["tag"], r["note"], r["actor"], _time(r["created_at"])))
        return {k: tuple(v) for k, v in out.items()}

    def with_annotations(self, kind: str, version: Any) -> Any:
        from dataclasses import replace

        notes = self._annotations(kind, f"WHERE a.{kind}_version_id = :id", id=version.id)
        return replace(version, annotations=notes.get(version.id, ()))

    def _version(self, kind: str, r: dict[str, Any], notes: tuple[Annotation, ...] = ()) -> Any:
        common = dict(
            id=r["id"], name=r["series_name"], version=r["version"], parent=r["parent_version"],
            content_hash=r["content_hash"], description=r["description"], message=r["message"],
            tags=_json(r["tags"]), author=r["author"], created_at=_time(r["created_at"]), annotations=notes,
        )
        if kind == "prompt":
            return PromptVersion(
                messages=_json(r["messages"]), variables=_json(r["variables"]),
                variable_names=_json(r["variable_names"]), tools=_json(r["tools"]),
                # PostgreSQL's driver decodes JSON columns itself: a string response_format is already a str
                response_format=r["response_format"] if self.dialect == "postgresql" else _json(r["response_format"]),
                **common)
        lineage = {f: r[f] for f in LINEAGE_FIELDS}
        for f in ("hyperparameters", "environment", "metrics"):
            lineage[f] = _json(lineage[f])
        return ModelVersion(model=r["model"], params=_json(r["params"]), lineage=lineage, **common)

    # -- pairings -------------------------------------------------------------------------------
    def pairing(self, pairing_id: str) -> Pairing | None:
        cached = self._immutable.get(("pairing", pairing_id))
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        row = self.row("SELECT * FROM pairings WHERE id = :id", id=pairing_id)
        return None if row is None else self._remember(("pairing", pairing_id), self._pairing(row))

    def pairings_by_prefix(self, prefix: str) -> list[str]:
        return [r["id"] for r in self.rows(
            "SELECT id FROM pairings WHERE id >= :lo AND id < :hi ORDER BY id LIMIT 10",
            lo=prefix, hi=prefix + "g")]

    def pairing_of(self, prompt_version_id: int, model_version_id: int) -> Pairing | None:
        row = self.row("SELECT * FROM pairings WHERE prompt_version_id = :p AND model_version_id = :m",
                       p=prompt_version_id, m=model_version_id)
        return None if row is None else self._pairing(row)

    def pairings_for(self, prompt_name: str) -> list[Pairing]:
        rows = self.rows("SELECT x.* FROM pairings x JOIN prompts s ON s.id = x.prompt_id "
                         "WHERE s.name = :name ORDER BY x.created_at DESC, x.id", name=prompt_name)
        return [self._pairing(r) for r in rows]

    def _pairing(self, r: dict[str, Any]) -> Pairing:
        return Pairing(
            id=r["id"], prompt=self.version_by_id("prompt", r["prompt_version_id"]),
            model=self.version_by_id("model", r["model_version_id"]), message=r["message"],
            author=r["author"], created_at=_time(r["created_at"]))

    # -- labels ---------------------------------------------------------------------------------
    def label_event(self, prompt: str, label: str, at: datetime | None = None) -> LabelEvent | None:
        """The event that set ``label`` as of ``at`` (now when None), or None if never set by then."""
        # a label's event times never go backwards (services.labels), so the time index answers "at T"
        when, order = ("", "e.seq DESC") if at is None else (" AND e.created_at <= :at", "e.created_at DESC, e.seq DESC")
        row = self.row(
            "SELECT e.*, s.name AS prompt_name FROM label_events e JOIN prompts s ON s.id = e.prompt_id "
            f"WHERE s.name = :name AND e.label = :label{when} ORDER BY {order} LIMIT 1",
            name=prompt, label=label, at=None if at is None else db_time(at, self.dialect))
        return None if row is None else _event(row)

    def label_history(self, prompt: str, label: str | None = None) -> list[LabelEvent]:
        which = "" if label is None else " AND e.label = :label"
        rows = self.rows(
            "SELECT e.*, s.name AS prompt_name FROM label_events e JOIN prompts s ON s.id = e.prompt_id "
            f"WHERE s.name = :name{which} ORDER BY e.id", name=prompt, label=label)
        return [_event(r) for r in rows]

    def current_labels(self, prompt: str) -> dict[str, LabelEvent]:
        """Each label of a prompt with its latest event (removed labels included, pairing None)."""
        current: dict[str, LabelEvent] = {}
        for event in self.label_history(prompt):
            if event.label not in current or event.seq > current[event.label].seq:
                current[event.label] = event
        return current

    # -- audit ----------------------------------------------------------------------------------
    def audit(self, limit: int = 100, action: str | None = None) -> list[AuditEvent]:
        which = "" if action is None else " WHERE action LIKE :action"
        rows = self.rows(f"SELECT * FROM audit_events{which} ORDER BY id DESC LIMIT :limit",
                         limit=query_limit(limit), action=None if action is None else action.replace("*", "%"))
        return [AuditEvent(r["id"], _time(r["at"]), r["actor"], r["action"], r["target"], _json(r["details"]))
                for r in rows]


def _event(r: dict[str, Any]) -> LabelEvent:
    return LabelEvent(
        prompt=r["prompt_name"], label=r["label"], seq=r["seq"], pairing_id=r["pairing_id"],
        previous_pairing_id=r["previous_pairing_id"], actor=r["actor"], reason=r["reason"],
        created_at=_time(r["created_at"]), gate_override=r.get("gate_override"))


class DatasetReader:
    """Read queries for datasets (over a Reader's connection)."""

    def __init__(self, reader: Reader) -> None:
        self.r = reader

    def version(self, name: str, number: int | None = None) -> dict[str, Any] | None:
        where = " AND v.version = :number" if number is not None else ""
        row = self.r.row(
            "SELECT v.*, d.name AS dataset FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
            f"WHERE d.name = :name{where} ORDER BY v.version DESC LIMIT 1", name=name, number=number)
        return None if row is None else self._decode(row)

    def by_id(self, version_id: int) -> dict[str, Any]:
        row = self.r.row("SELECT v.*, d.name AS dataset FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
                         "WHERE v.id = :id", id=version_id)
        assert row is not None, f"dataset version {version_id} vanished"
        return self._decode(row)

    def names(self) -> list[str]:
        return [r["name"] for r in self.r.rows("SELECT name FROM datasets ORDER BY name")]

    @staticmethod
    def _decode(row: dict[str, Any]) -> dict[str, Any]:
        row["cases"] = _json(row["cases"])
        row["created_at"] = _time(row["created_at"])
        return row


class ReportReader:
    """Stored attribution and bisect reports (over a Reader's connection)."""

    def __init__(self, reader: Reader) -> None:
        self.r = reader

    def get(self, report_id: str) -> dict[str, Any] | None:
        """A report by id or unique id prefix; None if there is none (or the prefix is ambiguous)."""
        rows = self.r.rows("SELECT * FROM attribution_reports WHERE id >= :lo AND id < :hi ORDER BY id LIMIT 2",
                           lo=report_id, hi=report_id + "g")
        exact = [r for r in rows if r["id"] == report_id]
        found = exact[0] if exact else (rows[0] if len(rows) == 1 else None)
        return None if found is None else self._decode(found)

    def list(self, prompt: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        which = "" if prompt is None else " WHERE prompt = :prompt"
        rows = self.r.rows(f"SELECT * FROM attribution_reports{which} ORDER BY created_at DESC, id LIMIT :limit",
                           prompt=prompt, limit=query_limit(limit))
        return [self._decode(r) for r in rows]

    @staticmethod
    def _decode(row: dict[str, Any]) -> dict[str, Any]:
        row["report"] = _json(row["report"])
        row["created_at"] = _time(row["created_at"])
        return row


class AccessReader:
    """Read queries for users, tokens and label policies (over a Reader's connection)."""

    def __init__(self, reader: Reader) -> None:
        self.r = reader

    def user(self, name: str) -> dict[str, Any] | None:
        row = self.r.row("SELECT * FROM users WHERE name = :name", name=name)
        if row is not None:
            row["role"] = self.role_of(row["id"])
        return row

    def role_of(self, user_id: int) -> str | None:
        return self.r.scalar("SELECT role FROM role_grants WHERE user_id = :id ORDER BY id DESC LIMIT 1", id=user_id)

    def users(self) -> list[dict[str, Any]]:
        rows = self.r.rows("SELECT * FROM users ORDER BY name")
        for row in rows:
            row["role"] = self.role_of(row["id"])
        return rows

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        """A token with its user's name and current role, and whether it was revoked: one query."""
        return self.r.row(
            "SELECT t.*, u.name AS user_name, "
            "(SELECT COUNT(*) FROM token_revocations v WHERE v.token_id = t.id) AS revoked, "
            "(SELECT g.role FROM role_grants g WHERE g.user_id = t.user_id ORDER BY g.id DESC LIMIT 1) AS user_role "
            "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = :h", h=token_hash)

    def tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        which = "" if user is None else " WHERE u.name = :user"
        return self.r.rows(
            "SELECT t.id, t.prefix, t.role, t.fetch_only, t.name, t.created_by, t.created_at, t.expires_at, "
            "u.name AS user_name, (SELECT COUNT(*) FROM token_revocations v WHERE v.token_id = t.id) AS revoked, "
            "(SELECT g.role FROM role_grants g WHERE g.user_id = u.id ORDER BY g.id DESC LIMIT 1) AS user_role "
            f"FROM api_tokens t JOIN users u ON u.id = t.user_id{which} ORDER BY t.id", user=user)

    def label_policy(self, prompt: str, label: str) -> dict[str, Any] | None:
        """The latest policy for this prompt's label, else for the label on every prompt ("*")."""
        return self.r.row(
            "SELECT * FROM label_policies WHERE label = :label AND prompt IN (:prompt, '*') "
            "ORDER BY CASE WHEN prompt = '*' THEN 1 ELSE 0 END, id DESC LIMIT 1", label=label, prompt=prompt)

"""`promptver verify`: walk every hash chain, re-hash every content-hashed row, check the guards'
definitions and the links between rows, and (optionally) compare with an exported chain head.

All of it reads one snapshot of the database (a read transaction), so the heads it reports belong
together. What it checked is counted per kind in ``Report.checked``; every claim in the summary
is one of those counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptver.core.chain import HEAD_FORMAT, combined_head, head_token, parse_token
from promptver.core.identity import content_hash, pairing_id
from promptver.errors import InvalidValue, PromptverError
from promptver.services.database import Database
from promptver.storage import chain, guards
from promptver.storage.schema import APPEND_ONLY_TABLES, CHAINED_TABLES

DATASET_KIND = "promptver.dataset/1"  # evals/datasets.py (a test checks they agree)
MAX_HEAD_FILE = 1_000_000
CHECKED = {  # what each count in Report.checked means (the summary says exactly this)
    "chains": "hash chains walked",
    "chained_rows": "rows re-hashed along their chain (content, metadata, previous hash)",
    "guards": "guards whose definitions were checked",
    "prompt_versions": "prompt versions re-hashed (content_hash)",
    "model_versions": "model versions re-hashed (content_hash)",
    "dataset_versions": "dataset versions re-hashed (content_hash of their cases)",
    "pairings": "pairing ids recomputed from their versions",
    "label_events": "label events checked for sequence and target",
    "exported_head": "exported chain head compared",
}


@dataclass
class Expected:
    """An exported head: the count per chain, the combined hash, and (from a file) each chain's head."""

    combined: str
    counts: dict[str, int]
    heads: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    chains: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    at: dict[str, dict[int, str | None]] = field(default_factory=dict, repr=False)  # hashes at exported counts

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def head(self) -> str:
        return combined_head(self.chains)

    @property
    def token(self) -> str:
        return head_token(CHAINED_TABLES, self.chains)

    def head_json(self) -> dict[str, Any]:
        return {"format": HEAD_FORMAT, "head": self.head, "token": self.token,
                "chains": {t: {"count": n, "head": h} for t, (n, h) in self.chains.items()}}

    def summary(self) -> list[str]:
        return [f"{n} {CHECKED[kind]}" for kind, n in self.checked.items()]


def verify(db: Database, expected: Expected | None = None) -> Report:
    report = Report()
    conn, dialect = db.reader.conn, db.dialect
    cur = conn.cursor()
    cur.execute("BEGIN" if dialect == "sqlite" else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        _guards(report, conn, dialect)
        _chains(report, conn, dialect, expected)
        _content(report, db)
        _links(report, db)
        if expected is not None:
            _compare(report, expected)
    finally:
        cur.execute("ROLLBACK")
        cur.close()
    return report


def _guards(report: Report, conn: Any, dialect: str) -> None:
    cur = conn.cursor()
    report.problems += [text for _, text in guards.check(cur, dialect, APPEND_ONLY_TABLES)]
    cur.close()
    per_table = len(guards.trigger_names(APPEND_ONLY_TABLES[0], dialect))
    report.checked["guards"] = per_table * len(APPEND_ONLY_TABLES) + (dialect == "postgresql")


def _chains(report: Report, conn: Any, dialect: str, expected: Expected | None) -> None:
    rows = 0
    for table in CHAINED_TABLES:
        positions = (expected.counts.get(table, 0),) if expected else ()
        walked = chain.walk(conn, dialect, table, positions)
        report.problems += walked.problems
        report.chains[table] = (walked.count, walked.head)
        rows += walked.count
        report.at[table] = walked.at
    report.checked["chains"] = len(CHAINED_TABLES)
    report.checked["chained_rows"] = rows


def _content(report: Report, db: Database) -> None:
    reader = db.reader
    for kind in ("prompt", "model"):
        count = 0
        for name in reader.series_names(kind):
            for version in reader.versions(kind, name):
                count += 1
                actual = content_hash(version.identity())
                if actual != version.content_hash:
                    report.problems.append(
                        f"{kind} {version.ref}: stored content_hash {version.content_hash[:12]}… but the "
                        f"content hashes to {actual[:12]}… (the row was changed after it was written)")
        report.checked[f"{kind}_versions"] = count
    rows = reader.rows("SELECT v.id, d.name, v.version, v.content_hash, v.cases FROM dataset_versions v "
                       "JOIN datasets d ON d.id = v.dataset_id ORDER BY v.id")
    for row in rows:
        cases = json.loads(row["cases"]) if isinstance(row["cases"], str) else row["cases"]
        try:
            actual = content_hash({"kind": DATASET_KIND, "cases": cases})
        except PromptverError as exc:
            actual = f"(cannot be hashed: {exc})"
        if actual != row["content_hash"]:
            report.problems.append(
                f"dataset {row['name']}/{row['version']}: stored content_hash {row['content_hash'][:12]}… but its "
                f"cases hash to {actual[:12]}… (the row was changed after it was written)")
    report.checked["dataset_versions"] = len(rows)


def _links(report: Report, db: Database) -> None:
    reader = db.reader
    rows = reader.rows("SELECT p.id, p.prompt_id, p.prompt_version_id, p.model_version_id, "
                       "pv.prompt_id AS pv_prompt FROM pairings p "
                       "JOIN prompt_versions pv ON pv.id = p.prompt_version_id")
    for row in rows:
        prompt = reader.version_by_id("prompt", row["prompt_version_id"])
        model = reader.version_by_id("model", row["model_version_id"])
        expected = pairing_id(prompt.content_hash, model.content_hash, prompt.name, prompt.version,
                              model.name, model.version)
        if expected != row["id"] or row["prompt_id"] != row["pv_prompt"]:
            report.problems.append(f"pairing {row['id']}: does not match the versions it links "
                                   f"({prompt.ref} + {model.ref})")
    report.checked["pairings"] = len(rows)
    events = reader.rows("SELECT e.prompt_id, e.label, e.seq, e.pairing_id, p.prompt_id AS target_prompt "
                         "FROM label_events e LEFT JOIN pairings p ON p.id = e.pairing_id "
                         "ORDER BY e.prompt_id, e.label, e.seq")
    last: dict[tuple[int, str], int] = {}
    for e in events:
        key = (e["prompt_id"], e["label"])
        if e["seq"] != last.get(key, 0) + 1:
            report.problems.append(f"label {e['label']!r}: event sequence jumps to {e['seq']} after {last.get(key, 0)}")
        last[key] = e["seq"]
        if e["pairing_id"] is not None and e["target_prompt"] != e["prompt_id"]:
            report.problems.append(f"label {e['label']!r} event {e['seq']}: points at a pairing of another prompt")
    report.checked["label_events"] = len(events)
    for table, fk in (("prompt_versions", "prompt_id"), ("model_versions", "model_id"),
                      ("dataset_versions", "dataset_id")):
        gaps = reader.rows(f"SELECT {fk} AS sid, COUNT(*) AS n, MAX(version) AS top FROM {table} GROUP BY {fk}")
        for g in gaps:
            if g["n"] != g["top"]:
                report.problems.append(f"{table}: series {g['sid']} has {g['n']} versions numbered up to "
                                       f"{g['top']} (a gap)")


def _compare(report: Report, expected: Expected) -> None:
    """The database at the exported counts must end in the exported heads: rows deleted from a chain's
    end, or a chain re-hashed from some row on, no longer do."""
    then: dict[str, tuple[int, str | None]] = {}
    for table in CHAINED_TABLES:
        count = expected.counts.get(table, 0)
        now = report.chains[table][0]
        if count > now:
            report.problems.append(f"{table}: the exported head counted {count} rows, the database has {now} "
                                   "(rows were deleted from the end of its chain)")
            continue
        then[table] = (count, report.at[table].get(count))
        if table in expected.heads and expected.heads[table] != then[table][1]:
            report.problems.append(f"{table}: its chain at row {count} no longer ends in the exported head "
                                   "(history up to there was rewritten)")
    if len(then) == len(CHAINED_TABLES) and combined_head(then) != expected.combined:
        report.problems.append("the chains at the exported counts do not end in the exported head "
                               f"{expected.combined[:16]}… (history was rewritten)")
    report.checked["exported_head"] = 1


def load_expected(value: str) -> Expected:
    """An exported head from ``--expect-head``: a head token (``ph1:...``), or a file holding the
    token or the JSON of ``verify --head --json``."""
    text = value.strip()
    if not text.startswith("ph1:"):
        path = Path(value)
        if not path.is_file():
            raise InvalidValue(f"--expect-head: {value[:80]!r} is neither a head token (ph1:...) nor a file")
        with path.open("rb") as handle:
            data = handle.read(MAX_HEAD_FILE + 1)
        if len(data) > MAX_HEAD_FILE:
            raise InvalidValue(f"--expect-head: {value} is larger than a chain head file can be")
        text = data.decode("utf-8", errors="replace").strip()
        if text.startswith("{"):
            return _from_json(value, text)
        text = next((line.strip() for line in text.splitlines() if line.strip().startswith("ph1:")), "")
        if not text:
            raise InvalidValue(f"--expect-head: {value} holds no head token (a line starting ph1:)")
    combined, counts = parse_token(text, CHAINED_TABLES)
    return Expected(combined, counts)


def _from_json(where: str, text: str) -> Expected:
    try:
        data = json.loads(text)
        chains = data["chains"]
        counts = {t: int(c["count"]) for t, c in chains.items() if t in CHAINED_TABLES}
        heads = {t: c["head"] for t, c in chains.items() if t in CHAINED_TABLES}
        combined = str(data["head"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidValue(f"--expect-head: {where} is not the JSON of `promptver verify --head --json`") from None
    return Expected(combined, counts, heads)

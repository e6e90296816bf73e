"""Dataset versions: immutable, content-hashed test cases; identical content is the same version.

Reads for people and the server (``summaries``, ``history``, ``detail``) return JSON-ready dicts:
the same shapes from a local registry and over HTTP (``RemoteRegistry.dataset_*``). ``diff_cases``
compares two versions case by case (by case id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptver.core.refs import check_name
from promptver.core.secrets import refuse_secrets
from promptver.errors import NotFound
from promptver.services import access
from promptver.services.registry import Registry, audit, now
from promptver.storage.reader import DatasetReader


@dataclass(frozen=True)
class DatasetVersion:
    id: int
    name: str
    version: int
    content_hash: str
    cases: list[dict[str, Any]]
    source: str
    message: str = ""
    author: str = ""
    created_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DatasetVersion:
        return cls(row["id"], row["dataset"], row["version"], row["content_hash"], row["cases"], row["source"],
                   row.get("message", ""), row.get("author", ""), row.get("created_at"))


def push(reg: Registry, name: str, cases: list[dict[str, Any]], digest: str, *, source: str = "",
         message: str = "") -> tuple[DatasetVersion, bool]:
    """Store cases as the next version of dataset ``name`` (identical to the latest: no-op)."""
    access.require(reg, "write", f"dataset {name}")
    check_name(name, "dataset name")
    latest = DatasetReader(reg.reader).version(name)
    if latest is not None and latest["content_hash"] == digest:  # the usual case: no write, no SQLAlchemy
        return DatasetVersion.from_row(latest), False
    # test inputs are data: a field may be called "password", but a key-shaped value is refused
    refuse_secrets({"cases": cases, "source": source, "message": message}, f"dataset {name}: ", names=False)

    def work(conn: Any) -> tuple[int, bool]:
        from promptver.storage import writes

        dataset_id = writes.lock_dataset(conn, name)
        if dataset_id is None:
            dataset_id = writes.insert_dataset(conn, name=name, owner=reg.actor, created_at=now())
            audit(conn, reg.actor, "dataset.create", name)
        latest = writes.latest_dataset_version(conn, dataset_id)
        if latest is not None and latest.content_hash == digest:
            return latest.id, False
        version = (latest.version + 1) if latest else 1
        version_id = writes.insert_dataset_version(
            conn, dataset_id=dataset_id, version=version, content_hash=digest, cases=cases, source=source,
            message=message, author=reg.actor, created_at=now())
        audit(conn, reg.actor, "dataset.push", f"{name}/{version}", content_hash=digest, cases=len(cases))
        return version_id, True

    version_id, created = reg.db.write(work)
    return DatasetVersion.from_row(DatasetReader(reg.reader).by_id(version_id)), created


def get(reg: Registry, name: str, number: int | None = None) -> DatasetVersion:
    row = DatasetReader(reg.reader).version(name, number)
    if row is None:
        which = f"version {number} of dataset {name!r}" if number else f"dataset {name!r}"
        raise NotFound(f"no {which}")
    return DatasetVersion.from_row(row)


# -- reads for listing, showing and diffing --------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    from promptver.core.types import iso

    return None if value is None else iso(value)


def summaries(reg: Registry) -> list[dict[str, Any]]:
    """Every dataset: name, owner, number of versions, latest version with its hash and row count."""
    from promptver.storage.dataset_reader import DatasetCatalog

    return [{**row, "updated": _iso(row["updated"])} for row in DatasetCatalog(reg.reader).summaries()]


def history(reg: Registry, name: str, number: int | None = None) -> list[dict[str, Any]]:
    """The versions of dataset ``name`` (or only version ``number``), newest first: hash, row count,
    source, author, time, and the eval runs that used it (how many, and the newest few)."""
    from promptver.storage.dataset_reader import DatasetCatalog

    check_name(name, "dataset name")
    catalog = DatasetCatalog(reg.reader)
    dataset_id = catalog.dataset_id(name)
    if dataset_id is None:
        raise NotFound(f"no dataset {name!r}")
    rows = catalog.versions(dataset_id, number)
    if number is not None and not rows:
        raise NotFound(f"no version {number} of dataset {name!r}")
    return [{"dataset": name, "version": r["version"], "ref": f"{name}/{r['version']}",
             "content_hash": r["content_hash"], "rows": r["rows"], "source": r["source"], "message": r["message"],
             "author": r["author"], "created_at": _iso(r["created_at"]), "runs": r["runs"],
             "latest_runs": [{**run, "created_at": _iso(run["created_at"])} for run in r["latest_runs"]]}
            for r in rows]


def detail(reg: Registry, name: str, number: int | None = None) -> dict[str, Any]:
    """One version (default: the latest) as in ``history``, with its cases."""
    found = get(reg, name, number)
    return {**history(reg, name, found.version)[0], "cases": [normal_case(c) for c in found.cases]}


def normal_case(case: dict[str, Any]) -> dict[str, Any]:
    """A stored case with every field present (as the dataset loader gives it)."""
    return {"id": case.get("id"), "vars": case.get("vars") or {}, "expected": case.get("expected"),
            "metadata": case.get("metadata") or {}}


def diff_cases(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed from version ``old`` to ``new`` (``detail`` dicts), by case id: cases added,
    removed, and changed with each changed field (``vars.question``, ``expected``, ``metadata.topic``)."""
    from promptver.core.diff import field_changes

    before = {str(c["id"]): normal_case(c) for c in old["cases"]}
    after = {str(c["id"]): normal_case(c) for c in new["cases"]}
    changed = []
    for case_id, case in after.items():
        if case_id in before and case != before[case_id]:
            changed.append({"id": case_id, "fields": [f.to_json() for f in field_changes(before[case_id], case)]})
    added = [i for i in after if i not in before]
    removed = [i for i in before if i not in after]
    common = [i for i in before if i in after]
    reordered = common != [i for i in after if i in before]
    return {"old": old["ref"], "new": new["ref"], "old_hash": old["content_hash"], "new_hash": new["content_hash"],
            "identical": not (added or removed or changed or reordered), "added": added, "removed": removed,
            "changed": changed, "reordered": reordered}

"""Dataset versions: immutable, content-hashed test cases; identical content is the same version."""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DatasetVersion:
        return cls(row["id"], row["dataset"], row["version"], row["content_hash"], row["cases"], row["source"])


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

"""Read queries of datasets for listing, history and use by eval runs, in plain SQL over a
``Reader``'s DB-API connection. A version's row count is counted by the database
(``json_array_length`` on SQLite and PostgreSQL): a list never loads the cases themselves."""

from __future__ import annotations

from typing import Any

from promptver.storage.reader import Reader, _time

LATEST_RUNS = 3  # how many of the newest runs of a version are named


class DatasetCatalog:
    """Datasets, their versions, and the eval runs that used each version (over a Reader's connection)."""

    def __init__(self, reader: Reader) -> None:
        self.r = reader

    def dataset_id(self, name: str) -> int | None:
        value = self.r.scalar("SELECT id FROM datasets WHERE name = :name", name=name)
        return None if value is None else int(value)

    def summaries(self) -> list[dict[str, Any]]:
        """Every dataset with its latest version, that version's row count and the number of versions."""
        rows = self.r.rows(
            "SELECT d.name, d.owner, v.version AS latest, v.content_hash, json_array_length(v.cases) AS rows, "
            "v.created_at AS updated, (SELECT COUNT(*) FROM dataset_versions c WHERE c.dataset_id = d.id) AS versions "
            "FROM datasets d LEFT JOIN dataset_versions v ON v.dataset_id = d.id AND v.version = "
            "(SELECT MAX(m.version) FROM dataset_versions m WHERE m.dataset_id = d.id) ORDER BY d.name")
        for row in rows:
            row["updated"] = None if row["updated"] is None else _time(row["updated"])
        return rows

    def versions(self, dataset_id: int, number: int | None = None) -> list[dict[str, Any]]:
        """The versions of a dataset (or one of them), newest first, each with how many runs used it."""
        where = " AND v.version = :number" if number is not None else ""
        rows = self.r.rows(
            "SELECT v.id, v.version, v.content_hash, json_array_length(v.cases) AS rows, v.source, v.message, "
            "v.author, v.created_at, (SELECT COUNT(*) FROM eval_runs r WHERE r.dataset_version_id = v.id) AS runs "
            f"FROM dataset_versions v WHERE v.dataset_id = :dataset{where} ORDER BY v.version DESC",
            dataset=dataset_id, number=number)
        latest = self._latest_runs([r["id"] for r in rows if r["runs"]])
        for row in rows:
            row["created_at"] = _time(row["created_at"])
            row["latest_runs"] = latest.get(row["id"], [])
        return rows

    def _latest_runs(self, version_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for version_id in version_ids:
            found[version_id] = [
                {**r, "created_at": _time(r["created_at"])} for r in self.r.rows(
                    "SELECT id, kind, suite, actor, created_at FROM eval_runs WHERE dataset_version_id = :v "
                    "ORDER BY created_at DESC, id DESC LIMIT :n", v=version_id, n=LATEST_RUNS)]
        return found

"""Where a run's results go: the registry database. Results, scores and cache rows are saved in
batches, each batch one transaction, so a crash loses at most one batch (which resume redoes).
Written in plain SQL (``storage/eval_writes.py``): a cached run never imports SQLAlchemy."""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from promptver.storage.eval_reader import EvalReader


def now() -> datetime:
    return datetime.now(UTC)


def environment() -> dict[str, Any]:
    """What a run ran on: promptver, litellm and Python versions, platform, git commit if any."""
    from promptver import __version__

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    env: dict[str, Any] = {"promptver": __version__, "litellm": version("litellm"), "openai": version("openai"),
                           "python": platform.python_version(), "platform": platform.platform(),
                           "executable": sys.executable}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            env["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=5)
            env["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return env


def is_remote(reg: Any) -> bool:
    """Whether ``reg`` is a registry over HTTP (services/remote.py) rather than a database."""
    return bool(getattr(reg, "is_remote", False))


def eval_reader(reg: Any) -> Any:
    """The eval read queries of ``reg``: ``EvalReader`` over its database, or the same queries asked of
    a server (evals/remote_store.py) when ``reg`` is a registry over HTTP."""
    if is_remote(reg):
        from promptver.evals.remote_store import RemoteEvalReader

        return RemoteEvalReader(reg)
    return EvalReader(reg.reader)


def dataset_case_ids(reg: Any, dataset_version_id: int) -> list[str]:
    """The case ids of a stored dataset version, in order."""
    if is_remote(reg):
        return list(eval_reader(reg).dataset_case_ids(dataset_version_id))
    from promptver.storage.reader import DatasetReader

    return [c["id"] for c in DatasetReader(reg.reader).by_id(dataset_version_id)["cases"]]


def open_store(reg: Any, run_id: str, scorers: list[Any]) -> Any:
    """Where a run's results go: the database (``RunStore``), or a server (``RemoteRunStore``: the
    same methods, over HTTP in batches) when ``reg`` is a registry over HTTP."""
    if is_remote(reg):
        from promptver.evals.remote_store import RemoteRunStore

        return RemoteRunStore(reg, run_id, scorers)
    return RunStore(reg, run_id, scorers)


class RunStore:
    """A run's reads and writes on the registry database. ``RemoteRunStore`` (evals/remote_store.py)
    has the same methods over a server."""

    def __init__(self, reg: Any, run_id: str, scorers: list[Any]) -> None:
        self.reg, self.run_id, self.scorers = reg, run_id, scorers
        self.reader = EvalReader(reg.reader)

    def find_run(self, ref: str) -> dict[str, Any] | None:
        """A stored run by id or unique prefix (for --resume)."""
        return self.reader.run(ref)

    def results_of(self, run_id: str) -> list[dict[str, Any]]:
        """A run's latest attempts (for --resume)."""
        return self.reader.results(run_id)

    def cached_keys(self, keys: list[str]) -> set[str]:
        return self.reader.cached_keys(keys)

    def cached_response(self, key: str) -> dict[str, Any] | None:
        return self.reader.cached_response(key)

    def cached_responses(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return self.reader.cached_responses(keys)

    def cached_score(self, key: str) -> dict[str, Any] | None:
        return self.reader.cached_score(key)

    def pairing(self, pairing_id: str) -> Any:
        return self.reg.pairing(pairing_id)

    def record_run(self, **values: Any) -> None:
        from promptver.storage import eval_writes

        self.reg.db.write_plain(lambda tx: eval_writes.insert_run(tx, id=self.run_id, created_at=now(), **values))

    def event(self, state: str, **details: Any) -> None:
        from promptver.storage import eval_writes

        self.reg.db.write_plain(lambda tx: eval_writes.insert_run_event(tx, run_id=self.run_id, state=state,
                                                                        details=details, created_at=now()))

    def save(self, outcomes: list[Any]) -> None:
        from promptver.storage import eval_writes as writes

        def work(conn: Any) -> None:
            responses, results, scores, cached_scores = [], [], [], []
            for o in outcomes:
                r, job = o.result, o.job
                results.append(dict(
                    run_id=self.run_id, pairing_id=job.cell.pairing_id, case_id=job.case.id, repeat=job.repeat,
                    attempt=o.attempt, request_key=job.key, output=r.output, latency_ms=r.latency_ms, prompt_tokens=r.prompt_tokens,
                    completion_tokens=r.completion_tokens, cost_usd=r.cost_usd, cached=o.cached, error=r.error,
                    error_kind=r.error_kind, response_model=r.response_model,
                    system_fingerprint=r.system_fingerprint, created_at=now()))
                if r.error is None and not o.cached:
                    responses.append({"key": job.key, "response": asdict(r), "created_at": now()})
            # one executemany, the batch hashed onto the results chain in Python (storage/eval_writes.py)
            for o, result_id in zip(outcomes, writes.insert_results(conn, results)):
                for scorer, (key, s) in zip(self.scorers, o.scores):
                    scores.append({"run_id": self.run_id, "result_id": result_id, "scorer": s.name,
                                   "scorer_version": scorer.version, "value": s.value, "passed": s.passed,
                                   "detail": s.detail})
                    cached_scores.append({"key": key, "value": s.value, "passed": s.passed, "detail": s.detail,
                                          "created_at": now()})
            writes.cache_responses(conn, responses)
            writes.insert_scores(conn, scores)
            writes.cache_scores(conn, cached_scores)

        self.reg.db.write_plain(work)

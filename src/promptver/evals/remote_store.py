"""Runs through a server: what ``promptver eval`` uses when PROMPTVER_URL is set.

The model calls are made here, where the command runs (CI's keys stay in CI); the run, its events,
results, scores and cache rows are stored by the server (server/routes_evals.py) under the token's
identity, through the same write functions as a local run (storage/eval_writes.py), so the hash
chains and the release gate see them as if made locally.

``RemoteRunStore`` has the methods of ``evals.store.RunStore``: cached responses are looked up in
batches (one request per batch of keys), results are sent in batches split to stay under the
server's request body cap, each batch one transaction on the server. ``RemoteEvalReader`` asks the
server the read queries of ``storage.eval_reader.EvalReader`` that reports use, so ``eval show``
and ``eval list`` render exactly what they render locally.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from promptver.core.types import parse_iso

BODY_BUDGET = 900_000  # bytes of results per request: under the server's 1 MB body cap, with room for the envelope
MAX_ITEM = 990_000  # one result (with its scores and cached response) alone in a request: still under the cap
KEYS_PER_REQUEST = 500  # cache keys looked up per request (the server refuses more than 1000)
FINAL_STATES = ("completed", "interrupted", "stopped", "failed")


def require_writer(reg: Any) -> None:
    """Refuse, before anything is stored or called, a token that may not store a run (the server
    refuses it too: this only says it first, in the words of evals)."""
    from promptver.errors import Forbidden
    from promptver.services.access import ACTIONS, RANK

    me = reg.whoami()
    needed = ACTIONS["write"]
    if me.get("fetch_only") or RANK.get(me.get("role"), -1) < RANK[needed]:
        what = "a fetch-only token" if me.get("fetch_only") else f"role {me.get('role')}"
        raise Forbidden(f"{me.get('name')} ({what}) may not run evals through the server: it needs role {needed} or "
                        "higher; nothing was run")


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _times(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """A run record as ``EvalReader.run`` returns it (its time parsed back)."""
    if run is not None and isinstance(run.get("created_at"), str):
        run["created_at"] = parse_iso(run["created_at"])
    return run


class RemoteEvalReader:
    """The read queries of ``EvalReader`` that reports and resume use, answered by the server."""

    def __init__(self, reg: Any) -> None:
        self.reg = reg

    def _ask(self, query: str, **args: Any) -> Any:
        return self.reg.eval_call("POST", "/query", json={"query": query, "args": args})

    def run(self, run_id: str) -> dict[str, Any] | None:
        return _times(self._ask("run", run_id=run_id))

    def runs(self, suite: str | None = None, limit: int = 50, kind: str | None = None) -> list[dict[str, Any]]:
        return [_times(r) for r in self._ask("runs", suite=suite, limit=limit, kind=kind)]  # type: ignore[misc]

    def events(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._ask("events", run_id=run_id)
        for row in rows:
            row["created_at"] = parse_iso(row["created_at"])
        return list(rows)

    def dataset_case_ids(self, dataset_version_id: int) -> list[str]:
        return list(self._ask("dataset_case_ids", dataset_version_id=dataset_version_id))

    def cached_keys(self, keys: list[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), KEYS_PER_REQUEST):
            found.update(self.reg.eval_call("POST", "/cache/responses",
                                            json={"keys": unique[start:start + KEYS_PER_REQUEST], "values": False}))
        return found

    def cached_responses(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), KEYS_PER_REQUEST):
            found.update(self.reg.eval_call("POST", "/cache/responses",
                                            json={"keys": unique[start:start + KEYS_PER_REQUEST], "values": True}))
        return found

    def __getattr__(self, query: str) -> Any:
        """Every other query (``cell_totals``, ``latency_at``, ``error_reasons``, ...) by its name and
        its arguments as EvalReader names them; the server answers only the queries it lists."""
        if query.startswith("_"):
            raise AttributeError(query)
        import inspect

        from promptver.storage.eval_reader import EvalReader

        method = getattr(EvalReader, query)  # AttributeError for a query EvalReader does not have
        signature = inspect.signature(method)

        def ask(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            named = dict(list(bound.arguments.items())[1:])
            answer = self._ask(query, **named)
            return tuple(answer) if query == "error_reasons" else answer

        return ask


class RemoteRunStore:
    """``RunStore``'s methods through a server (see the module's docstring)."""

    def __init__(self, reg: Any, run_id: str, scorers: list[Any]) -> None:
        self.reg, self.run_id, self.scorers = reg, run_id, scorers
        self.reader = RemoteEvalReader(reg)
        self._writer: Any = None  # a client of its own: batches are saved on a worker thread
        self._pairings: dict[str, Any] = {}

    # -- reads ----------------------------------------------------------------------------------
    def find_run(self, ref: str) -> dict[str, Any] | None:
        return self.reader.run(ref)

    def results_of(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.reg.eval_call("GET", f"/runs/{quote(run_id, safe='')}/results"))

    def cached_keys(self, keys: list[str]) -> set[str]:
        return self.reader.cached_keys(keys)

    def cached_response(self, key: str) -> dict[str, Any] | None:
        return self.reader.cached_responses([key]).get(key)

    def cached_responses(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return self.reader.cached_responses(keys)

    def cached_score(self, key: str) -> dict[str, Any] | None:
        """Never through a server: a stored score cannot be traced to who computed it, so a judge
        scores again rather than trust another user's posted score (docs/security.md)."""
        return None

    def pairing(self, pairing_id: str) -> Any:
        if pairing_id not in self._pairings:
            self._pairings[pairing_id] = self.reg.pairing(pairing_id)
        return self._pairings[pairing_id]

    # -- writes ---------------------------------------------------------------------------------
    def _write(self, method: str, path: str, body: Any) -> Any:
        if self._writer is None:
            self._writer = self.reg.fork()
        return self._writer.eval_call(method, path, json=body)

    def record_run(self, **values: Any) -> None:
        """The run's record; its actor is the token's identity (the server's to say, never ours)."""
        values.pop("actor", None)
        self._write("POST", "/runs", {"id": self.run_id, **values})

    def event(self, state: str, **details: Any) -> None:
        self._write("POST", f"/runs/{self.run_id}/events", {"state": state, "details": details})
        if state in FINAL_STATES:  # the run is over: release the writer's connection
            self._writer.close()
            self._writer = None

    def save(self, outcomes: list[Any]) -> None:
        """The outcomes' results with their scores, and the new cached responses, in requests of at
        most ``BODY_BUDGET`` bytes (each one transaction on the server)."""
        batch: list[dict[str, Any]] = []
        size = 0
        for o in outcomes:
            item = self._item(o)
            item_size = _json_size(item)
            if item_size > MAX_ITEM:
                from promptver.errors import InvalidValue

                raise InvalidValue(f"the result of case {o.job.case.id!r} ({o.job.cell.pairing_id}) is {item_size:,} "
                                   "bytes: over what a server takes in one request (1 MB); results saved before it "
                                   f"stay saved (resume with --resume {self.run_id} on the database itself)")
            if batch and size + item_size > BODY_BUDGET:
                self._send(batch)
                batch, size = [], 0
            batch.append(item)
            size += item_size
        if batch:
            self._send(batch)

    def _send(self, items: list[dict[str, Any]]) -> None:
        self._write("POST", f"/runs/{self.run_id}/results", {"results": items})

    def _item(self, o: Any) -> dict[str, Any]:
        r, job = o.result, o.job
        item: dict[str, Any] = {
            "pairing_id": job.cell.pairing_id, "case_id": job.case.id, "repeat": job.repeat, "attempt": o.attempt,
            "request_key": job.key, "output": r.output, "latency_ms": r.latency_ms, "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens, "cost_usd": r.cost_usd, "cached": o.cached, "error": r.error,
            "error_kind": r.error_kind, "response_model": r.response_model,
            "system_fingerprint": r.system_fingerprint,
            "scores": [{"key": key, "scorer": s.name, "scorer_version": scorer.version, "value": s.value,
                        "passed": s.passed, "detail": s.detail}
                       for scorer, (key, s) in zip(self.scorers, o.scores)]}
        if r.error is None and not o.cached:  # a new answer for the response cache
            item["response"] = asdict(r)
        return item

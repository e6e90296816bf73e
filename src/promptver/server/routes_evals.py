"""Eval routes: runs made where the command runs (``promptver eval`` with PROMPTVER_URL), stored here.

The client makes the model calls and sends what a local run writes: the dataset version (``POST
/v1/datasets``, its content hash checked against its cases), the run's record, its state events and
batches of results with their scores and new cached responses. They are written with the same
functions as a local run (storage/eval_writes.py: hash-chained, each batch one transaction), under
the token's identity: the run's actor is the principal, never a name the client sends. Writing needs
role editor or higher; reading (the caches, and the report queries of ``EvalReader`` that
``eval list`` / ``eval show`` run client-side: evals/remote_store.py) any token that may read.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import Field

from promptver.core.identity import content_hash
from promptver.errors import InvalidValue, NotFound
from promptver.server.policy import allow, registry
from promptver.server.schemas import Strict
from promptver.services.access import Principal
from promptver.storage.eval_reader import EvalReader
from promptver.storage.reader import DatasetReader

router = APIRouter(prefix="/v1")

DATASET_KIND = "promptver.dataset/1"  # evals/datasets.py DATASET_KIND (the server does not import evals)
STATES = Literal["running", "resumed", "interrupted", "stopped", "completed", "failed"]
MAX_KEYS = 1000
MAX_RESULTS = 5000
RunId = Field(pattern=r"^[0-9a-f]{16}$")

# the read queries of EvalReader a client may ask (evals/remote_store.RemoteEvalReader): name -> arguments
QUERIES: dict[str, dict[str, tuple[type, ...]]] = {
    "run": {"run_id": (str,)},
    "runs": {"suite": (str, type(None)), "limit": (int,), "kind": (str, type(None))},
    "results": {"run_id": (str,)},
    "events": {"run_id": (str,)},
    "cell_totals": {"run_id": (str,)},
    "latency_at": {"run_id": (str,), "pairing_id": (str,), "index": (int,)},
    "error_reasons": {"run_id": (str,), "limit": (int,)},
    "reported_models": {"run_id": (str,)},
    "reported_fingerprints": {"run_id": (str,)},
    "cell_outcomes": {"run_id": (str,), "pairing_id": (str,)},
    "cell_score_values": {"run_id": (str,), "pairing_id": (str,)},
    "cell_results": {"run_id": (str,), "pairing_id": (str,)},
    "cell_failed_scores": {"run_id": (str,), "pairing_id": (str,)},
    "dataset_case_ids": {"dataset_version_id": (int,)},
}
MAX_LIMIT = 1000


def now() -> datetime:
    return datetime.now(UTC)


class DatasetIn(Strict):
    name: str
    cases: list[dict[str, Any]]
    content_hash: str
    source: str = ""
    message: str = ""


class RunIn(Strict):
    id: str = RunId
    suite: str
    suite_hash: str
    kind: Literal["suite", "attribution", "bisect"] = "suite"
    suite_content_hash: str | None = None
    dataset_version_id: int
    plan: dict[str, Any]
    environment: dict[str, Any] = Field(default_factory=dict)


class EventIn(Strict):
    state: STATES
    details: dict[str, Any] = Field(default_factory=dict)


class ScoreIn(Strict):
    key: str
    scorer: str
    scorer_version: str
    value: float
    passed: bool
    detail: str | None = None


class ResultIn(Strict):
    pairing_id: str
    case_id: str
    repeat: int = Field(ge=0)
    attempt: int = Field(0, ge=0)
    request_key: str
    output: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False
    error: str | None = None
    error_kind: str | None = None
    response_model: str | None = None
    system_fingerprint: str | None = None
    scores: list[ScoreIn] = Field(default_factory=list)
    response: dict[str, Any] | None = None  # a new answer for the response cache


class ResultsIn(Strict):
    results: list[ResultIn] = Field(max_length=MAX_RESULTS)


class KeysIn(Strict):
    keys: list[str] = Field(max_length=MAX_KEYS)
    values: bool = True


class QueryIn(Strict):
    query: str
    args: dict[str, Any] = Field(default_factory=dict)


@router.post("/datasets")
def push_dataset(request: Request, body: DatasetIn, principal: Principal = Depends(allow("write"))) -> JSONResponse:
    """Store cases as the next version of a dataset (identical to the latest: 200, nothing new). The
    content hash the client computed must be the cases' (what its plan fingerprints)."""
    from promptver.services import datasets

    if content_hash({"kind": DATASET_KIND, "cases": body.cases}) != body.content_hash:
        raise InvalidValue(f"dataset {body.name}: content_hash does not match its cases")
    version, created = datasets.push(registry(request, principal), body.name, body.cases, body.content_hash,
                                     source=body.source, message=body.message)
    payload = {"status": "created" if created else "unchanged", "id": version.id, "dataset": version.name,
               "version": version.version, "content_hash": version.content_hash, "source": version.source,
               "message": version.message, "author": version.author,
               "created_at": None if version.created_at is None else version.created_at}
    return JSONResponse(jsonable_encoder(payload), status_code=201 if created else 200)


def _run(reader: EvalReader, run_id: str) -> dict[str, Any]:
    row = reader.r.row("SELECT id, plan FROM eval_runs WHERE id = :id", id=run_id)
    if row is None:
        raise NotFound(f"no eval run {run_id!r}")
    from promptver.storage.reader import _json

    return {"id": row["id"], "plan": _json(row["plan"]) or {}}


@router.post("/evals/runs")
def create_run(request: Request, body: RunIn, principal: Principal = Depends(allow("write"))) -> JSONResponse:
    """Record a run before its first call, with the client's run id; its actor is the token's user."""
    from promptver.storage import eval_writes

    reg = registry(request, principal)
    reader = EvalReader(reg.reader)
    if reader.r.row("SELECT id FROM eval_runs WHERE id = :id", id=body.id) is not None:
        raise InvalidValue(f"eval run {body.id} already exists")
    if reader.r.row("SELECT id FROM dataset_versions WHERE id = :id", id=body.dataset_version_id) is None:
        raise NotFound(f"no dataset version with id {body.dataset_version_id}")
    pairings = (body.plan.get("fingerprint") or {}).get("pairings") if isinstance(body.plan, dict) else None
    if not isinstance(pairings, list) or not pairings or not all(isinstance(p, str) for p in pairings):
        raise InvalidValue("plan.fingerprint.pairings must list the run's pairing ids")
    for pairing_id in pairings:
        reg.pairing(pairing_id)  # NotFound (404) for an unknown pairing
    reg.db.write_plain(lambda tx: eval_writes.insert_run(
        tx, id=body.id, suite=body.suite, suite_hash=body.suite_hash, kind=body.kind,
        suite_content_hash=body.suite_content_hash, dataset_version_id=body.dataset_version_id, plan=body.plan,
        environment=body.environment, actor=reg.actor, created_at=now()))
    return JSONResponse({"id": body.id, "actor": reg.actor}, status_code=201)


@router.post("/evals/runs/{run_id}/events")
def run_event(request: Request, run_id: str, body: EventIn,
              principal: Principal = Depends(allow("write"))) -> JSONResponse:
    """A run's state change (running, resumed, interrupted, stopped, completed, failed)."""
    from promptver.storage import eval_writes

    reg = registry(request, principal)
    _run(EvalReader(reg.reader), run_id)
    reg.db.write_plain(lambda tx: eval_writes.insert_run_event(tx, run_id=run_id, state=body.state,
                                                               details=body.details, created_at=now()))
    return JSONResponse({"run": run_id, "state": body.state}, status_code=201)


@router.post("/evals/runs/{run_id}/results")
def append_results(request: Request, run_id: str, body: ResultsIn,
                   principal: Principal = Depends(allow("write"))) -> JSONResponse:
    """A batch of results with their scores and new cached responses, in one transaction."""
    from promptver.storage import eval_writes as writes

    reg = registry(request, principal)
    planned = set(_run(EvalReader(reg.reader), run_id)["plan"].get("fingerprint", {}).get("pairings") or [])
    strangers = sorted({r.pairing_id for r in body.results} - planned)
    if strangers:
        raise InvalidValue(f"run {run_id} did not plan pairing(s) {', '.join(strangers)}")

    def work(tx: Any) -> int:
        at = now()
        rows = [dict(run_id=run_id, pairing_id=r.pairing_id, case_id=r.case_id, repeat=r.repeat, attempt=r.attempt,
                     request_key=r.request_key, output=r.output, latency_ms=r.latency_ms,
                     prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens, cost_usd=r.cost_usd,
                     cached=r.cached, error=r.error, error_kind=r.error_kind, response_model=r.response_model,
                     system_fingerprint=r.system_fingerprint, created_at=at) for r in body.results]
        scores, cached_scores, responses = [], [], []
        for r, result_id in zip(body.results, writes.insert_results(tx, rows)):
            for s in r.scores:
                scores.append({"run_id": run_id, "result_id": result_id, "scorer": s.scorer,
                               "scorer_version": s.scorer_version, "value": s.value, "passed": s.passed,
                               "detail": s.detail})
                cached_scores.append({"key": s.key, "value": s.value, "passed": s.passed, "detail": s.detail,
                                      "created_at": at})
            if r.response is not None and r.error is None and not r.cached:
                responses.append({"key": r.request_key, "response": r.response, "created_at": at})
        writes.cache_responses(tx, responses)
        writes.insert_scores(tx, scores)
        writes.cache_scores(tx, cached_scores)
        return len(rows)

    saved = reg.db.write_plain(work)
    return JSONResponse({"run": run_id, "saved": saved}, status_code=201)


@router.get("/evals/runs/{run_id}/results")
def run_results(request: Request, run_id: str, principal: Principal = Depends(allow("read"))) -> list[dict[str, Any]]:
    """A run's latest attempts, as --resume needs them: pairing, case, repeat, attempt, error."""
    reader = EvalReader(registry(request, principal).reader)
    _run(reader, run_id)
    return [{k: r[k] for k in ("pairing_id", "case_id", "repeat", "attempt", "error")} for r in reader.results(run_id)]


@router.post("/evals/cache/responses")
def cached_responses(request: Request, body: KeysIn, principal: Principal = Depends(allow("read"))) -> Any:
    """Of ``keys``, those the response cache holds from runs of the caller's own identity: their
    responses (``values``), or only the keys. Another user's stored answers are never served."""
    reader = EvalReader(registry(request, principal).reader)
    if body.values:
        return reader.own_cached_responses(body.keys, principal.name)
    return sorted(reader.own_cached_keys(body.keys, principal.name))


@router.post("/evals/query")
def query(request: Request, body: QueryIn, principal: Principal = Depends(allow("read"))) -> JSONResponse:
    """One read query of ``EvalReader`` (those in ``QUERIES``), answered as the local reader answers it."""
    spec = QUERIES.get(body.query)
    if spec is None:
        raise InvalidValue(f"unknown eval query {body.query!r}: use one of {', '.join(sorted(QUERIES))}")
    unknown = sorted(set(body.args) - set(spec))
    if unknown:
        raise InvalidValue(f"eval query {body.query}: unknown argument(s) {', '.join(unknown)}")
    for name, types in spec.items():
        value = body.args.get(name)
        if name not in body.args and type(None) not in types:
            raise InvalidValue(f"eval query {body.query}: argument {name} is missing")
        if not isinstance(value, types) or isinstance(value, bool):
            raise InvalidValue(f"eval query {body.query}: argument {name} has the wrong type")
        if int in types and isinstance(value, int) and not 0 <= value <= (MAX_LIMIT if name == "limit" else 2**62):
            raise InvalidValue(f"eval query {body.query}: argument {name} is out of range")
    reg = registry(request, principal)
    if body.query == "dataset_case_ids":
        version_id = body.args["dataset_version_id"]
        if reg.reader.row("SELECT id FROM dataset_versions WHERE id = :id", id=version_id) is None:
            raise NotFound(f"no dataset version with id {version_id}")
        return JSONResponse([c["id"] for c in DatasetReader(reg.reader).by_id(version_id)["cases"]])
    method = getattr(EvalReader(reg.reader), body.query)
    assert set(inspect.signature(method).parameters) >= set(spec)
    return JSONResponse(jsonable_encoder(method(**body.args)))

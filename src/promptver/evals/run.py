"""A whole eval run: plan, record the run and its environment, execute (or resume), summarise.

A run is recorded before its first call (``eval_runs``), with its kind (a whole ``suite``, or an
``attribution`` / ``bisect`` replay), the suite content hash, each pairing's effective endpoint and
the plan's fingerprint: the suite, dataset, prompt, model and scorer versions and the endpoints.
``--resume RUN`` makes the calls without a result and, again, the calls whose result is an error
(as a new attempt: nothing stored is changed), and refuses if any of those inputs changed. Ctrl-C
saves what finished and marks the run ``interrupted``; a run whose endpoint stopped answering is
``stopped`` (the circuit breaker); both can be resumed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from promptver.errors import InvalidValue, NotFound, RegistryBusy, RegistryUnavailable, RunIncomplete
from promptver.evals.plan import Plan, build_plan
from promptver.evals.runner import BREAKER_FAILURES, Executor, Tally
from promptver.evals.store import RunStore, environment, open_store
from promptver.evals.suites import Suite
from promptver.services.database import disk_full

DEFAULT_JOBS = {"promptver": 16}  # provider prefix -> default concurrency; others: 8


class Announcement(str):
    """What a run says before its first call, as text; ``calls`` is how many it will make (a
    progress bar's total), so that no one has to read the number back out of the words."""

    calls: int

    def __new__(cls, text: str, *, calls: int) -> Announcement:
        made = super().__new__(cls, text)
        made.calls = calls
        return made


@dataclass
class RunOutcome:
    run_id: str
    plan: Plan
    tally: Tally
    state: str             # completed | interrupted | stopped (the circuit breaker stopped calling an endpoint)
    skipped: int           # calls already done (resume)


@dataclass
class Preparation:
    """What ``_prepare`` hands to the run: nothing here has called a model."""

    plan: Plan
    store: RunStore  # or evals/remote_store.RemoteRunStore: the same methods, through a server
    done: set[tuple[str, str, int]]
    attempts: dict[tuple[str, str, int], int]  # errored calls to retry -> their new attempt number
    todo: int


KINDS = ("suite", "attribution", "bisect")


def default_jobs(plan: Plan) -> int:
    providers = {cell.model.model.split("/", 1)[0] for cell in plan.cells}
    return min(DEFAULT_JOBS.get(p, 8) for p in providers) if providers else 8


def start(reg: Any, suite: Suite, *, jobs: int | None = None, use_cache: bool = True, resume: str | None = None,
          max_cost: float | None = None, progress: Any = None, announce: Any = None,
          cases: Collection[str] | None = None, kind: str = "suite") -> RunOutcome:
    """Run (or resume) ``suite``. ``kind``: ``suite`` for a whole suite as its file names it (the only
    kind that feeds baselines, history and release gates), ``attribution`` or ``bisect`` for a replay
    of chosen cells; ``cases``: only these case ids of its dataset (a replay)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if kind == "suite" and cases is not None:
        raise ValueError("a run of chosen cases is a replay (kind attribution or bisect), not a suite run")
    try:
        prep = _prepare(reg, suite, resume, max_cost, announce, cases, kind, use_cache)
    except (RegistryBusy, RegistryUnavailable) as exc:
        raise RunIncomplete(f"{exc.message}; nothing was run") from exc
    plan, store = prep.plan, prep.store
    executor = Executor(plan, store, jobs=jobs or suite.concurrency or default_jobs(plan), use_cache=use_cache,
                        progress=progress, attempts=prep.attempts)
    try:
        tally = asyncio.run(executor.run(plan.jobs(skip=prep.done)))
    except KeyboardInterrupt:
        store.event("interrupted")
        return RunOutcome(store.run_id, plan, executor.tally, "interrupted", len(prep.done))
    except (RegistryBusy, RegistryUnavailable) as exc:
        raise _stopped(reg, store, suite, exc) from exc
    if executor.stopped:
        reasons = "; ".join(f"{endpoint}: {error}" for endpoint, error in executor.stopped.items())
        store.event("stopped", calls=tally.calls, errors=tally.errors, not_made=tally.not_made,
                    endpoints=sorted(executor.stopped),
                    reason=f"stopped calling after {BREAKER_FAILURES} consecutive connection failures ({reasons})")
        return RunOutcome(store.run_id, plan, tally, "stopped", len(prep.done))
    store.event("completed", calls=tally.calls, errors=tally.errors)
    return RunOutcome(store.run_id, plan, tally, "completed", len(prep.done))


def _prepare(reg: Any, suite: Suite, resume: str | None, max_cost: float | None, announce: Any,
             cases: Collection[str] | None, kind: str, use_cache: bool) -> Preparation:
    """Everything before the first call: the plan (a case subset), what a resumed run has done and
    which of its calls ended in an error (they are made again), the cache and cost check, and the
    run's record."""
    plan = build_plan(reg, suite)
    if cases is not None:
        plan.only_cases(cases)
    done: set[tuple[str, str, int]] = set()
    attempts: dict[tuple[str, str, int], int] = {}
    store = open_store(reg, "", plan.scorers)  # the run's id is set below
    if resume:
        run = store.find_run(resume)
        if run is None:
            raise NotFound(f"no eval run {resume!r}")
        recorded = run["plan"].get("fingerprint", {})
        missing = sorted(k for k in plan.fingerprint if k not in recorded)
        if missing:
            raise InvalidValue(f"run {run['id']} cannot be resumed: it was started by an older promptver that did not "
                               f"record its {', '.join(missing)}; start a new run")
        changed = sorted(k for k, v in plan.fingerprint.items() if recorded.get(k) != v)
        if changed:
            raise InvalidValue(f"run {run['id']} cannot be resumed: its {', '.join(changed)} changed since it started; "
                               "start a new run")
        if run.get("kind", "suite") != kind:
            raise InvalidValue(f"run {run['id']} is a {run.get('kind')} run; it cannot be resumed as a {kind} run")
        for r in store.results_of(run["id"]):
            call = (r["pairing_id"], r["case_id"], r["repeat"])
            if r["error"]:
                attempts[call] = int(r.get("attempt") or 0) + 1
            else:
                done.add(call)
        run_id = run["id"]
    else:
        run_id = uuid.uuid4().hex[:16]
    store.run_id = run_id
    todo, cached, estimate = _survey(plan, store, done, use_cache)
    if max_cost is not None and estimate is not None and estimate > max_cost:
        raise InvalidValue(f"this run would make {todo - cached} model calls costing about ${estimate:.4f}, over "
                           f"--max-cost ${max_cost:.4f}; nothing was called")
    if todo:  # a suite is code: its python scorers run only now, every input check passed
        from promptver.evals.scorers import load_code

        load_code(plan.scorers, announce)
    if announce is not None:
        cost = "unknown" if estimate is None else f"about ${estimate:.4f}"
        again = f", {len(attempts)} of them again after an error" if attempts else ""
        announce(Announcement(f"{todo} calls to make ({len(done)} already done{again}): {cached} from the cache, "
                              f"{todo - cached} to the models, estimated cost {cost}", calls=todo))
    if not resume:
        store.record_run(suite=suite.name, suite_hash=suite.hash, kind=kind, suite_content_hash=plan.content.hash,
                         dataset_version_id=plan.dataset.id,
                         plan={"fingerprint": plan.fingerprint, "path": str(suite.path), "calls": plan.calls,
                               "estimated_cost_usd": estimate, "min_pass_rate": suite.min_pass_rate,
                               "content": plan.content.to_json(), "endpoints": plan.endpoints()},
                         environment=environment(), actor=reg.actor)
    store.event("running" if not resume else "resumed", todo=todo, retry=len(attempts))
    return Preparation(plan, store, done, attempts, todo)


def _survey(plan: Plan, reader: Any, done: set[tuple[str, str, int]],
            use_cache: bool) -> tuple[int, int, float | None]:
    """(calls to make, how many of them the response cache answers, the estimated cost of the rest:
    prompt characters / 4 tokens in, max_tokens (or 256) out, at the model's listed price; None when
    a price is unknown)."""
    from promptver.evals.calls import price_per_token

    todo = cached = 0
    total: float | None = 0.0
    prices: dict[str, Any] = {}
    batch: list[Any] = []

    def settle() -> None:
        nonlocal cached, total
        hits = reader.cached_keys([j.key for j in batch]) if use_cache else set()
        for job in batch:
            if job.key in hits:
                cached += 1
                continue
            model = job.request.model
            if model not in prices:
                prices[model] = price_per_token(model)
            price = prices[model]
            if price is None or total is None:
                total = None
                continue
            prompt_tokens = sum(len(str(m.get("content") or "")) for m in job.request.messages) / 4
            completion_tokens = float(job.request.params.get("max_tokens") or 256)
            total += prompt_tokens * price[0] + completion_tokens * price[1]
        batch.clear()

    for job in plan.jobs(skip=done):
        todo += 1
        batch.append(job)
        if len(batch) >= 500:
            settle()
    settle()
    return todo, cached, total


def _stopped(reg: Any, store: RunStore, suite: Suite, exc: RegistryBusy | RegistryUnavailable) -> RunIncomplete:
    """The database failed mid-run: say what is kept and how to go on (marking the run failed if
    the database still takes a write; whether it does or not, resume works the same)."""
    try:
        store.event("failed", reason=exc.message)
    except (RegistryBusy, RegistryUnavailable):
        pass
    try:
        saved: Any = len(store.results_of(store.run_id))
    except (RegistryBusy, RegistryUnavailable):
        saved = "the"
    resume = f"`promptver eval {suite.path} --resume {store.run_id}`"
    if disk_full(exc):
        cause = " ".join(str(exc.__cause__ or "").split())
        return RunIncomplete(f"disk full: the registry database cannot grow{f' ({cause})' if cause else ''}. Run "
                             f"{store.run_id} stopped; {saved} results saved before it stay saved (whole batches "
                             f"only). Free disk space, then resume it with {resume}")
    return RunIncomplete(f"{exc.message}. Run {store.run_id} stopped; {saved} results saved before it stay saved. "
                         f"Resume it with {resume}")

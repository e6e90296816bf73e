"""A whole eval run: plan, record the run and its environment, execute (or resume), summarise.

A run is recorded before its first call (``eval_runs``), with the plan's fingerprint: the suite,
dataset, prompt, model and scorer versions. ``--resume RUN`` redoes only the cells without a
result, and refuses if any of those versions changed. Ctrl-C saves what finished and marks the run
``interrupted``; it can be resumed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from promptver.errors import InvalidValue, NotFound, RegistryBusy, RegistryUnavailable, RunIncomplete
from promptver.evals.plan import Plan, build_plan
from promptver.evals.runner import Executor, Outcome
from promptver.evals.store import RunStore, environment
from promptver.evals.suites import Suite
from promptver.storage.reader import EvalReader

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
    outcomes: list[Outcome]
    state: str             # completed | interrupted
    skipped: int           # cells already done (resume)


def default_jobs(plan: Plan) -> int:
    providers = {cell.model.model.split("/", 1)[0] for cell in plan.cells}
    return min(DEFAULT_JOBS.get(p, 8) for p in providers) if providers else 8


def start(reg: Any, suite: Suite, *, jobs: int | None = None, use_cache: bool = True, resume: str | None = None,
          max_cost: float | None = None, progress: Any = None, announce: Any = None,
          cases: Collection[str] | None = None) -> RunOutcome:
    """Run (or resume) ``suite``; ``cases``: only these case ids of its dataset (bisect uses it)."""
    try:
        plan, store, done, todo = _prepare(reg, suite, resume, max_cost, announce, cases)
    except (RegistryBusy, RegistryUnavailable) as exc:
        raise RunIncomplete(f"{exc.message}; nothing was run") from exc
    run_id = store.run_id
    executor = Executor(plan, store, jobs=jobs or suite.concurrency or default_jobs(plan), use_cache=use_cache,
                        progress=progress)
    try:
        outcomes = asyncio.run(executor.run(todo))
    except KeyboardInterrupt:
        store.event("interrupted")
        return RunOutcome(run_id, plan, [], "interrupted", len(done))
    except (RegistryBusy, RegistryUnavailable) as exc:
        raise _stopped(reg, store, suite, exc) from exc
    errors = sum(1 for o in outcomes if o.result.error)
    store.event("completed", calls=len(outcomes), errors=errors)
    return RunOutcome(run_id, plan, outcomes, "completed", len(done))


def _prepare(reg: Any, suite: Suite, resume: str | None, max_cost: float | None, announce: Any,
             cases: Collection[str] | None) -> tuple[Plan, RunStore, set[tuple[str, str, int]], list[Any]]:
    """Everything before the first call: the plan (a case subset), what a resumed run has done,
    the cost check, and the run's record. Nothing here has called a model."""
    plan = build_plan(reg, suite)
    if cases is not None:
        wanted = set(cases)
        plan.jobs = [j for j in plan.jobs if j.case.id in wanted]
        plan.cases = [c for c in plan.cases if c.id in wanted]
        plan.fingerprint["cases"] = sorted(wanted)
    done: set[tuple[str, str, int]] = set()
    if resume:
        run = EvalReader(reg.reader).run(resume)
        if run is None:
            raise NotFound(f"no eval run {resume!r}")
        changed = sorted(k for k, v in plan.fingerprint.items() if run["plan"].get("fingerprint", {}).get(k) != v)
        if changed:
            raise InvalidValue(f"run {run['id']} cannot be resumed: its {', '.join(changed)} changed since it started; "
                               "start a new run")
        run_id = run["id"]
        done = {(r["pairing_id"], r["case_id"], r["repeat"]) for r in EvalReader(reg.reader).results(run_id)}
    else:
        run_id = uuid.uuid4().hex[:16]
    todo = [j for j in plan.jobs if (j.cell.pairing_id, j.case.id, j.repeat) not in done]
    estimate = estimate_cost(plan)
    if max_cost is not None and estimate is not None and estimate > max_cost:
        raise InvalidValue(f"this run would make {len(todo)} calls costing about ${estimate:.4f}, over --max-cost "
                           f"${max_cost:.4f}; nothing was called")
    if announce is not None:
        cost = "unknown" if estimate is None else f"about ${estimate:.4f}"
        announce(Announcement(f"{len(todo)} calls to make ({len(plan.jobs) - len(todo)} already done), "
                              f"estimated cost {cost}", calls=len(todo)))
    store = RunStore(reg, run_id, plan.scorers)
    if not resume:
        store.record_run(suite=suite.name, suite_hash=suite.hash, dataset_version_id=plan.dataset.id,
                         plan={"fingerprint": plan.fingerprint, "path": str(suite.path), "calls": plan.calls,
                               "estimated_cost_usd": estimate, "min_pass_rate": suite.min_pass_rate},
                         environment=environment(), actor=reg.actor)
    store.event("running" if not resume else "resumed", todo=len(todo))
    return plan, store, done, todo


def _stopped(reg: Any, store: RunStore, suite: Suite, exc: RegistryBusy | RegistryUnavailable) -> RunIncomplete:
    """The database failed mid-run: say what is kept and how to go on (marking the run failed if
    the database still takes a write; whether it does or not, resume works the same)."""
    try:
        store.event("failed", reason=exc.message)
    except (RegistryBusy, RegistryUnavailable):
        pass
    try:
        saved: Any = len(EvalReader(reg.reader).results(store.run_id))
    except (RegistryBusy, RegistryUnavailable):
        saved = "the"
    return RunIncomplete(f"{exc.message}. Run {store.run_id} stopped; {saved} results saved before it stay saved. "
                         f"Resume it with `promptver eval {suite.path} --resume {store.run_id}`")


def estimate_cost(plan: Plan) -> float | None:
    """A rough upper bound: prompt characters / 4 as tokens in, max_tokens (or 256) out, at the
    model's listed price. None when a price is unknown (and nothing to check against)."""
    from promptver.evals.calls import price_per_token

    total = 0.0
    for job in plan.jobs:
        prices = price_per_token(job.request.model)
        if prices is None:
            return None
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in job.request.messages) / 4
        completion_tokens = float(job.request.params.get("max_tokens") or 256)
        total += prompt_tokens * prices[0] + completion_tokens * prices[1]
    return total

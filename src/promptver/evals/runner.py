"""Executing a plan: asyncio, bounded concurrency, retries with backoff, the response cache,
merged identical in-flight requests, scoring, and results saved as they come (so an interrupted
run resumes without redoing finished cells).

Retries: rate limits (429), unavailable providers (5xx, connection errors) and timeouts are retried
up to ``ATTEMPTS`` times with exponential backoff and jitter, never sooner than a ``Retry-After``;
a 429 also closes a gate that every worker waits behind, so the whole run backs off together.
Errors are recorded per case (infrastructure, never a regression) and never cached.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from promptver.core.identity import content_hash
from promptver.evals.calls import CallRequest, CallResult, call
from promptver.evals.plan import Job, Plan

ATTEMPTS = 4
BASE_DELAY = 0.5  # seconds before the first retry; doubled each time, with jitter
RETRYABLE = {"rate_limited", "unavailable", "timeout"}
FLUSH_EVERY = 200


@dataclass
class Outcome:
    job: Job
    result: CallResult
    cached: bool
    scores: list[Any] = field(default_factory=list)


class JudgeFailed(Exception):
    """An llm-judge call failed, so its case cannot be scored."""


class Gate:
    """Shared backoff: after a 429 every worker waits until the gate opens again."""

    def __init__(self) -> None:
        self.open_at = 0.0

    async def wait(self) -> None:
        delay = self.open_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def close_for(self, seconds: float) -> None:
        self.open_at = max(self.open_at, time.monotonic() + seconds)


async def call_with_retries(request: CallRequest, gate: Gate,
                            caller: Callable[[CallRequest], Awaitable[CallResult]] = call) -> CallResult:
    result: CallResult | None = None
    for attempt in range(ATTEMPTS):
        await gate.wait()
        result = await caller(request)
        if result.error is None or result.error_kind not in RETRYABLE or attempt == ATTEMPTS - 1:
            return result
        delay = min(30.0, BASE_DELAY * 2 ** attempt) * (0.5 + random.random())
        if result.retry_after:
            delay = max(delay, result.retry_after)
        if result.error_kind == "rate_limited":
            gate.close_for(delay)
        await asyncio.sleep(delay)
    assert result is not None
    return result


def score_key(scorer: Any, job: Job, result: CallResult) -> str:
    return content_hash([scorer.version, result.output, job.case.expected, job.case.vars, job.case.id,
                         result.latency_ms if scorer.type in ("latency",) else None,
                         result.cost_usd if scorer.type in ("cost",) else None])


class Executor:
    def __init__(self, plan: Plan, store: Any, *, jobs: int, use_cache: bool,
                 progress: Callable[[Outcome], None] | None = None,
                 caller: Callable[[CallRequest], Awaitable[CallResult]] = call) -> None:
        self.plan, self.store, self.jobs, self.use_cache = plan, store, jobs, use_cache
        self.progress, self.caller = progress, caller
        self.gate = Gate()
        self.inflight: dict[str, asyncio.Future[CallResult]] = {}
        self.buffer: list[Outcome] = []
        self._saving: asyncio.Future[None] | None = None
        self._save_failed = False

    async def run(self, todo: list[Job]) -> list[Outcome]:
        semaphore = asyncio.Semaphore(self.jobs)
        outcomes: list[Outcome] = []
        self._save_lock = asyncio.Lock()

        async def one(job: Job) -> None:
            async with semaphore:
                outcome = await self._one(job)
            outcomes.append(outcome)
            self.buffer.append(outcome)
            if len(self.buffer) >= FLUSH_EVERY:
                await self._save_in_background()
            if self.progress:
                self.progress(outcome)

        try:
            await asyncio.gather(*(one(job) for job in todo))
            if self._saving is not None:
                await self._saving
        finally:
            if not self._save_failed:  # after a failed save the database is the problem: stop saving
                self.flush()
        return outcomes

    async def _save_in_background(self) -> None:
        """Save the buffer on a worker thread while calls go on. One batch at a time, in order: the
        next save waits for the previous one, and a failed save stops the run there (the failure
        is raised to the caller that would have started the next save)."""
        async with self._save_lock:
            if self._saving is not None:
                await self._saving
                self._saving = None
            batch, self.buffer = self.buffer, []
            if batch:  # handed to the thread now (not when a task first runs): a batch taken from
                # the buffer is saved even if Ctrl-C cancels everything a moment later
                self._saving = asyncio.get_running_loop().run_in_executor(None, self._save, batch)

    def _save(self, batch: list[Outcome]) -> None:
        try:
            self.store.save(batch)
        except BaseException:
            self._save_failed = True
            raise

    def flush(self) -> None:
        """Save what was not handed to a background save, synchronously (also after an interruption:
        a batch already on its thread finishes there, as asyncio.run waits for its executor)."""
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self._save(batch)

    async def _one(self, job: Job) -> Outcome:
        cached = self.store.cached_response(job.key) if self.use_cache else None
        if cached is not None:
            result, was_cached = CallResult(**cached), True
        else:
            result, was_cached = await self._call_merged(job), False
        outcome = Outcome(job, result, was_cached)
        if result.error is None:
            try:
                outcome.scores = [await self._score(s, job, result) for s in self.plan.scorers]
            except JudgeFailed as exc:  # the case could not be scored: infrastructure, not a regression
                outcome.result = replace(result, error=str(exc), error_kind="unavailable")
                outcome.scores = []
        return outcome

    async def _call_merged(self, job: Job) -> CallResult:
        """Identical requests in flight at once are made once (only when caching: repeats differ by key)."""
        if not self.use_cache:
            return await call_with_retries(job.request, self.gate, self.caller)
        running = self.inflight.get(job.key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[CallResult] = asyncio.get_running_loop().create_future()
        self.inflight[job.key] = future
        try:
            result = await call_with_retries(job.request, self.gate, self.caller)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            self.inflight.pop(job.key, None)

    async def _score(self, scorer: Any, job: Job, result: CallResult) -> Any:
        from promptver.evals.scorers import Score, ScoreInput, score

        key = score_key(scorer, job, result)
        hit = self.store.cached_score(key)
        if hit is not None:
            return (key, Score(scorer.name, float(hit["value"]), bool(hit["passed"]), hit["detail"]))
        case = job.case
        inp = ScoreInput(output=result.output, expected=case.expected, case_id=case.id, vars=case.vars,
                         metadata=case.metadata or {}, latency_ms=result.latency_ms, cost_usd=result.cost_usd,
                         error=result.error)
        return (key, await score(scorer, inp, judge=self._judge(scorer)))

    def _judge(self, scorer: Any) -> Callable[[dict[str, Any]], Awaitable[str]] | None:
        pairing_id = getattr(scorer, "judge_pairing", None)
        if not pairing_id:
            return None
        pairing = self.store.pairing(pairing_id)

        async def judge(variables: dict[str, Any]) -> str:
            from promptver.templates import render_messages

            request = CallRequest(model=pairing.model.model, messages=render_messages(pairing.prompt.messages, variables),
                                  params=dict(pairing.model.params), timeout=self.plan.suite.timeout)
            result = await call_with_retries(request, self.gate, self.caller)
            if result.error:
                raise JudgeFailed(f"the judge {pairing_id} failed: {result.error}")
            return result.output or ""

        return judge

"""Executing a plan: asyncio, bounded concurrency, retries with backoff, the response cache,
merged identical in-flight requests, scoring, and results saved as they come (so an interrupted
run resumes without redoing finished cells).

Retries: rate limits (429), unavailable providers (5xx, connection errors) and timeouts are retried
up to ``ATTEMPTS`` times with exponential backoff and jitter, never sooner than a ``Retry-After``;
a 429 also closes a gate that every worker waits behind, so the whole run backs off together.
Errors are recorded per case (infrastructure, never a regression) and never cached.

Circuit breaker: after ``BREAKER_FAILURES`` consecutive connection failures (no answer at all) to
one endpoint, the run stops calling it: calls in flight end with their error, calls not yet made
are not made (no result: the run is incomplete and ``--resume`` makes them), other endpoints go on.

Memory stays flat in the number of calls: a fixed pool of workers takes jobs one at a time from the
plan's generator, and finished outcomes are only counted (the database holds them).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from promptver.core.identity import content_hash
from promptver.evals.calls import CallRequest, CallResult, call
from promptver.evals.plan import Job, Plan

ATTEMPTS = 4
BASE_DELAY = 0.5  # seconds before the first retry; doubled each time, with jitter
RETRYABLE = {"rate_limited", "unavailable", "connection", "timeout"}
FLUSH_EVERY = 200
FEED_BATCH = 256  # jobs whose cached responses are looked up in one query
# scorers that are cheap pure functions of what they score: computing one is faster than looking it up
# (their scores are still stored in the score cache; llm-judge and python scorers are looked up first)
PURE_SCORERS = frozenset({"contains", "not-contains", "equals", "regex", "json-valid", "json-schema", "latency",
                          "cost"})
BREAKER_FAILURES = 8  # consecutive connection failures to one endpoint before the run stops calling it


@dataclass
class Outcome:
    job: Job
    result: CallResult
    cached: bool
    scores: list[Any] = field(default_factory=list)
    attempt: int = 0  # 0, or n + 1 when --resume retries a call whose attempt n ended in an error


@dataclass
class Tally:
    """What a run made, counted as it goes (outcomes themselves are not kept)."""

    calls: int = 0
    errors: int = 0
    cached: int = 0
    not_made: int = 0


class Breaker:
    """Consecutive connection failures per endpoint; once ``limit`` is reached the endpoint is open
    (no more calls to it in this run)."""

    def __init__(self, limit: int = BREAKER_FAILURES) -> None:
        self.limit = limit
        self.failures: dict[str, int] = {}
        self.opened: dict[str, str] = {}  # endpoint -> the last error

    def is_open(self, endpoint: str) -> bool:
        return endpoint in self.opened

    def record(self, endpoint: str, result: CallResult) -> None:
        if result.error_kind == "connection":
            count = self.failures[endpoint] = self.failures.get(endpoint, 0) + 1
            if count >= self.limit and endpoint not in self.opened:
                self.opened[endpoint] = result.error or "connection failed"
        else:
            self.failures[endpoint] = 0


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
                            caller: Callable[[CallRequest], Awaitable[CallResult]] = call,
                            breaker: Breaker | None = None, endpoint: str = "") -> CallResult:
    result: CallResult | None = None
    for attempt in range(ATTEMPTS):
        await gate.wait()
        result = await caller(request)
        if breaker is not None:
            breaker.record(endpoint, result)
        if result.error is None or result.error_kind not in RETRYABLE or attempt == ATTEMPTS - 1:
            return result
        if breaker is not None and breaker.is_open(endpoint):  # no more tries against a dead endpoint
            return result
        delay = min(30.0, BASE_DELAY * 2 ** attempt) * (0.5 + random.random())
        if result.retry_after:
            delay = max(delay, result.retry_after)
        if result.error_kind == "rate_limited":
            gate.close_for(delay)
        await asyncio.sleep(delay)
    assert result is not None
    return result


def score_key(scorer: Any, result: CallResult, case_digest: str, judge_endpoint: dict[str, Any] | None = None) -> str:
    """A score's cache key: the scorer's version and what it scored: the output, the case (``case_digest``:
    the content hash of its expected value, vars and id) and, for an llm-judge, where the judge runs."""
    parts: list[Any] = [scorer.version, result.output, case_digest,
                        result.latency_ms if scorer.type in ("latency",) else None,
                        result.cost_usd if scorer.type in ("cost",) else None]
    if judge_endpoint is not None:
        parts.append({"judge_endpoint": judge_endpoint})
    return content_hash(parts)


def endpoint_of(job: Job) -> str:
    endpoint = job.cell.endpoint
    return "" if endpoint is None else (endpoint.url or repr(sorted(endpoint.identity().items())))


class Executor:
    def __init__(self, plan: Plan, store: Any, *, jobs: int, use_cache: bool,
                 progress: Callable[[Outcome], None] | None = None,
                 caller: Callable[[CallRequest], Awaitable[CallResult]] = call,
                 attempts: dict[tuple[str, str, int], int] | None = None) -> None:
        self.plan, self.store, self.jobs, self.use_cache = plan, store, jobs, use_cache
        self.progress, self.caller = progress, caller
        self.attempts = attempts or {}  # calls --resume retries: (pairing, case, repeat) -> the attempt to make
        self.gate = Gate()
        self.breaker = Breaker()
        self.tally = Tally()
        self._case_digests: dict[str, str] = {}
        self._judges: dict[str, Any] = {}  # judge pairing -> (its call, its endpoint's identity)
        self.inflight: dict[str, asyncio.Future[CallResult]] = {}
        self.buffer: list[Outcome] = []
        self._saving: asyncio.Future[None] | None = None
        self._save_failed = False

    @property
    def stopped(self) -> dict[str, str]:
        """Endpoints the circuit breaker stopped calling, with their last error."""
        return dict(self.breaker.opened)

    async def run(self, todo: Iterable[Job]) -> Tally:
        self._save_lock = asyncio.Lock()
        pending = self._feed(iter(todo))

        async def worker() -> None:
            for job, cached in pending:  # (a shared iterator: each job goes to exactly one worker)
                if cached is None and self.breaker.is_open(endpoint_of(job)):
                    self.tally.not_made += 1
                    continue
                outcome = await self._one(job, cached)
                if outcome is None:
                    self.tally.not_made += 1
                    continue
                self.tally.calls += 1
                self.tally.errors += outcome.result.error is not None
                self.tally.cached += outcome.cached
                self.buffer.append(outcome)
                if len(self.buffer) >= FLUSH_EVERY:
                    await self._save_in_background()
                if self.progress:
                    self.progress(outcome)

        try:
            await asyncio.gather(*(worker() for _ in range(self.jobs)))
            if self._saving is not None:
                await self._saving
        finally:
            if not self._save_failed:  # after a failed save the database is the problem: stop saving
                self.flush()
        return self.tally

    def _feed(self, jobs: Iterator[Job]) -> Iterator[tuple[Job, dict[str, Any] | None]]:
        """Jobs with their cached response (or None), looked up ``FEED_BATCH`` at a time: one query per
        batch instead of one per call, and never more than a batch of them in memory."""
        while True:
            batch = list(itertools.islice(jobs, FEED_BATCH))
            if not batch:
                return
            hits = self.store.cached_responses([j.key for j in batch]) if self.use_cache else {}
            for job in batch:
                yield job, hits.get(job.key)

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

    async def _one(self, job: Job, cached: dict[str, Any] | None) -> Outcome | None:
        """The job's outcome; None when the circuit breaker opened before its call was made."""
        if cached is not None:
            result, was_cached = CallResult(**cached), True
        else:
            if self.breaker.is_open(endpoint_of(job)):
                return None
            result, was_cached = await self._call_merged(job), False
        outcome = Outcome(job, result, was_cached, attempt=self.attempts.get(job.call, 0))
        if result.error is None:
            try:
                outcome.scores = [await self._score(s, job, result) for s in self.plan.scorers]
            except JudgeFailed as exc:  # the case could not be scored: infrastructure, not a regression
                outcome.result = replace(result, error=str(exc), error_kind="unavailable")
                outcome.scores = []
        return outcome

    async def _call_merged(self, job: Job) -> CallResult:
        """Identical requests in flight at once are made once (only when caching: repeats differ by key)."""
        endpoint = endpoint_of(job)
        if not self.use_cache:
            return await call_with_retries(job.request, self.gate, self.caller, self.breaker, endpoint)
        running = self.inflight.get(job.key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[CallResult] = asyncio.get_running_loop().create_future()
        self.inflight[job.key] = future
        try:
            result = await call_with_retries(job.request, self.gate, self.caller, self.breaker, endpoint)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            self.inflight.pop(job.key, None)

    async def _score(self, scorer: Any, job: Job, result: CallResult) -> Any:
        from promptver.evals.scorers import Score, ScoreInput, score

        judge = self._judge(scorer)
        digest = self._case_digests.get(job.case.id)
        if digest is None:  # (once per case: a run scores each case once per pairing and repeat)
            digest = self._case_digests[job.case.id] = content_hash([job.case.expected, job.case.vars, job.case.id])
        key = score_key(scorer, result, digest, None if judge is None else judge[1])
        hit = None if scorer.type in PURE_SCORERS else self.store.cached_score(key)
        if hit is not None:
            return (key, Score(scorer.name, float(hit["value"]), bool(hit["passed"]), hit["detail"]))
        case = job.case
        inp = ScoreInput(output=result.output, expected=case.expected, case_id=case.id, vars=case.vars,
                         metadata=case.metadata or {}, latency_ms=result.latency_ms, cost_usd=result.cost_usd,
                         error=result.error)
        return (key, await score(scorer, inp, judge=None if judge is None else judge[0]))

    def _judge(self, scorer: Any) -> tuple[Callable[[dict[str, Any]], Awaitable[str]], dict[str, Any]] | None:
        """The judge call of an llm-judge scorer, and its effective endpoint (part of the score's key)."""
        pairing_id = getattr(scorer, "judge_pairing", None)
        if not pairing_id:
            return None
        if pairing_id in self._judges:
            return self._judges[pairing_id]
        from promptver.providers.endpoints import effective_endpoint

        pairing = self.store.pairing(pairing_id)
        where = effective_endpoint(pairing.model.model, pairing.model.params)

        async def judge(variables: dict[str, Any]) -> str:
            from promptver.templates import render_messages

            request = CallRequest(model=pairing.model.model, messages=render_messages(pairing.prompt.messages, variables),
                                  params=dict(pairing.model.params), timeout=self.plan.suite.timeout, endpoint=where)
            result = await call_with_retries(request, self.gate, self.caller)
            if result.error:
                raise JudgeFailed(f"the judge {pairing_id} failed: {result.error}")
            return result.output or ""

        self._judges[pairing_id] = (judge, where.identity())
        return self._judges[pairing_id]

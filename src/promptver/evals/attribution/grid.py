"""Replaying a suite's fixed test set on chosen prompt versions x model versions, and reading the
results back per (prompt version, model version) and case: the shared step of attribution and
bisect. It is an eval run (stored, cached, resumable) of its own kind: a replay, which never feeds
suite-level views, baselines or release gates; its prompts, models, repeats and cases come from the
caller instead of the suite file."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

from promptver.errors import InvalidValue
from promptver.evals.suites import Suite
from promptver.storage.eval_reader import EvalReader


@dataclass(frozen=True)
class Attempt:
    """One repeat of one case in one cell."""

    repeat: int
    output: str | None
    error: str | None
    passed: bool | None                       # every scorer passed (None: an error, not scored)
    scores: dict[str, float] = field(default_factory=dict)
    cached: bool = False
    latency_ms: float | None = None
    cost_usd: float | None = None


@dataclass
class Grid:
    run_id: str
    cells: dict[tuple[int, int], str]                                   # (prompt id, model id) -> pairing
    results: dict[tuple[int, int], dict[str, list[Attempt]]]            # cell -> case -> repeats
    scorers: list[str]
    case_ids: list[str]
    cached: int = 0
    calls: int = 0
    state: str = "completed"                                            # or interrupted (Ctrl-C)
    repeats: int = 1

    def attempts(self, prompt: Any, model: Any, case: str) -> list[Attempt]:
        return self.results.get((prompt.id, model.id), {}).get(case, [])


def variant(suite: Suite, prompts: list[Any], models: list[Any], repeats: int | None) -> Suite:
    """``suite`` with these prompt and model versions (and repeats) instead of its own."""
    prompt_refs = list(dict.fromkeys(p.ref for p in prompts))
    model_refs = list(dict.fromkeys(m.ref for m in models))
    count = suite.repeats if repeats is None else repeats
    if count < 1:
        raise InvalidValue("--repeats must be at least 1")
    raw = {**suite.raw, "prompts": prompt_refs, "models": model_refs, "repeats": count}
    return replace(suite, prompts=prompt_refs, models=model_refs, repeats=count, raw=raw)


def check_inputs(suite: Suite, old: Any, new: Any) -> None:
    """Refuse a suite whose cases set variables the new prompt version takes and the old one does
    not: the two versions take different inputs, so one test set cannot replay both."""
    from promptver.evals.datasets import load_cases

    if old.id == new.id:
        return
    takes_old = set(old.variables) | set(old.variable_names)
    takes_new = set(new.variables) | set(new.variable_names)
    for case in load_cases(suite.dataset):
        extra = sorted((set(case.vars) & takes_new) - takes_old)
        if extra:
            raise InvalidValue(
                f"{suite.dataset.name}: case {case.id!r} sets variable(s) {', '.join(extra)}, which {new.ref} takes "
                f"but {old.ref} does not: the two prompt versions take different inputs, so this suite cannot "
                "replay both; use a suite whose cases fit both versions")


def replay(reg: Any, suite: Suite, prompts: list[Any], models: list[Any], *, kind: str,
           repeats: int | None = None, jobs: int | None = None, use_cache: bool = True, progress: Any = None,
           announce: Any = None, cases: Collection[str] | None = None) -> Grid:
    """Run ``prompts`` x ``models`` on the suite's dataset (only ``cases``, if given), stored as a
    replay of ``kind`` (``attribution`` or ``bisect``): never a suite run."""
    from promptver.evals import run as runs

    outcome = runs.start(reg, variant(suite, prompts, models, repeats), jobs=jobs, use_cache=use_cache,
                         progress=progress, announce=announce, cases=cases, kind=kind)
    plan = outcome.plan
    by_pairing = {cell.pairing_id: (cell.prompt.id, cell.model.id) for cell in plan.cells}
    reader = EvalReader(reg.reader)
    scores: dict[int, dict[str, tuple[float, bool]]] = defaultdict(dict)
    for row in reader.scores(outcome.run_id):
        scores[row["result_id"]][row["scorer"]] = (float(row["value"]), bool(row["passed"]))
    results: dict[tuple[int, int], dict[str, list[Attempt]]] = defaultdict(lambda: defaultdict(list))
    cached = 0
    for row in reader.results(outcome.run_id):
        own = scores.get(row["id"], {})
        passed = None if row["error"] else all(ok for _, ok in own.values())
        cached += bool(row["cached"])
        results[by_pairing[row["pairing_id"]]][row["case_id"]].append(
            Attempt(row["repeat"], row["output"], row["error"], passed, {k: v for k, (v, _) in own.items()},
                    bool(row["cached"]), row.get("latency_ms"), row.get("cost_usd")))
    for per_case in results.values():
        for attempts in per_case.values():
            attempts.sort(key=lambda a: a.repeat)
    return Grid(outcome.run_id, {v: k for k, v in by_pairing.items()}, results, [s.name for s in plan.scorers],
                [c.id for c in plan.cases], cached, plan.calls, outcome.state,
                plan.suite.repeats)

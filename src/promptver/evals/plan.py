"""Planning a run: resolve the suite's refs, pair every prompt version with every model version,
render every case, and key every call. Everything that can be refused is refused here, before a
single model call: unknown refs, a case missing a variable (case and variable named), bad scorers.

The response cache key (documented in docs/evals.md) is the sha256 of the canonical JSON of
``{"v": CACHE_FORMAT, "model", "params", "messages", "tools", "response_format", "seed", "api_base",
"repeat"}``: everything that decides the output, never a secret (params cannot hold one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptver.core.identity import content_hash
from promptver.errors import MissingVariables, TemplateError
from promptver.evals.calls import CallRequest
from promptver.evals.datasets import Case, dataset_hash, load_cases
from promptver.evals.suites import Suite

CACHE_FORMAT = 1


@dataclass(frozen=True)
class Cell:
    pairing_id: str
    prompt: Any   # PromptVersion
    model: Any    # ModelVersion


@dataclass(frozen=True)
class Job:
    cell: Cell
    case: Case
    repeat: int
    request: CallRequest
    key: str


@dataclass
class Plan:
    suite: Suite
    dataset: Any                      # services.datasets.DatasetVersion
    cells: list[Cell]
    cases: list[Case]
    jobs: list[Job]
    scorers: list[Any]
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return len(self.jobs)


def request_key(request: CallRequest, repeat: int) -> str:
    params = dict(request.params)
    return content_hash({
        "v": CACHE_FORMAT, "model": request.model, "params": params, "messages": request.messages,
        "tools": request.tools, "response_format": request.response_format, "seed": params.get("seed"),
        "api_base": params.get("api_base"), "repeat": repeat,
    })


def _unique(items: list[Any]) -> list[Any]:
    seen, out = set(), []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            out.append(item)
    return out


def build_plan(reg: Any, suite: Suite) -> Plan:
    from promptver.evals.scorers import parse_scorers, validate_expected
    from promptver.services import datasets
    from promptver.templates import render_messages
    from promptver.templates.specs import with_defaults

    cases = load_cases(suite.dataset)
    dataset, _ = datasets.push(reg, suite.dataset.stem, [c.to_json() for c in cases], dataset_hash(cases),
                               source=str(suite.dataset))
    prompts = _unique([reg.prompt_version(ref) for ref in suite.prompts])
    models = _unique([reg.model_version(ref) for ref in suite.models])
    scorers = parse_scorers(suite.scorers, str(suite.path), base_dir=suite.path.parent)
    scorers = [_with_judge(reg, s) for s in scorers]
    for case in cases:  # a case without the "expected" a scorer needs is refused before any call
        validate_expected(scorers, case.id, case.expected)
    rendered: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for prompt in prompts:
        for case in cases:
            try:
                rendered[(prompt.id, case.id)] = render_messages(prompt.messages, with_defaults(prompt.variables, case.vars))
            except MissingVariables as exc:
                raise MissingVariables(exc.names, f"{suite.dataset.name}: case {case.id!r}: missing variable(s) "
                                                  f"{', '.join(exc.names)} for {prompt.ref}") from None
            except TemplateError as exc:
                raise type(exc)(f"{suite.dataset.name}: case {case.id!r} with {prompt.ref}: {exc}") from None
    cells = [Cell(reg.pair(p.ref, m.ref, message=f"eval suite {suite.name}").pairing.id, p, m)
             for p in prompts for m in models]
    jobs = []
    for cell in cells:
        for case in cases:
            for repeat in range(suite.repeats):
                request = CallRequest(model=cell.model.model, messages=rendered[(cell.prompt.id, case.id)],
                                      params=dict(cell.model.params), tools=cell.prompt.tools,
                                      response_format=cell.prompt.response_format, timeout=suite.timeout)
                jobs.append(Job(cell, case, repeat, request, request_key(request, repeat)))
    fingerprint = {
        "suite": suite.hash, "dataset": dataset.content_hash,
        "pairings": [c.pairing_id for c in cells],
        "prompts": {p.ref: p.content_hash for p in prompts}, "models": {m.ref: m.content_hash for m in models},
        "scorers": {s.name: s.version for s in scorers}, "repeats": suite.repeats,
    }
    return Plan(suite, dataset, cells, cases, jobs, scorers, fingerprint)


def _with_judge(reg: Any, scorer: Any) -> Any:
    """An llm-judge scorer is pinned to the pairing its judge ref resolves to now."""
    judge_ref = getattr(scorer, "judge", None)
    if not judge_ref:
        return scorer
    resolved = reg.resolve(judge_ref).pairing
    return scorer.with_judge(resolved.id, resolved.prompt.content_hash, resolved.model.content_hash)

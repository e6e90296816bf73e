"""Planning a run: resolve the suite's refs, pair every prompt version with every model version,
render every case, find each pairing's effective endpoint, and key every call. Everything that can
be refused is refused here, before a single model call: unknown refs, a case missing a variable
(case and variable named), bad scorers.

Jobs are not held in a list: ``Plan.jobs()`` makes them one at a time (a nightly run of 10,000 cases
x 8 pairings x 3 repeats is 240,000 calls; its memory must not grow with them).

The response cache key (documented in docs/evals.md) is the sha256 of the canonical JSON of
``{"v": CACHE_FORMAT, "request": REQUEST, "repeat": N}``, where REQUEST is the content hash of
``{"call": CALL, "messages": MESSAGES}``, CALL the content hash of ``{"model", "params", "endpoint",
"tools", "response_format"}`` (one per cell) and MESSAGES the content hash of the rendered messages
(one per prompt version and case): everything that decides the output, the effective endpoint
included (providers/endpoints.py: the URL after every environment default, and the provider's
endpoint settings), never a secret (params cannot hold one). Hashing in these parts keeps the key
cheap when a run has hundreds of thousands of calls.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptver.core.identity import content_hash
from promptver.core.params import refuse_secrets
from promptver.errors import MissingVariables, TemplateError
from promptver.evals.calls import CallRequest
from promptver.evals.datasets import Case, dataset_hash, load_cases
from promptver.evals.suite_content import SuiteContent, content_of
from promptver.evals.suites import Suite, check_calls
from promptver.providers.endpoints import Endpoint, effective_endpoint

CACHE_FORMAT = 2  # 1 had no endpoint: its entries are never read again


@dataclass(frozen=True)
class Cell:
    pairing_id: str
    prompt: Any   # PromptVersion
    model: Any    # ModelVersion
    endpoint: Endpoint | None = None


@dataclass(frozen=True)
class Job:
    cell: Cell
    case: Case
    repeat: int
    request: CallRequest
    key: str

    @property
    def call(self) -> tuple[str, str, int]:
        """What identifies the call within a run: (pairing, case, repeat)."""
        return (self.cell.pairing_id, self.case.id, self.repeat)


@dataclass
class Plan:
    suite: Suite
    dataset: Any                      # services.datasets.DatasetVersion
    cells: list[Cell]
    cases: list[Case]
    scorers: list[Any]
    content: SuiteContent
    rendered: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (prompt ref, case id)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    message_hashes: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @property
    def repeats(self) -> int:
        return self.suite.repeats

    @property
    def calls(self) -> int:
        return len(self.cells) * len(self.cases) * self.repeats

    def only_cases(self, wanted: Collection[str]) -> None:
        """Keep only these case ids (a replay of chosen cases)."""
        chosen = set(wanted)
        self.cases = [c for c in self.cases if c.id in chosen]
        self.fingerprint["cases"] = sorted(chosen)

    def endpoints(self) -> dict[str, dict[str, Any]]:
        """Per pairing, where its calls go (recorded with the run)."""
        return {c.pairing_id: c.endpoint.to_json() for c in self.cells if c.endpoint is not None}

    def jobs(self, skip: Collection[tuple[str, str, int]] = ()) -> Iterator[Job]:
        """Every call of the plan, cell by cell, case by case, repeat by repeat, except those in ``skip``."""
        for cell in self.cells:
            params = dict(cell.model.params)
            refuse_secrets(params, "params", library=False)  # checked in full when stored (core/secrets.py)
            call = content_hash({"model": cell.model.model, "params": params,
                                 "endpoint": None if cell.endpoint is None else cell.endpoint.identity(),
                                 "tools": cell.prompt.tools, "response_format": cell.prompt.response_format})
            for case in self.cases:
                request = digest = None
                for repeat in range(self.repeats):
                    if (cell.pairing_id, case.id, repeat) in skip:
                        continue
                    if request is None:
                        messages = self.rendered[(cell.prompt.ref, case.id)]
                        request = CallRequest(model=cell.model.model, messages=messages, params=params,
                                              tools=cell.prompt.tools, response_format=cell.prompt.response_format,
                                              timeout=self.suite.timeout, endpoint=cell.endpoint, vetted=True)
                        digest = request_hash(call, self._messages_hash(cell.prompt.ref, case.id, messages))
                    yield Job(cell, case, repeat, request, request_key(digest, repeat))

    def _messages_hash(self, prompt_ref: str, case_id: str, messages: list[dict[str, Any]]) -> str:
        key = (prompt_ref, case_id)
        found = self.message_hashes.get(key)
        if found is None:
            found = self.message_hashes[key] = content_hash(messages)
        return found


def request_hash(call: str, messages: str) -> str:
    """The hash of one request: ``call`` is the content hash of ``{"model", "params", "endpoint",
    "tools", "response_format"}``, ``messages`` the content hash of the rendered messages."""
    return content_hash({"call": call, "messages": messages})


def request_key(request_digest: str, repeat: int) -> str:
    return content_hash({"v": CACHE_FORMAT, "request": request_digest, "repeat": repeat})


def _unique(items: list[Any]) -> list[Any]:
    """Versions in order, each once (by ref: versions read through a server carry no database id)."""
    seen, out = set(), []
    for item in items:
        if item.ref not in seen:
            seen.add(item.ref)
            out.append(item)
    return out


def build_plan(reg: Any, suite: Suite, environ: Mapping[str, str] | None = None) -> Plan:
    from promptver.evals.scorers import parse_scorers, validate_expected
    from promptver.services import datasets
    from promptver.templates import render_messages
    from promptver.templates.specs import with_defaults

    cases = load_cases(suite.dataset)
    check_calls(suite, len(cases))  # cases x pairings x repeats over the limit: refused before anything is stored
    digest = dataset_hash(cases)
    rows, name, source = [c.to_json() for c in cases], suite.dataset.stem, str(suite.dataset)
    dataset, _ = (reg.push_dataset(name, rows, digest, source=source) if hasattr(reg, "push_dataset")  # over HTTP
                  else datasets.push(reg, name, rows, digest, source=source))
    prompts = _unique([reg.prompt_version(ref) for ref in suite.prompts])
    models = _unique([reg.model_version(ref) for ref in suite.models])
    parsed = parse_scorers(suite.scorers, str(suite.path), base_dir=suite.path.parent)
    content = content_of(dataset.content_hash, parsed, suite.repeats, suite.min_pass_rate)
    scorers = [_with_judge(reg, s) for s in parsed]
    for case in cases:  # a case without the "expected" a scorer needs is refused before any call
        validate_expected(scorers, case.id, case.expected)
    rendered: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for prompt in prompts:
        for case in cases:
            try:
                rendered[(prompt.ref, case.id)] = render_messages(prompt.messages, with_defaults(prompt.variables, case.vars))
            except MissingVariables as exc:
                raise MissingVariables(exc.names, f"{suite.dataset.name}: case {case.id!r}: missing variable(s) "
                                                  f"{', '.join(exc.names)} for {prompt.ref}") from None
            except TemplateError as exc:
                raise type(exc)(f"{suite.dataset.name}: case {case.id!r} with {prompt.ref}: {exc}") from None
    endpoints = {m.ref: effective_endpoint(m.model, m.params, environ) for m in models}
    cells = [Cell(reg.pair(p.ref, m.ref, message=f"eval suite {suite.name}").pairing.id, p, m, endpoints[m.ref])
             for p in prompts for m in models]
    fingerprint = {
        "suite": suite.hash, "dataset": dataset.content_hash,
        "pairings": [c.pairing_id for c in cells],
        "prompts": {p.ref: p.content_hash for p in prompts}, "models": {m.ref: m.content_hash for m in models},
        "scorers": {s.name: s.version for s in scorers}, "repeats": suite.repeats,
        "endpoints": {c.pairing_id: c.endpoint.identity() for c in cells if c.endpoint is not None},
    }
    return Plan(suite, dataset, cells, cases, scorers, content, rendered, fingerprint)


def _with_judge(reg: Any, scorer: Any) -> Any:
    """An llm-judge scorer is pinned to the pairing its judge ref resolves to now."""
    judge_ref = getattr(scorer, "judge", None)
    if not judge_ref:
        return scorer
    resolved = reg.resolve(judge_ref).pairing
    return scorer.with_judge(resolved.id, resolved.prompt.content_hash, resolved.model.content_hash)

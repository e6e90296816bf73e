"""Scorers: how a suite says what a good output is (docs/scorers.md).

A suite declares scorers as mappings (``- type: contains``); :func:`parse_scorers` validates them
into :class:`Scorer` values, and :func:`score` scores one call's output with one of them::

    scorers = parse_scorers(suite.scorers, str(suite.path), base_dir=suite.path.parent)
    validate_expected(scorers, case.id, case.expected)          # before any model call
    load_code(scorers, say)                                     # when the run starts: python modules
    result = await score(scorers[0], ScoreInput(output, case.expected, case.id, case.vars, ...))

* **A suite is code**: ``parse_scorers`` never executes a ``python`` scorer's module (it is found and
  hashed); :func:`load_code` executes it, telling ``say`` each file's path first. A run calls it
  once every input check has passed (evals/run.py); ``score`` loads a module not loaded yet.

* **Pass/fail**: ``passed = value >= threshold`` (default threshold 1.0 for the boolean types,
  0.5 for ``python`` and ``llm-judge``), except that a scorer that could not judge the output (a
  python function that raised, a judge reply not understood, no latency or cost recorded) fails.
* **Failed calls are not scored**: ``score()`` raises InvalidValue for an input with ``error`` set;
  the runner counts such calls as infrastructure failures.
* **Version**: ``Scorer.version`` is the content hash of everything that decides the Score (type,
  normalised options, name, threshold), the type's implementation version, the python module
  file's sha256, and the judge ref with its pinned pairing and hashes. ``weight`` is left out: it
  weighs scores later and changes none. Scores can be cached by version.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from promptver.core.identity import content_hash
from promptver.errors import InvalidFile, InvalidValue
from promptver.evals import scorers_checks, scorers_judge, scorers_python
from promptver.evals.scorers_base import COMMON_FIELDS, Decl, JudgeFn, Kind, Score, ScoreInput, expected_targets
from promptver.evals.scorers_judge import parse_judge_reply

__all__ = ["KINDS", "JudgeFn", "Score", "ScoreInput", "Scorer", "load_code", "parse_judge_reply", "parse_scorers",
           "score", "validate_expected"]

SCORER_KIND = "promptver.scorer/1"
KINDS: dict[str, Kind] = {k.name: k for k in [*scorers_checks.KINDS, scorers_python.KIND, scorers_judge.KIND]}
_EPSILON = 1e-9  # 0.7 passes a threshold of 0.7 even when it was computed as 7/10


@dataclass(frozen=True)
class Scorer:
    """One validated scorer declaration. ``options`` are its type's fields, defaults filled in."""

    type: str
    name: str
    threshold: float
    weight: float
    options: dict[str, Any]
    code_sha256: str | None = None  # python: sha256 of the module file
    judge_pairing: str | None = None  # llm-judge: set by with_judge
    judge_prompt_hash: str | None = None
    judge_model_hash: str | None = None
    state: Any = field(default=None, compare=False, repr=False)  # compiled regex, schema validator, function

    def __hash__(self) -> int:
        return hash(self.version)

    @property
    def spec(self) -> dict[str, Any]:
        """The declaration in canonical form: every field, defaults filled in."""
        return {"type": self.type, "name": self.name, "threshold": self.threshold, "weight": self.weight,
                **self.options}

    @cached_property
    def version(self) -> str:
        judge = None
        if self.type == "llm-judge":
            judge = {"ref": self.options["judge"], "pairing": self.judge_pairing,
                     "prompt_hash": self.judge_prompt_hash, "model_hash": self.judge_model_hash}
        spec = {k: v for k, v in self.spec.items() if k != "weight"}
        return content_hash({"kind": SCORER_KIND, "impl": KINDS[self.type].impl, "spec": spec,
                             "code_sha256": self.code_sha256, "judge": judge})

    @property
    def uses_expected(self) -> bool:
        """True when the scorer compares with each case's ``expected`` (a text scorer with no value)."""
        return KINDS[self.type].uses_expected(self.options)

    @property
    def judge(self) -> str | None:
        """The llm-judge's ref as declared (``judge-rubric@production``), for the runner to resolve."""
        return self.options.get("judge")

    def with_judge(self, pairing_id: str, prompt_hash: str, model_hash: str) -> Scorer:
        """This llm-judge scorer pinned to the pairing its ref resolved to (a new Scorer, new version)."""
        if self.type != "llm-judge":
            raise InvalidValue(f"scorer {self.name!r} is a {self.type} scorer, not an llm-judge")
        for what, value in (("pairing id", pairing_id), ("prompt hash", prompt_hash), ("model hash", model_hash)):
            if not isinstance(value, str) or not value:
                raise InvalidValue(f"scorer {self.name!r}: the judge's {what} must be a non-empty string")
        return dataclasses.replace(self, judge_pairing=pairing_id, judge_prompt_hash=prompt_hash,
                                   judge_model_hash=model_hash)


def _name(decl: Decl, default: str) -> str:
    name = decl.raw.get("name", default)
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise decl.error("name", f"must be a non-empty string of at most 100 characters, not {name!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise decl.error("name", "must not contain control characters")
    return name


def _parse_one(raw: Any, decl: Decl) -> Scorer:
    known = ", ".join(sorted(KINDS))
    if not isinstance(raw, Mapping):
        raise decl.error(None, f"a scorer is a mapping with a type (e.g. {{type: contains}}), not {raw!r}")
    kind_name = raw.get("type")
    if kind_name is None:
        raise decl.error("type", f"missing; known types: {known}")
    if not isinstance(kind_name, str) or kind_name not in KINDS:
        raise decl.error("type", f"unknown scorer type {kind_name!r}; known types: {known}")
    kind = KINDS[kind_name]
    unknown = [str(k) for k in raw if k not in COMMON_FIELDS and k not in kind.fields]
    if unknown:
        takes = ", ".join([*kind.fields, *COMMON_FIELDS[1:]])
        raise decl.error(None, f"unknown field(s) {', '.join(unknown)}; a {kind_name} scorer takes: {takes}")
    built = kind.build(decl)
    threshold = decl.number("threshold", default=0.5 if kind.graded else 1.0, low=0, high=1)
    weight = decl.number("weight", default=1.0, low=0)
    return Scorer(type=kind_name, name=_name(decl, kind.label(built.options)), threshold=threshold, weight=weight,
                  options=built.options, code_sha256=built.code_sha256, state=built.state)


def parse_scorers(raw: Any, where: str, base_dir: str | Path | None = None) -> list[Scorer]:
    """Validate a suite's ``scorers`` list (None gives []); errors are InvalidFile naming ``where``,
    ``scorers[i]`` and the field. ``base_dir`` (the suite's folder) is searched first for python
    scorers' modules."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidFile(f"{where}: scorers must be a list of mappings, e.g. [{{type: contains}}]")
    folder = Path(base_dir) if base_dir is not None else None
    scorers: list[Scorer] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        decl = Decl(item if isinstance(item, Mapping) else {}, where, index, folder)
        scorer = _parse_one(item, decl)
        if scorer.name in seen:
            raise decl.error("name", f"{scorer.name!r} is already the name of scorers[{seen[scorer.name]}]; "
                                     "scorer names must be unique (set `name` on one of them)")
        seen[scorer.name] = index
        scorers.append(scorer)
    return scorers


def load_code(scorers: Sequence[Scorer], say: Callable[[str], Any] | None = None) -> None:
    """Execute the modules of the ``python`` scorers (each at most once per file content), telling
    ``say`` the path of each file before it runs. InvalidFile (naming the suite, the scorer and the
    field) if a module cannot be found, read or imported, lacks the function, or changed since the
    suite was read."""
    for scorer in scorers:
        if scorer.type == "python":
            scorer.state.load(say)


def validate_expected(scorers: Sequence[Scorer], case_id: str, expected: Any) -> None:
    """Raise InvalidValue (naming the case) if a scorer needs the case's expected value and it is
    missing or malformed: the runner calls this for every case before any model call."""
    for scorer in scorers:
        if scorer.uses_expected:
            expected_targets(scorer, expected, case_id, allow_empty=scorer.type == "equals")


async def score(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None = None) -> Score:
    """Score one output. Raises InvalidValue for a failed call (``inp.error`` set: not scored), for a
    text scorer whose case lacks ``expected``, and for an llm-judge scorer with no pinned pairing or
    no ``judge``; an error raised by ``judge`` itself propagates."""
    if inp.error is not None:
        raise InvalidValue(f"case {inp.case_id!r}: the call failed, so it is not scored: {inp.error}")
    outcome = KINDS[scorer.type].run(scorer, inp, judge)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    passed = not outcome.broken and outcome.value >= scorer.threshold - _EPSILON
    return Score(scorer.name, outcome.value, passed, outcome.detail)

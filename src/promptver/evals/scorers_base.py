"""What every scorer type shares: the scoring records, the declaration reader, the expected-value rule.

The public API is in scorers.py; the types are in scorers_checks.py (text, JSON, latency, cost),
scorers_python.py and scorers_judge.py. Each type is a :class:`Kind`: the fields it takes, how a
declaration becomes normalised options (``build``), and how an output is scored (``run``).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from promptver.errors import InvalidFile, InvalidValue

if TYPE_CHECKING:
    from promptver.evals.scorers import Scorer

JudgeFn = Callable[[dict[str, Any]], Awaitable[str]]
"""The llm-judge's model call, injected by the runner: variables in, the judge's reply text out."""

COMMON_FIELDS = ("type", "name", "threshold", "weight")


@dataclass(frozen=True)
class ScoreInput:
    """One case's call, as a scorer sees it (``output`` None with no error is scored as empty text)."""

    output: str | None
    expected: Any = None
    case_id: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None
    cost_usd: float | None = None
    error: str | None = None

    @property
    def text(self) -> str:
        return self.output or ""


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one output: ``value`` in [0, 1], ``passed``, and a human ``detail``."""

    name: str
    value: float
    passed: bool
    detail: str

    def __post_init__(self) -> None:
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and 0 <= self.value <= 1):
            raise InvalidValue(f"score {self.name!r}: value {self.value!r} is not a number in [0, 1]")


class Outcome(NamedTuple):
    """What a type's ``run`` returns; ``broken`` fails the score whatever the threshold."""

    value: float
    detail: str
    broken: bool = False


class Built(NamedTuple):
    """What a type's ``build`` returns: normalised options (defaults filled in), prepared state, code hash."""

    options: dict[str, Any]
    state: Any = None
    code_sha256: str | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    impl: int  # bump when the type's scoring changes: the scorer version changes with it
    fields: tuple[str, ...]
    build: Callable[[Decl], Built]
    run: Callable[[Scorer, ScoreInput, JudgeFn | None], Outcome | Awaitable[Outcome]]
    label: Callable[[dict[str, Any]], str]  # the default name
    graded: bool = False  # default threshold 0.5 (graded) or 1.0 (boolean)
    uses_expected: Callable[[dict[str, Any]], bool] = lambda options: False


def short(text: Any, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` characters (with "...")."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Decl:
    """One scorer declaration being read: every error names the file, ``scorers[i]`` and the field."""

    def __init__(self, raw: Mapping[str, Any], where: str, index: int, base_dir: Path | None) -> None:
        self.raw, self.where, self.index, self.base_dir = raw, where, index, base_dir

    def error(self, name: str | None, problem: str) -> InvalidFile:
        at = f"scorers[{self.index}]" + (f".{name}" if name else "")
        return InvalidFile(f"{self.where}: {at}: {problem}")

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.error(name, "missing")
            return None
        if not isinstance(value, str) or not value:
            raise self.error(name, f"must be a non-empty string, not {value!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, not {value!r}")
        return value

    def number(self, name: str, *, default: float | None = None, required: bool = False, low: float | None = None,
               high: float | None = None, positive: bool = False) -> float | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.error(name, "missing")
            return default
        if positive and (not _is_number(value) or value <= 0):
            raise self.error(name, f"must be a number above 0, not {value!r}")
        if not _is_number(value) or (low is not None and value < low) or (high is not None and value > high):
            span = (f"from {low:g} to {high:g}" if low is not None and high is not None
                    else f"of at least {low:g}" if low is not None else f"of at most {high:g}" if high is not None
                    else "")
            span = span and " " + span
            raise self.error(name, f"must be a number{span}, not {value!r}")
        return float(value)

    def texts(self, name: str) -> str | list[str] | None:
        """A non-empty string or a non-empty list of them; None when absent."""
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return list(value)
        raise self.error(name, f"must be a non-empty string or a list of them, not {value!r}")


def targets(scorer: Scorer, inp: ScoreInput, *, allow_empty: bool = False) -> list[str]:
    """The strings a text scorer compares with: its ``value``, else the case's ``expected``.

    A string is one target; a list is several (any-of for contains and equals, all-absent for
    not-contains). A missing or malformed expected value raises InvalidValue naming the case.
    """
    value = scorer.options.get("value")
    if value is not None:
        return [value] if isinstance(value, str) else list(value)
    return expected_targets(scorer, inp.expected, inp.case_id, allow_empty=allow_empty)


def expected_targets(scorer: Scorer, expected: Any, case_id: str, *, allow_empty: bool = False) -> list[str]:
    where = f"case {case_id!r}: scorer {scorer.name!r}"
    if expected is None:
        raise InvalidValue(f"{where} compares with the case's expected value, but the case has none "
                           "(give the case an expected value, or the scorer a value)")
    items = [expected] if isinstance(expected, str) else expected
    if (not isinstance(items, list) or not items
            or not all(isinstance(v, str) and (v or allow_empty) for v in items)):
        raise InvalidValue(f"{where}: expected must be a non-empty string or a list of them, "
                           f"not {short(repr(expected))}")
    return list(items)

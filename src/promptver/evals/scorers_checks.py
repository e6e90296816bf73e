"""The deterministic scorer types: contains, not-contains, equals, regex, json-valid, json-schema,
latency, cost. Each scores 1 (pass) or 0 (fail) with a detail saying why."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from promptver.core.identity import canonical_json
from promptver.errors import InvalidValue
from promptver.evals.scorers_base import Built, Decl, JudgeFn, Kind, Outcome, ScoreInput, short, targets

if TYPE_CHECKING:
    from promptver.evals.scorers import Scorer


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


def _value_label(kind: str):
    def label(options: dict[str, Any]) -> str:
        value = options.get("value")
        if value is None:
            return kind
        return f"{kind}:" + short("|".join([value] if isinstance(value, str) else value), 30)
    return label


def _uses_expected(options: dict[str, Any]) -> bool:
    return options.get("value") is None


# contains / not-contains / equals ------------------------------------------------------------------

def _build_contains(decl: Decl) -> Built:
    return Built({"value": decl.texts("value"), "ignore_case": decl.flag("ignore_case", False)})


def _run_contains(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    ignore = scorer.options["ignore_case"]
    wanted = targets(scorer, inp)
    text = _fold(inp.text, ignore)
    found = [t for t in wanted if _fold(t, ignore) in text]
    if found:
        return Outcome(1.0, f"found {short(found[0])!r}")
    if len(wanted) == 1:
        return Outcome(0.0, f"{short(wanted[0])!r} not found")
    return Outcome(0.0, "none of " + ", ".join(repr(short(t, 30)) for t in wanted) + " found")


def _run_not_contains(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    ignore = scorer.options["ignore_case"]
    text = _fold(inp.text, ignore)
    found = [t for t in targets(scorer, inp) if _fold(t, ignore) in text]
    if found:
        return Outcome(0.0, "found " + ", ".join(repr(short(t, 30)) for t in found))
    return Outcome(1.0, "none found")


def _build_equals(decl: Decl) -> Built:
    return Built({"value": decl.texts("value"), "ignore_case": decl.flag("ignore_case", False),
                  "strip": decl.flag("strip", True)})


def _run_equals(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    opts = scorer.options

    def norm(text: str) -> str:
        return _fold(text.strip() if opts["strip"] else text, opts["ignore_case"])

    wanted = targets(scorer, inp, allow_empty=True)
    output = norm(inp.text)
    if any(norm(t) == output for t in wanted):
        return Outcome(1.0, "equal")
    expected = repr(short(wanted[0])) if len(wanted) == 1 else "any of " + ", ".join(repr(short(t, 30)) for t in wanted)
    return Outcome(0.0, f"output {short(inp.text)!r} != {expected}")


# regex --------------------------------------------------------------------------------------------

def _build_regex(decl: Decl) -> Built:
    pattern = decl.text("pattern", required=True)
    ignore = decl.flag("ignore_case", False)
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore else 0)
    except re.error as exc:
        raise decl.error("pattern", f"invalid regex: {exc}") from None
    return Built({"pattern": pattern, "ignore_case": ignore}, compiled)


def _run_regex(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    match = scorer.state.search(inp.text)
    if match:
        return Outcome(1.0, f"matched {short(match.group(0))!r}")
    return Outcome(0.0, f"no match for /{short(scorer.options['pattern'])}/")


# json-valid / json-schema -------------------------------------------------------------------------

def _parse_json(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


def _run_json_valid(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    _, problem = _parse_json(inp.text)
    return Outcome(0.0, problem) if problem else Outcome(1.0, "valid JSON")


def _build_schema(decl: Decl) -> Built:
    from jsonschema import exceptions, validators

    schema = decl.raw.get("schema")
    if not isinstance(schema, (dict, bool)):
        raise decl.error("schema", "missing" if schema is None else "must be a JSON schema (a mapping)")
    try:
        canonical_json(schema)
    except InvalidValue as exc:
        raise decl.error("schema", str(exc)) from None
    cls = validators.validator_for(schema)
    problem = exceptions.best_match(cls(cls.META_SCHEMA).iter_errors(schema))
    if problem is not None:
        raise decl.error("schema", f"invalid JSON schema: {problem.json_path}: {problem.message}")
    return Built({"schema": schema}, cls(schema))


def _run_json_schema(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    from jsonschema import exceptions

    document, problem = _parse_json(inp.text)
    if problem:
        return Outcome(0.0, problem)
    error = exceptions.best_match(scorer.state.iter_errors(document))
    if error is not None:
        return Outcome(0.0, f"schema: {error.json_path}: {short(error.message, 200)}")
    return Outcome(1.0, "matches the schema")


# latency / cost -----------------------------------------------------------------------------------

def _build_latency(decl: Decl) -> Built:
    return Built({"max_ms": decl.number("max_ms", required=True, positive=True)})


def _run_latency(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    limit = scorer.options["max_ms"]
    if inp.latency_ms is None:
        return Outcome(0.0, "no latency recorded", broken=True)
    ok = inp.latency_ms <= limit
    return Outcome(float(ok), f"{inp.latency_ms:.0f} ms {'<=' if ok else '>'} {limit:g} ms")


def _build_cost(decl: Decl) -> Built:
    return Built({"max_usd": decl.number("max_usd", required=True, low=0)})


def _run_cost(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    limit = scorer.options["max_usd"]
    if inp.cost_usd is None:
        return Outcome(0.0, "cost unknown (none was reported for this call)", broken=True)
    ok = inp.cost_usd <= limit
    return Outcome(float(ok), f"${inp.cost_usd:.6g} {'<=' if ok else '>'} ${limit:g}")


KINDS = [
    Kind("contains", 1, ("value", "ignore_case"), _build_contains, _run_contains, _value_label("contains"),
         uses_expected=_uses_expected),
    Kind("not-contains", 1, ("value", "ignore_case"), _build_contains, _run_not_contains,
         _value_label("not-contains"), uses_expected=_uses_expected),
    Kind("equals", 1, ("value", "ignore_case", "strip"), _build_equals, _run_equals, _value_label("equals"),
         uses_expected=_uses_expected),
    Kind("regex", 1, ("pattern", "ignore_case"), _build_regex, _run_regex,
         lambda o: "regex:" + short(o["pattern"], 30)),
    Kind("json-valid", 1, (), lambda decl: Built({}), _run_json_valid, lambda o: "json-valid"),
    Kind("json-schema", 1, ("schema",), _build_schema, _run_json_schema, lambda o: "json-schema"),
    Kind("latency", 1, ("max_ms",), _build_latency, _run_latency, lambda o: "latency"),
    Kind("cost", 1, ("max_usd",), _build_cost, _run_cost, lambda o: "cost"),
]

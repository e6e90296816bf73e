"""The ``llm-judge`` scorer: a pinned pairing (its prompt is the rubric) grades the output.

The runner resolves ``judge`` (``NAME@LABEL`` or a pairing id) to a pairing, pins it on the scorer
(``Scorer.with_judge``) and passes a ``judge(variables) -> Awaitable[str]`` function that renders
the judge prompt with ``variables`` and calls the judge model. The reply's first token is read:

* ``PASS`` / ``FAIL`` (any case; ``PASSED`` / ``FAILED`` too) -> 1 / 0;
* a fraction ``N/M`` (``8/10``) or a percentage (``80%``) -> its value;
* a number: with ``scale: S`` declared, N/S (N from 0 to S); without, a number from 0 to 1 as
  is and a number above 1 up to 10 divided by 10 (so a reply of ``1`` reads as 1.0: declare
  ``scale: 10`` for a 0-10 rubric).

Anything else fails the score with "judge reply not understood: ...". An error raised by the
judge call itself (the judge model is down, a rate limit) is not a verdict on the output: it
propagates to the runner.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from promptver.core.refs import parse_ref
from promptver.errors import InvalidRef, InvalidValue
from promptver.evals.scorers_base import Built, Decl, JudgeFn, Kind, Outcome, ScoreInput, short

if TYPE_CHECKING:
    from promptver.evals.scorers import Scorer

_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
_WRAP = "*_`\"'()[]{}<>"  # markdown and quotes around the first token
_WORDS = {"pass": 1.0, "passed": 1.0, "fail": 0.0, "failed": 0.0}


def parse_judge_reply(reply: str, *, scale: float | None = None) -> float | None:
    """The score in [0, 1] that a judge's reply gives, or None when the reply is not understood."""
    if not isinstance(reply, str) or not reply.strip():
        return None
    token = reply.split(maxsplit=1)[0].lstrip(_WRAP).rstrip(_WRAP + ".,:;!")
    if token.lower() in _WORDS:
        return _WORDS[token.lower()]
    if m := re.fullmatch(rf"({_NUMBER})/({_NUMBER})", token):
        top, bottom = float(m[1]), float(m[2])
        return top / bottom if 0 < bottom and top <= bottom else None
    if m := re.fullmatch(rf"({_NUMBER})%", token):
        value = float(m[1])
        return value / 100 if value <= 100 else None
    if not re.fullmatch(_NUMBER, token):
        return None
    value = float(token)
    if scale is not None:
        return value / scale if value <= scale else None
    if value <= 1:
        return value
    return value / 10 if value <= 10 else None


def _build(decl: Decl) -> Built:
    ref = decl.text("judge", required=True)
    try:
        parsed = parse_ref(ref)
    except InvalidRef as exc:
        raise decl.error("judge", str(exc)) from None
    if parsed.label is None and parsed.pairing is None:
        raise decl.error("judge", f"must name a pairing: NAME@LABEL (e.g. judge-rubric@production) "
                                  f"or a pairing id, not {ref!r}")
    return Built({"judge": ref, "scale": decl.number("scale", positive=True)})


async def _run(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    ref = scorer.options["judge"]
    if scorer.judge_pairing is None:
        raise InvalidValue(f"scorer {scorer.name!r}: the judge {ref} is not pinned to a pairing "
                           "(Scorer.with_judge) so its scores could not be cached by version")
    if judge is None:
        raise InvalidValue(f"scorer {scorer.name!r}: scoring needs the judge function for {ref}")
    variables: dict[str, Any] = {"input": dict(inp.vars), "output": inp.text, "expected": inp.expected,
                                 "case_id": inp.case_id, "metadata": dict(inp.metadata)}
    reply = await judge(variables)
    value = parse_judge_reply(reply, scale=scorer.options["scale"])
    if value is None:
        return Outcome(0.0, f"judge reply not understood: {short(repr(reply), 200)}", broken=True)
    return Outcome(value, "judge: " + short(reply, 300))


KIND = Kind("llm-judge", 1, ("judge", "scale"), _build, _run, lambda o: "llm-judge:" + o["judge"], graded=True)

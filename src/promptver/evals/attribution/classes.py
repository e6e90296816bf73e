"""The class of one case: what changed it, and what reverting would do (pure).

Cells: B = ``before`` (old prompt, old model), P = ``prompt`` (new prompt, old model), M = ``model``
(old prompt, new model), A = ``after`` (new prompt, new model). Each cell is the case's repeats
there; "X = Y" below means the two cells do not differ by the rule of ``significance.py`` (with one
repeat: the same value).

| class       | cells                 | reverting fixes it |
|-------------|-----------------------|--------------------|
| `unchanged` | A = B, B and A agree with themselves and each other exactly | - |
| `noise`     | A = B, but not exactly (the difference is not significant given the repeats) | - |
| `prompt`    | P = A, M = B          | the prompt         |
| `model`     | M = A, P = B          | the model          |
| `either`    | P = A, M = A          | only both          |
| `both`      | P = B, M = B          | either one         |
| `mixed`     | anything else: a cell unlike both ends, or halfway between them | see the cells |

For a changed case (A differs from B) a cell is *like B* when it does not differ from B and
differs from A (and *like A* the other way round). A cell that differs from neither end (a noisy
cell, too few repeats to tell) goes with the end whose value is nearer, and the case lists it under
``uncertain``; a cell that differs from both, or lies exactly halfway, makes the case ``mixed``.
``revert.prompt`` is "reverting the prompt alone restores the before outcome": M is like B
(unchanged or noise: M = B); ``revert.model`` likewise with P. When only one side changed, the
other side's cells are the same cells (M = B and A = P, or P = B and A = M).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from promptver.evals.attribution.significance import ALPHA, EPSILON, differ, p_value, spread

CLASSES = ("unchanged", "prompt", "model", "either", "both", "mixed", "noise")
CHANGED = ("prompt", "model", "either", "both", "mixed")
FOUR = ("before", "prompt", "model", "after")
LOWER_IS_BETTER = frozenset({"latency_ms", "cost_usd"})


@dataclass(frozen=True)
class CaseClass:
    case: str
    klass: str
    revert: dict[str, bool]            # {"prompt": ..., "model": ...}
    cells: dict[str, float]            # the four cells' values (mean over repeats)
    p_value: float | None              # before against after (None: one repeat, no test)
    direction: str | None              # "worse" | "better" for a changed case, else None
    nondeterministic: list[str] = field(default_factory=list)  # cells whose repeats disagreed
    uncertain: list[str] = field(default_factory=list)         # cells like both ends: put with the nearer

    @property
    def changed(self) -> bool:
        return self.klass in CHANGED


def four_cells(values: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """All four cells from the replayed ones (two when only one side changed)."""
    cells = {k: [float(v) for v in values[k]] for k in FOUR if k in values}
    if "after" not in cells:
        if "prompt" in cells:      # only the prompt changed: old prompt + "new" model is the before cell
            cells["model"], cells["after"] = cells["before"], cells["prompt"]
        elif "model" in cells:     # only the model changed
            cells["prompt"], cells["after"] = cells["before"], cells["model"]
        else:                      # nothing changed
            cells["prompt"] = cells["model"] = cells["after"] = cells["before"]
    return cells


def classify(case: str, values: Mapping[str, Sequence[float]], outputs: Mapping[str, Sequence[str | None]] | None = None,
             *, binary: bool = True, alpha: float = ALPHA, metric: str = "pass_rate") -> CaseClass:
    """Classify one case from its repeat values per replayed corner (and repeat outputs, which flag
    non-determinism). ``binary``: the values are pass/fail (1/0)."""
    cells = four_cells(values)
    memo: dict[tuple[str, str], bool] = {}

    def diff(x: str, y: str) -> bool:
        if cells[x] is cells[y]:
            return False
        key = (x, y) if x < y else (y, x)
        if key not in memo:
            memo[key] = differ(cells[x], cells[y], binary=binary, alpha=alpha)
        return memo[key]

    means = {k: math.fsum(v) / len(v) for k, v in cells.items()}
    changed = diff("before", "after")
    uncertain: list[str] = []

    def side(x: str) -> str | None:
        """Which end cell ``x`` is like (a changed case); None: neither, or halfway."""
        from_before, from_after = diff(x, "before"), diff(x, "after")
        if from_before != from_after:
            return "after" if from_before else "before"
        if from_before:
            return None  # unlike both ends
        to_before, to_after = abs(means[x] - means["before"]), abs(means[x] - means["after"])
        if abs(to_before - to_after) <= EPSILON:
            return None
        uncertain.append(x)  # like both ends, given the repeats: the nearer one, flagged
        return "before" if to_before < to_after else "after"

    if not changed:
        exact = (abs(means["before"] - means["after"]) <= EPSILON
                 and spread(cells["before"]) <= EPSILON and spread(cells["after"]) <= EPSILON)
        klass = "unchanged" if exact else "noise"
        revert = {"prompt": not diff("model", "before"), "model": not diff("prompt", "before")}
    else:
        sides = (side("prompt"), side("model"))
        klass = {("after", "before"): "prompt", ("before", "after"): "model", ("after", "after"): "either",
                 ("before", "before"): "both"}.get(sides, "mixed")  # type: ignore[arg-type]
        revert = {"prompt": sides[1] == "before", "model": sides[0] == "before"}
    direction = None
    if changed:
        up = means["after"] > means["before"]
        direction = "worse" if up == (metric in LOWER_IS_BETTER) else "better"
    shaky = [k for k in FOUR if k in values and ((binary and spread(cells[k]) > EPSILON)
                                                 or len(set((outputs or {}).get(k, []))) > 1)]
    return CaseClass(case, klass, revert, means, p_value(cells["before"], cells["after"], binary=binary), direction,
                     shaky, [x for x in ("prompt", "model") if x in uncertain and x in values])

"""The effects of change attribution, pure: per metric, from the corner means over cases.

Corners: ``before`` (old prompt, old model), ``prompt`` (new prompt, old model), ``model`` (old
prompt, new model), ``after`` (new prompt, new model). When only one factor changed, the grid has
two corners (``before`` and ``prompt``, or ``before`` and ``model``).

With the corner means over cases (m_b, m_p, m_m, m_a):

    total       = m_a - m_b
    prompt      = ((m_p - m_b) + (m_a - m_m)) / 2     the prompt's effect, averaged over both models
    model       = total - prompt                      = ((m_m - m_b) + (m_a - m_p)) / 2
    interaction = (m_a - m_b) - ((m_p - m_b) + (m_m - m_b))   the change with both, minus the sum
                                                              of the two separate changes

so ``prompt + model == total`` exactly (model is computed as the difference, and total reported
as their floating-point sum). Each comes with a percentile interval from a bootstrap over cases
(seeded: the same data gives the same interval).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Corner = Literal["before", "prompt", "model", "after"]
CORNERS: tuple[Corner, ...] = ("before", "prompt", "model", "after")
BOOTSTRAP_ITERATIONS = 2000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Effects:
    """One metric's effects; ``interaction`` is None when only one factor changed."""

    before: float
    after: float
    prompt: float
    model: float
    interaction: float | None
    total: float
    intervals: dict[str, Interval]

    def to_json(self) -> dict[str, object]:
        return {"before": self.before, "after": self.after, "prompt": self.prompt, "model": self.model,
                "interaction": self.interaction, "total": self.total,
                "intervals": {k: [v.low, v.high] for k, v in self.intervals.items()}}


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _point(means: Mapping[str, float]) -> tuple[float, float, float | None]:
    """(prompt, total, interaction) from corner means."""
    b = means["before"]
    if "after" in means:
        total = means["after"] - b
        prompt = ((means["prompt"] - b) + (means["after"] - means["model"])) / 2
        interaction = total - ((means["prompt"] - b) + (means["model"] - b))
        return prompt, total, interaction
    if "prompt" in means:  # only the prompt changed
        total = means["prompt"] - b
        return total, total, None
    total = means["model"] - b  # only the model changed
    return 0.0, total, None


def effects(per_case: Mapping[str, Mapping[str, float]], *, seed: int = 0,
            iterations: int = BOOTSTRAP_ITERATIONS, confidence: float = 0.95) -> Effects | None:
    """Effects of one metric from ``{case: {corner: value}}`` (every case has every corner of the
    grid). None when there are no cases."""
    cases = sorted(per_case)
    if not cases:
        return None
    corners = [c for c in CORNERS if c in per_case[cases[0]]]
    columns = {c: [float(per_case[k][c]) for k in cases] for c in corners}
    means = {c: _mean(v) for c, v in columns.items()}
    prompt, total, interaction = _point(means)
    rng = random.Random(seed)
    n = len(cases)
    samples: dict[str, list[float]] = {"prompt": [], "model": [], "total": [], "interaction": []}
    for _ in range(iterations):
        picks = [rng.randrange(n) for _ in range(n)]
        boot = {c: math.fsum(columns[c][i] for i in picks) / n for c in corners}
        p, t, x = _point(boot)
        samples["prompt"].append(p)
        samples["model"].append(t - p)
        samples["total"].append(t)
        if x is not None:
            samples["interaction"].append(x)
    k = math.floor((1 - confidence) / 2 * iterations)
    intervals = {}
    for name, values in samples.items():
        if values:
            values.sort()
            intervals[name] = Interval(values[min(k, len(values) - 1)], values[max(len(values) - 1 - k, 0)])
    after = means.get("after", means.get("prompt", means.get("model")))
    assert after is not None
    model = total - prompt
    # in floating point (total - prompt) + prompt can miss total by one ulp: report the sum, so that
    # prompt + model == total holds exactly for anyone adding them up (the value moves by < 1e-15)
    return Effects(means["before"], after, prompt, model, interaction, prompt + model, intervals)

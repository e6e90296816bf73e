"""Statistics for comparing eval runs (pure: stdlib only, no I/O).

* ``wilson``: the Wilson score interval of a pass rate.
* ``mcnemar``: the exact two-sided McNemar test on the discordant pairs of two paired pass/fail runs.
* ``paired_bootstrap``: a paired bootstrap of the mean score difference (interval and p-value),
  deterministic for a given seed.
* ``compare_pass`` / ``compare_scores``: the verdict on two runs over the same cases, with a
  one-line ``summary()``.

See docs/scorers.md ("Statistics") for what "significant" and "within noise" mean.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from promptver.errors import InvalidValue

Verdict = Literal["better", "worse", "same"]

_EXACT_LIMIT = 5_000  # discordant pairs up to which McNemar is summed in exact integers


def _check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InvalidValue(f"{name} must be a number between 0 and 1 (exclusive), not {value!r}")


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for ``successes`` out of ``n``; ``n == 0`` gives ``(0.0, 1.0)``."""
    _check_fraction("confidence", confidence)
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise InvalidValue(f"wilson: need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def _binomial_tail_exact(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), summed in exact integers."""
    total, term = 0, 1
    for i in range(k + 1):
        total += term
        term = term * (n - i) // (i + 1)
    return total / (1 << n)


def _binomial_tail_log(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (large n)."""
    base = math.lgamma(n + 1) - n * math.log(2)
    logs = [base - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(k + 1)]
    top = max(logs)
    return math.exp(top) * math.fsum(math.exp(x - top) for x in logs)


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for ``b`` (pass -> fail) and ``c`` (fail -> pass) pairs.

    Under "no change" each discordant pair is a fair coin: p = min(1, 2 * P(X <= min(b, c))),
    X ~ Binomial(b + c, 1/2). No discordant pairs gives 1.0.
    """
    if isinstance(b, bool) or isinstance(c, bool) or not isinstance(b, int) or not isinstance(c, int) or b < 0 or c < 0:
        raise InvalidValue(f"mcnemar: b and c must be counts (whole numbers >= 0), got {b!r} and {c!r}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = _binomial_tail_exact(k, n) if n <= _EXACT_LIMIT else _binomial_tail_log(k, n)
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class BootstrapResult:
    """The mean of ``after - before``, its percentile interval, and the two-sided p-value."""

    mean_diff: float
    low: float
    high: float
    p_value: float


def _values(name: str, values: Sequence[float]) -> list[float]:
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidValue(f"{name}[{i}]: {v!r} is not a finite number")
        out.append(float(v))
    return out


def paired_bootstrap(before: Sequence[float], after: Sequence[float], *, iterations: int = 10_000, seed: int = 0,
                     confidence: float = 0.95) -> BootstrapResult:
    """Paired bootstrap of ``mean(after - before)``.

    Each iteration resamples the case indices with replacement (``random.Random(seed)``, so the
    result is deterministic) and takes the mean difference. The interval is the percentile
    interval of those means; the p-value is two-sided: twice the fraction of resampled means on the
    other side of 0 (or at 0) from the observed mean, with the +1 correction
    ``(count + 1) / (iterations + 1)``, capped at 1. A zero observed mean gives p = 1.
    """
    _check_fraction("confidence", confidence)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise InvalidValue(f"iterations must be a whole number >= 1, not {iterations!r}")
    b, a = _values("before", before), _values("after", after)
    if len(b) != len(a):
        raise InvalidValue(f"paired_bootstrap: before has {len(b)} values but after has {len(a)}: "
                           "the runs must be paired")
    n = len(b)
    if n == 0:
        return BootstrapResult(0.0, 0.0, 0.0, 1.0)
    diffs = [y - x for x, y in zip(b, a, strict=True)]
    mean_diff = math.fsum(diffs) / n
    rng = random.Random(seed)
    means = sorted(math.fsum(rng.choices(diffs, k=n)) / n for _ in range(iterations))
    k = math.floor((1 - confidence) / 2 * iterations)
    low, high = means[min(k, iterations - 1)], means[max(iterations - 1 - k, 0)]
    if mean_diff == 0:
        p_value = 1.0
    else:
        other_side = sum(1 for m in means if (m <= 0 if mean_diff > 0 else m >= 0))
        p_value = min(1.0, 2 * (other_side + 1) / (iterations + 1))
    return BootstrapResult(mean_diff, low, high, p_value)


@dataclass(frozen=True)
class Comparison:
    """The verdict on two runs over the same cases.

    ``test`` is ``"mcnemar"`` (pass/fail) or ``"bootstrap"`` (scores). ``before_rate`` and
    ``after_rate`` are pass rates or mean scores; ``diff = after_rate - before_rate``. ``b`` counts
    cases that got worse (pass -> fail, or a lower score), ``c`` cases that got better.
    ``significant`` is ``p_value < alpha``; ``direction`` is ``"better"`` or ``"worse"`` only when
    significant, else ``"same"`` (within noise). ``low``/``high``: the bootstrap interval of
    ``diff`` at confidence ``1 - alpha`` (scores only; None for pass/fail).
    """

    test: Literal["mcnemar", "bootstrap"]
    n: int
    before_rate: float
    after_rate: float
    diff: float
    b: int
    c: int
    p_value: float
    significant: bool
    direction: Verdict
    alpha: float = 0.05
    low: float | None = None
    high: float | None = None

    def summary(self) -> str:
        """One line, e.g. ``pass rate 62% -> 48% (-14 pts, McNemar p=0.03: significant)``."""
        if self.n == 0:
            return ("pass rate" if self.test == "mcnemar" else "mean score") + ": no cases to compare"
        verdict = "significant" if self.significant else "within noise"
        if self.test == "mcnemar":
            return (f"pass rate {_pct(self.before_rate)} -> {_pct(self.after_rate)} "
                    f"({_signed(self.diff * 100, 0)} pts, McNemar {_p(self.p_value)}: {verdict})")
        interval = ""
        if self.low is not None and self.high is not None:
            interval = f", {_pct(1 - self.alpha)} CI [{_signed(self.low, 2)}, {_signed(self.high, 2)}]"
        return (f"mean score {self.before_rate:.2f} -> {self.after_rate:.2f} "
                f"({_signed(self.diff, 2)}, bootstrap {_p(self.p_value)}{interval}: {verdict})")


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _signed(x: float, digits: int) -> str:
    text = f"{x:+.{digits}f}"
    return text[1:] if float(text) == 0 else text  # no "-0" or "+0"


def _p(p: float) -> str:
    if p < 0.001:
        return "p<0.001"
    return f"p={p:.3f}" if p < 0.01 else f"p={p:.2f}"


def _direction(diff: float, significant: bool) -> Verdict:
    if not significant or diff == 0:
        return "same"
    return "better" if diff > 0 else "worse"


def compare_pass(pairs: Sequence[tuple[bool, bool]], alpha: float = 0.05) -> Comparison:
    """Compare pass/fail per case, ``(before_passed, after_passed)``, with the exact McNemar test."""
    _check_fraction("alpha", alpha)
    n = len(pairs)
    before = sum(1 for x, _ in pairs if x)
    after = sum(1 for _, y in pairs if y)
    b = sum(1 for x, y in pairs if x and not y)
    c = sum(1 for x, y in pairs if y and not x)
    p_value = mcnemar(b, c)
    before_rate, after_rate = (before / n, after / n) if n else (0.0, 0.0)
    diff = after_rate - before_rate
    significant = p_value < alpha
    return Comparison("mcnemar", n, before_rate, after_rate, diff, b, c, p_value, significant,
                      _direction(diff, significant), alpha)


def compare_scores(pairs: Sequence[tuple[float, float]], alpha: float = 0.05, seed: int = 0, *,
                   iterations: int = 10_000) -> Comparison:
    """Compare scores per case, ``(before_score, after_score)``, with the paired bootstrap."""
    _check_fraction("alpha", alpha)
    before = [x for x, _ in pairs]
    after = [y for _, y in pairs]
    boot = paired_bootstrap(before, after, iterations=iterations, seed=seed, confidence=1 - alpha)
    n = len(pairs)
    before_rate = math.fsum(before) / n if n else 0.0
    after_rate = math.fsum(after) / n if n else 0.0
    b = sum(1 for x, y in pairs if y < x)
    c = sum(1 for x, y in pairs if y > x)
    significant = boot.p_value < alpha
    return Comparison("bootstrap", n, before_rate, after_rate, boot.mean_diff, b, c, boot.p_value, significant,
                      _direction(boot.mean_diff, significant), alpha, boot.low, boot.high)

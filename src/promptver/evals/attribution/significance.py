"""When do two cells of one case differ? The significance rule of attribution and bisect (pure).

A *cell* is one case's repeats on one (prompt version, model version): a list of values, 1/0 for
pass/fail or a number for a continuous metric. Two cells differ when:

* **one repeat each**: their values differ at all (there is nothing to tell noise from change
  with; the report says so);
* **pass/fail, 2+ repeats** (a Beta-binomial rule): each cell's pass probability has the posterior
  Beta(k + 1, n - k + 1) of k passes in n repeats (uniform prior). ``p = 2 * min(P(X > Y),
  P(Y > X))`` is the posterior probability, counted on both sides, that the cell with more passes
  is not truly the better one; the cells differ when ``p < ALPHA``. With 3 repeats, 0/3 against
  3/3 differs (p = 2/70 = 0.029) and 1/3 against 3/3 does not (p = 0.14);
* **continuous, 2+ repeats**: Welch's t-test on the repeats, two-sided, ``p < ALPHA``. Cells
  whose repeats agree exactly (no spread) differ when their values do.

``P(X > Y)`` is summed exactly (the closed form for integer Beta parameters); the t distribution
comes from the regularized incomplete beta function (continued fraction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

ALPHA = 0.05
EPSILON = 1e-9


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def beta_greater(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X > Y) for independent X ~ Beta(a1, b1), Y ~ Beta(a2, b2), integer parameters >= 1."""
    # P(Y > X) = sum_{i < a2} B(a1 + i, b1 + b2) / ((b2 + i) B(1 + i, b2) B(a1, b1))   (Evan Miller)
    base = _log_beta(a1, b1)
    total = math.fsum(math.exp(_log_beta(a1 + i, b1 + b2) - math.log(b2 + i) - _log_beta(1 + i, b2) - base)
                      for i in range(a2))
    return min(1.0, max(0.0, 1.0 - total))


def beta_binomial_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """The two-sided posterior tail of "the two pass probabilities are ordered as the counts say"."""
    greater = beta_greater(k1 + 1, n1 - k1 + 1, k2 + 1, n2 - k2 + 1)
    return min(1.0, 2 * min(greater, 1.0 - greater))


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (Lentz's continued fraction)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1.0 - x)
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * result


def t_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    return _betainc(df / 2, 0.5, df / (df + t * t))


def welch_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Welch's two-sided t-test p-value of two samples of 2+ values each."""
    nx, ny = len(x), len(y)
    mx, my = math.fsum(x) / nx, math.fsum(y) / ny
    vx = math.fsum((v - mx) ** 2 for v in x) / (nx - 1)
    vy = math.fsum((v - my) ** 2 for v in y) / (ny - 1)
    se2 = vx / nx + vy / ny
    if se2 <= EPSILON * EPSILON:  # no spread in either cell: they differ exactly when their values do
        return 1.0 if abs(mx - my) <= EPSILON else 0.0
    df = se2 * se2 / ((vx / nx) ** 2 / (nx - 1) + (vy / ny) ** 2 / (ny - 1))
    return t_two_sided((mx - my) / math.sqrt(se2), df)


def p_value(x: Sequence[float], y: Sequence[float], *, binary: bool) -> float | None:
    """The p-value of "cells ``x`` and ``y`` differ"; None with one repeat (no test is possible)."""
    if len(x) < 2 or len(y) < 2:
        return None
    if binary:
        return beta_binomial_p(round(math.fsum(x)), len(x), round(math.fsum(y)), len(y))
    return welch_p(x, y)


def differ(x: Sequence[float], y: Sequence[float], *, binary: bool, alpha: float = ALPHA) -> bool:
    """The rule in the module docstring."""
    p = p_value(x, y, binary=binary)
    if p is None:
        return abs(math.fsum(x) / len(x) - math.fsum(y) / len(y)) > EPSILON
    return p < alpha


def spread(values: Sequence[float]) -> float:
    return max(values) - min(values) if values else 0.0

"""The attribution arithmetic, checked against independent computations: the class table of
docs/attribution.md written out here by hand, the effects recomputed from the cell means, the
bootstrap intervals against the normal approximation, and the significance rule against closed
forms and a seeded Monte Carlo."""

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptver.evals.attribution import classify, differ, effects, p_value
from promptver.evals.attribution.significance import beta_binomial_p, beta_greater, t_two_sided, welch_p

CORNERS = ("before", "prompt", "model", "after")


def table(b, p, m, a):
    """The issue's table for binary cells, written independently of the code: (class, revert)."""
    if a == b:
        klass = "unchanged"
    elif p == a and m == b:
        klass = "prompt"
    elif m == a and p == b:
        klass = "model"
    elif p == a and m == a:
        klass = "either"
    else:
        assert p == b and m == b
        klass = "both"
    return klass, {"prompt": m == b, "model": p == b}  # reverting one side leaves the other's cell


# the table, every combination -------------------------------------------------------------------


@pytest.mark.parametrize("cells, expected", [
    ((1, 1, 1, 1), "unchanged"),
    ((1, 0, 1, 0), "prompt"),
    ((1, 1, 0, 0), "model"),
    ((1, 0, 0, 0), "either"),      # redundant causes: each change alone breaks it; only reverting both fixes it
    ((1, 1, 1, 0), "both"),        # only the two together break it: reverting either one fixes it
    ((1, 0, 0, 1), "unchanged"),   # each alone breaks it, together they do not: the outcome is as before
    ((0, 1, 0, 1), "prompt"),      # fixes count too
])
def test_named_rows_of_the_table(cells, expected):
    found = classify("c", {k: [v] for k, v in zip(CORNERS, cells)})
    assert found.klass == expected


@settings(max_examples=300, deadline=None)
@given(st.tuples(*[st.integers(0, 1)] * 4), st.sampled_from([1, 3, 4, 5, 8]))
def test_binary_cells_follow_the_table_with_any_deterministic_repeats(cells, repeats):
    b, p, m, a = cells
    found = classify("c", {k: [float(v)] * repeats for k, v in zip(CORNERS, cells)})
    klass, revert = table(b, p, m, a)
    assert (found.klass, found.revert) == (klass, revert)
    assert found.cells == dict(zip(CORNERS, map(float, cells)))
    assert found.nondeterministic == [] and found.uncertain == []
    assert found.direction == (None if a == b else "worse" if a < b else "better")


@settings(max_examples=100, deadline=None)
@given(st.tuples(*[st.integers(0, 1)] * 2), st.sampled_from(["prompt", "model"]), st.sampled_from([1, 3, 6]))
def test_one_sided_grids_fill_the_other_side_with_the_same_cells(cells, side, repeats):
    b, x = cells
    found = classify("c", {"before": [float(b)] * repeats, side: [float(x)] * repeats})
    full = (b, x, b, x) if side == "prompt" else (b, b, x, x)
    assert (found.klass, found.revert) == table(*full)
    assert found.cells == dict(zip(CORNERS, map(float, full)))


def test_two_deterministic_repeats_are_not_enough_for_significance():
    found = classify("c", {k: [float(v)] * 2 for k, v in zip(CORNERS, (1, 0, 1, 0))})
    assert found.klass == "noise" and found.p_value == pytest.approx(0.1)


# noisy cells --------------------------------------------------------------------------------------


def test_a_noisy_cell_that_does_not_matter_does_not_make_noise():
    # the prompt breaks it deterministically; the new model alone is noisy but still mostly passes
    found = classify("c", {"before": [1] * 6, "prompt": [0] * 6, "model": [1, 1, 0, 1, 1, 1], "after": [0] * 6},
                     {"before": ["ok"] * 6, "prompt": ["bad"] * 6, "model": ["ok", "ok", "bad", "ok", "ok", "ok"],
                      "after": ["bad"] * 6})
    assert found.klass == "prompt" and found.revert == {"prompt": True, "model": False}
    assert found.nondeterministic == ["model"] and found.uncertain == []


def test_a_cell_like_both_ends_goes_to_the_nearer_and_is_flagged():
    found = classify("c", {"before": [1, 1, 1], "prompt": [0, 0, 0], "model": [1, 1, 0], "after": [0, 0, 0]})
    assert found.klass == "prompt" and found.uncertain == ["model"]
    halfway = classify("c", {"before": [1] * 4, "prompt": [0] * 4, "model": [1, 1, 0, 0], "after": [0] * 4})
    assert halfway.klass == "mixed"


def test_noise_is_a_difference_that_is_not_significant():
    assert classify("c", {"before": [1, 0, 1], "prompt": [0, 0, 1], "model": [1, 1, 1], "after": [0, 1, 0]}).klass == "noise"
    assert classify("c", {"before": [1, 1, 1], "prompt": [1, 1, 1], "model": [1, 1, 1], "after": [1, 1, 0]}).klass == "noise"
    stable_change = {"before": [1, 1, 1], "prompt": [0, 0, 0], "model": [1, 1, 1], "after": [0, 0, 0]}
    assert classify("c", stable_change).klass == "prompt"


def test_non_determinism_is_flagged_from_outputs_and_verdicts():
    found = classify("c", {"before": [1, 1], "model": [1, 1]}, {"before": ["a", "b"], "model": ["a", "a"]})
    assert found.nondeterministic == ["before"] and found.klass == "unchanged"


# continuous scores --------------------------------------------------------------------------------


def test_continuous_scores_get_classes_with_welch():
    tight = lambda v: [v - 0.01, v, v + 0.01]  # noqa: E731
    assert classify("c", {"before": tight(0.9), "prompt": tight(0.5), "model": tight(0.9), "after": tight(0.5)},
                    binary=False, metric="judge").klass == "prompt"
    mixed = classify("c", {"before": tight(0.9), "prompt": tight(0.7), "model": tight(0.9), "after": tight(0.5)},
                     binary=False, metric="judge")
    assert mixed.klass == "mixed" and mixed.revert == {"prompt": True, "model": False}
    noisy = classify("c", {"before": [0.2, 0.9, 0.5], "prompt": [0.4, 0.6, 0.3], "model": [0.9, 0.1, 0.5],
                           "after": [0.3, 0.8, 0.4]}, binary=False, metric="judge")
    assert noisy.klass == "noise" and noisy.nondeterministic == []  # a spread of scores is not a spread of answers
    slower = classify("c", {"before": tight(100), "model": tight(300)}, binary=False, metric="latency_ms")
    assert slower.klass == "model" and slower.direction == "worse"


# effects ------------------------------------------------------------------------------------------


def _independent_effects(rows, corners):
    """Effects from the corner means, computed here (the documented formulas)."""
    n = len(rows)
    mean = {c: math.fsum(r[i] for r in rows) / n for i, c in enumerate(corners)}
    b = mean["before"]
    if "after" in mean:
        return {"total": mean["after"] - b,
                "prompt": ((mean["prompt"] - b) + (mean["after"] - mean["model"])) / 2,
                "model": ((mean["model"] - b) + (mean["after"] - mean["prompt"])) / 2,
                "interaction": mean["after"] - mean["prompt"] - mean["model"] + b}
    other = corners[1]
    return {"total": mean[other] - b, "prompt": mean[other] - b if other == "prompt" else 0.0,
            "model": mean[other] - b if other == "model" else 0.0, "interaction": None}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.floats(0, 1, allow_nan=False)] * 4), min_size=1, max_size=30),
       st.sampled_from([("before", "prompt", "model", "after"), ("before", "prompt"), ("before", "model")]))
def test_effects_match_an_independent_computation_and_add_up_exactly(rows, corners):
    per_case = {f"c{i}": dict(zip(corners, row)) for i, row in enumerate(rows)}
    e = effects(per_case, iterations=50)
    expected = _independent_effects([row[:len(corners)] for row in rows], corners)
    assert e.prompt + e.model == e.total
    for name in ("total", "prompt", "model"):
        assert getattr(e, name) == pytest.approx(expected[name], abs=1e-12)
    if expected["interaction"] is None:
        assert e.interaction is None
    else:
        assert e.interaction == pytest.approx(expected["interaction"], abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 1)] * 4), min_size=1, max_size=20))
def test_effects_of_binary_cases_follow_the_classes(rows):
    """With one repeat, the total is (fixed - broken cases) / n, counted from the table."""
    per_case = {f"c{i}": dict(zip(CORNERS, map(float, row))) for i, row in enumerate(rows)}
    e = effects(per_case, iterations=20)
    better = sum(1 for b, p, m, a in rows if a > b)
    worse = sum(1 for b, p, m, a in rows if a < b)
    assert e.total == pytest.approx((better - worse) / len(rows))


def test_effects_of_a_planted_grid():
    per_case = {"p": {"before": 1, "prompt": 0, "model": 1, "after": 0},
                "m": {"before": 1, "prompt": 1, "model": 0, "after": 0},
                "i": {"before": 1, "prompt": 1, "model": 1, "after": 0},
                "u": {"before": 1, "prompt": 1, "model": 1, "after": 1}}
    e = effects(per_case)
    assert e.total == -0.75 and e.prompt == pytest.approx(-0.375) and e.model == pytest.approx(-0.375)
    assert e.interaction == pytest.approx(-0.25)


def test_no_cases_no_effects():
    assert effects({}) is None


def test_bootstrap_intervals_agree_with_the_normal_approximation():
    """Not a rerun of itself: the percentile interval of many cases is close to mean +- 1.96 SE,
    computed here from the per-case contributions; it moves with the data and narrows with n."""
    rng = random.Random(3)
    per_case = {}
    for i in range(400):
        b = rng.random()
        per_case[f"c{i}"] = {"before": b, "prompt": b - 0.2 + rng.gauss(0, 0.2), "model": b + rng.gauss(0, 0.3),
                             "after": b - 0.1 + rng.gauss(0, 0.25)}
    e = effects(per_case)
    rows = list(per_case.values())
    contributions = {
        "total": [r["after"] - r["before"] for r in rows],
        "prompt": [((r["prompt"] - r["before"]) + (r["after"] - r["model"])) / 2 for r in rows],
        "interaction": [r["after"] - r["prompt"] - r["model"] + r["before"] for r in rows],
    }
    for name, values in contributions.items():
        centre, se = statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))
        interval = e.intervals[name]
        assert interval.low == pytest.approx(centre - 1.96 * se, abs=0.25 * 1.96 * se), name
        assert interval.high == pytest.approx(centre + 1.96 * se, abs=0.25 * 1.96 * se), name
    shifted = effects({k: {**v, "after": v["after"] + 0.5} for k, v in per_case.items()})
    assert shifted.intervals["total"].low == pytest.approx(e.intervals["total"].low + 0.5, abs=1e-9)
    few = effects(dict(list(per_case.items())[:40]))
    width = lambda i: i.high - i.low  # noqa: E731
    assert width(few.intervals["total"]) > 2 * width(e.intervals["total"])


# the significance rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("k1, n1, k2, n2, expected", [
    (3, 3, 0, 3, 2 / 70),          # 1 - 4 B(4, 5) = 69/70 on one side
    (0, 3, 3, 3, 2 / 70),
    (2, 2, 0, 2, 0.1),             # 1 - 3 B(3, 4) = 0.95
    (1, 1, 0, 1, 1 / 3),           # 1 - 2 B(2, 3) = 5/6 (one repeat: the rule does not test, see below)
    (2, 4, 2, 4, 1.0),
])
def test_beta_binomial_closed_forms(k1, n1, k2, n2, expected):
    assert beta_binomial_p(k1, n1, k2, n2) == pytest.approx(expected)
    if n1 > 1:
        assert p_value([1.0] * k1 + [0.0] * (n1 - k1), [1.0] * k2 + [0.0] * (n2 - k2), binary=True) == pytest.approx(expected)
    else:
        assert p_value([float(k1)], [float(k2)], binary=True) is None
        assert differ([float(k1)], [float(k2)], binary=True) == (k1 != k2)


@pytest.mark.parametrize("params", [(4, 2, 2, 5), (1, 7, 3, 3), (10, 3, 8, 6)])
def test_beta_greater_agrees_with_a_seeded_monte_carlo(params):
    a1, b1, a2, b2 = params
    rng = random.Random(11)
    hits = sum(rng.betavariate(a1, b1) > rng.betavariate(a2, b2) for _ in range(100_000))
    assert beta_greater(a1, b1, a2, b2) == pytest.approx(hits / 100_000, abs=0.006)


def test_student_t_against_closed_forms_and_welch_against_a_known_value():
    for t in (0.3, 1.5, 4.0):
        assert t_two_sided(t, 1) == pytest.approx(1 - 2 * math.atan(t) / math.pi)   # Cauchy
        assert t_two_sided(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t))
    assert welch_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.021311641128756)     # t = -3.674, df = 4
    assert welch_p([0.5] * 3, [0.5] * 3) == 1.0 and welch_p([0.5] * 3, [0.7] * 3) == 0.0


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 12).flatmap(lambda n: st.tuples(st.integers(0, n), st.integers(0, n), st.just(n))))
def test_the_rule_is_symmetric_and_needs_a_larger_gap_to_differ(case):
    k1, k2, n = case
    x, y = [1.0] * k1 + [0.0] * (n - k1), [1.0] * k2 + [0.0] * (n - k2)
    assert differ(x, y, binary=True) == differ(y, x, binary=True)
    if differ(x, y, binary=True) and k2 > k1 and k2 < n:
        assert differ(x, [1.0] * (k2 + 1) + [0.0] * (n - k2 - 1), binary=True)  # further apart: still differs
    assert not differ(x, x, binary=True)

"""evals/stats.py: Wilson intervals, exact McNemar, the paired bootstrap, and run comparisons."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptver.errors import InvalidValue
from promptver.evals import stats
from promptver.evals.stats import compare_pass, compare_scores, mcnemar, paired_bootstrap, wilson

# Wilson ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("successes, n, confidence, expected", [
    (8, 10, 0.95, (0.49, 0.94)),
    (0, 10, 0.95, (0.00, 0.28)),
    (10, 10, 0.95, (0.72, 1.00)),
    (50, 100, 0.95, (0.40, 0.60)),
    (8, 10, 0.99, (0.40, 0.96)),
])
def test_wilson_known_values(successes, n, confidence, expected):
    low, high = wilson(successes, n, confidence)
    assert (round(low, 2), round(high, 2)) == expected


def test_wilson_of_no_cases_is_the_whole_range():
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("args", [(-1, 10), (11, 10), (1, -1), (5, 10, 1.0), (5, 10, 0), (5, 10, True)])
def test_wilson_refuses_impossible_input(args):
    with pytest.raises(InvalidValue):
        wilson(*args)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_rate_and_mirrors(case):
    successes, n = case
    low, high = wilson(successes, n)
    assert 0 <= low <= successes / n <= high <= 1
    mirror_low, mirror_high = wilson(n - successes, n)
    assert mirror_low == pytest.approx(1 - high, abs=1e-12)
    assert mirror_high == pytest.approx(1 - low, abs=1e-12)


def test_wilson_narrows_with_more_cases_and_widens_with_confidence():
    assert wilson(80, 100)[1] - wilson(80, 100)[0] < wilson(8, 10)[1] - wilson(8, 10)[0]
    assert wilson(8, 10, 0.99)[0] < wilson(8, 10, 0.95)[0]


# McNemar --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("b, c, p", [
    (0, 6, 0.03125),          # 2 * (1/2)^6
    (6, 0, 0.03125),
    (1, 1, 1.0),
    (0, 0, 1.0),
    (0, 1, 1.0),
    (2, 8, 0.109375),         # 2 * (1 + 10 + 45) / 1024
    (0, 5, 0.0625),           # five discordant pairs can never reach 0.05
])
def test_mcnemar_exact_values(b, c, p):
    assert mcnemar(b, c) == pytest.approx(p, abs=1e-15)


@pytest.mark.parametrize("b, c", [(-1, 2), (1, -2), (1.5, 2), (True, 2)])
def test_mcnemar_refuses_non_counts(b, c):
    with pytest.raises(InvalidValue):
        mcnemar(b, c)


@given(st.integers(0, 300), st.integers(0, 300))
def test_mcnemar_is_symmetric_and_a_probability(b, c):
    p = mcnemar(b, c)
    assert p == mcnemar(c, b)
    assert 0 < p <= 1


def test_mcnemar_large_counts_use_log_space_and_agree_with_exact():
    for k, n in [(30, 90), (2600, 5400), (100, 230)]:
        assert stats._binomial_tail_log(k, n) == pytest.approx(stats._binomial_tail_exact(k, n), rel=1e-9)
    assert mcnemar(6000, 6400) == pytest.approx(2 * stats._binomial_tail_exact(6000, 12400), rel=1e-9)


# paired bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_is_deterministic_with_a_seed():
    before = [0.1 * (i % 7) for i in range(40)]
    after = [0.1 * ((i * 3) % 7) for i in range(40)]
    first = paired_bootstrap(before, after, seed=7, iterations=2000)
    assert paired_bootstrap(before, after, seed=7, iterations=2000) == first
    assert paired_bootstrap(before, after, seed=8, iterations=2000) != first
    assert first.mean_diff == pytest.approx(sum(after) / 40 - sum(before) / 40)
    assert first.low <= first.mean_diff <= first.high


def test_bootstrap_interval_agrees_with_the_normal_approximation():
    """Not a comparison with a rerun of itself: with many cases the percentile interval is close to
    mean +- z * SE computed here from the differences, and it follows the data when it moves."""
    import math
    import random
    import statistics

    rng = random.Random(5)
    before = [rng.random() for _ in range(500)]
    after = [b + 0.05 + rng.gauss(0, 0.3) for b in before]
    diffs = [a - b for a, b in zip(after, before)]
    centre, se = statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
    result = paired_bootstrap(before, after, iterations=4000, seed=1)
    assert result.low == pytest.approx(centre - 1.96 * se, abs=0.15 * 1.96 * se)
    assert result.high == pytest.approx(centre + 1.96 * se, abs=0.15 * 1.96 * se)
    two_sided = 2 * (1 - statistics.NormalDist().cdf(abs(centre) / se))
    assert result.p_value == pytest.approx(two_sided, abs=0.02)
    moved = paired_bootstrap(before, [a + 0.1 for a in after], iterations=4000, seed=1)
    assert moved.low == pytest.approx(result.low + 0.1) and moved.high == pytest.approx(result.high + 0.1)
    assert moved.p_value < 0.001


def test_bootstrap_intervals_cover_the_true_shift_about_as_often_as_they_say():
    import random

    rng = random.Random(9)
    covered = 0
    for _ in range(200):
        before = [rng.random() for _ in range(60)]
        after = [b + 0.1 + rng.gauss(0, 0.2) for b in before]
        result = paired_bootstrap(before, after, iterations=400, seed=rng.randrange(1 << 30), confidence=0.9)
        covered += result.low <= 0.1 <= result.high
    assert 0.8 <= covered / 200 <= 0.97


def test_bootstrap_of_a_constant_difference():
    result = paired_bootstrap([0.5] * 10, [0.75] * 10, iterations=999)
    assert (result.mean_diff, result.low, result.high) == (0.25, 0.25, 0.25)
    assert result.p_value == pytest.approx(2 / 1000)  # no resample on the other side: the +1 correction


def test_bootstrap_of_identical_runs_and_of_no_cases():
    assert paired_bootstrap([0.3, 0.9, 0.5], [0.3, 0.9, 0.5]) == stats.BootstrapResult(0.0, 0.0, 0.0, 1.0)
    assert paired_bootstrap([], []) == stats.BootstrapResult(0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize("before, after, kwargs", [
    ([1.0, 0.0], [1.0], {}),
    ([1.0, float("nan")], [1.0, 0.0], {}),
    ([1.0], [True], {}),
    ([1.0], [0.0], {"iterations": 0}),
    ([1.0], [0.0], {"confidence": 1.5}),
])
def test_bootstrap_refuses_bad_input(before, after, kwargs):
    with pytest.raises(InvalidValue):
        paired_bootstrap(before, after, **kwargs)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=25), st.integers(0, 2**32))
def test_bootstrap_swapping_the_runs_negates_the_result(pairs, seed):
    before, after = [x for x, _ in pairs], [y for _, y in pairs]
    forward = paired_bootstrap(before, after, iterations=300, seed=seed)
    backward = paired_bootstrap(after, before, iterations=300, seed=seed)
    assert backward.mean_diff == pytest.approx(-forward.mean_diff, abs=1e-12)
    assert backward.low == pytest.approx(-forward.high, abs=1e-12)
    assert backward.high == pytest.approx(-forward.low, abs=1e-12)
    assert backward.p_value == forward.p_value
    assert 0 < forward.p_value <= 1


# comparisons ----------------------------------------------------------------------------------------


def test_a_clear_pass_rate_improvement_is_significant():
    pairs = [(False, True)] * 12 + [(True, True)] * 30 + [(False, False)] * 8
    result = compare_pass(pairs)
    assert (result.b, result.c, result.n) == (0, 12, 50)
    assert result.significant and result.direction == "better"
    assert result.diff == pytest.approx(0.24)


def test_identical_runs_are_not_significant():
    pairs = [(True, True)] * 30 + [(False, False)] * 20
    result = compare_pass(pairs)
    assert (result.p_value, result.significant, result.direction, result.diff) == (1.0, False, "same", 0.0)
    scores = compare_scores([(0.2 * (i % 6), 0.2 * (i % 6)) for i in range(50)])
    assert (scores.p_value, scores.significant, scores.direction, scores.diff) == (1.0, False, "same", 0.0)


def test_pass_summary_significant_and_within_noise():
    worse = compare_pass([(True, True)] * 48 + [(True, False)] * 14 + [(False, False)] * 38)
    assert worse.summary() == "pass rate 62% -> 48% (-14 pts, McNemar p<0.001: significant)"
    assert worse.direction == "worse"
    better = compare_pass([(False, True)] * 6 + [(True, True)] * 2 + [(False, False)] * 2)
    assert better.summary() == "pass rate 20% -> 80% (+60 pts, McNemar p=0.03: significant)"
    noise = compare_pass([(True, False), (False, True)] + [(True, True)] * 3)
    assert noise.summary() == "pass rate 80% -> 80% (0 pts, McNemar p=1.00: within noise)"
    assert noise.direction == "same"
    small = compare_pass([(False, True)] * 5 + [(True, True)] * 5)
    assert (small.significant, small.direction) == (False, "same")  # +50 pts, but 5 pairs are within noise
    assert small.summary() == "pass rate 50% -> 100% (+50 pts, McNemar p=0.06: within noise)"


def test_score_comparison_improvement_and_summary():
    pairs = [(0.5, 0.7)] * 20 + [(0.6, 0.6)] * 10 + [(0.8, 0.7)] * 2
    result = compare_scores(pairs, seed=1)
    assert result.test == "bootstrap" and (result.b, result.c) == (2, 20)
    assert result.significant and result.direction == "better"
    assert result.low <= result.diff <= result.high
    assert result.summary() == "mean score 0.55 -> 0.67 (+0.12, bootstrap p<0.001, 95% CI [+0.08, +0.16]: significant)"
    assert compare_scores(pairs, seed=1) == result


def test_score_comparison_worse_and_noise():
    worse = compare_scores([(0.9, 0.4)] * 15 + [(0.5, 0.5)] * 5)
    assert worse.direction == "worse" and worse.significant
    noisy = compare_scores([(0.2, 0.8), (0.8, 0.2), (0.5, 0.6), (0.6, 0.5)])
    assert (noisy.significant, noisy.direction) == (False, "same")
    assert noisy.summary().endswith(": within noise)")


def test_comparisons_of_no_cases():
    assert compare_pass([]).summary() == "pass rate: no cases to compare"
    assert compare_scores([]).summary() == "mean score: no cases to compare"
    with pytest.raises(InvalidValue):
        compare_pass([(True, True)], alpha=0)

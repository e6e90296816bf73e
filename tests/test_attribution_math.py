"""The attribution arithmetic: classes of cases, and effects that add up exactly."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptver.evals.attribution_math import classify, effects


def _cls(values, outputs=None):
    outputs = outputs or {k: ["x"] * len(v) for k, v in values.items()}
    return classify("c", values, outputs).klass


@pytest.mark.parametrize("before, prompt, model, after, expected", [
    (1, 1, 1, 1, "unchanged"),
    (1, 0, 1, 0, "prompt"),
    (1, 1, 0, 0, "model"),
    (1, 1, 1, 0, "interaction"),      # only the two together break it
    (1, 0, 0, 1, "interaction"),      # each alone breaks it, together they do not
    (1, 0, 0, 0, "interaction"),      # either suffices: neither alone explains it
    (0, 1, 0, 1, "prompt"),           # fixes count too
])
def test_classes_of_one_repeat(before, prompt, model, after, expected):
    assert _cls({"before": [before], "prompt": [prompt], "model": [model], "after": [after]}) == expected


def test_noise_is_a_difference_no_larger_than_the_spread_of_repeats():
    noisy = {"before": [1, 0, 1], "prompt": [0, 0, 1], "model": [1, 1, 1], "after": [0, 1, 0]}
    assert _cls(noisy) == "noise"
    stable_change = {"before": [1, 1, 1], "prompt": [0, 0, 0], "model": [1, 1, 1], "after": [0, 0, 0]}
    assert _cls(stable_change) == "prompt"


def test_non_determinism_is_flagged_from_outputs():
    found = classify("c", {"before": [1, 1], "model": [1, 1]}, {"before": ["a", "b"], "model": ["a", "a"]})
    assert found.nondeterministic and found.klass == "unchanged"


def test_one_factor_grids_blame_the_factor_that_changed():
    assert _cls({"before": [1], "prompt": [0]}) == "prompt"
    assert _cls({"before": [1], "model": [0]}) == "model"
    assert _cls({"before": [1], "model": [1]}) == "unchanged"


def test_effects_of_a_planted_grid():
    per_case = {"p": {"before": 1, "prompt": 0, "model": 1, "after": 0},
                "m": {"before": 1, "prompt": 1, "model": 0, "after": 0},
                "i": {"before": 1, "prompt": 1, "model": 1, "after": 0},
                "u": {"before": 1, "prompt": 1, "model": 1, "after": 1}}
    e = effects(per_case)
    assert e.total == -0.75 and e.prompt == pytest.approx(-0.375) and e.model == pytest.approx(-0.375)
    assert e.interaction == pytest.approx(-0.25)
    assert e.intervals["prompt"].low <= e.prompt <= e.intervals["prompt"].high
    assert effects(per_case).intervals == e.intervals  # seeded: the same data, the same interval


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.floats(0, 1, allow_nan=False)] * 4), min_size=1, max_size=30),
       st.sampled_from([("before", "prompt", "model", "after"), ("before", "prompt"), ("before", "model")]))
def test_prompt_plus_model_is_the_total_exactly(rows, corners):
    per_case = {f"c{i}": dict(zip(corners, row)) for i, row in enumerate(rows)}
    e = effects(per_case, iterations=50)
    assert e.prompt + e.model == e.total
    assert (e.interaction is None) == (len(corners) == 2)
    if corners == ("before", "model"):
        assert e.prompt == 0.0


def test_no_cases_no_effects():
    assert effects({}) is None


def test_random_data_intervals_cover_the_point():
    rng = random.Random(1)
    per_case = {f"c{i}": {k: rng.random() for k in ("before", "prompt", "model", "after")} for i in range(40)}
    e = effects(per_case)
    for name in ("prompt", "model", "total", "interaction"):
        assert e.intervals[name].low <= getattr(e, name) <= e.intervals[name].high

"""From a replayed grid to the report's findings: each case's class and revert flags on the chosen
metric, the headline (what reverting fixes), each metric's effects, examples per class, and the
cells whose repeats disagreed with themselves."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from promptver.evals.attribution.classes import CHANGED, CLASSES, classify
from promptver.evals.attribution.effects import effects
from promptver.evals.attribution.grid import Attempt, Grid

EXAMPLES_PER_CLASS = 3
PASS_METRIC = "pass_rate"
MEASURES = ("latency_ms", "cost_usd")  # per call; a metric when every compared call has a value


def metric_names(scorers: list[str]) -> list[str]:
    """The metrics ``--metric`` can name: pass/fail, each scorer's score, latency and cost."""
    return [PASS_METRIC, *scorers, *MEASURES]


def _value(attempt: Attempt, metric: str) -> float | None:
    if metric == PASS_METRIC:
        return 1.0 if attempt.passed else 0.0
    if metric in MEASURES:
        found = getattr(attempt, metric)
        return None if found is None else float(found)
    return attempt.scores.get(metric)


def analyse(grid: Grid, corners: dict[str, tuple[Any, Any]], metric: str = PASS_METRIC) -> dict[str, Any]:
    cases, incomplete, missing = [], [], []
    values_by_metric: dict[str, dict[str, dict[str, float]]] = {m: {} for m in metric_names(grid.scorers)}
    unmeasured: set[str] = set()  # latency or cost unknown for some call: no effects for it
    for case_id in grid.case_ids:
        per_corner = {name: grid.attempts(p, m, case_id) for name, (p, m) in corners.items()}
        if any(not a or any(x.error for x in a) for a in per_corner.values()):
            incomplete.append(case_id)
            continue
        for name, per_case in values_by_metric.items():
            cell = {c: [_value(x, name) for x in a] for c, a in per_corner.items()}
            if any(v is None for vs in cell.values() for v in vs):
                if name in MEASURES:
                    unmeasured.add(name)
                    continue
                cell = {c: [v or 0.0 for v in vs] for c, vs in cell.items()}  # a scorer that gave no value
            per_case[case_id] = {c: math.fsum(vs) / len(vs) for c, vs in cell.items()}  # type: ignore[arg-type]
        if metric in unmeasured and case_id not in values_by_metric[metric]:
            missing.append(case_id)
            continue
        repeats = {c: [float(_value(x, metric) or 0.0) for x in a] for c, a in per_corner.items()}
        outputs = {c: [x.output for x in a] for c, a in per_corner.items()}
        found = classify(case_id, repeats, outputs, binary=metric == PASS_METRIC, metric=metric)
        cases.append({"id": case_id, "class": found.klass, "revert": found.revert, "direction": found.direction,
                      "cells": found.cells, "repeats": repeats, "p_value": found.p_value,
                      "pass": {c: math.fsum(1.0 if x.passed else 0.0 for x in a) / len(a) for c, a in per_corner.items()},
                      "nondeterministic": found.nondeterministic, "uncertain": found.uncertain,
                      "outputs": {c: a[0].output for c, a in per_corner.items()}})
    counts = Counter(c["class"] for c in cases)
    examples = {klass: [{"id": c["id"], "pass": c["pass"], "cells": c["cells"], "outputs": c["outputs"]}
                        for c in cases if c["class"] == klass][:EXAMPLES_PER_CLASS]
                for klass in CLASSES if klass != "unchanged" and counts[klass]}
    for c in cases:
        del c["outputs"]
    measured = {name: effects(values) for name, values in values_by_metric.items() if name not in unmeasured}
    flagged = []
    for name, (p, m) in corners.items():
        ids = [c["id"] for c in cases if name in c["nondeterministic"]]
        if ids:
            flagged.append({"corner": name, "prompt": p.ref, "model": m.ref, "cases": ids})
    return {"metric": metric, "cases": cases, "counts": {k: counts[k] for k in CLASSES}, "headline": headline(cases),
            "effects": {k: v.to_json() for k, v in measured.items() if v is not None},
            "examples": examples, "nondeterministic": flagged, "incomplete": incomplete, "no_value": missing}


def headline(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """What reverting fixes, over the cases that got worse: the report's first line."""
    worse = [c for c in cases if c["class"] in CHANGED and c["direction"] == "worse"]
    better = sum(1 for c in cases if c["class"] in CHANGED and c["direction"] == "better")
    prompt = sum(1 for c in worse if c["revert"]["prompt"])
    model = sum(1 for c in worse if c["revert"]["model"])
    either = sum(1 for c in worse if c["revert"]["prompt"] and c["revert"]["model"])
    need_both = sum(1 for c in worse if not c["revert"]["prompt"] and not c["revert"]["model"])
    if worse:
        text = (f"reverting the prompt fixes {prompt} of {len(worse)} changed case(s) that got worse, reverting "
                f"the model fixes {model}, {need_both} need both reverted")
        if either:
            text += f" ({either} of them are fixed by reverting either one)"
    else:
        text = "no case got significantly worse"
    if better:
        text += f"; {better} case(s) got better"
    return {"text": text, "worse": len(worse), "better": better, "revert_prompt": prompt, "revert_model": model,
            "revert_either": either, "need_both": need_both}

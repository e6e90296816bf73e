"""Bisect: between a good and a bad pairing of one prompt, the first prompt version or model
version at which each failing case changed, in O(log n) replays like ``git bisect``.

1. The ends (and the cross cell: new prompt + old model) are replayed on the whole test set. A
   *failing case* passes more often on the good pairing than on the bad one, and the difference is
   significant by the rule of attribution (``significance.py``; with one repeat, any difference).
   Cases that pass less often but not significantly are named in a note, not searched.
2. A failing case whose cross cell is like the bad end is the prompt's doing: it is searched along
   the prompt versions between the two (model kept at the good one). The others needed the model
   change: searched along the model versions (prompt kept at the bad one). Model versions are
   searched when both pairings use the same model series; otherwise the two model versions are the
   only candidates.
3. Every failing case keeps an interval (last good, first bad) on its axis; each round replays the
   midpoints, only on the cases that need them, and halves the intervals. Cases that change at the
   same version share every replay. A cell is like the bad end when it differs from the good end
   and not from the bad one (and the other way round); a cell like both or neither goes to the end
   whose pass rate is nearer, and the case says so (``uncertain``).
4. Each case names the pass counts of its last good and first bad cells, and which of them
   disagreed with itself (repeats of one request gave different answers or verdicts): a blame
   resting on a non-deterministic cell is flagged in the case, the notes and the text.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from promptver.errors import InvalidValue
from promptver.evals.attribution.grid import Attempt, replay
from promptver.evals.attribution.significance import ALPHA, differ
from promptver.evals.suites import Suite


def _values(attempts: list[Attempt]) -> list[float] | None:
    if not attempts or any(a.passed is None for a in attempts):
        return None  # an error: cannot say
    return [1.0 if a.passed else 0.0 for a in attempts]


def _rate(values: list[float]) -> float:
    return sum(values) / len(values)


def _shaky(attempts: list[Attempt]) -> bool:
    return len({a.passed for a in attempts}) > 1 or len({a.output for a in attempts}) > 1


def _side(cell: list[float], good: list[float], bad: list[float]) -> tuple[bool, bool]:
    """(is the cell bad, was that certain)."""
    from_good, from_bad = differ(cell, good, binary=True), differ(cell, bad, binary=True)
    if from_good != from_bad:
        return from_good, True
    return abs(_rate(cell) - _rate(bad)) <= abs(_rate(cell) - _rate(good)), False


def _path(reg: Any, kind: str, good: Any, bad: Any) -> list[Any]:
    """The versions from ``good`` to ``bad`` (both included), in order, along one series."""
    if good.name != bad.name:
        return [good, bad]
    step = 1 if bad.version >= good.version else -1
    get = reg.prompt_version if kind == "prompt" else reg.model_version
    return [get(f"{good.name}/{n}") for n in range(good.version, bad.version + step, step)]


def bisect(reg: Any, prompt: str, good_ref: str, bad_ref: str, suite: Suite, *, repeats: int | None = None,
           jobs: int | None = None, use_cache: bool = True, progress: Any = None, announce: Any = None
           ) -> dict[str, Any]:
    from promptver.evals.attribution.run import store_report

    good, bad = reg.resolve(good_ref).pairing, reg.resolve(bad_ref).pairing
    for ref, pairing in ((good_ref, good), (bad_ref, bad)):
        if pairing.prompt.name != prompt:
            raise InvalidValue(f"{ref} is pairing {pairing.id} of prompt {pairing.prompt.name}, not {prompt}")
    prompts = _path(reg, "prompt", good.prompt, bad.prompt)
    models = _path(reg, "model", good.model, bad.model)
    report: dict[str, Any] = {
        "id": uuid.uuid4().hex[:16], "kind": "bisect", "prompt": prompt,
        "question": f"{prompt}: good {good_ref}, bad {bad_ref}",
        "good": {"pairing": good.id, "prompt": good.prompt.ref, "model": good.model.ref},
        "bad": {"pairing": bad.id, "prompt": bad.prompt.ref, "model": bad.model.ref},
        "candidates": len(prompts) - 1 + len(models) - 1, "suite": suite.name, "alpha": ALPHA, "notes": [],
        "cases": [], "by_version": {}, "runs": [], "replays": 0,
    }
    if good.id == bad.id:
        raise InvalidValue(f"--good and --bad are the same pairing ({good.id}): nothing to bisect")
    ends = replay(reg, suite, [good.prompt, bad.prompt], [good.model, bad.model], kind="bisect", repeats=repeats,
                  jobs=jobs, use_cache=use_cache, progress=progress, announce=announce)
    report["runs"].append(ends.run_id)
    report["replays"] += len(ends.cells)
    report["repeats"] = ends.repeats
    state: dict[str, dict[str, Any]] = {}
    weak: list[str] = []
    for case in ends.case_ids:
        at_good = _values(ends.attempts(good.prompt, good.model, case))
        at_bad = _values(ends.attempts(bad.prompt, bad.model, case))
        if at_good is None or at_bad is None or _rate(at_good) <= _rate(at_bad):
            continue
        if not differ(at_good, at_bad, binary=True):
            weak.append(case)
            continue
        cross_attempts = ends.attempts(bad.prompt, good.model, case)
        cross = _values(cross_attempts)
        cross_bad = cross is not None and _side(cross, at_good, at_bad)[0]
        ends_seen = {"good": ends.attempts(good.prompt, good.model, case), "bad": ends.attempts(bad.prompt, bad.model, case),
                     "cross": cross_attempts}
        if cross_bad and len(prompts) > 1:   # the prompt alone breaks it
            state[case] = {"axis": "prompt", "path": prompts, "fixed": good.model, "lo": 0, "hi": len(prompts) - 1,
                           "seen": {0: ends_seen["good"], len(prompts) - 1: ends_seen["cross"]}}
        else:                                # it needs the model change
            state[case] = {"axis": "model", "path": models, "fixed": bad.prompt, "lo": 0, "hi": len(models) - 1,
                           "seen": {0: ends_seen["cross"], len(models) - 1: ends_seen["bad"]}}
        state[case].update(good=at_good, bad=at_bad, uncertain=[])
    if not state:
        report["notes"].append("no case passes on the good pairing and fails on the bad one"
                               + (" significantly" if weak else ""))
    if weak:
        report["notes"].append(f"{len(weak)} case(s) passed less often on the bad pairing, but not significantly "
                               f"given {ends.repeats} repeat(s) (at {ALPHA}): not searched: {', '.join(weak[:8])}")
    if ends.repeats == 1:
        report["notes"].append("1 repeat per cell: a non-deterministic model cannot be told from a change; use "
                               "--repeats 3 or more if it is not deterministic")
    _search(reg, suite, state, report, repeats=repeats, jobs=jobs, use_cache=use_cache, progress=progress,
            announce=announce)
    _finish(report, ends.case_ids, state)
    store_report(reg, report, suite, good.id, bad.id)
    return report


def _search(reg: Any, suite: Suite, state: dict[str, dict[str, Any]], report: dict[str, Any], **replay_args: Any
            ) -> None:
    while True:
        todo: dict[tuple[str, int, int], list[str]] = defaultdict(list)
        for case, s in state.items():
            if s["hi"] - s["lo"] > 1:
                todo[(s["axis"], (s["lo"] + s["hi"]) // 2, s["fixed"].id)].append(case)
        if not todo:
            return
        for (axis, mid, _), cases in todo.items():
            s0 = state[cases[0]]
            version, fixed = s0["path"][mid], s0["fixed"]
            p, m = (version, fixed) if axis == "prompt" else (fixed, version)
            grid = replay(reg, suite, [p], [m], kind="bisect", cases=cases, **replay_args)
            report["runs"].append(grid.run_id)
            report["replays"] += 1
            for case in cases:
                attempts = grid.attempts(p, m, case)
                values = _values(attempts)
                if values is None:
                    raise InvalidValue(f"case {case!r} could not be scored on {p.ref} + {m.ref} (a provider "
                                       f"error, see run {grid.run_id}): bisect cannot go on")
                s = state[case]
                is_bad, certain = _side(values, s["good"], s["bad"])
                if not certain:
                    s["uncertain"].append(version.ref)
                s["seen"][mid] = attempts
                s["hi" if is_bad else "lo"] = mid


def _count(attempts: list[Attempt]) -> dict[str, int]:
    return {"passed": sum(1 for a in attempts if a.passed), "of": len(attempts)}


def _finish(report: dict[str, Any], case_ids: list[str], state: dict[str, dict[str, Any]]) -> None:
    by_version: dict[str, list[str]] = defaultdict(list)
    for case in case_ids:
        if case not in state:
            continue
        s = state[case]
        first_bad, last_good = s["path"][s["hi"]], s["path"][s["lo"]]
        cells = {"last_good": s["seen"][s["lo"]], "first_bad": s["seen"][s["hi"]]}
        shaky = [name for name, attempts in cells.items() if _shaky(attempts)]
        report["cases"].append({"id": case, "axis": s["axis"], "first_bad": first_bad.ref, "last_good": last_good.ref,
                                "with": s["fixed"].ref, "cells": {k: _count(v) for k, v in cells.items()},
                                "nondeterministic": shaky, "uncertain": s["uncertain"]})
        by_version[first_bad.ref].append(case)
        if "first_bad" in shaky:
            n = _count(cells["first_bad"])
            report["notes"].append(f"{case}: the blamed cell ({first_bad.ref} with {s['fixed'].ref}) disagreed with "
                                   f"itself: {n['passed']} of {n['of']} repeats passed")
        if s["uncertain"]:
            report["notes"].append(f"{case}: {', '.join(s['uncertain'])} looked like neither end (or both) and was "
                                   "judged by the nearer pass rate: use more --repeats to be sure")
    report["by_version"] = dict(by_version)

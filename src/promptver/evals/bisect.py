"""Bisect: between a good and a bad pairing of one prompt, the first prompt version or model
version at which each failing case changed, in O(log n) replays like ``git bisect``.

1. The ends (and the cross cell: new prompt + old model) are replayed on the whole test set. A
   *failing case* passes on the good pairing and fails on the bad one (a case passes in a cell
   when at least half of its repeats pass).
2. A failing case that already fails with the new prompt on the old model is the prompt's doing:
   it is searched along the prompt versions between the two (model kept at the good one). The
   others needed the model change: searched along the model versions (prompt kept at the bad one).
   Model versions are searched when both pairings use the same model series; otherwise the two
   model versions are the only candidates.
3. Every failing case keeps an interval (last good, first bad) on its axis; each round replays the
   midpoints, only on the cases that need them, and halves the intervals. Cases that change at the
   same version share every replay.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from promptver.errors import InvalidValue
from promptver.evals.grid import replay
from promptver.evals.suites import Suite


def _passes(attempts: list[Any]) -> bool | None:
    scored = [a.passed for a in attempts if a.passed is not None]
    if not scored or len(scored) < len(attempts):
        return None  # an error: cannot say
    return sum(scored) * 2 >= len(scored)


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
    from promptver.evals.attribution import store_report

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
        "candidates": len(prompts) - 1 + len(models) - 1, "suite": suite.name, "notes": [], "cases": [],
        "by_version": {}, "runs": [], "replays": 0,
    }
    if good.id == bad.id:
        raise InvalidValue(f"--good and --bad are the same pairing ({good.id}): nothing to bisect")
    ends = replay(reg, suite, [good.prompt, bad.prompt], [good.model, bad.model], kind="bisect", repeats=repeats,
                  jobs=jobs, use_cache=use_cache, progress=progress, announce=announce)
    report["runs"].append(ends.run_id)
    report["replays"] += len(ends.cells)
    state: dict[str, dict[str, Any]] = {}
    for case in ends.case_ids:
        at_good = _passes(ends.attempts(good.prompt, good.model, case))
        at_bad = _passes(ends.attempts(bad.prompt, bad.model, case))
        if at_good is True and at_bad is False:
            cross = _passes(ends.attempts(bad.prompt, good.model, case))
            if cross is False and len(prompts) > 1:   # the prompt alone breaks it
                state[case] = {"axis": "prompt", "path": prompts, "fixed": good.model, "lo": 0, "hi": len(prompts) - 1}
            else:                                      # it needs the model change
                state[case] = {"axis": "model", "path": models, "fixed": bad.prompt, "lo": 0, "hi": len(models) - 1}
    if not state:
        report["notes"].append("no case passes on the good pairing and fails on the bad one")
    while True:
        todo: dict[tuple[str, int, int], list[str]] = defaultdict(list)
        for case, s in state.items():
            if s["hi"] - s["lo"] > 1:
                todo[(s["axis"], (s["lo"] + s["hi"]) // 2, s["fixed"].id)].append(case)
        if not todo:
            break
        for (axis, mid, _), cases in todo.items():
            s0 = state[cases[0]]
            version, fixed = s0["path"][mid], s0["fixed"]
            p, m = (version, fixed) if axis == "prompt" else (fixed, version)
            grid = replay(reg, suite, [p], [m], kind="bisect", repeats=repeats, jobs=jobs, use_cache=use_cache,
                          progress=progress, announce=announce, cases=cases)
            report["runs"].append(grid.run_id)
            report["replays"] += 1
            for case in cases:
                passed = _passes(grid.attempts(p, m, case))
                if passed is None:
                    raise InvalidValue(f"case {case!r} could not be scored on {p.ref} + {m.ref} (a provider "
                                       f"error, see run {grid.run_id}): bisect cannot go on")
                state[case]["lo" if passed else "hi"] = mid
    by_version: dict[str, list[str]] = defaultdict(list)
    for case in ends.case_ids:
        if case not in state:
            continue
        s = state[case]
        first_bad, last_good = s["path"][s["hi"]], s["path"][s["lo"]]
        report["cases"].append({"id": case, "axis": s["axis"], "first_bad": first_bad.ref, "last_good": last_good.ref,
                                "with": s["fixed"].ref})
        by_version[first_bad.ref].append(case)
    report["by_version"] = dict(by_version)
    store_report(reg, report, suite, good.id, bad.id)
    return report

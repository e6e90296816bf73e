"""Change attribution: was it the prompt, the model, or both?

1. **Which pairings.** ``NAME@LABEL`` at two times (from the label's history), or two pairings.
2. **What changed.** The template text diff and the structured differences of the prompt versions
   (variables, tools, schema) and of the model versions (model id, parameters, lineage).
3. **Replay.** The suite's fixed test set on the 2 x 2 grid, old/new prompt x old/new model (only
   the two corners needed when one side did not change), as an ordinary eval run: cells already in
   the response cache are not called again.
4. **Report.** Each case classified (``evals/attribution_math.py``), each metric's prompt, model and
   interaction effects with intervals (prompt + model == total), examples per class with the
   outputs side by side, non-deterministic answers flagged. The report is stored (immutable) and
   can be shown again (``promptver attribute show ID``, the TUI).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promptver.core.refs import parse_ref
from promptver.core.types import iso
from promptver.errors import InvalidRef, InvalidValue, NotFound
from promptver.evals.attribution_math import CLASSES, classify, effects
from promptver.evals.grid import Grid, check_inputs, replay
from promptver.evals.suites import Suite

EXAMPLES_PER_CLASS = 3
PASS_METRIC = "pass_rate"


@dataclass(frozen=True)
class Sides:
    before: Any               # Pairing
    after: Any                # Pairing
    question: str             # what was asked, in words
    before_at: datetime | None = None
    after_at: datetime | None = None


def sides_from_label(reg: Any, ref: str, start: datetime, end: datetime) -> Sides:
    """The pairings ``NAME@LABEL`` pointed at, at ``start`` and at ``end``."""
    parsed = parse_ref(ref)
    if not parsed.label or parsed.pairing:
        raise InvalidRef(f"{ref!r}: with --from/--to give a label ref such as support-reply@production "
                         "(or give two pairings instead)")
    if end < start:
        raise InvalidValue(f"--to ({iso(end)}) is before --from ({iso(start)})")
    assert parsed.name is not None
    if reg.reader.series_id("prompt", parsed.name) is None:
        raise NotFound(f"no prompt named {parsed.name!r}")
    if not reg.label_history(parsed.name, parsed.label):
        raise NotFound(f"label {parsed.label!r} of {parsed.name} was never set: nothing to attribute")
    before = reg.resolve(ref, at=start).pairing
    after = reg.resolve(ref, at=end).pairing
    return Sides(before, after, f"{parsed.name}@{parsed.label} from {iso(start)} to {iso(end)}", start, end)


def sides_from_pairings(reg: Any, before_ref: str, after_ref: str) -> Sides:
    """Two pairings (ids or label refs) of one prompt."""
    before = reg.resolve(before_ref).pairing
    after = reg.resolve(after_ref).pairing
    if before.prompt.name != after.prompt.name:
        raise InvalidValue(f"{before.id} pairs prompt {before.prompt.name} and {after.id} pairs prompt "
                           f"{after.prompt.name}: attribution compares two pairings of one prompt")
    return Sides(before, after, f"{before_ref} -> {after_ref}")


def attribute(reg: Any, sides: Sides, suite: Suite, *, repeats: int | None = None, jobs: int | None = None,
              use_cache: bool = True, progress: Any = None, announce: Any = None) -> dict[str, Any]:
    """Replay what is needed, classify and measure; store the report and return it (JSON-ready)."""
    from promptver.core.diff import diff_models, diff_prompts

    before, after = sides.before, sides.after
    prompt_changed = before.prompt.id != after.prompt.id
    model_changed = before.model.id != after.model.id
    report: dict[str, Any] = {
        "id": uuid.uuid4().hex[:16], "kind": "attribution", "prompt": before.prompt.name, "question": sides.question,
        "before": _side(before, sides.before_at), "after": _side(after, sides.after_at),
        "changed": {"prompt": prompt_changed, "model": model_changed},
        "diff": {"prompt": diff_prompts(before.prompt, after.prompt).to_json() if prompt_changed else None,
                 "model": diff_models(before.model, after.model).to_json() if model_changed else None},
        "suite": suite.name, "notes": [],
    }
    if not prompt_changed and not model_changed:
        report["notes"].append(
            f"nothing to attribute: both sides are pairing {before.id} ({before.prompt.ref} + {before.model.ref}). "
            "If behaviour changed anyway, the provider changed under an unchanged model version (a floating "
            "model id?): compare eval runs of this pairing over time with `promptver eval history`.")
        report.update(run=None, repeats=0, corners={}, cases=[], counts={k: 0 for k in CLASSES}, effects={},
                      examples={}, nondeterministic=[], incomplete=[], calls=0, cached=0)
        store_report(reg, report, suite, before.id, after.id)
        return report
    check_inputs(suite, before.prompt, after.prompt)
    prompts = [before.prompt, after.prompt] if prompt_changed else [before.prompt]
    models = [before.model, after.model] if model_changed else [before.model]
    corners = _corners(before, after, prompt_changed, model_changed)
    if prompt_changed != model_changed:
        which, kept = ("prompt", f"model {before.model.ref}") if prompt_changed else ("model", f"prompt {before.prompt.ref}")
        report["notes"].append(f"only the {which} changed ({kept} on both sides): replayed the 2 cells needed, "
                               f"so every change is the {which}'s")
    grid = replay(reg, suite, prompts, models, kind="attribution", repeats=repeats, jobs=jobs, use_cache=use_cache,
                  progress=progress, announce=announce)
    if grid.repeats == 1:
        report["notes"].append("1 repeat per cell: noise cannot be told apart from change; use --repeats 3 or "
                               "more if the model is not deterministic")
    report.update(run=grid.run_id, repeats=grid.repeats, calls=grid.calls, cached=grid.cached, state=grid.state,
                  corners={name: {"pairing": grid.cells.get((p.id, m.id)), "prompt": p.ref, "model": m.ref}
                           for name, (p, m) in corners.items()})
    report.update(_analyse(grid, corners))
    for name, corner in report["corners"].items():
        corner["pass_rate"] = _corner_rate(report, name)
    store_report(reg, report, suite, before.id, after.id)
    return report


def _side(pairing: Any, at: datetime | None) -> dict[str, Any]:
    return {"pairing": pairing.id, "prompt": pairing.prompt.ref, "model": pairing.model.ref, "at": iso(at)}


def _corners(before: Any, after: Any, prompt_changed: bool, model_changed: bool) -> dict[str, tuple[Any, Any]]:
    corners = {"before": (before.prompt, before.model)}
    if prompt_changed:
        corners["prompt"] = (after.prompt, before.model)
    if model_changed:
        corners["model"] = (before.prompt, after.model)
    if prompt_changed and model_changed:
        corners["after"] = (after.prompt, after.model)
    return corners


def _analyse(grid: Grid, corners: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Classes, effects, examples and non-determinism from the replayed grid."""
    cases, incomplete = [], []
    metric_values: dict[str, dict[str, dict[str, float]]] = {PASS_METRIC: {}}
    metric_values.update({s: {} for s in grid.scorers})
    nondeterministic: dict[str, list[str]] = {name: [] for name in corners}
    for case_id in grid.case_ids:
        per_corner = {name: grid.attempts(p, m, case_id) for name, (p, m) in corners.items()}
        if any(not a or any(x.error for x in a) for a in per_corner.values()):
            incomplete.append(case_id)
            continue
        values = {name: [1.0 if x.passed else 0.0 for x in a] for name, a in per_corner.items()}
        outputs = {name: [x.output for x in a] for name, a in per_corner.items()}
        found = classify(case_id, values, outputs)
        for name, texts in outputs.items():
            if len(set(texts)) > 1:
                nondeterministic[name].append(case_id)
        cases.append({"id": case_id, "class": found.klass, "pass": found.means, "noise": found.noise,
                      "nondeterministic": found.nondeterministic,
                      "outputs": {name: a[0].output for name, a in per_corner.items()}})
        metric_values[PASS_METRIC][case_id] = found.means
        for scorer in grid.scorers:
            metric_values[scorer][case_id] = {
                name: sum(x.scores.get(scorer, 0.0) for x in a) / len(a) for name, a in per_corner.items()}
    measured = {metric: effects(values) for metric, values in metric_values.items()}
    counts = Counter(c["class"] for c in cases)
    examples = {klass: [{"id": c["id"], "pass": c["pass"], "outputs": c["outputs"]}
                        for c in cases if c["class"] == klass][:EXAMPLES_PER_CLASS]
                for klass in CLASSES if klass != "unchanged" and counts[klass]}
    for c in cases:
        del c["outputs"]
    flagged = [{"corner": name, "prompt": corners[name][0].ref, "model": corners[name][1].ref, "cases": ids}
               for name, ids in nondeterministic.items() if ids]
    return {"cases": cases, "counts": {k: counts[k] for k in CLASSES},
            "effects": {k: v.to_json() for k, v in measured.items() if v is not None},
            "examples": examples, "nondeterministic": flagged, "incomplete": incomplete}


def _corner_rate(report: dict[str, Any], corner: str) -> float | None:
    rates = [c["pass"][corner] for c in report["cases"] if corner in c["pass"]]
    return sum(rates) / len(rates) if rates else None


def store_report(reg: Any, report: dict[str, Any], suite: Suite, before_id: str, after_id: str) -> None:
    """Keep the report (immutable) so it can be shown again: `promptver attribute show ID`, the TUI."""
    from promptver.storage import eval_writes

    created = datetime.now(UTC)
    report["created_at"] = iso(created)
    report["actor"] = reg.actor
    reg.db.write_plain(lambda tx: eval_writes.insert_report(
        tx, id=report["id"], kind=report["kind"], prompt=report["prompt"], before_pairing=before_id,
        after_pairing=after_id, suite=suite.name, report=report, actor=reg.actor, created_at=created))

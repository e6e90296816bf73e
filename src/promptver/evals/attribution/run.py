"""Change attribution: was it the prompt, the model, or both, and what would reverting fix?

1. **Which pairings.** ``NAME@LABEL`` at two times (from the label's history), or two pairings.
2. **What changed.** The template text diff and the structured differences of the prompt versions
   (variables, tools, schema) and of the model versions (model id, parameters, lineage).
3. **Replay.** The suite's fixed test set on the 2 x 2 grid, old/new prompt x old/new model (only
   the two corners needed when one side did not change), as an ordinary eval run: cells already in
   the response cache are not called again.
4. **Report.** Each case classified with its revert flags (``classes.py``, on the metric chosen
   with ``--metric``), the headline (what reverting fixes), each metric's prompt, model and
   interaction effects with intervals (``effects.py``: prompt + model == total), examples per class
   with the outputs side by side, non-deterministic cells flagged (``analyse.py``). The report is
   stored (immutable) and can be shown again (``promptver attribute show ID``, the TUI).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promptver.core.refs import parse_ref
from promptver.core.types import iso
from promptver.errors import InvalidRef, InvalidValue, NotFound
from promptver.evals.attribution.analyse import PASS_METRIC, analyse, metric_names
from promptver.evals.attribution.classes import CLASSES
from promptver.evals.attribution.grid import check_inputs, replay
from promptver.evals.attribution.significance import ALPHA
from promptver.evals.suites import Suite


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


def check_metric(suite: Suite, metric: str) -> None:
    """Refuse a ``--metric`` the suite cannot measure, before anything is replayed."""
    from promptver.evals.scorers import parse_scorers

    names = metric_names([s.name for s in parse_scorers(suite.scorers, str(suite.path), base_dir=suite.path.parent)])
    if metric not in names:
        raise InvalidValue(f"--metric {metric!r}: suite {suite.name} measures {', '.join(names)}")


def attribute(reg: Any, sides: Sides, suite: Suite, *, repeats: int | None = None, jobs: int | None = None,
              use_cache: bool = True, progress: Any = None, announce: Any = None, metric: str = PASS_METRIC
              ) -> dict[str, Any]:
    """Replay what is needed, classify and measure; store the report and return it (JSON-ready)."""
    from promptver.core.diff import diff_pairings

    check_metric(suite, metric)

    before, after = sides.before, sides.after
    prompt_changed = before.prompt.id != after.prompt.id
    model_changed = before.model.id != after.model.id
    report: dict[str, Any] = {
        "id": uuid.uuid4().hex[:16], "kind": "attribution", "prompt": before.prompt.name, "question": sides.question,
        "before": _side(before, sides.before_at), "after": _side(after, sides.after_at),
        "changed": {"prompt": prompt_changed, "model": model_changed},
        "diff": diff_pairings(before, after).to_json(),
        "suite": suite.name, "metric": metric, "alpha": ALPHA, "notes": [],
    }
    if not prompt_changed and not model_changed:
        report["notes"].append(
            f"nothing to attribute: both sides are pairing {before.id} ({before.prompt.ref} + {before.model.ref}). "
            "If behaviour changed anyway, the provider changed under an unchanged model version (a floating "
            "model id?): compare eval runs of this pairing over time with `promptver eval history`.")
        report.update(run=None, repeats=0, corners={}, cases=[], counts={k: 0 for k in CLASSES}, effects={},
                      headline={"text": "nothing changed", "worse": 0, "better": 0, "revert_prompt": 0,
                                "revert_model": 0, "revert_either": 0, "need_both": 0},
                      examples={}, nondeterministic=[], incomplete=[], no_value=[], calls=0, cached=0)
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
    elif grid.repeats == 2 and metric == PASS_METRIC:
        report["notes"].append(f"2 repeats per cell: no pass/fail difference of one case can reach the "
                               f"significance level ({ALPHA}); use --repeats 3 or more")
    report.update(run=grid.run_id, repeats=grid.repeats, calls=grid.calls, cached=grid.cached, state=grid.state,
                  corners={name: {"pairing": grid.cells.get((p.id, m.id)), "prompt": p.ref, "model": m.ref}
                           for name, (p, m) in corners.items()})
    report.update(analyse(grid, corners, metric))
    for name, corner in report["corners"].items():
        corner["pass_rate"] = _corner_rate(report, name)
    if report["nondeterministic"]:
        shaky = sorted({case for f in report["nondeterministic"] for case in f["cases"]})
        report["notes"].append(f"{len(shaky)} case(s) got different answers to the same request in some cell "
                               f"(non-deterministic): {', '.join(shaky[:8])}{', ...' if len(shaky) > 8 else ''}")
    if report["no_value"]:
        report["notes"].append(f"{len(report['no_value'])} case(s) have no {metric} for some call and are not "
                               f"classified: {', '.join(report['no_value'][:8])}")
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
